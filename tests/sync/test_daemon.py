"""The sync daemon in this process: draining, crashes, shutdown."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time

import pytest
from django.conf import settings
from django.utils import timezone

import ska.sync.daemon as daemon_module
import ska.sync.runner as runner
from ska.activity.services import last_sync_event
from ska.servers.models import Server, SyncStatus
from ska.sync.daemon import SyncContextFilter, SyncDaemon
from ska.sync.engine import SyncOutcome
from ska.sync.engine import sync_plan as engine_sync
from ska.sync.keypair import ensure_key_pair
from ska.sync.models import SyncRequest
from ska.sync.plan import SyncPlan, build_plan
from ska.sync.requests import request_syncs
from tests.support.daemons import silent_server

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def quick_sync(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give pushes short timeouts and make sure the sync key pair exists."""
    config = settings.SKA
    ensure_key_pair(config.private_key_path, config.public_key_path)
    sync = dataclasses.replace(
        config.sync, connect_timeout=1, step_timeout=2, server_timeout=5
    )
    monkeypatch.setattr(settings, "SKA", dataclasses.replace(config, sync=sync))


def _closed_port() -> int:
    with silent_server() as port:
        pass
    return port


def _drain(concurrency: int = 10) -> None:
    asyncio.run(SyncDaemon(concurrency=concurrency, once=True).run())


def _message(server: Server) -> str:
    event = last_sync_event(server)
    assert event is not None
    value = json.loads(event.details)["value"]
    assert isinstance(value, str)
    return value


def test_daemon_once_pushes_every_due_server_and_schedules_retries() -> None:
    servers = [
        Server.objects.create(hostname=f"127.0.0.{n}", port=_closed_port())
        for n in (2, 3, 4)
    ]
    request_syncs([(server.pk, "") for server in servers])

    _drain()

    for server in servers:
        server.refresh_from_db()
        assert server.sync_status == SyncStatus.FAILURE
        assert "code=ssh_connection_failed" in _message(server)
        retry = SyncRequest.objects.get(server=server)
        assert retry.claimed_by == ""
        assert retry.execution_time is not None
        assert retry.execution_time > timezone.now()


def test_daemon_classifies_a_crashed_push_and_goes_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    broken = Server.objects.create(hostname="127.0.0.5", port=_closed_port())
    other = Server.objects.create(hostname="127.0.0.6", port=_closed_port())
    request_syncs([(broken.pk, ""), (other.pk, "")])

    async def crash_on_broken(plan: SyncPlan) -> SyncOutcome | None:
        if plan.server_id == broken.pk:
            raise KeyError("surprise")
        return await engine_sync(plan)

    monkeypatch.setattr(runner, "sync_plan", crash_on_broken)

    with caplog.at_level(logging.INFO):
        _drain()

    broken.refresh_from_db()
    assert broken.sync_status == SyncStatus.FAILURE
    assert _message(broken) == (
        "Internal error during sync; reason=KeyError: 'surprise'; "
        "code=worker_process_error; retry=30m"
    )
    assert SyncRequest.objects.get(server=broken).execution_time is not None
    assert "code=ssh_connection_failed" in _message(other)
    crash = [r for r in caplog.records if r.getMessage().startswith("sync crashed")]
    assert crash
    assert crash[0].exc_info is not None


def test_daemon_isolates_a_server_whose_plan_crashes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broken = Server.objects.create(hostname="127.0.0.8", port=_closed_port())
    other = Server.objects.create(hostname="127.0.0.9", port=_closed_port())
    request_syncs([(broken.pk, ""), (other.pk, "")])

    def batch_fails(targets: object) -> dict[int, SyncPlan | None]:
        raise ValueError("batch broken")

    def plan_or_crash(server_id: int, only_account: str | None) -> SyncPlan | None:
        if server_id == broken.pk:
            raise ValueError("bad data")
        return build_plan(server_id, only_account)

    monkeypatch.setattr(runner, "build_plans", batch_fails)
    monkeypatch.setattr(runner, "build_plan", plan_or_crash)
    _drain()

    assert _message(broken) == (
        "Internal error during sync; reason=ValueError: bad data; "
        "code=worker_process_error; retry=30m"
    )
    assert "code=ssh_connection_failed" in _message(other)


def test_daemon_stop_releases_a_push_that_does_not_finish(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = Server.objects.create(hostname="127.0.0.7")
    request_syncs([(server.pk, "root")])
    started = asyncio.Event()

    async def hang(plan: SyncPlan) -> None:
        started.set()
        await asyncio.sleep(3600)

    monkeypatch.setattr(runner, "sync_plan", hang)
    monkeypatch.setattr(daemon_module, "push_deadline", lambda: 0.2)

    async def run_and_stop() -> None:
        daemon = SyncDaemon(concurrency=2)
        running = asyncio.create_task(daemon.run())
        await asyncio.wait_for(started.wait(), 10)
        daemon.stop("test")
        await asyncio.wait_for(running, 10)

    asyncio.run(run_and_stop())

    row = SyncRequest.objects.get(server=server)
    assert (row.account_name, row.claimed_by, row.lease_expires) == ("root", "", None)


def test_daemon_starts_the_next_push_as_soon_as_a_slot_frees(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    servers = [Server.objects.create(hostname=f"127.0.1.{n}") for n in range(1, 6)]
    request_syncs([(server.pk, "") for server in servers])
    running = 0
    most = 0

    async def slow(plan: SyncPlan) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        # Unequal lengths: a batch would wait for its slowest member.
        await asyncio.sleep(0.05 if plan.server_id % 2 else 0.3)
        running -= 1

    monkeypatch.setattr(runner, "sync_plan", slow)
    began = time.monotonic()
    _drain(concurrency=2)
    elapsed = time.monotonic() - began

    assert most == 2
    assert not SyncRequest.objects.exists()
    # Batches of two would take 3 x 0.3 s; a semaphore keeps both slots busy.
    assert elapsed < 0.85


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("server pushed", "server pushed server=web1 run=ab12"),
        ("sync started server=web1 run=ab12", "sync started server=web1 run=ab12"),
        ("wrote file server=web1", "wrote file server=web1 run=ab12"),
    ],
)
def test_context_filter_stamps_server_and_run_once(message: str, expected: str) -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, message, None, None)
    token = daemon_module._sync_context.set(("web1", "ab12"))
    try:
        SyncContextFilter().filter(record)
        SyncContextFilter().filter(record)
    finally:
        daemon_module._sync_context.reset(token)

    assert record.getMessage() == expected
