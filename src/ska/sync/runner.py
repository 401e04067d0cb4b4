"""Run pushes through the queue: the guarded push and the foreground sync.

The daemon and ``ska sync`` share :func:`push_claim`: it runs the engine on
one claimed server, turns an unexpected exception into the reference's
``worker_process_error`` failure, and closes the claim (done, retried or
dropped). :func:`run_sync` drives it in the foreground over chosen servers.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from typing import Any, Generic, TextIO, TypeVar

from django.conf import settings
from django.db import close_old_connections, connections, transaction
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from ska.activity.services import SYNC_STATUS_CHANGE, last_sync_event, log_server_event
from ska.directory.services import get_keys_sync_user
from ska.servers.models import Server, SyncStatus
from ska.sync.engine import SyncOutcome, batch_recorder, sync_plan
from ska.sync.failures import WORKER_PROCESS_ERROR, compose_message, retry_tag
from ska.sync.models import WHOLE_SERVER
from ska.sync.plan import SyncPlan, build_plan, build_plans
from ska.sync.push import PushResult
from ska.sync.queue import (
    Claim,
    Finish,
    claim_servers,
    drop_claim,
    finish_claim,
    finish_claims,
    new_worker_id,
)
from ska.sync.record import record, record_many
from ska.sync.requests import request_syncs

logger = logging.getLogger(__name__)

INTERNAL_ERROR = "Internal error during sync"
# Time a push may take beyond the server timeout for its database phases.
PHASE_GRACE_SECONDS = 30
BUSY_POLL_SECONDS = 1.0

T = TypeVar("T")
Item = TypeVar("Item")
Result = TypeVar("Result")
# The most results one database transaction records or closes.
BATCH_LIMIT = 64


async def in_thread(function: Callable[..., T], *args: object) -> T:
    """Run ORM work in a worker thread with a healthy database connection."""

    def guarded() -> T:
        close_old_connections()
        return function(*args)

    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_database_executor, guarded)


# The pool of the running DatabaseThreads, if any. It is kept apart from the
# loop's default executor, where the SSH library prepares every connection:
# sharing one pool made each new connection queue behind database work.
_database_executor: ThreadPoolExecutor | None = None


class DatabaseThreads:
    """The event loop's thread pool for ORM work, closing its connections.

    Every thread keeps its own database connection. Threads of a plain pool
    leave theirs open when the pool ends; this one closes them, so that a
    finished run leaves no sessions behind on the database server.
    """

    CLOSE_TIMEOUT = 30.0

    def __init__(self, workers: int) -> None:
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.executor = ThreadPoolExecutor(
            workers, thread_name_prefix="ska-db", initializer=self._register
        )

    def _register(self) -> None:
        with self._lock:
            self._threads.append(threading.current_thread())

    def install(self) -> None:
        """Make this pool the one ``in_thread`` runs database work in."""
        global _database_executor
        _database_executor = self.executor

    def close(self) -> None:
        """Close every thread's connection, then end the pool."""
        count = len(self._threads)
        if count:
            # Each job waits for all the others, so every thread runs one.
            barrier = threading.Barrier(count)
            jobs = [
                self.executor.submit(self._close_connection, barrier)
                for _ in range(count)
            ]
            wait_futures(jobs, timeout=self.CLOSE_TIMEOUT)
        global _database_executor
        if _database_executor is self.executor:
            _database_executor = None
        self.executor.shutdown(wait=False)

    def _close_connection(self, barrier: threading.Barrier) -> None:
        connections.close_all()
        try:
            barrier.wait(timeout=self.CLOSE_TIMEOUT)
        except threading.BrokenBarrierError:
            logger.warning("database threads not all closed")


def database_workers(concurrency: int) -> int:
    """Return how many threads serve the ORM phases of concurrent pushes.

    Few: the ORM work is CPU-bound under one interpreter lock, and more
    threads only fight over it (and over SQLite's write lock). Measured
    with 200 servers, 4 threads pushed 15% more per second than 16.
    """
    return min(4, concurrency + 1)


def push_deadline() -> float:
    """Return the seconds one push may take before it counts as stuck."""
    return float(settings.SKA.sync.server_timeout + PHASE_GRACE_SECONDS)


def record_internal_error(server_id: int, error: BaseException) -> SyncOutcome | None:
    """Mark a server failed after a push crashed, as the reference's syncd did.

    Account statuses stay as they were: the push did not say which failed.
    """
    reason = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    message = compose_message(
        INTERNAL_ERROR,
        reason,
        WORKER_PROCESS_ERROR,
        retry_tag(settings.SKA.sync.retry_delay),
    )
    with transaction.atomic():
        server = Server.objects.select_for_update().filter(pk=server_id).first()
        if server is None:
            return None
        actor = get_keys_sync_user()
        last = last_sync_event(server)
        if last is None or json.loads(last.details).get("value") != message:
            log_server_event(server, actor, SYNC_STATUS_CHANGE, message)
        if server.sync_status != SyncStatus.FAILURE:
            log_server_event(
                server,
                actor,
                "Setting update",
                SyncStatus.FAILURE.value,
                oldvalue=server.sync_status,
                field="Sync status",
            )
            server.sync_status = SyncStatus.FAILURE
            server.save(update_fields=["sync_status"])
    return SyncOutcome(
        server_id=server_id,
        hostname=server.hostname,
        ok=False,
        status=SyncStatus.FAILURE.value,
        message=message,
        code=WORKER_PROCESS_ERROR,
        retry=True,
        lines=(),
    )


# A server's plan, None when it is not managed, or what planning it raised.
Planned = SyncPlan | None | BaseException


def plan_claims(
    claims: Sequence[Claim], only_account: Callable[[Claim], str | None]
) -> list[tuple[Claim, Planned]]:
    """Plan claimed servers in one batch, or one by one if the batch fails.

    A plan is None for a server that is not managed any more, or the
    exception that planning it raised (a bug, classified later).
    """
    targets = [(claim.server_id, only_account(claim)) for claim in claims]
    try:
        plans: dict[int, Planned] = dict(build_plans(targets))
    except Exception:  # noqa: BLE001  (find the server at fault one by one)
        plans = {}
        for server_id, account in targets:
            try:
                plans[server_id] = build_plan(server_id, account)
            except Exception as error:  # noqa: BLE001  (classified by the push)
                plans[server_id] = error
    return [(claim, plans[claim.server_id]) for claim in claims]


async def guarded_push(server_id: int, planned: Planned) -> SyncOutcome | None:
    """Push a planned server; never let one server stop the others."""
    if planned is None:
        return None
    error: BaseException
    if isinstance(planned, BaseException):
        error = planned
    else:
        try:
            async with asyncio.timeout(push_deadline()):
                return await sync_plan(planned)
        except TimeoutError:
            error = TimeoutError(f"push still running after {push_deadline():g}s")
        # The top of a worker: whatever a push raises is logged and classified.
        except Exception as raised:  # noqa: BLE001  (logged with its traceback)
            error = raised
    logger.error("sync crashed server_id=%s", server_id, exc_info=error)
    return await in_thread(record_internal_error, server_id, error)


def close_claim(claim: Claim, outcome: SyncOutcome | None, covered: str | None) -> None:
    """Finish a claim after its push: done, retried or dropped."""
    if outcome is None:
        drop_claim(claim)
        return
    finish_claim(
        claim,
        retry=outcome.retry and not outcome.ok,
        covered=covered,
        retry_delay=settings.SKA.sync.retry_delay,
    )


Closing = tuple[Claim, SyncOutcome | None, str | None]


def close_claims(closings: Sequence[Closing]) -> list[BaseException | None]:
    """Close several claims in one transaction, or one by one if that fails.

    Return, for each claim, None or the error that closing it raised.
    """
    try:
        for claim, outcome, _ in closings:
            if outcome is None:
                drop_claim(claim)
        finish_claims(
            [
                Finish(claim, outcome.retry and not outcome.ok, covered)
                for claim, outcome, covered in closings
                if outcome is not None
            ],
            retry_delay=settings.SKA.sync.retry_delay,
        )
        return [None] * len(closings)
    except Exception:  # noqa: BLE001  (each claim is closed again on its own)
        logger.warning("batch of claims not closed together count=%s", len(closings))
    errors: list[BaseException | None] = []
    for claim, outcome, covered in closings:
        try:
            close_claim(claim, outcome, covered)
            errors.append(None)
        except Exception as error:  # noqa: BLE001  (raised to that push)
            errors.append(error)
    return errors


def record_pushes(
    pushes: Sequence[tuple[SyncPlan, PushResult]],
) -> list[SyncOutcome | BaseException | None]:
    """Record several pushes in one transaction, or one by one if that fails.

    Return each push's outcome, or the error that recording it raised.
    """
    try:
        return list(record_many(pushes))
    except Exception:  # noqa: BLE001  (each push is recorded again on its own)
        logger.warning("batch of results not recorded together count=%s", len(pushes))
    outcomes: list[SyncOutcome | BaseException | None] = []
    for plan, result in pushes:
        try:
            outcomes.append(record(plan, result))
        except Exception as error:  # noqa: BLE001  (raised to that push)
            outcomes.append(error)
    return outcomes


class Batcher(Generic[Item, Result]):
    """Hand what concurrent pushes submit to a database thread in batches.

    A batch is whatever was submitted while the previous one ran, so under
    load many results share one transaction, and alone a result waits for
    nothing. ``run`` returns one result or exception per item, in order.
    """

    def __init__(
        self, run: Callable[[list[Item]], Sequence[Result | BaseException]]
    ) -> None:
        self._run = run
        self._pending: list[tuple[Item, asyncio.Future[Result]]] = []
        self._flushing: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Result:
        """Queue one item and return its result when its batch is done."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._flushing is None:
            # In a context of its own: a batch belongs to no single push, and
            # its log lines must not carry the first submitter's run id.
            self._flushing = asyncio.create_task(
                self._flush(), context=contextvars.Context()
            )
        return await future

    async def _flush(self) -> None:
        try:
            while self._pending:
                # Let the items of this loop turn join the batch.
                await asyncio.sleep(0)
                batch = self._pending[:BATCH_LIMIT]
                del self._pending[:BATCH_LIMIT]
                try:
                    results = await in_thread(self._run, [item for item, _ in batch])
                except Exception as error:  # noqa: BLE001  (raised to every item)
                    results = [error] * len(batch)
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():
                        continue
                    if isinstance(result, BaseException):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            self._flushing = None


_claim_closer: contextvars.ContextVar[Batcher[Closing, None] | None] = (
    contextvars.ContextVar("claim_closer", default=None)
)


def batch_database_work() -> None:
    """Record and close the pushes started from here on in batches."""
    records: Batcher[tuple[SyncPlan, PushResult], SyncOutcome | None] = Batcher(
        record_pushes
    )

    async def recorder(plan: SyncPlan, result: PushResult) -> SyncOutcome | None:
        return await records.submit((plan, result))

    batch_recorder.set(recorder)
    _claim_closer.set(Batcher(close_claims))


async def push_claim(claim: Claim, planned: Planned) -> SyncOutcome | None:
    """Push one claimed, planned server and close its claim."""
    outcome = await guarded_push(claim.server_id, planned)
    covered = (
        None
        if isinstance(planned, BaseException) or planned is None
        else (planned.only_account)
    )
    closer = _claim_closer.get()
    if closer is None:
        await in_thread(close_claim, claim, outcome, covered)
    else:
        await closer.submit((claim, outcome, covered))
    return outcome


def outcome_lines(hostname: str, outcome: SyncOutcome | None) -> list[str]:
    """Return what the foreground sync prints about one server."""
    if outcome is None:
        return [f"{hostname}: not managed by key sync any more, skipped"]
    return [f"{hostname}: {outcome.message}", *outcome.lines]


class ForegroundSync:
    """Sync chosen servers now, through the queue, with bounded concurrency.

    Servers are claimed and planned in chunks of twice the concurrency; the
    next chunk is planned while the pushes of the last one run.
    """

    def __init__(
        self,
        only_account: str | None,
        concurrency: int,
        report: Callable[[bool, list[str]], None],
    ) -> None:
        self.only_account = only_account
        self.concurrency = concurrency
        self.report = report
        self.worker = new_worker_id("sync")
        self.slots = asyncio.Semaphore(concurrency)
        self.lease_seconds = settings.SKA.sync.lease_seconds
        self.tasks: set[asyncio.Task[None]] = set()

    def _enqueue_and_claim(self, servers: list[Server]) -> dict[int, Claim | None]:
        target = self.only_account or WHOLE_SERVER
        request_syncs([(server.pk, target) for server in servers])
        ids = [server.pk for server in servers]
        claims = claim_servers(ids, self.worker, self.lease_seconds)
        held = {claim.server_id: claim for claim in claims}
        return {server_id: held.get(server_id) for server_id in ids}

    async def _claim_busy(self, server: Server) -> Claim | None:
        """Claim a server another worker holds, waiting for it a while."""
        give_up = time.monotonic() + push_deadline()
        while time.monotonic() < give_up:
            await asyncio.sleep(BUSY_POLL_SECONDS)
            claims = await in_thread(self._enqueue_and_claim, [server])
            if claims[server.pk] is not None:
                return claims[server.pk]
        return None

    async def run(self, servers: list[Server]) -> None:
        """Sync every server, reporting each as it finishes."""
        chunk = 2 * self.concurrency
        for first in range(0, len(servers), chunk):
            part = servers[first : first + chunk]
            claims = await in_thread(self._enqueue_and_claim, part)
            for server in part:
                if claims[server.pk] is None:
                    self._start(self._sync_busy(server))
            held = [claim for claim in claims.values() if claim is not None]
            planned = await in_thread(plan_claims, held, self._account)
            for claim, plan in planned:
                self._start(self._push(claim, plan))
            # Plan the next chunk only when this one's pushes are under way.
            while len(self.tasks) > self.concurrency:
                await asyncio.wait(self.tasks, return_when=asyncio.FIRST_COMPLETED)
        if self.tasks:
            await asyncio.wait(self.tasks)

    def _account(self, claim: Claim) -> str | None:
        return self.only_account

    def _start(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _push(self, claim: Claim, planned: Planned) -> None:
        async with self.slots:
            outcome = await push_claim(claim, planned)
        self.report(
            outcome is not None and outcome.ok, outcome_lines(claim.hostname, outcome)
        )

    async def _sync_busy(self, server: Server) -> None:
        claim = await self._claim_busy(server)
        if claim is None:
            self.report(
                False,
                [
                    f"{server.hostname}: another worker is still syncing this "
                    "server; the request stays queued"
                ],
            )
            return
        planned = await in_thread(plan_claims, [claim], self._account)
        await self._push(claim, planned[0][1])


async def _run(servers: list[Server], only_account: str | None, stdout: TextIO) -> int:
    concurrency = settings.SKA.sync.concurrency
    threads = DatabaseThreads(database_workers(concurrency))
    threads.install()
    batch_database_work()
    try:
        return await _run_all(servers, only_account, stdout, concurrency)
    finally:
        threads.close()


async def _run_all(
    servers: list[Server], only_account: str | None, stdout: TextIO, concurrency: int
) -> int:
    failed = 0
    console = Console(file=stdout) if stdout.isatty() else None
    with Progress(
        TextColumn("syncing"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        disable=console is None,
        transient=True,
    ) as progress:
        bar = progress.add_task("sync", total=len(servers))

        def report(ok: bool, lines: list[str]) -> None:
            nonlocal failed
            failed += not ok
            for line in lines:
                if console is not None:
                    progress.console.print(line, markup=False, highlight=False)
                else:
                    stdout.write(line + "\n")
            progress.advance(bar)

        await ForegroundSync(only_account, concurrency, report).run(servers)
    return 1 if failed else 0


def run_sync(servers: list[Server], only_account: str | None, stdout: TextIO) -> int:
    """Sync ``servers`` now and print one line each; 0 only if all worked."""
    private_key = settings.SKA.private_key_path
    if not private_key.is_file():
        stdout.write(f"sync cannot start: private key {private_key} not found\n")
        return 1
    return asyncio.run(_run(servers, only_account, stdout))
