"""Record pushes: statuses, learned facts and events, in one transaction.

Results are recorded in batches: what several pushes finished meanwhile is
read and written in one transaction, with a few queries for the batch, and
only what changed is written.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import close_old_connections, transaction
from django.db.models import Max

from ska.activity.models import ServerEvent
from ska.activity.services import (
    SYNC_STATUS_CHANGE,
    WARNING,
    encode_details,
    log_entity_event,
    log_server_event,
    setting_field_name,
)
from ska.directory.models import User
from ska.directory.services import get_keys_sync_user
from ska.servers.models import Server, ServerAccount, SyncStatus
from ska.sync.plan import SyncPlan
from ska.sync.push import PushResult

logger = logging.getLogger(__name__)

SETTING_UPDATE = "Setting update"
NONFATAL_ISSUE = "Sync non-fatal issue"


@dataclass(frozen=True)
class SyncOutcome:
    """The result of one server's sync, as the daemon and the CLI see it."""

    server_id: int
    hostname: str
    ok: bool
    status: str  # the server sync_status written
    message: str  # the reference-grammar message written to the event
    code: str | None  # None on success
    retry: bool  # the caller schedules a retry after [sync] retry_delay
    lines: tuple[str, ...]  # human log lines such as "web1: Updated root"


def record(plan: SyncPlan, result: PushResult) -> SyncOutcome | None:
    """Write what a push did; return None if the server was deleted meanwhile."""
    return record_many([(plan, result)])[0]


def record_many(
    pushes: Sequence[tuple[SyncPlan, PushResult]],
) -> list[SyncOutcome | None]:
    """Write what several pushes of distinct servers did, in one transaction.

    Return each push's outcome, None for a server deleted meanwhile.
    """
    close_old_connections()
    server_ids = [plan.server_id for plan, _ in pushes]
    outcomes: list[SyncOutcome | None] = []
    with transaction.atomic():
        servers = Server.objects.in_bulk(server_ids)
        if not servers:
            return [None] * len(pushes)
        actor = get_keys_sync_user()
        last_messages = _last_sync_messages(list(servers))
        accounts = _accounts([result for _, result in pushes])
        changed: dict[str, list[int]] = defaultdict(list)
        for plan, result in pushes:
            server = servers.get(plan.server_id)
            if server is None:
                outcomes.append(None)
                continue
            _record_server(server, actor, result, last_messages.get(server.pk))
            _record_accounts(server, actor, result, accounts, changed)
            if result.nonfatal:
                log_server_event(
                    server, actor, NONFATAL_ISSUE, result.nonfatal, level=WARNING
                )
            outcomes.append(
                SyncOutcome(
                    server_id=plan.server_id,
                    hostname=plan.hostname,
                    ok=result.status != SyncStatus.FAILURE,
                    status=str(result.status),
                    message=result.message,
                    code=result.code,
                    retry=result.retry,
                    lines=tuple(result.lines),
                )
            )
        # One update per status for the whole batch.
        for status, account_ids in changed.items():
            ServerAccount.objects.filter(pk__in=account_ids).update(sync_status=status)
    return outcomes


def _last_sync_messages(server_ids: list[int]) -> dict[int, str | None]:
    """Return the message of each server's newest sync status event."""
    prefix = encode_details(SYNC_STATUS_CHANGE)[:-1]
    newest = (
        ServerEvent.objects.filter(server_id__in=server_ids, details__startswith=prefix)
        .values("server_id")
        .annotate(newest=Max("id"))
        .values_list("newest", flat=True)
    )
    return {
        server_id: json.loads(details).get("value")
        for server_id, details in ServerEvent.objects.filter(
            pk__in=list(newest)
        ).values_list("server_id", "details")
    }


def _accounts(results: Sequence[PushResult]) -> dict[int, ServerAccount]:
    """Return the accounts whose status the pushes report, proposed ones left out."""
    wanted = [account_id for result in results for account_id in result.account_status]
    if not wanted:
        return {}
    return {
        account.pk: account
        for account in ServerAccount.objects.filter(pk__in=wanted).exclude(
            sync_status=ServerAccount.Status.PROPOSED
        )
    }


def _record_server(
    server: Server, actor: User, result: PushResult, last_message: str | None
) -> None:
    changes: dict[str, str] = {}
    if result.ip_address and result.ip_address != server.ip_address:
        changes["ip_address"] = result.ip_address
    # A pin is only learned while none is set: an administrator may have
    # reset it (or another sync learned it) since the plan was made.
    if result.learned_host_key and not server.host_key:
        changes["host_key"] = result.learned_host_key
    if result.uuid and result.uuid != server.uuid:
        changes["uuid"] = result.uuid
    for column, value in changes.items():
        _setting_update(server, actor, column, value)

    if last_message != result.message:
        log_server_event(server, actor, SYNC_STATUS_CHANGE, result.message)
    if server.sync_status != result.status:
        _setting_update(server, actor, "sync_status", result.status)
        logger.info(
            "sync status changed server=%s status=%s code=%s",
            server.hostname,
            result.status,
            result.code or "-",
        )
        changes["sync_status"] = result.status
    if changes:
        server.save(update_fields=list(changes))


def _setting_update(server: Server, actor: User, column: str, value: str) -> None:
    old = getattr(server, column)
    log_server_event(
        server,
        actor,
        SETTING_UPDATE,
        value,
        oldvalue=old,
        field=setting_field_name(column),
    )
    setattr(server, column, value)


def _record_accounts(
    server: Server,
    actor: User,
    result: PushResult,
    accounts: dict[int, ServerAccount],
    changed: dict[str, list[int]],
) -> None:
    """Log the accounts whose status changes; collect them in ``changed``."""
    for account_id in sorted(result.account_status):
        status = result.account_status[account_id]
        account = accounts.get(account_id)
        if account is None or account.server_id != server.pk:
            continue
        if account.sync_status == status:
            continue
        # Events name the account with its server's hostname: no query.
        account.server = server
        log_entity_event(
            account,
            actor,
            SETTING_UPDATE,
            status,
            oldvalue=account.sync_status,
            field="Sync status",
        )
        logger.info(
            "account sync status changed server=%s account=%s status=%s",
            server.hostname,
            account.name,
            status,
        )
        account.sync_status = status
        changed[status].append(account.pk)
