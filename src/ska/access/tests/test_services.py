"""Granting and revoking access, and editing its options."""

from __future__ import annotations

import json
import random

import pytest

from ska.access.models import AccessOption, AccessRule
from ska.access.options import OptionError
from ska.access.services import (
    AccessError,
    grant_access,
    revoke_access,
    set_access_options,
    set_ldap_access_options,
)
from ska.access.tests import world
from ska.activity.models import EntityEvent, ServerEvent
from ska.directory.models import User
from ska.servers.models import Server, ServerAccount
from ska.sync.keyfiles import render_server
from ska.sync.models import SyncRequest

pytestmark = pytest.mark.django_db


def _queued() -> set[tuple[str, str]]:
    return {
        (row.server.hostname, row.account_name)
        for row in SyncRequest.objects.select_related("server")
    }


def _actions(entity_id: int) -> list[dict[str, str]]:
    events = EntityEvent.objects.filter(entity_id=entity_id).order_by("id")
    return [json.loads(event.details) for event in events]


@pytest.fixture
def web() -> Server:
    return world.server("web.example.com")


@pytest.fixture
def alice() -> User:
    person = world.user("alice", "Alice Example")
    world.key(person, "AAAAalice")
    return person


def test_grant_access_stores_logs_and_queues_the_account(
    web: Server, alice: User
) -> None:
    root = world.account(web, "root", sync_status="proposed")

    rule = grant_access(alice, root, actor=world.admin(), options={"no-pty": None})

    assert list(rule.options.values_list("option", "value")) == [("no-pty", None)]
    assert rule.granted_by == world.admin()
    assert _actions(root.pk) == [{"action": "Access add", "value": "user:alice"}]
    assert _queued() == {("web.example.com", "root")}
    root.refresh_from_db()
    assert root.sync_status == ServerAccount.Status.NOT_SYNCED_YET


def test_grant_access_to_a_group_queues_its_accounts(web: Server, alice: User) -> None:
    db = world.server("db.example.com")
    team = world.group("webs", world.account(web, "app"), world.account(db, "app"))

    grant_access(alice, team, actor=world.admin())

    assert _actions(team.pk) == [{"action": "Access add", "value": "user:alice"}]
    assert _queued() == {("web.example.com", "app"), ("db.example.com", "app")}


def test_grant_access_twice_returns_the_existing_rule_unchanged(
    web: Server, alice: User
) -> None:
    root = world.account(web, "root")
    first = grant_access(alice, root, actor=world.admin(), options={"no-pty": None})

    again = grant_access(alice, root, actor=world.admin(), options={"from": "10.*"})

    assert again.pk == first.pk
    assert list(again.options.values_list("option", flat=True)) == ["no-pty"]
    assert len(_actions(root.pk)) == 1


@pytest.mark.parametrize(
    "dest_kind", ["user", "self"], ids=["user destination", "rule onto itself"]
)
def test_grant_access_refuses_impossible_destinations(
    web: Server, alice: User, dest_kind: str
) -> None:
    dest = world.user("bob") if dest_kind == "user" else alice

    with pytest.raises(AccessError):
        grant_access(alice, dest, actor=world.admin())

    assert not AccessRule.objects.exists()


@pytest.mark.parametrize(
    "options",
    [
        {"command": "backup\nssh-ed25519 AAAAevil"},
        {"command": "backup\x00"},
        {"command": "backup\\"},
        {"command": "   "},
        {"from": "10.0.0.1 ssh-rsa"},
        {"from": '10.0.0.1",command="sh'},
        {"from": "10.0.0.1,,10.0.0.2"},
        {"no-pty": "yes"},
        {"environment": "X=1"},
        {"no-pty": None, "command": "a\rb"},
    ],
)
def test_grant_access_refuses_bad_options_and_stores_nothing(
    web: Server, alice: User, options: dict[str, str | None]
) -> None:
    root = world.account(web, "root", sync_status="proposed")

    with pytest.raises(OptionError):
        grant_access(alice, root, actor=world.admin(), options=options)

    assert not AccessRule.objects.exists()
    assert not EntityEvent.objects.exists()
    assert not SyncRequest.objects.exists()
    root.refresh_from_db()
    assert root.sync_status == "proposed"


def test_revoke_access_logs_deletes_and_queues(web: Server, alice: User) -> None:
    root = world.account(web, "root")
    rule = grant_access(alice, root, actor=world.admin(), options={"no-pty": None})
    SyncRequest.objects.all().delete()

    revoke_access(rule, actor=world.admin())

    assert not AccessRule.objects.exists()
    assert not AccessOption.objects.exists()
    assert _actions(root.pk)[-1] == {"action": "Access remove", "value": "user:alice"}
    assert _queued() == {("web.example.com", "root")}


def test_set_access_options_replaces_the_set_and_logs(web: Server, alice: User) -> None:
    root = world.account(web, "root")
    rule = grant_access(alice, root, actor=world.admin(), options={"no-pty": None})

    set_access_options(
        rule, {"from": "10.*", "command": "/bin/backup"}, actor=world.admin()
    )

    stored = sorted(rule.options.values_list("option", "value"))
    assert stored == [("command", "/bin/backup"), ("from", "10.*")]
    assert _actions(root.pk)[-1] == {
        "action": "Access options update",
        "value": "user:alice",
        "options": 'command="/bin/backup",from="10.*"',
    }


def test_set_access_options_refuses_bad_values_and_keeps_the_old_set(
    web: Server, alice: User
) -> None:
    root = world.account(web, "root")
    rule = grant_access(alice, root, actor=world.admin(), options={"no-pty": None})
    SyncRequest.objects.all().delete()

    with pytest.raises(OptionError):
        set_access_options(
            rule, {"from": "10.*", "command": "x\ny"}, actor=world.admin()
        )

    assert list(rule.options.values_list("option", flat=True)) == ["no-pty"]
    assert not SyncRequest.objects.exists()


def test_set_ldap_access_options_validates_and_queues_the_server(
    web: Server,
) -> None:
    set_ldap_access_options(web, {"no-pty": None}, actor=world.admin())

    with pytest.raises(OptionError):
        set_ldap_access_options(web, {"from": "a b"}, actor=world.admin())

    assert list(web.ldap_access_options.values_list("option", flat=True)) == ["no-pty"]
    assert _queued() == {("web.example.com", "")}
    assert ServerEvent.objects.filter(server=web).count() == 1


def _sshd_options(line: str) -> tuple[list[str], str]:
    """Split a keyfile line as sshd does: its options, and the rest.

    sshd ends the options at the first blank outside quotes, and takes a
    backslash before a quote as an escape; commas outside quotes separate
    options.
    """
    options: list[str] = []
    current: list[str] = []
    quoted = False
    index = 0
    while index < len(line) and (quoted or line[index] not in " \t"):
        char = line[index]
        if char == "\\" and line[index + 1 : index + 2] == '"':
            current.append('\\"')
            index += 2
            continue
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            options.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    options.append("".join(current))
    return options, line[index:].lstrip(" \t")


NASTY = ['"', "\\", ",", " ", "\t", "\n", "\r", "\x00", "=", "'", "#", "a", "/", "*"]
ADDRESS = [*NASTY, "1", "0", ".", "!", "?", ":", "[", "]"]


@pytest.mark.parametrize(
    ("option", "alphabet", "minimum"),
    [("command", NASTY, 20), ("from", ADDRESS, 5)],
)
def test_rendered_options_never_add_a_line_or_an_option(
    web: Server, alice: User, option: str, alphabet: list[str], minimum: int
) -> None:
    root = world.account(web, "root")
    rule = grant_access(alice, root, actor=world.admin())
    chooser = random.Random(20260209)
    accepted = 0

    for _ in range(200):
        size = chooser.randint(1, 8)
        value = "".join(chooser.choice(alphabet) for _ in range(size))
        try:
            set_access_options(
                rule, {option: value, "no-pty": None}, actor=world.admin()
            )
        except OptionError:
            continue
        accepted += 1
        with world.configured(0):
            lines = render_server(web)[0].text.splitlines()

        assert len(lines) == 3
        options, rest = _sshd_options(lines[2])
        assert [item.split("=", 1)[0] for item in options] == [option, "no-pty"]
        assert rest == "ssh-ed25519 AAAAalice"

    assert accepted >= minimum
