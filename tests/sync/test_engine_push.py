"""What a sync writes on a real sshd target, and what it records."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from ska.servers.models import Server, ServerAccount
from ska.sync.engine import sync_server
from ska.sync.transport import host_key_blob
from tests.support.sshd import SshdFleet, Target, ensure_user
from tests.sync.conftest import Configure
from tests.sync.scenario import (
    account_events,
    add_key,
    grant,
    public_line,
    run_async,
    run_sync,
    server_events,
    server_for,
    ssh_login,
    user_with_key,
    write_private_key,
)

pytestmark = [pytest.mark.sshd, pytest.mark.django_db(transaction=True)]

LOGIN_USER = "ska-login"


def _names(target: Target) -> set[str]:
    return {path.name for path in target.key_dir.iterdir()}


def test_sync_pushed_key_lets_the_user_in_until_revoked(
    target: Target, tmp_path: Path
) -> None:
    ensure_user(LOGIN_USER)
    server = server_for(target)
    account = ServerAccount.objects.create(server=server, name=LOGIN_USER)
    user, key = user_with_key("alice")
    rule = grant(user, account)
    key_file = write_private_key(key, tmp_path / "alice")
    assert ssh_login(key_file, LOGIN_USER, target) != 0

    outcome = run_sync(server)

    assert outcome.ok
    assert outcome.message == "Synced successfully"
    assert public_line(key) in (target.key_dir / LOGIN_USER).read_text()
    assert ssh_login(key_file, LOGIN_USER, target) == 0
    assert f"found at /var/local/keys-sync/{LOGIN_USER}:" in target.log_text()

    rule.delete()
    run_sync(server)

    assert public_line(key) not in (target.key_dir / LOGIN_USER).read_text()
    assert ssh_login(key_file, LOGIN_USER, target) != 0


def test_sync_success_records_statuses_and_events(target: Target) -> None:
    server = server_for(target)
    account = ServerAccount.objects.create(server=server, name="root")

    outcome = run_sync(server)

    server.refresh_from_db()
    account.refresh_from_db()
    assert (outcome.status, outcome.code, outcome.retry) == (
        "sync success",
        None,
        False,
    )
    assert server.sync_status == account.sync_status == "sync success"
    assert outcome.lines[-2:] == (
        f"{target.hostname}: Updated root",
        f"{target.hostname}: Sync finished",
    )
    actions = [(e["action"], e.get("field")) for e in server_events(server)]
    assert actions == [
        ("Setting update", "Ip address"),
        ("Setting update", "Host key"),
        ("Sync status change", None),
        ("Setting update", "Sync status"),
    ]
    assert account_events(account) == [
        {
            "action": "Setting update",
            "value": "sync success",
            "oldvalue": "not synced yet",
            "field": "Sync status",
        }
    ]


def test_sync_again_with_same_result_adds_no_status_event(target: Target) -> None:
    server = server_for(target)
    ServerAccount.objects.create(server=server, name="root")
    run_sync(server)
    count = len(server_events(server))

    run_sync(server)

    assert len(server_events(server)) == count


def test_sync_first_connection_pins_the_host_key_as_type_and_blob(
    target: Target,
) -> None:
    server = server_for(target)

    run_sync(server)

    server.refresh_from_db()
    assert server.host_key == target.host_key_line()
    assert server.host_key.startswith("ssh-ed25519 ")
    assert server.ip_address == target.hostname


def test_sync_unchanged_file_is_not_rewritten(target: Target) -> None:
    server = server_for(target)
    ServerAccount.objects.create(server=server, name="root")
    run_sync(server)
    before = (target.key_dir / "root").stat()

    outcome = run_sync(server)

    after = (target.key_dir / "root").stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert f"{target.hostname}: No changes required for root" in outcome.lines


def test_sync_writes_files_with_mode_0644_owned_by_keys_sync(target: Target) -> None:
    server = server_for(target)
    ServerAccount.objects.create(server=server, name="root")
    (target.key_dir / "root").write_text("stale\n")
    (target.key_dir / "root").chmod(0o600)

    run_sync(server)

    written = (target.key_dir / "root").stat()
    assert written.st_mode & 0o777 == 0o644
    assert written.st_uid == (target.key_dir / "keys-sync").stat().st_uid
    assert not [name for name in _names(target) if name.endswith(".ska-tmp")]


def test_full_sync_removes_unknown_files_but_keeps_its_own(target: Target) -> None:
    server = server_for(target)
    ServerAccount.objects.create(server=server, name="root")
    (target.key_dir / "former").write_text("ssh-ed25519 AAAA old\n")
    (target.key_dir / ".hostnames").write_text(f"{target.hostname}\n")

    outcome = run_sync(server)

    assert _names(target) == {"keys-sync", ".hostnames", "root"}
    assert f"{target.hostname}: Removed unknown file: former" in outcome.lines


def test_one_account_sync_leaves_other_files_alone(target: Target) -> None:
    server = server_for(target)
    root = ServerAccount.objects.create(server=server, name="root")
    ServerAccount.objects.create(server=server, name="app")
    run_sync(server)
    (target.key_dir / "app").write_text("edited by hand\n")
    (target.key_dir / "former").write_text("unknown\n")
    user, key = user_with_key("bob")
    grant(user, root)

    outcome = run_sync(server, only_account="root")

    assert outcome.ok
    assert public_line(key) in (target.key_dir / "root").read_text()
    assert (target.key_dir / "app").read_text() == "edited by hand\n"
    assert (target.key_dir / "former").exists()


def test_inactive_and_proposed_accounts_get_no_file(target: Target) -> None:
    server = server_for(target)
    ServerAccount.objects.create(server=server, name="gone", active=False)
    ServerAccount.objects.create(
        server=server, name="asked", sync_status=ServerAccount.Status.PROPOSED
    )
    (target.key_dir / "gone").write_text("old\n")

    run_sync(server)

    assert _names(target) == {"keys-sync"}


def test_manual_ldap_file_only_for_users_that_exist_on_the_server(
    target: Target,
) -> None:
    ensure_user(LOGIN_USER)
    server = server_for(target, authorization=Server.Authorization.MANUAL_LDAP)
    user_with_key(LOGIN_USER)
    user_with_key("nobody-here")
    (target.key_dir / "nobody-here").write_text("left over\n")

    outcome = run_sync(server)

    assert outcome.ok
    assert LOGIN_USER in _names(target)
    assert "nobody-here" not in _names(target)
    assert f"{target.hostname}: Removed nobody-here: no such user on the server" in (
        outcome.lines
    )


def test_manual_ldap_files_fail_when_the_server_cannot_run_id(
    sshd_fleet: SshdFleet,
) -> None:
    target = sshd_fleet.add(extra_config="SetEnv PATH=/nonexistent")
    try:
        server = server_for(target, authorization=Server.Authorization.MANUAL_LDAP)
        user_with_key(LOGIN_USER)
        (target.key_dir / LOGIN_USER).write_text("kept\n")

        outcome = run_sync(server)
    finally:
        target.stop()

    assert outcome.message == (
        "1 account failed to sync; code=account_sync_failed; retry=30m"
    )
    assert (target.key_dir / LOGIN_USER).read_text() == "kept\n"
    assert any("cannot run id" in line for line in outcome.lines)


def test_ldap_user_losing_last_key_loses_the_file(target: Target) -> None:
    server = server_for(target, authorization=Server.Authorization.AUTOMATIC_LDAP)
    user, key = user_with_key("carol")
    run_sync(server)
    assert public_line(key) in (target.key_dir / "carol").read_text()

    user.public_keys.update(deletion_date=datetime.now(UTC).date())
    outcome = run_sync(server, only_account="carol")

    assert outcome.ok
    assert "carol" not in _names(target)


def test_decommission_removes_every_file_but_keys_sync_access(target: Target) -> None:
    server = server_for(target)
    ServerAccount.objects.create(server=server, name="root")
    run_sync(server)
    (target.key_dir / "former").write_text("unknown\n")
    (target.key_dir / ".hostnames").write_text(f"{target.hostname}\n")
    server.key_management = Server.KeyManagement.DECOMMISSIONED
    server.save()

    outcome = run_sync(server)

    assert outcome.ok
    assert outcome.message == (
        "Decommissioned: removed 2 key files (keys-sync access preserved)"
    )
    assert _names(target) == {"keys-sync", ".hostnames"}


def test_unmanaged_server_gives_no_outcome(target: Target) -> None:
    server = server_for(target, key_management=Server.KeyManagement.OTHER)

    assert run_async(sync_server(server.pk)) is None
    assert server_events(server) == []


def test_status_file_reports_the_sync_result(
    target: Target, configure: Configure
) -> None:
    configure(monitoring={"status_file_timeout": 3600})
    server = server_for(target)

    run_sync(server)

    status = json.loads(target.status_file.read_text())
    assert list(status) == [
        "warn_below_version",
        "sync_status",
        "sync_status_message",
        "key_supervision_error",
        "accounts_with_unnoticed_keys",
        "expire",
    ]
    assert status["sync_status"] == "sync success"
    assert status["sync_status_message"] == "Synced successfully"
    expire = parsedate_to_datetime(status["expire"])
    remaining = (expire - datetime.now(UTC)).total_seconds()
    assert 3500 < remaining <= 3600


def test_status_file_write_failure_is_a_warning_not_a_failure(
    target: Target,
) -> None:
    server = server_for(target)
    ServerAccount.objects.create(server=server, name="root")
    subprocess.run(["chown", "root:root", str(target.status_file)], check=True)

    outcome = run_sync(server)

    assert outcome.ok
    assert outcome.status == "sync warning"
    assert outcome.code == "monitoring_status_write_failed"
    assert outcome.message.startswith("Monitoring status file update failed; reason=")
    assert outcome.message.endswith("code=monitoring_status_write_failed")
    assert (target.key_dir / "root").exists()
    issues = [e for e in server_events(server) if e["action"] == "Sync non-fatal issue"]
    assert [issue["value"] for issue in issues] == [outcome.message]


def test_sync_reads_the_server_uuid(sshd_fleet: SshdFleet) -> None:
    uuid = "5b0d3a3e-8e8a-4c39-9a61-0c1f3f2b7d11"
    target = sshd_fleet.add(uuid=uuid)
    try:
        server = server_for(target)
        run_sync(server)
    finally:
        target.stop()

    server.refresh_from_db()
    assert server.uuid == uuid
    assert {"Uuid"} <= {e.get("field") for e in server_events(server)}


def test_sync_logs_in_with_an_rsa_4096_pem_key(
    target: Target, configure: Configure, tmp_path: Path
) -> None:
    key = tmp_path / "keys-sync-rsa"
    subprocess.run(
        [
            *("ssh-keygen", "-q", "-t", "rsa", "-b", "4096"),
            *("-m", "PEM", "-N", "", "-f", str(key)),
        ],
        check=True,
    )
    assert key.read_text().startswith("-----BEGIN RSA PRIVATE KEY-----")
    target.authorize_sync_key(Path(f"{key}.pub").read_text())
    configure(sync={"private_key": str(key)})
    server = server_for(target)

    outcome = run_sync(server)

    assert outcome.ok, outcome.message
    assert "Accepted publickey for keys-sync" in target.log_text()
    assert "RSA SHA256:" in target.log_text()


def test_read_only_key_directory_fails_the_accounts(target: Target) -> None:
    server = server_for(target)
    root = ServerAccount.objects.create(server=server, name="root")
    target.key_dir.chmod(0o555)

    outcome = run_sync(server)

    root.refresh_from_db()
    assert not outcome.ok
    assert (
        outcome.message
        == "1 account failed to sync; code=account_sync_failed; retry=30m"
    )
    assert outcome.retry
    assert root.sync_status == "sync failure"


def test_undeletable_unknown_file_fails_the_cleanup(target: Target) -> None:
    server = server_for(target)
    ServerAccount.objects.create(server=server, name="root")
    stale = target.key_dir / "stale"
    stale.mkdir()
    (stale / "inside").write_text("x\n")

    outcome = run_sync(server)

    assert not outcome.ok
    assert (
        outcome.message == "Failed to clean up 1 file; code=cleanup_failed; retry=30m"
    )
    assert (target.key_dir / "root").exists()
    assert stale.exists()


def test_pin_in_the_reference_rsa_format_still_matches(sshd_fleet: SshdFleet) -> None:
    target = sshd_fleet.add(host_key_algorithm="ssh-rsa")
    try:
        blob = target.host_key_line().split()[1]
        server = server_for(target, host_key=f"rsa-sha2-256 {blob}")

        outcome = run_sync(server)
    finally:
        target.stop()

    server.refresh_from_db()
    assert outcome.ok, outcome.message
    assert server.host_key == f"rsa-sha2-256 {blob}"
    assert host_key_blob(server.host_key) == host_key_blob(target.host_key_line())


def test_new_key_of_user_reaches_the_account(target: Target) -> None:
    server = server_for(target)
    account = ServerAccount.objects.create(server=server, name="root")
    user, first = user_with_key("dave")
    grant(user, account)
    run_sync(server)

    second = add_key(user)
    run_sync(server, only_account="root")

    text = (target.key_dir / "root").read_text()
    assert public_line(first) in text
    assert public_line(second) in text
