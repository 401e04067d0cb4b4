"""The daemon against real sshd targets: queued changes end up as files."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import ska.sync.runner as runner
from ska.servers.models import ServerAccount, SyncStatus
from ska.sync.daemon import SyncDaemon
from ska.sync.engine import SyncOutcome
from ska.sync.engine import sync_plan as engine_sync
from ska.sync.models import SyncRequest
from ska.sync.plan import SyncPlan
from ska.sync.requests import sync_account, sync_server
from tests.support.sshd import SshdFleet, ensure_user
from tests.sync.scenario import (
    grant,
    public_line,
    server_for,
    ssh_login,
    user_with_key,
    write_private_key,
)

pytestmark = [pytest.mark.sshd, pytest.mark.django_db(transaction=True)]

LOGIN_USER = "ska-login"


def _drain(concurrency: int = 10) -> None:
    asyncio.run(SyncDaemon(concurrency=concurrency, once=True).run())


def test_daemon_pushes_queued_access_changes_to_every_target(
    sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    ensure_user(LOGIN_USER)
    targets = sshd_fleet.add_many(3)
    accounts = [
        ServerAccount.objects.create(server=server_for(target), name=LOGIN_USER)
        for target in targets
    ]
    alice, key = user_with_key("alice")
    for account in accounts:
        grant(alice, account)
        sync_account(account)

    _drain()

    assert not SyncRequest.objects.exists()
    for target in targets:
        assert public_line(key) in (target.key_dir / LOGIN_USER).read_text()
    key_file = write_private_key(key, tmp_path / "alice")
    assert ssh_login(key_file, LOGIN_USER, targets[0]) == 0
    for account in accounts:
        account.refresh_from_db()
        assert account.sync_status == ServerAccount.Status.SUCCESS


def test_daemon_full_request_removes_files_of_revoked_access(
    sshd_fleet: SshdFleet,
) -> None:
    target = sshd_fleet.add_many(1)[0]
    server = server_for(target)
    account = ServerAccount.objects.create(server=server, name="deploy")
    alice, key = user_with_key("alice")
    rule = grant(alice, account)
    sync_account(account)
    _drain()
    assert public_line(key) in (target.key_dir / "deploy").read_text()

    rule.delete()
    sync_server(server)
    _drain()

    assert public_line(key) not in (target.key_dir / "deploy").read_text()
    server.refresh_from_db()
    assert server.sync_status == SyncStatus.SUCCESS


def test_daemon_crash_in_one_push_leaves_the_others_synced(
    sshd_fleet: SshdFleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken_target, good_target = sshd_fleet.add_many(2)
    broken, good = server_for(broken_target), server_for(good_target)
    alice, key = user_with_key("alice")
    for server in (broken, good):
        account = ServerAccount.objects.create(server=server, name="deploy")
        grant(alice, account)
        sync_account(account)

    async def crash_on_broken(plan: SyncPlan) -> SyncOutcome | None:
        if plan.server_id == broken.pk:
            raise RuntimeError("injected fault")
        return await engine_sync(plan)

    monkeypatch.setattr(runner, "sync_plan", crash_on_broken)
    _drain()

    assert public_line(key) in (good_target.key_dir / "deploy").read_text()
    assert not (broken_target.key_dir / "deploy").exists()
    broken.refresh_from_db()
    good.refresh_from_db()
    assert (broken.sync_status, good.sync_status) == (
        SyncStatus.FAILURE,
        SyncStatus.SUCCESS,
    )
    retry = SyncRequest.objects.get()
    assert (retry.server_id, retry.account_name) == (broken.pk, "")

    # The retry, made due by a user's "Sync now", goes through once fixed.
    monkeypatch.setattr(runner, "sync_plan", engine_sync)
    sync_server(broken)
    _drain()
    assert public_line(key) in (broken_target.key_dir / "deploy").read_text()
    assert not SyncRequest.objects.exists()
