"""Local accounts: the ``ska user`` command, the services and password login."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from pytest_django.fixtures import Settings

from ska.access.models import AccessRule
from ska.activity.models import EntityEvent
from ska.directory import services
from ska.directory.models import User
from ska.servers.models import Server, ServerAccount
from ska.sync.models import SyncRequest
from tests.directory.conftest import message_of, post_login, use_ldap

pytestmark = pytest.mark.django_db


def run_user(*args: str, stdin: str = "") -> str:
    """Run ``ska user`` in-process and return what it printed."""
    out = io.StringIO()
    old_stdin = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        call_command("user", *args, stdout=out)
    finally:
        sys.stdin = old_stdin
    return out.getvalue()


def test_user_add_prints_a_generated_password_that_logs_in(client: Client) -> None:
    output = run_user("add", "alice", "--email", "alice@example.com", "--name", "Al")

    password = output.split("this once): ")[1].strip()
    user = User.objects.get(uid="alice")
    assert (user.name, user.email, user.auth_realm) == (
        "Al",
        "alice@example.com",
        "local",
    )
    assert user.check_password(password)
    assert not user.admin
    response = post_login(client, "alice", password)
    assert response.status_code == 303
    assert response["Location"] == "/"


def test_user_add_reads_the_password_from_stdin() -> None:
    output = run_user(
        "add",
        "bob",
        "--email",
        "bob@example.com",
        "--admin",
        "--password-stdin",
        stdin="correct horse\n",
    )

    assert "this once" not in output
    bob = User.objects.get(uid="bob")
    assert bob.admin
    assert bob.check_password("correct horse")
    assert bob.password.startswith("md5$")  # the hasher of the test settings


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bad name", "--email", "x@example.com"], "invalid user name"),
        (["keys-sync", "--email", "x@example.com"], "reserved"),
        (["carol", "--email", "not-an-address"], "invalid e-mail address"),
        (["Dave", "--email", "d@example.com"], "already exists"),
        (["erin", "--email", "e@example.com", "--name", "x" * 101], "invalid name"),
    ],
)
def test_user_add_refuses_bad_input_with_one_line(
    args: list[str], message: str
) -> None:
    User.objects.create_user("dave")

    with pytest.raises(CommandError) as raised:
        run_user("add", *args)

    assert message in str(raised.value)
    assert "\n" not in str(raised.value)
    assert not User.objects.filter(uid__in=["carol", "erin", "bad name"]).exists()


def test_user_add_refuses_a_short_password() -> None:
    with pytest.raises(CommandError, match="at least 8"):
        run_user(
            "add", "frank", "--email", "f@x.org", "--password-stdin", stdin="short\n"
        )

    assert not User.objects.filter(uid="frank").exists()


def test_user_passwd_changes_the_password() -> None:
    User.objects.create_user("gina", password="old password")

    run_user("passwd", "GINA", "--password-stdin", stdin="new password\n")

    assert User.objects.get(uid="gina").check_password("new password")


def test_user_passwd_refuses_without_a_terminal_or_stdin_flag() -> None:
    User.objects.create_user("hank", password="old password")

    with pytest.raises(CommandError, match="not a terminal"):
        run_user("passwd", "hank")

    assert User.objects.get(uid="hank").check_password("old password")


def test_user_passwd_refuses_ldap_users_and_unknown_names() -> None:
    User.objects.create_user("ivan", auth_realm=User.Realm.LDAP)

    with pytest.raises(CommandError, match="not a local account"):
        run_user("passwd", "ivan", "--password-stdin", stdin="new password\n")
    with pytest.raises(CommandError, match="no user named 'nobody'"):
        run_user("passwd", "nobody", "--password-stdin", stdin="new password\n")


def test_user_disable_logs_the_change_and_queues_the_users_servers() -> None:
    user = User.objects.create_user("judy", password="judy password")
    server = Server.objects.create(hostname="web1.example.com")
    account = ServerAccount.objects.create(server=server, name="deploy")
    AccessRule.objects.create(source=user, dest=account)

    output = run_user("disable", "judy")

    judy = User.objects.get(uid="judy")
    assert "now disabled" in output
    assert judy.force_disable
    assert not judy.keys_deployable
    event = EntityEvent.objects.get(entity=judy)
    assert json.loads(event.details) == {
        "action": "Setting update",
        "value": "1",
        "oldvalue": "0",
        "field": "Force disable",
    }
    assert event.actor == services.get_keys_sync_user()
    assert list(SyncRequest.objects.values_list("server_id", "account_name")) == [
        (server.pk, "deploy")
    ]


def test_user_enable_lifts_a_disable_once() -> None:
    User.objects.create_user("kate", force_disable=True)

    assert "now enabled" in run_user("enable", "kate")
    assert "already enabled" in run_user("enable", "kate")

    assert not User.objects.get(uid="kate").force_disable
    assert EntityEvent.objects.count() == 1


def test_user_disable_refuses_the_system_user() -> None:
    services.get_keys_sync_user()

    with pytest.raises(CommandError, match="system user"):
        run_user("disable", "keys-sync")


def test_user_list_shows_every_user_with_its_state() -> None:
    User.objects.create_user("liam", name="Liam L", email="liam@example.com")
    User.objects.create_user("mia", force_disable=True)
    User.objects.create_user("noah", active=False, auth_realm=User.Realm.LDAP)

    lines = run_user("list").splitlines()

    assert lines[0].split() == ["UID", "NAME", "EMAIL", "REALM", "STATE", "ADMIN"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert "liam@example.com" in rows["liam"]
    assert rows["mia"].split()[-2:] == ["disabled", "no"]
    assert rows["noah"].split()[-3:] == ["LDAP", "inactive", "no"]


def test_user_add_refuses_when_ldap_is_configured(settings: Settings) -> None:
    use_ldap(settings, host="ldap://127.0.0.1:1")

    with pytest.raises(CommandError, match="LDAP is configured"):
        run_user("add", "olga", "--email", "o@example.com")


def test_local_login_refuses_a_wrong_password_and_a_disabled_user(
    client: Client,
) -> None:
    User.objects.create_user("pat", password="pat password")
    User.objects.create_user("quin", password="quin password", force_disable=True)

    wrong = post_login(client, "pat", "not it")
    disabled = post_login(client, "quin", "quin password")

    assert message_of(wrong) == "Invalid username or password."
    assert message_of(disabled) == "Invalid username or password."
    assert "_auth_user_id" not in client.session


def test_local_login_refuses_the_system_user(client: Client) -> None:
    system = services.get_keys_sync_user()
    system.set_password("system password")
    system.save()

    response = post_login(client, "keys-sync", "system password")

    assert message_of(response) == "Invalid username or password."


def test_ska_user_command_runs_as_a_real_program(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SKA_DATABASE_")},
        "SKA_DATA_DIR": str(tmp_path),
        "SKA_CONFIG": os.devnull,
    }
    ska = [sys.executable, "-m", "ska.cli"]
    subprocess.run([*ska, "migrate", "-v", "0"], env=env, check=True, timeout=120)

    added = subprocess.run(
        [
            *ska,
            "user",
            "add",
            "rita",
            "--email",
            "rita@example.com",
            "--password-stdin",
        ],
        env=env,
        input="rita password\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    refused = subprocess.run(
        [*ska, "user", "add", "rita", "--email", "rita@example.com"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert added.returncode == 0, added.stderr
    assert "Created the user 'rita'" in added.stdout
    assert refused.returncode != 0
    assert refused.stderr.strip().splitlines() == [
        "CommandError: the user 'rita' already exists"
    ]


def test_init_creates_a_first_admin_who_can_log_in(client: Client) -> None:
    out = io.StringIO()
    call_command("init", stdout=out)

    found = re.search(r"with password: (\S+)", out.getvalue())
    assert found is not None
    assert post_login(client, "admin", found.group(1)).status_code == 303
    assert User.objects.get(uid="admin").admin
