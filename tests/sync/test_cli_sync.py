"""``ska sync`` in the foreground and ``ska sync --diagnostics``."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from ska.servers.models import Server, ServerAccount, SyncStatus
from ska.sync.diagnostics import diagnostic_lines
from ska.sync.keypair import ensure_key_pair
from ska.sync.models import SyncRequest
from tests.support.daemons import REPOSITORY, daemon_env
from tests.support.sshd import SshdFleet, Target
from tests.sync.conftest import Configure
from tests.sync.scenario import grant, public_line, server_for, user_with_key

pytestmark = pytest.mark.django_db(transaction=True)


def _sync(*args: str) -> tuple[int, list[str]]:
    """Run ``ska sync ARGS``; return the exit status and the output lines."""
    output = io.StringIO()
    try:
        call_command("sync", *args, stdout=output)
    except SystemExit as stop:
        return int(stop.code or 0), output.getvalue().splitlines()
    return 0, output.getvalue().splitlines()


@pytest.fixture
def fleet(sshd_fleet: SshdFleet) -> list[Target]:
    """Start two sshd targets for one test."""
    return sshd_fleet.add_many(2)


@pytest.mark.sshd
def test_sync_all_exits_zero_when_every_server_synced(fleet: list[Target]) -> None:
    alice, key = user_with_key("alice")
    for target in fleet:
        account = ServerAccount.objects.create(server=server_for(target), name="app")
        grant(alice, account)

    status, lines = _sync("--all")

    assert status == 0
    for target in fleet:
        assert f"{target.hostname}: Synced successfully" in lines
        assert public_line(key) in (target.key_dir / "app").read_text()
    assert not SyncRequest.objects.exists()


@pytest.mark.sshd
def test_sync_all_exits_one_when_a_server_fails_and_schedules_its_retry(
    fleet: list[Target], sshd_fleet: SshdFleet, configure: Configure
) -> None:
    configure(sync={"connect_timeout": 1})
    silent = sshd_fleet.silent_listener()
    hung = Server.objects.create(hostname=silent.hostname, port=silent.port)
    good = server_for(fleet[0])

    status, lines = _sync("--all")

    assert status == 1
    assert f"{good.hostname}: Synced successfully" in lines
    failure = [line for line in lines if line.startswith(f"{hung.hostname}: ")]
    assert failure[0].endswith("code=ssh_timeout; retry=30m")
    retry = SyncRequest.objects.get()
    assert retry.server_id == hung.pk
    assert retry.execution_time is not None


@pytest.mark.sshd
def test_sync_host_and_id_choose_only_those_servers(fleet: list[Target]) -> None:
    first, second = (server_for(target) for target in fleet)

    status, lines = _sync("--host", first.hostname)
    assert (status, lines[0]) == (0, f"{first.hostname}: Synced successfully")
    assert not any(line.startswith(second.hostname) for line in lines)

    status, lines = _sync("--id", str(second.pk))
    assert (status, lines[0]) == (0, f"{second.hostname}: Synced successfully")
    second.refresh_from_db()
    assert second.sync_status == SyncStatus.SUCCESS


@pytest.mark.sshd
def test_sync_user_writes_only_that_account(fleet: list[Target]) -> None:
    server = server_for(fleet[0])
    alice, key = user_with_key("alice")
    for name in ("app", "web"):
        grant(alice, ServerAccount.objects.create(server=server, name=name))

    status, _lines = _sync("--id", str(server.pk), "--user", "app")

    assert status == 0
    assert public_line(key) in (fleet[0].key_dir / "app").read_text()
    assert not (fleet[0].key_dir / "web").exists()


def test_sync_without_the_private_key_refuses_with_one_line(
    tmp_path: Path, configure: Configure
) -> None:
    Server.objects.create(hostname="127.0.0.9")
    configure(sync={"private_key": str(tmp_path / "missing")})

    status, lines = _sync("--all")

    assert status == 1
    assert lines == [f"sync cannot start: private key {tmp_path}/missing not found"]


def test_sync_diagnostics_prints_the_reference_keys_then_ours(
    tmp_path: Path, configure: Configure
) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("# comment\n[jump]:22 ssh-ed25519 AAAA\n\nother ssh-rsa B\n")
    config = configure(
        sync={"server_timeout": 45, "retry_delay": 600, "concurrency": 8},
        security={
            "jumphost_strict_host_key_checking": False,
            "jumphost_known_hosts_file": str(known_hosts),
        },
    )
    ensure_key_pair(config.private_key_path, config.public_key_path)

    status, lines = _sync("--diagnostics")

    assert status == 0
    assert lines == [
        "sync_runtime.timeout_util=in-process",
        "sync_runtime.timeout_binary=in-process (asyncio timeouts, no timeout command)",
        "sync_runtime.timeout_seconds=45",
        "sync_runtime.jumphost_strict_host_key_checking=no",
        f"sync_runtime.jumphost_known_hosts_file={known_hosts}",
        "sync_runtime.reschedule_delay_minutes=10",
        "sync_runtime.concurrency=8",
        f"sync_runtime.private_key_file={config.private_key_path}",
        "sync_runtime.private_key_readable=yes",
        f"sync_runtime.public_key_file={config.public_key_path}",
        "sync_runtime.public_key_readable=yes",
        "sync_runtime.jumphost_known_hosts_file_exists=yes",
        "sync_runtime.jumphost_known_hosts_entries=2",
        "sync_runtime.jumphost_hops_verified=no (jump host keys are not checked: "
        "a machine in the path can pose as a hop)",
    ]


@pytest.mark.parametrize(
    ("strict", "known_hosts_exists", "expected"),
    [
        (True, False, ["jumphost_known_hosts_file_exists=no"]),
        (True, False, ["jumphost_known_hosts_entries=unreadable"]),
        (True, True, ["jumphost_strict_host_key_checking=yes"]),
    ],
)
def test_diagnostics_report_the_known_hosts_file(
    tmp_path: Path,
    configure: Configure,
    strict: bool,
    known_hosts_exists: bool,
    expected: list[str],
) -> None:
    known_hosts = tmp_path / "known_hosts"
    if known_hosts_exists:
        known_hosts.write_text("")
    configure(
        security={
            "jumphost_strict_host_key_checking": strict,
            "jumphost_known_hosts_file": str(known_hosts),
        }
    )

    lines = diagnostic_lines()

    for line in expected:
        assert f"sync_runtime.{line}" in lines
    assert not any("hops_verified" in line for line in lines)


def test_ska_sync_diagnostics_command_exits_zero() -> None:
    config = settings.SKA
    ensure_key_pair(config.private_key_path, config.public_key_path)

    done = subprocess.run(
        [sys.executable, "-m", "ska.cli", "sync", "--diagnostics"],
        cwd=REPOSITORY,
        env=daemon_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "sync_runtime.timeout_util=in-process"
    assert len(done.stdout.splitlines()) == 13


def test_ska_syncd_refuses_a_bad_concurrency_with_one_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ska.cli", "syncd", "--concurrency", "0"],
        cwd=REPOSITORY,
        env=daemon_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "CommandError: --concurrency must be between 1 and 1000"
    ]
