"""``ska ldap-update`` against a real slapd: refresh, groups, fail-safe."""

from __future__ import annotations

import io
import json
import logging

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from pytest_django.fixtures import Settings

from ska.access.tests import world
from ska.activity.models import EntityEvent
from ska.config import LdapSection
from ska.directory.ldap_update import run_periodic_ldap_update
from ska.directory.models import Group, GroupMember, User
from ska.servers.models import Server
from ska.sync.keyfiles import render_server
from ska.sync.models import SyncRequest
from tests.directory.conftest import post_login, use_ldap
from tests.support.slapd import GROUPS, LIMITED_DN, Slapd

pytestmark = [pytest.mark.django_db, pytest.mark.slapd]

NAMES = ("alice", "bob", "carol", "dave", "erin")
KEYDATA = "AAAAC3NzaC1lZDI1NTE5AAAAIGJhc2U2NC1vZi1hbGljZXMta2V5LW1hdGVyaWFs"


@pytest.fixture
def people(slapd: Slapd, ldap: LdapSection) -> dict[str, str]:
    """Put five users in LDAP and in the database; return their DNs."""
    dns = {uid: slapd.add_user(uid, f"{uid} pw", name=uid.title()) for uid in NAMES}
    for uid in NAMES:
        User.objects.create_user(
            uid, name=uid.title(), email=f"{uid}@example.com", auth_realm="LDAP"
        )
    return dns


def ldap_update(*args: str) -> str:
    """Run ``ska ldap-update`` in-process and return its output."""
    out = io.StringIO()
    call_command("ldap_update", *args, stdout=out)
    return out.getvalue()


def events(entity_id: int) -> list[dict[str, str]]:
    """Return the decoded events of an entity, oldest first."""
    rows = EntityEvent.objects.filter(entity_id=entity_id).order_by("id")
    return [json.loads(row.details) for row in rows]


def queued() -> set[tuple[str, str]]:
    """Return the queued sync targets as (hostname, account name)."""
    return set(SyncRequest.objects.values_list("server__hostname", "account_name"))


def active_uids() -> set[str]:
    """Return the uids of the active users."""
    return set(User.objects.filter(active=True).values_list("uid", flat=True))


def test_ldap_update_revokes_a_user_removed_from_ldap(
    slapd: Slapd, people: dict[str, str], client: Client
) -> None:
    alice = User.objects.get(uid="alice")
    host = world.server("web1.example.com")
    deploy = world.account(host, "deploy")
    world.key(alice, KEYDATA)
    world.rule(alice, deploy)
    assert KEYDATA in render_server(host)[0].text
    slapd.delete(people["alice"])

    output = ldap_update()

    alice.refresh_from_db()
    assert "deactivated=1" in output
    assert not alice.active
    assert not alice.keys_deployable
    assert events(alice.pk) == [
        {"action": "Setting update", "value": "0", "oldvalue": "1", "field": "Active"}
    ]
    assert queued() == {("web1.example.com", "deploy")}
    assert KEYDATA not in render_server(host)[0].text
    assert post_login(client, "alice", "alice pw").status_code == 200


def test_ldap_update_refreshes_names_mail_admin_and_superior(
    slapd: Slapd, people: dict[str, str], settings: Settings
) -> None:
    use_ldap(settings, user_superior="manager")
    slapd.modify(people["alice"], cn=["Alice Liddell"], mail=["al@example.org"])
    slapd.modify(people["alice"], manager=[people["bob"]])
    slapd.add_group("ska-admins", [people["alice"]])

    ldap_update()

    alice = User.objects.get(uid="alice")
    assert (alice.name, alice.email, alice.admin) == (
        "Alice Liddell",
        "al@example.org",
        True,
    )
    assert alice.superior == User.objects.get(uid="bob")
    fields = [event["field"] for event in events(alice.pk)]
    assert fields == ["Name", "Email", "Admin"]
    assert "ska-admins" in set(Group.objects.values_list("name", flat=True))
    assert ldap_update().startswith("ldap-update done: checked=5 changed=0")


def test_ldap_update_never_touches_the_system_user_or_local_users(
    people: dict[str, str],
) -> None:
    User.objects.create_user("keys-sync", auth_realm="LDAP", admin=True)
    User.objects.create_user("localadmin", auth_realm="local", admin=True)

    ldap_update()

    assert {"keys-sync", "localadmin"} <= active_uids()
    assert User.objects.get(uid="keys-sync").admin


def test_ldap_update_fills_a_linked_group_of_names(
    slapd: Slapd, people: dict[str, str]
) -> None:
    slapd.add_group("devs", [people["alice"], people["bob"]])
    out = io.StringIO()
    call_command("group", "link-ldap", "devs", stdout=out)
    devs = Group.objects.get(name="devs")
    host = world.server("web1.example.com")
    world.rule(devs, world.account(host, "app"))

    ldap_update()

    members = GroupMember.objects.filter(group=devs).values_list("entity_id", flat=True)
    assert set(members) == {
        User.objects.get(uid="alice").pk,
        User.objects.get(uid="bob").pk,
    }
    assert devs.system
    assert devs.ldap_guid == slapd.entry_uuid(f"cn=devs,{GROUPS}")
    assert [event["action"] for event in events(devs.pk)] == [
        "Group add",
        "Member add",
        "Member add",
    ]
    assert queued() == {("web1.example.com", "app")}


def test_ldap_update_fills_a_linked_posix_group(
    slapd: Slapd, people: dict[str, str], settings: Settings
) -> None:
    use_ldap(
        settings,
        group_member="memberUid",
        group_member_value="uid",
        group_class="posixGroup",
    )
    slapd.add_posix_group("ops", 2000, ["carol", "DAVE"])
    call_command("group", "link-ldap", "ops", stdout=io.StringIO())

    ldap_update()

    ops = Group.objects.get(name="ops")
    member_uids = set(
        User.objects.filter(group_memberships__group=ops).values_list("uid", flat=True)
    )
    assert member_uids == {"carol", "dave"}


@pytest.mark.parametrize(("indirect", "expected"), [(True, {"alice"}), (False, set())])
def test_ldap_update_follows_nested_groups_only_when_configured(
    slapd: Slapd,
    people: dict[str, str],
    settings: Settings,
    indirect: bool,
    expected: set[str],
) -> None:
    use_ldap(settings, indirect_group_memberships=indirect)
    team = slapd.add_group("team", [people["alice"]])
    slapd.add_group("devs", [team])
    call_command("group", "link-ldap", "devs", stdout=io.StringIO())

    ldap_update()

    member_uids = set(
        User.objects.filter(group_memberships__group__name="devs").values_list(
            "uid", flat=True
        )
    )
    assert member_uids == expected


def test_ldap_update_removes_members_and_renames_groups(
    slapd: Slapd, people: dict[str, str]
) -> None:
    dn = slapd.add_group("devs", [people["alice"], people["bob"]])
    call_command("group", "link-ldap", "devs", stdout=io.StringIO())
    ldap_update()
    slapd.modify(dn, member=[people["alice"]])
    slapd.rename(dn, "cn=developers")

    ldap_update()

    group = Group.objects.get(ldap_guid=slapd.entry_uuid(f"cn=developers,{GROUPS}"))
    assert group.name == "developers"
    assert list(group.members.values_list("entity__user__uid", flat=True)) == ["alice"]
    assert events(group.pk)[-2:] == [
        {
            "action": "Setting update",
            "value": "developers",
            "oldvalue": "devs",
            "field": "Name",
        },
        {"action": "Member remove", "value": "user:bob"},
    ]


def test_ldap_update_changes_nothing_when_the_directory_is_down(
    people: dict[str, str], settings: Settings
) -> None:
    stopped = Slapd()
    stopped.start()
    stopped.remove()
    use_ldap(settings, host=stopped.url, connect_timeout=2)

    with pytest.raises(CommandError) as refused:
        ldap_update()

    assert "directory is unavailable" in str(refused.value)
    assert "\n" not in str(refused.value)
    assert active_uids() >= set(NAMES)
    assert not EntityEvent.objects.exists()


def test_ldap_update_changes_nothing_when_a_search_fails(
    people: dict[str, str], settings: Settings
) -> None:
    use_ldap(settings, dn_group="ou=missing,dc=example,dc=com")

    with pytest.raises(CommandError, match="directory is unavailable"):
        ldap_update()

    assert active_uids() >= set(NAMES)


def test_ldap_update_refuses_a_mass_deactivation_unless_forced(
    slapd: Slapd, people: dict[str, str]
) -> None:
    host = world.server("web1.example.com")
    world.rule(User.objects.get(uid="alice"), world.account(host, "deploy"))
    for uid in ("alice", "bob", "carol"):
        slapd.delete(people[uid])

    with pytest.raises(CommandError) as refused:
        ldap_update()

    assert "would deactivate 3 of 5 active users" in str(refused.value)
    assert active_uids() >= set(NAMES)
    assert not EntityEvent.objects.exists()
    assert not SyncRequest.objects.exists()

    assert "deactivated=3" in ldap_update("--force")
    assert active_uids() & set(NAMES) == {"dave", "erin"}
    assert queued() == {("web1.example.com", "deploy")}


def test_periodic_ldap_update_logs_a_refusal_instead_of_raising(
    people: dict[str, str], settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    use_ldap(settings, host="ldap://127.0.0.1:1", connect_timeout=1)
    caplog.set_level(logging.WARNING, logger="ska.directory.ldap_update")

    run_periodic_ldap_update()

    assert any("ldap update refused" in r.getMessage() for r in caplog.records)
    assert active_uids() >= set(NAMES)


def test_periodic_ldap_update_applies_changes(
    slapd: Slapd, people: dict[str, str]
) -> None:
    slapd.delete(people["erin"])

    run_periodic_ldap_update()

    assert "erin" not in active_uids()


def test_ldap_update_and_link_refuse_without_ldap() -> None:
    with pytest.raises(CommandError, match="LDAP is not configured"):
        ldap_update()
    with pytest.raises(CommandError, match="LDAP is not configured"):
        call_command("group", "link-ldap", "devs")


def test_group_link_refuses_an_unknown_or_already_linked_group(
    slapd: Slapd, ldap: LdapSection
) -> None:
    slapd.add_group("devs", [slapd.add_user("zoe")])
    call_command("group", "link-ldap", "devs", stdout=io.StringIO())

    with pytest.raises(CommandError, match="no LDAP group with cn='nope'"):
        call_command("group", "link-ldap", "nope")
    with pytest.raises(CommandError, match="already exists"):
        call_command("group", "link-ldap", "devs")
    assert Group.objects.filter(name="devs").count() == 1


def test_ldap_login_joins_the_linked_groups_at_once(
    slapd: Slapd, ldap: LdapSection, client: Client
) -> None:
    zoe = slapd.add_user("zoe", "zoe pw")
    slapd.add_group("devs", [zoe])
    call_command("group", "link-ldap", "devs", stdout=io.StringIO())

    post_login(client, "zoe", "zoe pw")

    assert Group.objects.get(name="devs").members.count() == 1
    assert Server.objects.count() == 0


def test_ldap_update_changes_nothing_when_the_directory_truncates_a_search(
    slapd: Slapd, people: dict[str, str], settings: Settings
) -> None:
    slapd.add_user("limited", "limited pw")
    use_ldap(settings, bind_dn=LIMITED_DN, bind_password="limited pw")

    with pytest.raises(CommandError, match="incomplete: sizeLimitExceeded"):
        ldap_update("--force")

    assert active_uids() >= set(NAMES)
