"""Build sync scenarios with the ORM: servers, accounts, users, keys, rules."""

from __future__ import annotations

import base64
import hashlib

import asyncssh

from ska.access.models import AccessRule
from ska.directory.models import User
from ska.keys.models import PublicKey
from ska.servers.models import Server, ServerAccount
from tests.support.sshd import Target


def server_for(target: Target, **fields: object) -> Server:
    """Create the server row of an sshd target."""
    return Server.objects.create(
        hostname=str(fields.pop("hostname", target.hostname)),
        port=target.port,
        **fields,
    )


def user_with_key(uid: str, **fields: object) -> tuple[User, asyncssh.SSHKey]:
    """Create a user owning one new ed25519 key; return both."""
    user = User.objects.create_user(uid, **fields)  # type: ignore[arg-type]
    return user, add_key(user)


def add_key(user: User) -> asyncssh.SSHKey:
    """Give a user a new ed25519 key and return its private half."""
    private = asyncssh.generate_private_key("ssh-ed25519")
    public = private.convert_to_public()
    blob = public.public_data
    keydata = public.export_public_key("openssh").decode().split()[1]
    PublicKey.objects.create(
        owner=user,
        type=public.get_algorithm(),
        keydata=keydata,
        keysize=256,
        fingerprint_md5=hashlib.md5(blob, usedforsecurity=False).hexdigest(),
        fingerprint_sha256=base64.b64encode(hashlib.sha256(blob).digest()).decode(),
    )
    return private


def grant(user: User, account: ServerAccount) -> AccessRule:
    """Let a user log in to an account."""
    return AccessRule.objects.create(source=user, dest=account)


def public_line(key: asyncssh.SSHKey) -> str:
    """Return ``<type> <base64>`` of a key, as keyfiles contain it."""
    text = key.convert_to_public().export_public_key("openssh").decode()
    return " ".join(text.split()[:2])
