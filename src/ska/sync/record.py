"""Record a push: statuses, learned facts and events, in one transaction."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from django.db import close_old_connections, transaction

from ska.activity.services import (
    SYNC_STATUS_CHANGE,
    WARNING,
    last_sync_event,
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
    close_old_connections()
    with transaction.atomic():
        server = Server.objects.filter(pk=plan.server_id).first()
        if server is None:
            return None
        actor = get_keys_sync_user()
        _record_server(server, actor, plan, result)
        _record_accounts(server, actor, result)
        if result.nonfatal:
            log_server_event(
                server, actor, NONFATAL_ISSUE, result.nonfatal, level=WARNING
            )
    return SyncOutcome(
        server_id=plan.server_id,
        hostname=plan.hostname,
        ok=result.status != SyncStatus.FAILURE,
        status=str(result.status),
        message=result.message,
        code=result.code,
        retry=result.retry,
        lines=tuple(result.lines),
    )


def _record_server(
    server: Server, actor: User, plan: SyncPlan, result: PushResult
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

    last = last_sync_event(server)
    last_message = json.loads(last.details).get("value") if last else None
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


def _record_accounts(server: Server, actor: User, result: PushResult) -> None:
    if not result.account_status:
        return
    accounts = ServerAccount.objects.filter(
        server=server, pk__in=list(result.account_status)
    ).exclude(sync_status=ServerAccount.Status.PROPOSED)
    for account in accounts:
        status = result.account_status[account.pk]
        if account.sync_status == status:
            continue
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
        account.save(update_fields=["sync_status"])
