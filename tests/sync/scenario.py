"""Build sync scenarios with the ORM: servers, accounts, users, keys, rules."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import subprocess
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import asyncssh
from django.db import connections

from ska.access.models import AccessRule
from ska.activity.models import EntityEvent, ServerEvent
from ska.directory.models import User
from ska.keys.models import PublicKey
from ska.servers.models import Server, ServerAccount
from ska.sync.engine import SyncOutcome, sync_server
from tests.support.sshd import Target

T = TypeVar("T")


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


def run_async(work: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine in a fresh loop whose ORM thread closes its connection.

    A connection left open in a pool thread would keep PostgreSQL from
    dropping the test database.
    """

    async def main() -> T:
        executor = ThreadPoolExecutor(1, thread_name_prefix="test-db")
        loop = asyncio.get_running_loop()
        loop.set_default_executor(executor)
        try:
            return await work
        finally:
            await loop.run_in_executor(executor, connections.close_all)

    return asyncio.run(main())


def run_sync(server: Server, only_account: str | None = None) -> SyncOutcome:
    """Sync a server in a fresh event loop; fail the test on None."""
    outcome = run_async(sync_server(server.pk, only_account))
    assert outcome is not None, "a managed server must give an outcome"
    return outcome


def server_events(server: Server) -> list[dict[str, Any]]:
    """Return a server's event details, oldest first."""
    rows = ServerEvent.objects.filter(server=server).order_by("id")
    return [json.loads(row.details) for row in rows]


def account_events(account: ServerAccount) -> list[dict[str, Any]]:
    """Return an account's event details, oldest first."""
    rows = EntityEvent.objects.filter(entity_id=account.pk).order_by("id")
    return [json.loads(row.details) for row in rows]


def ssh_login(key_file: Path, user: str, target: Target) -> int:
    """Log in with the OpenSSH client and run ``true``; return its exit status."""
    done = subprocess.run(
        [
            "ssh",
            "-i",
            str(key_file),
            "-p",
            str(target.port),
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "ConnectTimeout=5",
            f"{user}@{target.hostname}",
            "true",
        ],
        capture_output=True,
        timeout=20,
        check=False,
    )
    return done.returncode


def write_private_key(key: asyncssh.SSHKey, path: Path) -> Path:
    """Write a private key for the OpenSSH client (mode 0600)."""
    path.write_bytes(key.export_private_key())
    path.chmod(0o600)
    return path
