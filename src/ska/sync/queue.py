"""The sync queue: claiming requests with a lease, finishing and retrying them.

A worker (a daemon, or a foreground ``ska sync``) claims every due row of a
server at once, in a transaction that holds the server's row lock and
refuses while any row of that server carries a live lease. So one server is
never pushed by two workers at a time, however many daemons share the
database; and a worker that dies leaves leases that simply run out.

The steps for one server:

1. :func:`claim_server` sets ``claimed_by`` and ``lease_expires`` on the
   server's due rows and remembers each row's ``requested_at``.
2. While the push runs, :func:`renew_leases` moves the lease forward.
3. :func:`finish_claim` deletes the rows the push covered, unless a trigger
   moved their ``requested_at`` during the push: those are released and run
   again. After a failure it schedules one delayed full-server retry.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Min, Q, QuerySet
from django.utils import timezone

from ska.servers.models import Server
from ska.sync.models import WHOLE_SERVER, SyncRequest
from ska.sync.requests import SYNCED_MODES, request_syncs

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClaimedRow:
    """One claimed request as it was when it was claimed."""

    pk: int
    account_name: str
    requested_at: datetime


@dataclass(frozen=True)
class Claim:
    """The due requests of one server, held by one worker under a lease."""

    server_id: int
    hostname: str
    worker: str
    rows: tuple[ClaimedRow, ...]

    @property
    def accounts(self) -> frozenset[str]:
        """Return the account names requested; '' stands for the whole server."""
        return frozenset(row.account_name for row in self.rows)

    @property
    def only_account(self) -> str | None:
        """Return the one account to push, or None for a full push.

        A full-server request covers every account. Several account requests
        also become one full push: the engine writes only files that changed,
        so one connection costs less than one per account.
        """
        accounts = self.accounts
        if WHOLE_SERVER in accounts or len(accounts) != 1:
            return None
        return next(iter(accounts))


def new_worker_id(role: str = "syncd") -> str:
    """Return a name for this worker that no other process shares."""
    return f"{role}@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _due(now: datetime) -> Q:
    return Q(execution_time__isnull=True) | Q(execution_time__lte=now)


def _live_lease(now: datetime) -> Q:
    return Q(lease_expires__gt=now) & ~Q(claimed_by="")


def _busy_servers(now: datetime) -> QuerySet[SyncRequest, int]:
    return SyncRequest.objects.filter(_live_lease(now)).values_list(
        "server_id", flat=True
    )


def due_server_ids(limit: int, exclude: set[int] | None = None) -> list[int]:
    """Return up to ``limit`` servers with due, unleased work, oldest first."""
    now = timezone.now()
    rows = (
        SyncRequest.objects.filter(_due(now))
        .exclude(server_id__in=_busy_servers(now))
        .exclude(server_id__in=exclude or set())
        .values("server_id")
        .annotate(first=Min("id"))
        .order_by("first")
    )
    return [row["server_id"] for row in rows[:limit]]


def _lock_servers(server_ids: Sequence[int]) -> list[tuple[int, str, str]]:
    """Lock server rows for this transaction; return id, mode and name.

    A server that is gone, or that another worker is claiming right now,
    is left out: this worker leaves it alone.
    """
    features = connection.features
    locked = (
        Server.objects.select_for_update(
            skip_locked=features.has_select_for_update_skip_locked,
            # PostgreSQL: inserting a request takes a key-share lock on its
            # server, which a plain FOR UPDATE would block.
            no_key=features.has_select_for_no_key_update,
        )
        .filter(pk__in=server_ids)
        # One order for every worker, so that waiting locks cannot deadlock.
        .order_by("pk")
    )
    return list(locked.values_list("pk", "key_management", "hostname"))


def claim_servers(
    server_ids: Sequence[int], worker: str, lease_seconds: int
) -> list[Claim]:
    """Claim every due request of these servers, skipping busy ones.

    One transaction for all of them; requests of servers that are no
    longer managed are dropped here.
    """
    with transaction.atomic():
        now = timezone.now()
        locked = _lock_servers(server_ids)
        unmanaged = [pk for pk, mode, _ in locked if mode not in SYNCED_MODES]
        if unmanaged:
            dropped, _ = (
                SyncRequest.objects.filter(server_id__in=unmanaged)
                .exclude(_live_lease(now))
                .delete()
            )
            logger.info("requests dropped servers=%s count=%s", unmanaged, dropped)
        names = {pk: name for pk, mode, name in locked if mode in SYNCED_MODES}
        busy = set(
            SyncRequest.objects.filter(server_id__in=names)
            .filter(_live_lease(now))
            .values_list("server_id", flat=True)
        )
        free = [pk for pk in names if pk not in busy]
        lease = now + timedelta(seconds=lease_seconds)
        SyncRequest.objects.filter(server_id__in=free).filter(_due(now)).update(
            claimed_by=worker, lease_expires=lease
        )
        rows: dict[int, list[ClaimedRow]] = defaultdict(list)
        for server_id, pk, account_name, requested_at in SyncRequest.objects.filter(
            server_id__in=free, claimed_by=worker
        ).values_list("server_id", "pk", "account_name", "requested_at"):
            rows[server_id].append(ClaimedRow(pk, account_name, requested_at))
    return [
        Claim(pk, names[pk], worker, tuple(rows[pk]))
        for pk in server_ids
        if rows.get(pk)
    ]


def claim_server(server_id: int, worker: str, lease_seconds: int) -> Claim | None:
    """Claim every due request of one server, or return None if it is busy."""
    claims = claim_servers([server_id], worker, lease_seconds)
    return claims[0] if claims else None


def claim_due(
    worker: str, limit: int, lease_seconds: int, exclude: set[int] | None = None
) -> list[Claim]:
    """Claim the due work of up to ``limit`` servers for ``worker``."""
    return claim_servers(due_server_ids(limit, exclude), worker, lease_seconds)


def renew_leases(worker: str, server_ids: set[int], lease_seconds: int) -> int:
    """Extend the leases ``worker`` holds on these servers; return the rows."""
    if not server_ids:
        return 0
    lease = timezone.now() + timedelta(seconds=lease_seconds)
    return SyncRequest.objects.filter(
        claimed_by=worker, server_id__in=server_ids
    ).update(lease_expires=lease)


def _unchanged(rows: tuple[ClaimedRow, ...]) -> Q:
    """Match claimed rows whose ``requested_at`` no trigger has moved since."""
    by_time: dict[datetime, list[int]] = defaultdict(list)
    for row in rows:
        by_time[row.requested_at].append(row.pk)
    match = Q(pk__in=[])
    for requested_at, pks in by_time.items():
        match |= Q(pk__in=pks, requested_at=requested_at)
    return match


def finish_claim(
    claim: Claim,
    *,
    retry: bool,
    covered: str | None,
    retry_delay: int,
) -> None:
    """Close a claim after its push.

    ``covered`` is the account the push wrote, or None for a full push;
    requests it did not cover are released for the next push. With
    ``retry``, every claimed request goes away, as does an older pending
    retry, and one full-server request becomes due after ``retry_delay``
    seconds; requests triggered during the push stay due now.
    """
    finish_claims([Finish(claim, retry, covered)], retry_delay=retry_delay)


@dataclass(frozen=True)
class Finish:
    """How one claim ends: see :func:`finish_claim`."""

    claim: Claim
    retry: bool
    covered: str | None


def finish_claims(finishes: Sequence[Finish], *, retry_delay: int) -> None:
    """Close several claims of distinct servers in one transaction.

    Each ends as :func:`finish_claim` would end it, in a few queries for
    the whole batch.
    """
    if not finishes:
        return
    done = Q(pk__in=[])
    for finish in finishes:
        rows = Q(server_id=finish.claim.server_id, claimed_by=finish.claim.worker)
        rows &= _unchanged(finish.claim.rows)
        if not finish.retry and finish.covered is not None:
            rows &= Q(account_name=finish.covered)
        done |= rows
    retried = [finish.claim.server_id for finish in finishes if finish.retry]
    by_worker: dict[str, list[int]] = defaultdict(list)
    for finish in finishes:
        by_worker[finish.claim.worker].append(finish.claim.server_id)
    mine = Q(pk__in=[])
    for worker, server_ids in by_worker.items():
        mine |= Q(server_id__in=server_ids, claimed_by=worker)
    with transaction.atomic():
        SyncRequest.objects.filter(done).delete()
        if retried:
            SyncRequest.objects.filter(
                server_id__in=retried,
                claimed_by="",
                execution_time__gt=timezone.now(),
            ).delete()
        SyncRequest.objects.filter(mine).update(claimed_by="", lease_expires=None)
        if retried:
            request_syncs(
                [(server_id, WHOLE_SERVER) for server_id in retried],
                delay=timedelta(seconds=retry_delay),
            )


def drop_claim(claim: Claim) -> None:
    """Delete the claimed requests of a server that turned out unmanaged."""
    SyncRequest.objects.filter(
        server_id=claim.server_id, claimed_by=claim.worker
    ).delete()


def release_claim(claim: Claim) -> None:
    """Give a claim back unfinished, so that any worker may run it now."""
    SyncRequest.objects.filter(
        server_id=claim.server_id, claimed_by=claim.worker
    ).update(claimed_by="", lease_expires=None)
