"""Refresh every LDAP user and LDAP-linked group from the directory.

1. Read the whole directory first (users, groups); any LDAP error stops
   the run before the database is touched.
2. In one transaction, plan every change: user fields, deactivations of
   users gone from LDAP, linked-group members, group renames.
3. Refuse the plan if it deactivates more than ``[ldap]
   max_deactivation_share`` of the active users (unless forced): a broken
   directory or a wrong base DN must not lock everybody out.
4. Apply it, with the reference's events and the syncs it implies.

The ``keys-sync`` user and local users are never touched.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, transaction

from ska.activity.services import log_entity_event
from ska.config import LdapSection
from ska.directory.ldap_client import (
    DirectoryUnavailable,
    LdapDirectory,
    LdapGroup,
    LdapUser,
    member_key,
    resolve_groups,
)
from ska.directory.models import KEYS_SYNC_UID, Group, User
from ska.directory.provisioning import (
    SyncBatch,
    UserChange,
    apply_user_change,
    linked_groups,
    linked_memberships,
    plan_user_change,
)
from ska.directory.services import get_keys_sync_user

logger = logging.getLogger(__name__)


class UpdateRefused(Exception):
    """The update was not applied; the message says why, in one line."""


@dataclass(frozen=True)
class Snapshot:
    """What the directory holds, read in one go."""

    users: list[LdapUser]
    groups: list[LdapGroup]


@dataclass
class UpdatePlan:
    """Every change one run would make."""

    user_changes: list[UserChange] = field(default_factory=list)
    superiors: list[tuple[User, int | None]] = field(default_factory=list)
    renames: list[tuple[Group, str]] = field(default_factory=list)
    new_groups: list[Group] = field(default_factory=list)
    active_before: int = 0

    @property
    def deactivations(self) -> int:
        """Count the users this plan turns inactive."""
        return sum(1 for change in self.user_changes if change.deactivates)


@dataclass(frozen=True)
class UpdateSummary:
    """What a run changed, for the command's output and the log."""

    users_checked: int
    users_changed: int
    deactivated: int
    members_added: int
    members_removed: int
    groups_renamed: int

    def __str__(self) -> str:
        return (
            f"checked={self.users_checked} changed={self.users_changed} "
            f"deactivated={self.deactivated} members_added={self.members_added} "
            f"members_removed={self.members_removed} "
            f"groups_renamed={self.groups_renamed}"
        )


def read_snapshot(section: LdapSection) -> Snapshot:
    """Read all users and groups, or raise DirectoryUnavailable."""
    with LdapDirectory(section) as directory:
        return Snapshot(users=directory.all_users(), groups=directory.all_groups())


class _GroupIndex:
    """Answer "which groups list this member" from a snapshot."""

    def __init__(self, groups: list[LdapGroup]) -> None:
        self.by_member: dict[str, list[LdapGroup]] = defaultdict(list)
        self.by_guid = {group.guid: group for group in groups if group.guid}
        for group in groups:
            for member in group.members:
                self.by_member[member].append(group)

    def groups_of(self, entry: LdapUser, nested: bool) -> list[LdapGroup]:
        return resolve_groups(
            self.by_member.get(member_key(entry.member_value), []),
            lambda group: self.by_member.get(member_key(group.dn), []),
            nested=nested,
        )


def _superior_id(
    entry: LdapUser | None, users_by_key: dict[str, User], dn_to_uid: dict[str, str]
) -> int | None:
    """Return the database id of a user's superior, named by uid or DN."""
    if entry is None or not entry.superior:
        return None
    key = member_key(entry.superior)
    uid = dn_to_uid.get(key, key)
    superior = users_by_key.get(uid)
    if superior is None or superior.uid.lower() == entry.uid.lower():
        return None
    return superior.pk


def _plan_admin_group(
    section: LdapSection, snapshot: Snapshot, plan: UpdatePlan
) -> None:
    """Create the system group named after the admin group, as the reference."""
    cn = section.admin_group_cn
    if not cn or Group.objects.filter(name=cn).exists():
        return
    found = next((g for g in snapshot.groups if g.group_id == cn and g.guid), None)
    if found and not Group.objects.filter(ldap_guid=found.guid).exists():
        plan.new_groups.append(Group(name=cn, system=True, ldap_guid=found.guid))


def build_plan(snapshot: Snapshot, section: LdapSection) -> UpdatePlan:
    """Compare the database with a snapshot and return every change."""
    plan = UpdatePlan()
    index = _GroupIndex(snapshot.groups)
    _plan_admin_group(section, snapshot, plan)
    linked = linked_groups() + plan.new_groups
    memberships = linked_memberships(linked)
    entries = {entry.uid.lower(): entry for entry in snapshot.users}
    dn_to_uid = {member_key(e.dn): e.uid.lower() for e in snapshot.users}
    users = list(
        User.objects.filter(auth_realm=User.Realm.LDAP).exclude(
            uid__iexact=KEYS_SYNC_UID
        )
    )
    users_by_key = {user.uid.lower(): user for user in users}
    for user in users:
        entry = entries.get(user.uid.lower())
        groups = (
            index.groups_of(entry, section.indirect_group_memberships) if entry else []
        )
        change = plan_user_change(
            user,
            entry,
            groups,
            section,
            linked=linked,
            member_of=memberships.get(user.pk, set()),
        )
        plan.user_changes.append(change)
        if section.user_superior and entry is not None:
            superior = _superior_id(entry, users_by_key, dn_to_uid)
            if superior != user.superior_id:
                plan.superiors.append((user, superior))
    plan.active_before = sum(1 for user in users if user.active)
    for group in linked:
        found = index.by_guid.get(group.ldap_guid or "")
        if group.pk and found and found.cn and found.cn != group.name:
            plan.renames.append((group, found.cn[:100]))
    return plan


def check_fail_safe(plan: UpdatePlan, section: LdapSection, *, force: bool) -> None:
    """Refuse a plan that deactivates too many users, unless forced.

    One deactivation is always allowed, so that a leaver in a small
    installation is not mistaken for an outage.
    """
    count, active = plan.deactivations, plan.active_before
    allowed = max(1.0, section.max_deactivation_share * active)
    if count <= allowed or force:
        return
    raise UpdateRefused(
        f"ldap-update refused: it would deactivate {count} of {active} active "
        f"users, more than [ldap] max_deactivation_share = "
        f"{section.max_deactivation_share:g}; nothing was changed "
        "(check the directory, or run with --force if this is intended)"
    )


def apply_plan(plan: UpdatePlan, actor: User) -> UpdateSummary:
    """Write a plan's changes; the caller holds the transaction."""
    deactivated = plan.deactivations
    for group in plan.new_groups:
        group.save()
        log_entity_event(group, actor, "Group add")
    for group, name in plan.renames:
        if Group.objects.filter(name=name).exclude(pk=group.pk).exists():
            logger.warning("ldap group rename skipped group=%s name=%s", group, name)
            continue
        old_name, group.name = group.name, name
        group.save(update_fields=["name"])
        log_entity_event(
            group, actor, "Setting update", name, oldvalue=old_name, field="Name"
        )
    for user, superior_id in plan.superiors:
        user.superior_id = superior_id
        user.save(update_fields=["superior"])
    changed = [change for change in plan.user_changes if not change.empty]
    syncs = SyncBatch()
    for change in changed:
        apply_user_change(change, actor, syncs)
    syncs.flush()
    return UpdateSummary(
        users_checked=len(plan.user_changes),
        users_changed=len(changed),
        deactivated=deactivated,
        members_added=sum(len(change.join) for change in changed),
        members_removed=sum(len(change.leave) for change in changed),
        groups_renamed=len(plan.renames),
    )


def run_ldap_update(*, force: bool = False) -> UpdateSummary:
    """Run one update; raise UpdateRefused (changing nothing) when it cannot."""
    config = settings.SKA
    if not config.ldap_enabled:
        raise UpdateRefused("ldap-update: LDAP is not configured ([ldap] host)")
    section = config.ldap
    try:
        snapshot = read_snapshot(section)
    except DirectoryUnavailable as error:
        raise UpdateRefused(
            f"ldap-update refused: the directory is unavailable ({error}); "
            "nothing was changed"
        ) from error
    actor = get_keys_sync_user()
    try:
        with transaction.atomic():
            plan = build_plan(snapshot, section)
            check_fail_safe(plan, section, force=force)
            summary = apply_plan(plan, actor)
    except IntegrityError as error:
        # Another update or a login changed the same rows meanwhile.
        raise UpdateRefused(
            "ldap-update refused: the database changed during the update; "
            "nothing was changed, run it again"
        ) from error
    logger.info("ldap update done %s", summary)
    return summary


def run_periodic_ldap_update() -> None:
    """Run an update for the daemon: log the outcome, never raise for LDAP."""
    if not settings.SKA.ldap_enabled:
        return
    try:
        run_ldap_update()
    except UpdateRefused as refusal:
        logger.warning("ldap update refused reason=%s", refusal)


def link_ldap_group(cn: str, *, actor: User | None = None) -> Group:
    """Create a system group mirroring the LDAP group whose group_id is ``cn``.

    Its members are filled in by the next ``ska ldap-update``.
    """
    section = settings.SKA.ldap
    if not settings.SKA.ldap_enabled:
        raise UpdateRefused("LDAP is not configured ([ldap] host)")
    try:
        with LdapDirectory(section) as directory:
            found = directory.groups_by_id(cn)
    except DirectoryUnavailable as error:
        raise UpdateRefused(f"the directory is unavailable ({error})") from error
    if not found or not found[0].guid:
        raise UpdateRefused(
            f"no LDAP group with {section.group_id}={cn!r} and a "
            f"{section.group_num} under {section.dn_group}"
        )
    ldap_group = found[0]
    try:
        with transaction.atomic():
            group = Group.objects.create(
                name=ldap_group.cn[:100], system=True, ldap_guid=ldap_group.guid
            )
            log_entity_event(group, actor or get_keys_sync_user(), "Group add")
    except IntegrityError as error:
        raise UpdateRefused(
            f"a group named {ldap_group.cn!r} or linked to it already exists"
        ) from error
    logger.info("ldap group linked group=%s guid=%s", group.name, group.ldap_guid)
    return group
