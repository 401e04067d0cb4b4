"""The sync daemon: one asyncio process that works through the sync queue.

It claims due requests per server (see ``queue.py``), runs up to
``[sync] concurrency`` pushes at once, starting the next one as soon as a
slot frees, renews the leases of running pushes, and every
``[ldap] update_interval`` runs the LDAP update in a thread. SIGTERM and
SIGINT stop claiming; running pushes get their timeout to finish, and what
is still unfinished after that is released for the next worker.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import signal
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DatabaseError

from ska.sync.queue import Claim, claim_due, new_worker_id, release_claim, renew_leases
from ska.sync.runner import (
    DatabaseThreads,
    Planned,
    batch_database_work,
    database_workers,
    in_thread,
    plan_claims,
    push_claim,
    push_deadline,
)

logger = logging.getLogger(__name__)

_sync_context: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar(
    "sync_context", default=None
)


class SyncContextFilter(logging.Filter):
    """Stamp ``server=`` and ``run=`` on every line logged during a push."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Append the push's context to the message unless already there."""
        context = _sync_context.get()
        if context is None or getattr(record, "sync_stamped", False):
            return True
        hostname, run = context
        message = record.getMessage()
        if "server=" not in message:
            message += f" server={hostname}"
        if "run=" not in message:
            message += f" run={run}"
        record.msg, record.args = message, None
        record.sync_stamped = True
        return True


@dataclass
class _Running:
    claim: Claim
    task: asyncio.Task[None]


@dataclass
class SyncDaemon:
    """Consume the sync queue until stopped, or until drained with ``once``.

    It keeps up to twice ``concurrency`` servers claimed: the running pushes
    and a buffer of servers already planned, so that a freed slot starts the
    next push at once and servers are planned in batches (one read of the
    access graph per batch rather than per server).
    """

    concurrency: int
    once: bool = False
    worker: str = field(default_factory=new_worker_id)

    def __post_init__(self) -> None:
        self.config = settings.SKA.sync
        self.running: dict[int, _Running] = {}
        self.ready: deque[tuple[Claim, Planned]] = deque()
        self.stopping = asyncio.Event()
        self.wake = asyncio.Event()
        self._refilling: asyncio.Task[int] | None = None
        self._pushes_done = 0
        self._ldap_task: asyncio.Task[None] | None = None
        self._ldap_missing = False
        self._filter = SyncContextFilter()

    def stop(self, reason: str = "signal") -> None:
        """Stop claiming new work; running pushes may finish."""
        if not self.stopping.is_set():
            logger.info(
                "daemon stopping reason=%s running=%s", reason, len(self.running)
            )
        self.stopping.set()
        self.wake.set()

    async def run(self) -> None:
        """Work until stopped, then finish or release what is running."""
        loop = asyncio.get_running_loop()
        threads = DatabaseThreads(database_workers(self.concurrency))
        threads.install()
        batch_database_work()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stop, signal.Signals(signum).name)
        for handler in logging.getLogger().handlers:
            handler.addFilter(self._filter)
        logger.info(
            "daemon started worker=%s concurrency=%s", self.worker, self.concurrency
        )
        try:
            await self._loop()
            await self._drain()
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)
            for handler in logging.getLogger().handlers:
                handler.removeFilter(self._filter)
            threads.close()
        logger.info("daemon stopped worker=%s", self.worker)

    async def _loop(self) -> None:
        renew_every = self.config.lease_seconds / 3
        next_renewal = time.monotonic() + renew_every
        next_ldap = time.monotonic()
        claimed_last: int | None = None
        next_poll = time.monotonic()
        refill_mark = self._pushes_done
        while not self.stopping.is_set():
            self.wake.clear()
            if self._refilling is not None and self._refilling.done():
                claimed_last = self._refilling.result()
                self._refilling = None
                if not claimed_last:
                    next_poll = time.monotonic() + self.config.poll_interval
            if claimed_last == 0 and self._pushes_done != refill_mark:
                # A push ended since: it may have released a request
                # triggered again while it ran, so look once more.
                claimed_last, next_poll = None, time.monotonic()
            self._start_ready()
            idle = not (self.running or self.ready or self._refilling)
            if self.once and idle and claimed_last == 0:
                return
            if (
                self._refilling is None
                and self._needs_refill()
                and (claimed_last or time.monotonic() >= next_poll)
            ):
                # Claiming and planning run beside the pushes, so that a
                # freed slot never waits for a batch to be planned.
                refill_mark = self._pushes_done
                self._refilling = asyncio.create_task(self._refill())
                self._refilling.add_done_callback(lambda _: self.wake.set())
            if time.monotonic() >= next_renewal:
                await self._renew()
                next_renewal = time.monotonic() + renew_every
            if not self.once and time.monotonic() >= next_ldap:
                self._start_ldap_update()
                next_ldap = time.monotonic() + max(1, settings.SKA.ldap.update_interval)
            try:
                async with asyncio.timeout(self.config.poll_interval):
                    await self.wake.wait()
            except TimeoutError:
                pass
            # Yield even when woken already, so signals are always handled.
            await asyncio.sleep(0)

    def _needs_refill(self) -> bool:
        if len(self.ready) >= max(1, self.concurrency // 2):
            return False
        return len(self.running) + len(self.ready) < 2 * self.concurrency

    def _held(self) -> set[int]:
        return set(self.running) | {claim.server_id for claim, _ in self.ready}

    async def _refill(self) -> int:
        """Claim and plan more work for the buffer; say how many servers."""
        wanted = 2 * self.concurrency - len(self.running) - len(self.ready)
        try:
            claims = await in_thread(
                claim_due, self.worker, wanted, self.config.lease_seconds, self._held()
            )
            if claims:
                planned = await in_thread(plan_claims, claims, _claimed_account)
                self.ready.extend(planned)
        except DatabaseError as error:
            logger.warning("queue unavailable error=%s", error)
            return 0
        # The top of the claiming loop: a bug here must not end the daemon.
        except Exception:
            logger.exception("claiming failed")
            return 0
        return len(claims)

    def _start_ready(self) -> None:
        """Start buffered pushes while slots are free."""
        while self.ready and len(self.running) < self.concurrency:
            claim, planned = self.ready.popleft()
            task = asyncio.create_task(self._push(claim, planned))
            self.running[claim.server_id] = _Running(claim, task)

    async def _push(self, claim: Claim, planned: Planned) -> None:
        run = uuid.uuid4().hex[:8]
        _sync_context.set((claim.hostname, run))
        logger.info(
            "sync started server=%s run=%s account=%s",
            claim.hostname,
            run,
            claim.only_account or "*",
        )
        try:
            outcome = await push_claim(claim, planned)
        except DatabaseError as error:
            # The claim stays leased and another worker takes it over
            # when the lease runs out.
            logger.warning("sync not recorded error=%s", error)
            return
        finally:
            self.running.pop(claim.server_id, None)
            self._pushes_done += 1
            self.wake.set()
        if outcome is None:
            logger.info("server skipped reason=unmanaged")
        elif outcome.ok:
            logger.info("server pushed status=%s", outcome.status)
        else:
            logger.warning(
                "sync failed code=%s message=%s", outcome.code, outcome.message
            )

    async def _renew(self) -> None:
        try:
            await in_thread(
                renew_leases, self.worker, self._held(), self.config.lease_seconds
            )
        except DatabaseError as error:
            logger.warning("lease renewal failed error=%s", error)

    def _start_ldap_update(self) -> None:
        """Run the periodic LDAP update in a thread unless one still runs."""
        if not settings.SKA.ldap_enabled or settings.SKA.ldap.update_interval <= 0:
            return
        if self._ldap_missing or (self._ldap_task and not self._ldap_task.done()):
            return
        try:
            from ska.directory.ldap_update import run_periodic_ldap_update
        except ImportError:
            logger.warning("ldap update unavailable reason=module missing")
            self._ldap_missing = True
            return
        self._ldap_task = asyncio.create_task(
            self._ldap_update(run_periodic_ldap_update)
        )

    async def _ldap_update(self, update: Callable[[], object]) -> None:
        try:
            await in_thread(update)
        # A periodic job must never stop the daemon.
        except Exception:
            logger.exception("ldap update failed")

    async def _drain(self) -> None:
        """Let running pushes finish within their timeout, then release."""
        if self._refilling is not None:
            await asyncio.gather(self._refilling, return_exceptions=True)
        while self.ready:
            await in_thread(release_claim, self.ready.popleft()[0])
        if self.running:
            tasks = [running.task for running in self.running.values()]
            _done, pending = await asyncio.wait(tasks, timeout=push_deadline())
            leftovers = [r.claim for r in self.running.values() if r.task in pending]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            for claim in leftovers:
                await in_thread(release_claim, claim)
                logger.warning("claim released server=%s", claim.hostname)
        if self._ldap_task is not None:
            await asyncio.gather(self._ldap_task, return_exceptions=True)


def _claimed_account(claim: Claim) -> str | None:
    return claim.only_account
