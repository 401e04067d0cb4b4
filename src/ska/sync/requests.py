"""Sync requests: what the rest of the system calls when access changes.

The functions follow the reference's triggers (who calls what is listed in
``docs/compatibility.md``): a change to an account's access syncs that
account, a change to a group syncs its member accounts, and a change to a
principal (its keys, its activity) syncs everywhere it has access, which
for a user includes its keyfile on every LDAP-authorized server.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterable
from datetime import timedelta

from django.db import OperationalError, connection
from django.db.models import Q
from django.utils import timezone

from ska.access.models import AccessRule
from ska.directory.models import Entity, GroupMember, User
from ska.servers.models import Server, ServerAccount
from ska.sync.models import WHOLE_SERVER, SyncRequest

logger = logging.getLogger(__name__)

Target = tuple[int, str]
DEADLOCK_ATTEMPTS = 5
SYNCED_MODES = (Server.KeyManagement.KEYS, Server.KeyManagement.DECOMMISSIONED)


def request_syncs(targets: Iterable[Target], delay: timedelta | None = None) -> int:
    """Queue pushes to ``(server id, account name)`` targets; '' is all.

    A target already queued keeps its row: its ``requested_at`` moves
    forward (so a push in progress runs once more) and it becomes due now,
    or stays due now when this is a delayed retry.
    """
    now = timezone.now()
    execution_time = now + delay if delay else None
    rows = [
        SyncRequest(
            server_id=server_id,
            account_name=account_name,
            requested_at=now,
            execution_time=execution_time,
        )
        for server_id, account_name in sorted(set(targets))
    ]
    if not rows:
        return 0
    update_fields = ["requested_at"] if delay else ["requested_at", "execution_time"]
    # MySQL updates on any unique key and refuses to be told which one.
    named_target = connection.features.supports_update_conflicts_with_target
    for attempt in range(1, DEADLOCK_ATTEMPTS + 1):
        try:
            SyncRequest.objects.bulk_create(
                rows,
                update_conflicts=True,
                unique_fields=["server", "account_name"] if named_target else None,
                update_fields=update_fields,
            )
            return len(rows)
        except OperationalError as error:
            # A deadlock with a daemon's claim rolls back only this statement's
            # transaction; outside an enclosing transaction it is safe to
            # run again. Inside one, the caller's whole transaction is gone.
            if connection.in_atomic_block or not _is_lock_conflict(error):
                raise
            logger.info("sync request deadlock attempt=%s", attempt)
            if attempt == DEADLOCK_ATTEMPTS:
                raise
            time.sleep(random.uniform(0.01, 0.05) * attempt)  # noqa: S311  (jitter, not a secret)
    return len(rows)


def _is_lock_conflict(error: OperationalError) -> bool:
    """Say whether the database gave up on a lock it may get on a retry."""
    code = error.args[0] if error.args else None
    # MySQL: 1213 deadlock, 1205 lock wait timeout; PostgreSQL: SQLSTATE.
    sqlstate = getattr(error.__cause__, "sqlstate", None)
    return code in (1205, 1213) or sqlstate in ("40001", "40P01")


class _Collector:
    """Walk rules and memberships once, gathering targets without repeats."""

    def __init__(self) -> None:
        self.targets: set[Target] = set()
        self._groups_synced: set[int] = set()
        self._entities_walked: set[int] = set()

    def account(self, account: ServerAccount) -> None:
        self.targets.add((account.server_id, account.name))

    def group(self, group_id: int) -> None:
        if group_id in self._groups_synced:
            return
        self._groups_synced.add(group_id)
        members = GroupMember.objects.filter(group_id=group_id).values_list(
            "entity_id", "entity__type"
        )
        account_ids = [pk for pk, kind in members if kind == Entity.Type.SERVER_ACCOUNT]
        for account in ServerAccount.objects.filter(pk__in=account_ids):
            self.account(account)
        for pk, kind in members:
            if kind == Entity.Type.GROUP:
                self.group(pk)

    def destination(self, entity_id: int, kind: str) -> None:
        if kind == Entity.Type.GROUP:
            self.group(entity_id)
        elif kind == Entity.Type.SERVER_ACCOUNT:
            self.account(ServerAccount.objects.get(pk=entity_id))

    def remote_access(self, entity: Entity) -> None:
        if entity.pk in self._entities_walked:
            return
        self._entities_walked.add(entity.pk)
        rules = AccessRule.objects.filter(source=entity).values_list(
            "dest_id", "dest__type"
        )
        for dest_id, kind in rules:
            self.destination(dest_id, kind)
        for membership in GroupMember.objects.filter(entity=entity).select_related(
            "group"
        ):
            self.remote_access(membership.group)
        if entity.type == Entity.Type.USER:
            uid = User.objects.values_list("uid", flat=True).get(pk=entity.pk)
            ldap_servers = Server.objects.filter(
                key_management=Server.KeyManagement.KEYS
            ).filter(
                Q(authorization=Server.Authorization.AUTOMATIC_LDAP)
                | Q(authorization=Server.Authorization.MANUAL_LDAP)
            )
            for server_id in ldap_servers.values_list("pk", flat=True):
                self.targets.add((server_id, uid.replace("/", "")))

    def flush(self) -> int:
        managed = set(
            Server.objects.filter(
                pk__in={server_id for server_id, _ in self.targets},
                key_management__in=SYNCED_MODES,
            ).values_list("pk", flat=True)
        )
        return request_syncs(t for t in self.targets if t[0] in managed)


def sync_account(account: ServerAccount) -> int:
    """Queue a push of one account's keyfile."""
    collector = _Collector()
    collector.account(account)
    return collector.flush()


def sync_server(server: Server) -> int:
    """Queue a full push of a server (every keyfile, and the clean-up)."""
    if server.key_management not in SYNCED_MODES:
        return 0
    return request_syncs([(server.pk, WHOLE_SERVER)])


def sync_group(group_id: int) -> int:
    """Queue pushes of every account in a group, nested groups included."""
    collector = _Collector()
    collector.group(group_id)
    return collector.flush()


def sync_remote_access(entity: Entity) -> int:
    """Queue pushes of everywhere ``entity`` has access, through groups too."""
    collector = _Collector()
    collector.remote_access(entity)
    return collector.flush()
