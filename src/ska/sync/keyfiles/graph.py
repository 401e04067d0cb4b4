"""Load everything keyfiles are made of into memory, in a fixed few queries.

The access graph of a set of servers (their accounts, the groups those
accounts belong to, the rules into both, the principals those rules name
and their keys) is read with one query per table, never one per rule,
account or key. Rendering then walks plain Python objects.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from django.db.models import Q

from ska.access.models import AccessOption, AccessRule
from ska.directory.models import Entity, Group, GroupMember, User
from ska.keys.models import DestinationRule, PublicKey
from ska.servers.models import Server, ServerAccount, ServerLdapAccessOption

USER = Entity.Type.USER.value
SERVER_ACCOUNT = Entity.Type.SERVER_ACCOUNT.value
GROUP = Entity.Type.GROUP.value

# Past this many ids, reading the whole table and filtering in Python is
# cheaper than a huge IN list, and stays within every database's limit on
# query parameters (SQLite's is 32766).
MAX_IN_LIST = 5000

Option = tuple[str, str | None]


@dataclass(slots=True)
class KeyNode:
    """A deployable (not deleted) public key and its destination filters."""

    id: int
    type: str
    keydata: str
    creation_date: datetime.date | None
    dest_rules: list[tuple[str, str]] = field(default_factory=list)


@dataclass(slots=True)
class UserNode:
    """A user as a source of keys."""

    id: int
    uid: str
    name: str
    deployable: bool
    keys: list[KeyNode] = field(default_factory=list)


@dataclass(slots=True)
class AccountNode:
    """A server account, as a destination, a source of keys, or both."""

    id: int
    name: str
    server_id: int
    hostname: str
    key_management: str
    active: bool
    sync_status: str
    keys: list[KeyNode] = field(default_factory=list)


@dataclass(slots=True)
class GroupNode:
    """A group with its members (entity ids) and the groups it belongs to."""

    id: int
    name: str
    active: bool
    members: list[int] = field(default_factory=list)
    parents: list[int] = field(default_factory=list)


@dataclass(slots=True)
class RuleNode:
    """An access rule into an account or group, with its options."""

    id: int
    source_id: int
    source_type: str
    grant_date: datetime.datetime
    granter_uid: str | None
    options: list[Option] = field(default_factory=list)


@dataclass
class AccessGraph:
    """The part of the access data that the keyfiles of some servers need."""

    servers: dict[int, Server]
    users: dict[int, UserNode] = field(default_factory=dict)
    accounts: dict[int, AccountNode] = field(default_factory=dict)
    groups: dict[int, GroupNode] = field(default_factory=dict)
    entity_types: dict[int, str] = field(default_factory=dict)
    accounts_by_server: dict[int, list[int]] = field(
        default_factory=lambda: defaultdict(list)
    )
    account_parents: dict[int, list[int]] = field(
        default_factory=lambda: defaultdict(list)
    )
    inbound: dict[int, list[RuleNode]] = field(
        default_factory=lambda: defaultdict(list)
    )
    ldap_options: dict[int, list[Option]] = field(
        default_factory=lambda: defaultdict(list)
    )
    ldap_users: list[int] = field(default_factory=list)

    def sort_key(self, entity_id: int) -> tuple[int, str, str, str, str]:
        """Order entities as the reference's SQL does.

        By type (user, server account, group), then uid, hostname, account
        name and group name, compared case-insensitively in the manner of
        MySQL's default collation, which weighs ASCII letters as upper case.
        """
        kind = self.entity_types.get(entity_id, GROUP)
        if kind == USER and entity_id in self.users:
            return (0, collate(self.users[entity_id].uid), "", "", "")
        if kind == SERVER_ACCOUNT and entity_id in self.accounts:
            account = self.accounts[entity_id]
            return (1, "", collate(account.hostname), collate(account.name), "")
        group = self.groups.get(entity_id)
        return (2, "", "", "", collate(group.name) if group else "")


def collate(text: str) -> str:
    """Return the sort key of a name, like MySQL's ``general_ci`` for ASCII."""
    return text.upper()


def _ids_filter(lookup: str, ids: Collection[int]) -> Q:
    """Filter on ``ids`` unless there are so many that a full read is better."""
    if len(ids) > MAX_IN_LIST:
        return Q()
    return Q(**{f"{lookup}__in": list(ids)})


def load_graph(servers: Sequence[Server]) -> AccessGraph:
    """Read the access graph behind the keyfiles of ``servers``."""
    graph = AccessGraph(servers={server.pk: server for server in servers})
    if not servers:
        return graph
    _load_destination_accounts(graph)
    _load_groups(graph)
    dest_ids = set(graph.accounts) | _ancestor_groups(graph, graph.accounts)
    _load_rules(graph, dest_ids)
    sources = _load_source_members(graph)
    ldap_server_ids = [s.pk for s in servers if s.ldap_authorized]
    _load_users(graph, sources[USER], all_users=bool(ldap_server_ids))
    _load_source_accounts(graph, sources[SERVER_ACCOUNT])
    _load_keys(graph)
    if ldap_server_ids:
        _load_ldap_options(graph, ldap_server_ids)
    return graph


def _load_destination_accounts(graph: AccessGraph) -> None:
    rows = ServerAccount.objects.filter(server_id__in=list(graph.servers)).values_list(
        "pk", "server_id", "name", "active", "sync_status"
    )
    for pk, server_id, name, active, status in rows:
        server = graph.servers[server_id]
        graph.accounts[pk] = AccountNode(
            pk, name, server_id, server.hostname, server.key_management, active, status
        )
        graph.entity_types[pk] = SERVER_ACCOUNT
        graph.accounts_by_server[server_id].append(pk)


def _load_groups(graph: AccessGraph) -> None:
    """Read every group, the group-in-group edges and the accounts' groups."""
    for pk, name, active in Group.objects.values_list("pk", "name", "active"):
        graph.groups[pk] = GroupNode(pk, name, active)
        graph.entity_types[pk] = GROUP
    memberships = GroupMember.objects.filter(
        Q(entity__type=GROUP)
        | (Q(entity__type=SERVER_ACCOUNT) & _ids_filter("entity_id", graph.accounts))
    ).values_list("group_id", "entity_id", "entity__type")
    for group_id, entity_id, kind in memberships:
        if kind == GROUP:
            graph.groups[group_id].members.append(entity_id)
            graph.groups[entity_id].parents.append(group_id)
        elif entity_id in graph.accounts:
            graph.account_parents[entity_id].append(group_id)


def _ancestor_groups(graph: AccessGraph, account_ids: Iterable[int]) -> set[int]:
    """Return every group that contains one of the accounts, at any depth."""
    found: set[int] = set()
    pending = [g for pk in account_ids for g in graph.account_parents.get(pk, ())]
    while pending:
        group_id = pending.pop()
        if group_id not in found:
            found.add(group_id)
            pending.extend(graph.groups[group_id].parents)
    return found


def _load_rules(graph: AccessGraph, dest_ids: set[int]) -> None:
    if not dest_ids:
        return
    rules: dict[int, RuleNode] = {}
    rows = AccessRule.objects.filter(_ids_filter("dest_id", dest_ids)).values_list(
        "pk", "source_id", "source__type", "dest_id", "grant_date", "granted_by__uid"
    )
    for pk, source_id, kind, dest_id, grant_date, granter in rows:
        if dest_id not in dest_ids:
            continue
        rule = RuleNode(pk, source_id, kind, grant_date, granter)
        rules[pk] = rule
        graph.inbound[dest_id].append(rule)
        graph.entity_types[source_id] = kind
    options = AccessOption.objects.filter(
        _ids_filter("rule__dest_id", dest_ids)
    ).values_list("rule_id", "option", "value")
    for rule_id, option, value in options:
        if rule_id in rules:
            rules[rule_id].options.append((option, value))


def _load_source_members(graph: AccessGraph) -> dict[str, set[int]]:
    """Read the members of every group that is the source of a rule."""
    sources: dict[str, set[int]] = {USER: set(), SERVER_ACCOUNT: set()}
    source_groups: set[int] = set()
    for rules in graph.inbound.values():
        for rule in rules:
            if rule.source_type == GROUP:
                source_groups.add(rule.source_id)
            else:
                sources[rule.source_type].add(rule.source_id)
    pending = list(source_groups)
    while pending:
        for child in graph.groups[pending.pop()].members:
            if child not in source_groups:
                source_groups.add(child)
                pending.append(child)
    if not source_groups:
        return sources
    rows = (
        GroupMember.objects.filter(group_id__in=list(source_groups))
        .exclude(entity__type=GROUP)
        .values_list("group_id", "entity_id", "entity__type")
    )
    for group_id, entity_id, kind in rows:
        graph.groups[group_id].members.append(entity_id)
        graph.entity_types[entity_id] = kind
        sources[kind].add(entity_id)
    return sources


def _load_users(graph: AccessGraph, user_ids: set[int], *, all_users: bool) -> None:
    if not user_ids and not all_users:
        return
    users = (
        User.objects.all()
        if all_users
        else User.objects.filter(_ids_filter("pk", user_ids))
    )
    rows = users.values_list("pk", "uid", "name", "active", "force_disable")
    for pk, uid, name, active, force_disable in rows:
        if all_users or pk in user_ids:
            # Mirrors User.keys_deployable: an admin's disable revokes keys too.
            graph.users[pk] = UserNode(pk, uid, name, active and not force_disable)
            graph.entity_types[pk] = USER
    if all_users:
        graph.ldap_users = sorted(graph.users, key=graph.sort_key)


def _load_source_accounts(graph: AccessGraph, account_ids: set[int]) -> None:
    missing = account_ids - graph.accounts.keys()
    if not missing:
        return
    rows = ServerAccount.objects.filter(_ids_filter("pk", missing)).values_list(
        "pk",
        "name",
        "server_id",
        "server__hostname",
        "server__key_management",
        "active",
        "sync_status",
    )
    for pk, name, server_id, hostname, mode, active, status in rows:
        if pk in missing:
            graph.accounts[pk] = AccountNode(
                pk, name, server_id, hostname, mode, active, status
            )
            graph.entity_types[pk] = SERVER_ACCOUNT


def _load_keys(graph: AccessGraph) -> None:
    """Read the live keys of every loaded principal, with their filters."""
    owners: dict[int, UserNode | AccountNode] = {**graph.users, **graph.accounts}
    if not owners:
        return
    live = PublicKey.objects.filter(deletion_date__isnull=True).filter(
        _ids_filter("owner_id", owners)
    )
    keys: dict[int, KeyNode] = {}
    rows = live.order_by("pk").values_list(
        "pk", "owner_id", "type", "keydata", "creation_date"
    )
    for pk, owner_id, key_type, keydata, creation_date in rows:
        owner = owners.get(owner_id)
        if owner is not None:
            key = KeyNode(pk, key_type, keydata, creation_date)
            keys[pk] = key
            owner.keys.append(key)
    rules = DestinationRule.objects.filter(key__deletion_date__isnull=True).filter(
        _ids_filter("key__owner_id", owners)
    )
    for key_id, account_filter, hostname_filter in rules.order_by("pk").values_list(
        "key_id", "account_name_filter", "hostname_filter"
    ):
        if key_id in keys:
            keys[key_id].dest_rules.append((account_filter, hostname_filter))


def _load_ldap_options(graph: AccessGraph, server_ids: list[int]) -> None:
    rows = ServerLdapAccessOption.objects.filter(server_id__in=server_ids)
    for server_id, option, value in rows.values_list("server_id", "option", "value"):
        graph.ldap_options[server_id].append((option, value))
