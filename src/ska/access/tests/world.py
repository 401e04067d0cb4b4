"""Build small access worlds for tests: users, keys, servers, groups, rules."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.test import override_settings

from ska.access.models import AccessOption, AccessRule
from ska.directory.models import Entity, Group, GroupMember, User
from ska.keys.models import DestinationRule, PublicKey
from ska.servers.models import Server, ServerAccount

BASEURL = "https://ska.example.com"
GRANTED = datetime.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=datetime.UTC)
GRANTED_TEXT = "2026-01-02T03:04:05+00:00"
CREATED = datetime.date(2026, 1, 1)


@contextmanager
def configured(
    comment: int = 1,
    *,
    baseurl: str = BASEURL,
    history_default: bool = False,
    history_format: str = "BASH_HISTORY_USERNAME={uid}",
) -> Iterator[None]:
    """Run with the keyfile-related configuration keys set as given."""
    config = settings.SKA
    changed = dataclasses.replace(
        config,
        web=dataclasses.replace(config.web, baseurl=baseurl),
        privacy=dataclasses.replace(
            config.privacy,
            comment_key_files=comment,
            history_username_env_default=history_default,
            history_username_env_format=history_format,
        ),
    )
    with override_settings(SKA=changed):
        yield


def admin() -> User:
    """Return the granting administrator, creating it once."""
    found = User.objects.filter(uid="admin").first()
    return found or User.objects.create_user("admin", name="Admin", admin=True)


def user(uid: str, name: str = "", *, active: bool = True) -> User:
    """Create a user."""
    return User.objects.create_user(uid, name=name or uid.title(), active=active)


def server(hostname: str, **fields: object) -> Server:
    """Create a server whose keys are managed."""
    return Server.objects.create(hostname=hostname, **fields)


def account(host: Server, name: str, **fields: object) -> ServerAccount:
    """Create a server account."""
    return ServerAccount.objects.create(server=host, name=name, **fields)


def group(name: str, *members: Entity, active: bool = True) -> Group:
    """Create a group with members."""
    created = Group.objects.create(name=name, active=active)
    for member in members:
        GroupMember.objects.create(group=created, entity=member)
    return created


def key(
    owner: Entity,
    keydata: str,
    *,
    key_type: str = "ssh-ed25519",
    rules: tuple[tuple[str, str], ...] = (),
    deleted: bool = False,
    created: datetime.date | None = CREATED,
) -> PublicKey:
    """Give ``owner`` a public key, optionally with destination rules."""
    made = PublicKey.objects.create(
        owner=owner,
        type=key_type,
        keydata=keydata,
        comment="stored comment never exported",
        creation_date=created,
        deletion_date=CREATED if deleted else None,
    )
    for account_filter, hostname_filter in rules:
        DestinationRule.objects.create(
            key=made,
            account_name_filter=account_filter,
            hostname_filter=hostname_filter,
        )
    return made


def rule(
    source: Entity, dest: Entity, options: dict[str, str | None] | None = None
) -> AccessRule:
    """Grant ``source`` access to ``dest`` at the fixed grant date."""
    created = AccessRule.objects.create(
        source=source, dest=dest, grant_date=GRANTED, granted_by=admin()
    )
    for name, value in (options or {}).items():
        AccessOption.objects.create(rule=created, option=name, value=value)
    return created
