"""Recording and closing the results of concurrent pushes in batches."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ska.servers.models import Server, ServerAccount
from ska.sync.models import SyncRequest
from ska.sync.plan import SyncPlan, build_plan
from ska.sync.push import PushResult
from ska.sync.queue import Finish, claim_servers, finish_claims
from ska.sync.record import record_many
from ska.sync.requests import request_syncs
from ska.sync.runner import BATCH_LIMIT, Batcher
from tests.sync.scenario import server_events

# The phases refresh their connection, which a test transaction forbids.
pytestmark = pytest.mark.django_db(transaction=True)

SUCCESS = PushResult("sync success", "Synced successfully", None, False)


def _plan(server: Server) -> SyncPlan:
    plan = build_plan(server.pk)
    assert plan is not None
    return plan


def _result(**changes: Any) -> PushResult:
    return dataclasses.replace(SUCCESS, **changes)


def _fleet(count: int, prefix: str = "web") -> list[Server]:
    servers = [
        Server.objects.create(hostname=f"{prefix}{number}.example.com")
        for number in range(count)
    ]
    for server in servers:
        ServerAccount.objects.create(server=server, name="root")
    return servers


def test_record_many_writes_each_server_as_alone() -> None:
    first, second = _fleet(2)
    root = ServerAccount.objects.get(server=second, name="root")
    failed = "1 account failed to sync; code=account_sync_failed; retry=30m"

    outcomes = record_many(
        [
            (_plan(first), _result(uuid="u-1", ip_address="127.0.0.9")),
            (
                _plan(second),
                _result(
                    status="sync failure",
                    message=failed,
                    code="account_sync_failed",
                    retry=True,
                    account_status={root.pk: "sync failure"},
                ),
            ),
        ]
    )

    assert [(o.server_id, o.ok) for o in outcomes if o is not None] == [
        (first.pk, True),
        (second.pk, False),
    ]
    first.refresh_from_db()
    second.refresh_from_db()
    root.refresh_from_db()
    assert (first.sync_status, first.uuid, first.ip_address) == (
        "sync success",
        "u-1",
        "127.0.0.9",
    )
    assert (second.sync_status, root.sync_status) == ("sync failure", "sync failure")
    assert ("Sync status change", failed) in [
        (e["action"], e.get("value")) for e in server_events(second)
    ]
    assert failed not in [e.get("value") for e in server_events(first)]


def test_record_many_logs_no_event_when_nothing_changed() -> None:
    servers = _fleet(3)
    pushes = [(_plan(server), _result()) for server in servers]
    record_many(pushes)
    before = [len(server_events(server)) for server in servers]

    record_many(pushes)

    assert [len(server_events(server)) for server in servers] == before


def test_record_many_reads_a_batch_in_a_fixed_number_of_queries() -> None:
    small, large = _fleet(2, "small"), _fleet(12, "large")
    record_many([(_plan(server), _result()) for server in small + large])

    small_pushes = [(_plan(server), _result()) for server in small]
    large_pushes = [(_plan(server), _result()) for server in large]
    with CaptureQueriesContext(connection) as two:
        record_many(small_pushes)
    with CaptureQueriesContext(connection) as twelve:
        record_many(large_pushes)

    assert len(twelve.captured_queries) == len(two.captured_queries)


def test_record_many_skips_a_server_deleted_meanwhile() -> None:
    kept, gone = _fleet(2)
    pushes = [(_plan(kept), _result()), (_plan(gone), _result())]
    gone.delete()

    outcomes = record_many(pushes)

    assert outcomes[1] is None
    assert outcomes[0] is not None
    assert outcomes[0].server_id == kept.pk


def test_finish_claims_closes_each_claim_as_alone() -> None:
    done, failed, partial = _fleet(3)
    request_syncs([(done.pk, ""), (failed.pk, ""), (partial.pk, "root")])
    request_syncs([(partial.pk, "app")])
    claims = {
        c.server_id: c
        for c in claim_servers([s.pk for s in (done, failed, partial)], "w", 300)
    }

    finish_claims(
        [
            Finish(claims[done.pk], retry=False, covered=None),
            Finish(claims[failed.pk], retry=True, covered=None),
            Finish(claims[partial.pk], retry=False, covered="root"),
        ],
        retry_delay=1800,
    )

    rows = list(
        SyncRequest.objects.values_list("server_id", "account_name", "claimed_by")
    )
    assert sorted(rows) == sorted([(failed.pk, "", ""), (partial.pk, "app", "")])
    retry = SyncRequest.objects.get(server=failed)
    assert retry.execution_time is not None


def test_batcher_answers_each_item_and_batches_what_waits() -> None:
    batches: list[list[int]] = []

    def double(items: list[int]) -> Sequence[int | BaseException]:
        batches.append(items)
        return [ValueError(str(item)) if item == 3 else 2 * item for item in items]

    async def run() -> list[int | BaseException]:
        batcher: Batcher[int, int] = Batcher(double)
        return await asyncio.gather(
            *(batcher.submit(item) for item in range(BATCH_LIMIT + 5)),
            return_exceptions=True,
        )

    results = asyncio.run(run())

    assert results[:3] == [0, 2, 4]
    assert isinstance(results[3], ValueError)
    assert results[-1] == 2 * (BATCH_LIMIT + 4)
    # Everything submitted in one loop turn goes in batches of at most the limit.
    assert [len(batch) for batch in batches] == [BATCH_LIMIT, 5]
