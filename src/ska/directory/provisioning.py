"""Bring a database user, and its LDAP-linked groups, in line with LDAP.

Login and ``ska ldap-update`` share this: they first compute a
:class:`UserChange` from a directory entry, then apply it, which saves the
user, records the reference's events and queues the syncs the change
implies.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from ska.activity.services import INFO, WARNING, log_entity_event, participant
from ska.config import LdapSection
from ska.directory.ldap_client import LdapDirectory, LdapGroup
from ska.directory.ldap_client import LdapUser as LdapEntry
from ska.directory.models import Entity, Group, GroupMember, User
from ska.directory.services import get_keys_sync_user
from ska.sync.requests import sync_remote_access

logger = logging.getLogger(__name__)

# Logged fields, in the order events are written, with their event names.
FIELD_NAMES = {
    "auth_realm": "Auth realm",
    "uid": "Uid",
    "name": "Name",
    "email": "Email",
    "active": "Active",
    "admin": "Admin",
}
UID_MAX = 50
NAME_MAX = 100
EMAIL_MAX = 254


@dataclass
class UserChange:
    """What a directory refresh changes on one user."""

    user: User
    changes: dict[str, Any] = field(default_factory=dict)
    join: list[Group] = field(default_factory=list)
    leave: list[Group] = field(default_factory=list)

    @property
    def deactivates(self) -> bool:
        """Say whether the change turns an active user inactive."""
        return self.user.active and self.changes.get("active") is False

    @property
    def empty(self) -> bool:
        """Say whether there is nothing to do."""
        return not (self.changes or self.join or self.leave)


def linked_groups() -> list[Group]:
    """Return the system groups whose members mirror an LDAP group."""
    return list(Group.objects.filter(system=True).exclude(ldap_guid=None))


def linked_memberships(groups: Iterable[Group]) -> dict[int, set[int]]:
    """Map user entity ids to the ids of the given groups they belong to."""
    memberships: dict[int, set[int]] = {}
    rows = GroupMember.objects.filter(
        group__in=[group.pk for group in groups if group.pk],
        entity__type=Entity.Type.USER,
    ).values_list("entity_id", "group_id")
    for entity_id, group_id in rows:
        memberships.setdefault(entity_id, set()).add(group_id)
    return memberships


def directory_values(
    entry: LdapEntry | None, groups: Iterable[LdapGroup], section: LdapSection
) -> dict[str, Any]:
    """Return the user fields the directory dictates; only ``active`` if gone."""
    if entry is None:
        return {"active": False}
    admin_cn = section.admin_group_cn
    return {
        "auth_realm": User.Realm.LDAP,
        "uid": entry.uid[:UID_MAX],
        "name": (entry.name or entry.uid)[:NAME_MAX],
        "email": entry.email[:EMAIL_MAX],
        "active": entry.active,
        "admin": bool(admin_cn) and any(group.cn == admin_cn for group in groups),
    }


def plan_user_change(
    user: User,
    entry: LdapEntry | None,
    groups: list[LdapGroup],
    section: LdapSection,
    *,
    linked: list[Group],
    member_of: set[int],
) -> UserChange:
    """Compare a user with its directory entry and return what must change."""
    values = directory_values(entry, groups, section)
    changes = {
        name: value for name, value in values.items() if getattr(user, name) != value
    }
    active_after = values["active"]
    guids = {group.guid for group in groups if group.guid}
    change = UserChange(user=user, changes=changes)
    for group in linked:
        should = active_after and group.ldap_guid in guids
        is_member = group.pk is not None and group.pk in member_of
        if should and not is_member:
            change.join.append(group)
        elif is_member and not should:
            change.leave.append(group)
    return change


def _shown(value: Any) -> str:
    """Write a field value as the reference's events do (booleans as 1/0)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    return "" if value is None else str(value)


class SyncBatch:
    """Principals whose access changed; each is synced once, at the end."""

    def __init__(self) -> None:
        self._entities: dict[int, Entity] = {}

    def add(self, entity: Entity) -> None:
        """Remember an entity whose remote access must be pushed again."""
        self._entities.setdefault(entity.pk, entity)

    def flush(self) -> int:
        """Queue the syncs of every remembered entity."""
        queued = sum(sync_remote_access(e) for e in self._entities.values())
        self._entities.clear()
        return queued


def apply_user_change(change: UserChange, actor: User, syncs: SyncBatch) -> None:
    """Save a user change and log its events; note in ``syncs`` what to push.

    A user who leaves groups is synced with those groups, so the access
    the groups granted is withdrawn even though the membership is gone.
    """
    user = change.user
    is_new = user.pk is None
    old = {name: getattr(user, name) for name in change.changes}
    for name, value in change.changes.items():
        setattr(user, name, value)
    if is_new:
        user.save()
    elif change.changes:
        user.save(update_fields=list(change.changes))
    for name, label in FIELD_NAMES.items():
        if is_new or name not in change.changes:
            continue
        value = change.changes[name]
        raised = name in ("active", "admin") and value is True
        log_entity_event(
            user,
            actor,
            "Setting update",
            _shown(value),
            oldvalue=_shown(old[name]),
            field=label,
            level=WARNING if raised else INFO,
        )
    if "active" in change.changes and not is_new:
        syncs.add(user)
    for group in change.join:
        GroupMember.objects.create(group=group, entity=user, added_by=actor)
        log_entity_event(group, actor, "Member add", participant(user), level=WARNING)
        syncs.add(group)
    for group in change.leave:
        GroupMember.objects.filter(group=group, entity=user).delete()
        log_entity_event(group, actor, "Member remove", participant(user))
        syncs.add(group)


def login_ldap_user(section: LdapSection, username: str, password: str) -> User | None:
    """Bind as ``username``; on success provision or refresh the user.

    Returns None when the directory refuses the password or does not know
    the user; raises ``DirectoryUnavailable`` when it cannot answer.
    """
    form = LdapDirectory(section).check_password(username, password)
    if form is None:
        return None
    with LdapDirectory(section) as directory:
        entry = directory.find_user(username)
        groups = directory.user_groups(entry) if entry else []
    if entry is None:
        logger.info("ldap login without entry user=%s form=%s", username, form)
        return None
    with transaction.atomic():
        user = User.objects.filter(uid__iexact=entry.uid).first()
        if user is None:
            user = User(uid=entry.uid, auth_realm=User.Realm.LDAP)
            user.set_unusable_password()
        if user.is_system:
            return None
        linked = linked_groups()
        member_of = linked_memberships(linked).get(user.pk, set()) if user.pk else set()
        change = plan_user_change(
            user, entry, groups, section, linked=linked, member_of=member_of
        )
        syncs = SyncBatch()
        apply_user_change(change, get_keys_sync_user(), syncs)
        syncs.flush()
    logger.info("ldap login bound user=%s form=%s", user.uid, form)
    return user
