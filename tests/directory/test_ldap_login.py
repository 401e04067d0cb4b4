"""LDAP login against a real slapd: bind forms, provisioning, admin, refusals."""

from __future__ import annotations

import json
import logging

import pytest
from django.contrib.auth import authenticate
from django.db import connection
from django.test import Client
from pytest_django.fixtures import Settings

from ska.activity.models import EntityEvent
from ska.config import LdapSection
from ska.directory.models import User
from tests.directory.conftest import message_of, post_login, use_ldap
from tests.support.slapd import Slapd, free_port

pytestmark = [pytest.mark.django_db, pytest.mark.slapd]

INVALID = "Invalid username or password."


def bind_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Return the bind attempts the login logged, in order."""
    return [
        record.getMessage()
        for record in caplog.records
        if record.getMessage().startswith("ldap bind")
    ]


def test_ldap_login_binds_with_the_uid_form_and_provisions_the_user(
    client: Client, slapd: Slapd, ldap: LdapSection, caplog: pytest.LogCaptureFixture
) -> None:
    slapd.add_user("alice", "alice pw", name="Alice Liddell", mail="al@example.com")
    caplog.set_level(logging.DEBUG, logger="ska.directory.ldap_client")

    response = post_login(client, "alice", "alice pw")

    assert response.status_code == 303
    assert response["Location"] == "/"
    alice = User.objects.get(uid="alice")
    assert (alice.name, alice.email, alice.auth_realm) == (
        "Alice Liddell",
        "al@example.com",
        "LDAP",
    )
    assert alice.active
    assert not alice.admin
    assert not alice.has_usable_password()
    assert client.session["_auth_user_id"] == str(alice.pk)
    assert bind_lines(caplog) == [
        "ldap bind refused form=upn dn=alice@example.com",
        "ldap bind refused form=ad dn=CN=alice,ou=people,DC=example,DC=com",
        "ldap bind accepted form=dn dn=uid=alice,ou=people,dc=example,dc=com",
    ]


def test_ldap_login_binds_with_the_ad_cn_form(
    client: Client, slapd: Slapd, ldap: LdapSection, caplog: pytest.LogCaptureFixture
) -> None:
    slapd.add_user("carol", "carol pw", rdn="cn", name="carol")
    caplog.set_level(logging.DEBUG, logger="ska.directory.ldap_client")

    response = post_login(client, "carol", "carol pw")

    assert response.status_code == 303
    assert bind_lines(caplog)[-1] == (
        "ldap bind accepted form=ad dn=CN=carol,ou=people,DC=example,DC=com"
    )
    assert User.objects.filter(uid="carol", auth_realm="LDAP").exists()


def test_ldap_login_keeps_the_directorys_spelling_of_the_uid(
    client: Client, slapd: Slapd, ldap: LdapSection
) -> None:
    slapd.add_user("Dora", "dora pw")

    post_login(client, "dora", "dora pw")

    assert list(
        User.objects.filter(auth_realm="LDAP").values_list("uid", flat=True)
    ) == ["Dora"]


@pytest.mark.parametrize(
    ("username", "password", "message"),
    [
        ("alice", "wrong", INVALID),
        ("nobody", "alice pw", INVALID),
        ("alice", "", "Please enter both username and password."),
        ("", "alice pw", "Please enter both username and password."),
        (
            "alice)(uid=*",
            "alice pw",
            "Invalid username format. Username can only contain letters, "
            "numbers, dots, hyphens, and underscores.",
        ),
    ],
)
def test_ldap_login_refuses_bad_credentials(
    client: Client,
    slapd: Slapd,
    ldap: LdapSection,
    username: str,
    password: str,
    message: str,
) -> None:
    slapd.add_user("alice", "alice pw")

    response = post_login(client, username, password)

    assert response.status_code == 200
    assert message_of(response) == message
    assert not User.objects.exists()
    assert "_auth_user_id" not in client.session


def test_ldap_login_never_binds_with_an_empty_password(
    client: Client, slapd: Slapd, ldap: LdapSection, caplog: pytest.LogCaptureFixture
) -> None:
    slapd.add_user("alice", "alice pw")
    caplog.set_level(logging.DEBUG, logger="ska.directory.ldap_client")

    post_login(client, "alice", "")

    assert bind_lines(caplog) == []


def test_ldap_login_locks_a_name_and_address_after_five_failures(
    client: Client, slapd: Slapd, ldap: LdapSection
) -> None:
    slapd.add_user("alice", "alice pw")
    for _ in range(5):
        assert message_of(post_login(client, "alice", "wrong")) == INVALID

    locked = post_login(client, "Alice", "alice pw")
    other_address = post_login(client, "alice", "alice pw", address="127.0.0.2")

    assert message_of(locked) == (
        "Too many login attempts. Please try again in 15 minutes."
    )
    assert other_address.status_code == 303
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM ska_cache")
        assert cursor.fetchone() == (1,)  # shared through the database cache


def test_ldap_login_success_clears_earlier_failures(
    client: Client, slapd: Slapd, ldap: LdapSection
) -> None:
    slapd.add_user("alice", "alice pw")
    for _ in range(4):
        post_login(client, "alice", "wrong")

    assert post_login(client, "alice", "alice pw").status_code == 303
    for _ in range(4):
        post_login(Client(), "alice", "wrong")

    assert post_login(Client(), "alice", "alice pw").status_code == 303


def test_ldap_login_grants_admin_through_the_admin_group(
    client: Client, slapd: Slapd, ldap: LdapSection
) -> None:
    alice = slapd.add_user("alice", "alice pw")
    slapd.add_group("ska-admins", [alice])

    post_login(client, "alice", "alice pw")

    assert User.objects.get(uid="alice").admin


@pytest.mark.parametrize(("indirect", "admin"), [(True, True), (False, False)])
def test_ldap_login_follows_nested_admin_groups_only_when_configured(
    client: Client,
    slapd: Slapd,
    ldap: LdapSection,
    settings: Settings,
    indirect: bool,
    admin: bool,
) -> None:
    alice = slapd.add_user("alice", "alice pw")
    ops = slapd.add_group("ops", [alice])
    platform = slapd.add_group("platform", [ops])
    slapd.add_group("ska-admins", [platform])
    use_ldap(settings, indirect_group_memberships=indirect)

    post_login(client, "alice", "alice pw")

    assert User.objects.get(uid="alice").admin is admin


def test_ldap_login_recomputes_admin_on_every_login(
    client: Client, slapd: Slapd, ldap: LdapSection
) -> None:
    alice = slapd.add_user("alice", "alice pw", name="Alice")
    group = slapd.add_group("ska-admins", [alice])
    post_login(client, "alice", "alice pw")
    slapd.modify(group, member=[slapd.add_user("bob")])
    slapd.modify(alice, cn=["Alice Liddell"])

    post_login(Client(), "alice", "alice pw")

    user = User.objects.get(uid="alice")
    assert not user.admin
    assert user.name == "Alice Liddell"
    details = [json.loads(e.details) for e in EntityEvent.objects.filter(entity=user)]
    assert {
        "action": "Setting update",
        "value": "0",
        "oldvalue": "1",
        "field": "Admin",
    } in details
    assert {
        "action": "Setting update",
        "value": "Alice Liddell",
        "oldvalue": "Alice",
        "field": "Name",
    } in details


def test_ldap_login_refuses_users_the_directory_marks_inactive(
    client: Client, slapd: Slapd, ldap: LdapSection, settings: Settings
) -> None:
    use_ldap(settings, user_active="employeeType", user_active_false="left")
    alice = slapd.add_user("alice", "alice pw", employeeType="staff")
    assert post_login(client, "alice", "alice pw").status_code == 303
    slapd.modify(alice, employeeType=["left"])

    response = post_login(Client(), "alice", "alice pw")

    assert message_of(response) == INVALID
    assert not User.objects.get(uid="alice").active


def test_ldap_login_refuses_users_disabled_by_an_admin(
    client: Client, slapd: Slapd, ldap: LdapSection
) -> None:
    slapd.add_user("alice", "alice pw")
    User.objects.create_user("alice", auth_realm=User.Realm.LDAP, force_disable=True)

    response = post_login(client, "alice", "alice pw")

    assert message_of(response) == INVALID
    assert User.objects.get(uid="alice").force_disable


def test_ldap_login_reports_an_unreachable_directory_without_counting_it(
    client: Client, settings: Settings, ldap: LdapSection
) -> None:
    use_ldap(settings, host=f"ldap://127.0.0.1:{free_port()}", connect_timeout=2)

    responses = [post_login(client, "alice", "alice pw") for _ in range(6)]

    assert {message_of(r) for r in responses} == {
        "Authentication error. Please try again."
    }


@pytest.mark.parametrize("mode", ["ldaps", "starttls"])
def test_ldap_login_works_over_verified_tls(
    client: Client, slapd: Slapd, ldap: LdapSection, settings: Settings, mode: str
) -> None:
    slapd.add_user("alice", "alice pw")
    host = slapd.tls_url if mode == "ldaps" else slapd.url
    use_ldap(
        settings, host=host, starttls=mode == "starttls", ca_file=str(slapd.ca_file)
    )

    assert post_login(client, "alice", "alice pw").status_code == 303


@pytest.mark.parametrize("mode", ["ldaps", "starttls"])
def test_ldap_login_refuses_a_certificate_it_cannot_verify(
    client: Client, slapd: Slapd, ldap: LdapSection, settings: Settings, mode: str
) -> None:
    slapd.add_user("alice", "alice pw")
    host = slapd.tls_url if mode == "ldaps" else slapd.url
    use_ldap(settings, host=host, starttls=mode == "starttls", ca_file="")

    response = post_login(client, "alice", "alice pw")

    assert message_of(response) == "Authentication error. Please try again."
    assert not User.objects.exists()


def test_backend_refuses_unsafe_names_before_any_bind(
    slapd: Slapd, ldap: LdapSection, caplog: pytest.LogCaptureFixture
) -> None:
    slapd.add_user("alice", "alice pw")
    caplog.set_level(logging.DEBUG, logger="ska.directory.ldap_client")

    results = [
        authenticate(None, username=name, password="alice pw")
        for name in ("alice*", "*", "alice,ou=people", "a" * 51)
    ]

    assert results == [None, None, None, None]
    assert bind_lines(caplog) == []
    assert authenticate(None, username="alice", password="alice pw") is not None
