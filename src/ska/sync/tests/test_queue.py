"""The sync queue: claims, leases, completion, retries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from ska.servers.models import Server
from ska.sync.models import SyncRequest
from ska.sync.queue import (
    Claim,
    claim_due,
    claim_server,
    finish_claim,
    release_claim,
    renew_leases,
)
from ska.sync.requests import request_syncs

pytestmark = pytest.mark.django_db

LEASE = 300
RETRY = 1800


def _server(name: str = "web.example.com", **fields: object) -> Server:
    return Server.objects.create(hostname=name, **fields)


def _rows(server: Server) -> dict[str, SyncRequest]:
    return {row.account_name: row for row in SyncRequest.objects.filter(server=server)}


def _claim(server: Server, worker: str = "a") -> Claim:
    claim = claim_server(server.pk, worker, LEASE)
    assert claim is not None
    return claim


def test_claim_takes_every_due_row_of_a_server_with_a_lease() -> None:
    server = _server()
    request_syncs([(server.pk, "root"), (server.pk, "app")])

    claim = _claim(server)

    assert claim.accounts == {"root", "app"}
    rows = _rows(server)
    assert {row.claimed_by for row in rows.values()} == {"a"}
    lease = rows["root"].lease_expires
    assert lease is not None
    assert lease > timezone.now() + timedelta(seconds=LEASE - 30)


def test_claim_refuses_a_server_another_worker_holds() -> None:
    server = _server()
    request_syncs([(server.pk, "root")])
    _claim(server, "a")
    request_syncs([(server.pk, "app")])

    assert claim_server(server.pk, "b", LEASE) is None
    assert claim_due("b", 10, LEASE) == []
    assert _rows(server)["app"].claimed_by == ""


def test_claim_takes_over_rows_whose_lease_ran_out() -> None:
    server = _server()
    request_syncs([(server.pk, "root")])
    _claim(server, "dead")
    SyncRequest.objects.update(lease_expires=timezone.now() - timedelta(seconds=1))

    claim = claim_server(server.pk, "b", LEASE)

    assert claim is not None
    assert claim.accounts == {"root"}
    assert _rows(server)["root"].claimed_by == "b"


def test_claim_skips_requests_not_yet_due() -> None:
    server = _server()
    request_syncs([(server.pk, "")], delay=timedelta(minutes=30))

    assert claim_server(server.pk, "a", LEASE) is None
    assert claim_due("a", 10, LEASE) == []


def test_claim_due_takes_servers_oldest_request_first_up_to_the_limit() -> None:
    first, second, third = _server("a.example"), _server("b.example"), _server("c")
    request_syncs([(third.pk, "")])
    request_syncs([(first.pk, "root")])
    request_syncs([(second.pk, "")])

    claims = claim_due("a", 2, LEASE)

    assert [claim.server_id for claim in claims] == [third.pk, first.pk]


def test_claim_drops_requests_of_unmanaged_servers() -> None:
    server = _server()
    request_syncs([(server.pk, "root")])
    Server.objects.filter(pk=server.pk).update(key_management="none")

    assert claim_due("a", 10, LEASE) == []
    assert not SyncRequest.objects.exists()


@pytest.mark.parametrize(
    ("accounts", "only_account"),
    [
        ({"root"}, "root"),
        ({"root", ""}, None),
        ({"root", "app"}, None),
        ({""}, None),
    ],
)
def test_claim_full_request_subsumes_account_requests(
    accounts: set[str], only_account: str | None
) -> None:
    server = _server()
    request_syncs([(server.pk, name) for name in accounts])

    assert _claim(server).only_account == only_account


def test_finish_deletes_the_rows_the_push_covered() -> None:
    server = _server()
    request_syncs([(server.pk, ""), (server.pk, "root")])
    claim = _claim(server)

    finish_claim(claim, retry=False, covered=None, retry_delay=RETRY)

    assert not SyncRequest.objects.exists()


def test_finish_keeps_a_row_triggered_again_during_the_push() -> None:
    server = _server()
    request_syncs([(server.pk, "root"), (server.pk, "app")])
    claim = _claim(server)
    request_syncs([(server.pk, "root")])

    finish_claim(claim, retry=False, covered=None, retry_delay=RETRY)

    rows = _rows(server)
    assert set(rows) == {"root"}
    assert rows["root"].claimed_by == ""
    assert rows["root"].lease_expires is None
    assert claim_server(server.pk, "b", LEASE) is not None


def test_finish_of_an_account_push_releases_other_accounts() -> None:
    server = _server()
    request_syncs([(server.pk, "root"), (server.pk, "")])
    claim = _claim(server)

    finish_claim(claim, retry=False, covered="root", retry_delay=RETRY)

    rows = _rows(server)
    assert set(rows) == {""}
    assert rows[""].claimed_by == ""


def test_finish_leaves_rows_that_arrived_unclaimed_during_the_push() -> None:
    server = _server()
    request_syncs([(server.pk, "root")])
    claim = _claim(server)
    request_syncs([(server.pk, "app")])

    finish_claim(claim, retry=False, covered="root", retry_delay=RETRY)

    assert set(_rows(server)) == {"app"}


def test_failure_schedules_one_delayed_full_retry() -> None:
    server = _server()
    request_syncs([(server.pk, "root"), (server.pk, "app")])
    claim = _claim(server)
    before = timezone.now()

    finish_claim(claim, retry=True, covered=None, retry_delay=RETRY)

    rows = _rows(server)
    assert set(rows) == {""}
    due = rows[""].execution_time
    assert due is not None
    assert before + timedelta(seconds=RETRY - 5) < due
    assert due < timezone.now() + timedelta(seconds=RETRY + 5)
    assert claim_due("a", 10, LEASE) == []


def test_failure_replaces_an_older_pending_retry() -> None:
    server = _server()
    request_syncs([(server.pk, "")], delay=timedelta(seconds=60))
    request_syncs([(server.pk, "root")])
    claim = _claim(server)
    assert claim.accounts == {"root"}

    finish_claim(claim, retry=True, covered="root", retry_delay=RETRY)

    rows = _rows(server)
    assert set(rows) == {""}
    due = rows[""].execution_time
    assert due is not None
    assert due > timezone.now() + timedelta(seconds=RETRY - 60)


def test_trigger_during_a_failed_push_stays_due_at_once() -> None:
    server = _server()
    request_syncs([(server.pk, "")])
    claim = _claim(server)
    request_syncs([(server.pk, "")])

    finish_claim(claim, retry=True, covered=None, retry_delay=RETRY)

    row = _rows(server)[""]
    assert row.execution_time is None
    assert row.claimed_by == ""


def test_user_trigger_makes_a_pending_retry_due_at_once() -> None:
    server = _server()
    request_syncs([(server.pk, "")])
    finish_claim(_claim(server), retry=True, covered=None, retry_delay=RETRY)

    request_syncs([(server.pk, "")])

    assert _rows(server)[""].execution_time is None
    assert claim_server(server.pk, "a", LEASE) is not None


def test_release_gives_the_claim_back_for_anyone() -> None:
    server = _server()
    request_syncs([(server.pk, "root")])
    release_claim(_claim(server, "a"))

    claim = claim_server(server.pk, "b", LEASE)

    assert claim is not None
    assert claim.accounts == {"root"}


def test_renew_moves_only_the_workers_own_leases() -> None:
    mine, theirs = _server("a.example"), _server("b.example")
    request_syncs([(mine.pk, ""), (theirs.pk, "")])
    _claim(mine, "a")
    _claim(theirs, "b")
    past = timezone.now() - timedelta(seconds=1)
    SyncRequest.objects.update(lease_expires=past)

    assert renew_leases("a", {mine.pk, theirs.pk}, LEASE) == 1

    assert claim_server(mine.pk, "c", LEASE) is None
    assert claim_server(theirs.pk, "c", LEASE) is not None
