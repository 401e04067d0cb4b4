"""``ska syncd`` as its own process: SIGTERM, SIGKILL and lease expiry."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest
from django.utils import timezone

from ska.servers.models import Server, ServerAccount, SyncStatus
from ska.sync.models import SyncRequest
from ska.sync.requests import sync_account, sync_server
from tests.support.daemons import (
    daemon_env,
    start_daemon,
    stop_process,
    wait_for_text,
)
from tests.support.sshd import SshdFleet
from tests.sync.scenario import grant, public_line, server_for, user_with_key

pytestmark = [pytest.mark.sshd, pytest.mark.django_db(transaction=True)]


def test_sigterm_lets_running_pushes_finish_and_exits_zero(
    sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    silent = sshd_fleet.silent_listener()
    hung = Server.objects.create(hostname=silent.hostname, port=silent.port)
    sync_server(hung)
    log = tmp_path / "syncd.log"
    daemon = start_daemon([], daemon_env(SKA_SYNC_CONNECT_TIMEOUT="3"), log)
    try:
        wait_for_text(log, f"sync started server={hung.hostname}", timeout=30)
        asked = time.monotonic()
        daemon.send_signal(signal.SIGTERM)
        status = daemon.wait(timeout=30)
        waited = time.monotonic() - asked
    finally:
        stop_process(daemon)

    assert status == 0
    # It waited for the push to time out rather than cutting it off.
    assert waited > 1.5
    assert "daemon stopping reason=SIGTERM" in log.read_text()
    hung.refresh_from_db()
    assert hung.sync_status == SyncStatus.FAILURE
    retry = SyncRequest.objects.get()
    assert (retry.claimed_by, retry.lease_expires) == ("", None)
    assert retry.execution_time is not None


def test_killed_daemon_work_is_finished_after_its_lease_runs_out(
    sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    target = sshd_fleet.add_many(1)[0]
    silent = sshd_fleet.silent_listener()
    server = Server.objects.create(hostname=silent.hostname, port=silent.port)
    account = ServerAccount.objects.create(server=server, name="deploy")
    alice, key = user_with_key("alice")
    grant(alice, account)
    sync_account(account)
    env = daemon_env(SKA_SYNC_LEASE_SECONDS="10", SKA_SYNC_CONNECT_TIMEOUT="30")
    log = tmp_path / "syncd.log"

    first = start_daemon([], env, log)
    try:
        wait_for_text(log, f"sync started server={server.hostname}", timeout=30)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        stop_process(first)
    row = SyncRequest.objects.get()
    assert row.claimed_by.startswith("syncd@")
    # The server answers now; only the dead daemon's lease stands between.
    Server.objects.filter(pk=server.pk).update(
        hostname=target.hostname, port=target.port
    )

    _run_once(env, log)
    assert not (target.key_dir / "deploy").exists()
    assert SyncRequest.objects.get().claimed_by == row.claimed_by

    lease = row.lease_expires
    assert lease is not None
    time.sleep(max(0.0, (lease - timezone.now()).total_seconds()) + 0.2)
    _run_once(env, log)

    assert public_line(key) in (target.key_dir / "deploy").read_text()
    assert not SyncRequest.objects.exists()


def _run_once(env: dict[str, str], log: Path) -> None:
    daemon = start_daemon(["--once"], env, log)
    try:
        assert daemon.wait(timeout=60) == 0
    except subprocess.TimeoutExpired:
        raise AssertionError(log.read_text()[-2000:]) from None
    finally:
        stop_process(daemon)


def test_daemon_refuses_to_start_without_the_private_key(
    tmp_path: Path, sshd_fleet: SshdFleet
) -> None:
    target = sshd_fleet.add_many(1)[0]
    sync_server(server_for(target))
    env = daemon_env(SKA_SYNC_PRIVATE_KEY=str(tmp_path / "absent"))
    log = tmp_path / "syncd.log"

    daemon = start_daemon(["--once"], env, log)
    try:
        status = daemon.wait(timeout=60)
    finally:
        stop_process(daemon)

    assert status == 1
    assert log.read_text().strip().splitlines() == [
        f"CommandError: sync private key {tmp_path}/absent unusable: "
        "No such file or directory; run `ska init` to create it"
    ]
    assert SyncRequest.objects.count() == 1
