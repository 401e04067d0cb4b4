"""Sync one server: plan (database), push (network), record (database).

The two database phases run in worker threads, so one event loop can
push many servers at once while each waits on its own network steps.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable

from ska.sync.plan import SyncPlan, build_plan
from ska.sync.push import PushResult, push
from ska.sync.record import SyncOutcome, record

logger = logging.getLogger(__name__)

Recorder = Callable[[SyncPlan, PushResult], Awaitable[SyncOutcome | None]]

# Set by a daemon or a foreground sync to record the results of its
# concurrent pushes in batches; unset, each push records its own.
batch_recorder: contextvars.ContextVar[Recorder | None] = contextvars.ContextVar(
    "batch_recorder", default=None
)

__all__ = ["SyncOutcome", "sync_plan", "sync_server"]


async def sync_server(
    server_id: int, only_account: str | None = None
) -> SyncOutcome | None:
    """Sync one server, or one account of it; None if it is not managed.

    Network and SSH problems come back as a failed outcome, never as an
    exception.
    """
    plan = await asyncio.to_thread(build_plan, server_id, only_account)
    if plan is None:
        return None
    return await sync_plan(plan)


async def sync_plan(plan: SyncPlan) -> SyncOutcome | None:
    """Push a plan made beforehand (see ``build_plans``) and record it."""
    # Debug only: the daemon logs each push's start and end with its run id,
    # and a line written per server costs the event loop a system call.
    logger.debug(
        "sync started server=%s account=%s",
        plan.hostname,
        plan.only_account or "*",
    )
    result = await push(plan)
    recorder = batch_recorder.get()
    if recorder is None:
        outcome = await asyncio.to_thread(record, plan, result)
    else:
        outcome = await recorder(plan, result)
    if outcome is not None:
        logger.debug(
            "sync finished server=%s status=%s code=%s",
            outcome.hostname,
            outcome.status,
            outcome.code or "-",
        )
    return outcome
