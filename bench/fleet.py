"""Generate a synthetic fleet in the configured database, with bulk inserts.

The default size: 5,000 users with 2 keys each, 2,000 servers with 5
accounts each (10 of them LDAP-authorized, 20 decommissioned), 500 groups
nested up to 3 deep (half of users, half of server accounts), and 30,000
access rules of every kind, a fifth of them with options. One key in
twenty carries destination rules. ``scale`` multiplies every count.
"""

from __future__ import annotations

import base64
import datetime
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import connection, models, transaction

from ska.access.models import AccessOption, AccessRule
from ska.directory.models import Entity, Group, GroupMember, User
from ska.keys.models import DestinationRule, PublicKey
from ska.servers.models import Server, ServerAccount, ServerLdapAccessOption

ACCOUNT_NAMES = ("root", "deploy", "app", "backup", "monitor")
BATCH = 2000
EPOCH = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)


@dataclass(frozen=True)
class FleetSize:
    """How many of each thing the fleet holds."""

    users: int = 5000
    keys_per_user: int = 2
    servers: int = 2000
    accounts_per_server: int = 5
    ldap_servers: int = 10
    decommissioned_servers: int = 20
    groups: int = 500
    rules: int = 30000

    def scaled(self, factor: float) -> FleetSize:
        """Return the size with every count multiplied by ``factor``."""
        return FleetSize(
            users=max(2, int(self.users * factor)),
            keys_per_user=self.keys_per_user,
            servers=max(2, int(self.servers * factor)),
            accounts_per_server=self.accounts_per_server,
            ldap_servers=max(1, int(self.ldap_servers * factor)),
            decommissioned_servers=max(1, int(self.decommissioned_servers * factor)),
            groups=max(6, int(self.groups * factor)),
            rules=max(10, int(self.rules * factor)),
        )


class Ids:
    """Hand out primary keys, so related rows can be built before inserting."""

    def __init__(self) -> None:
        self.next = 1

    def take(self, count: int) -> list[int]:
        """Return ``count`` fresh ids."""
        start = self.next
        self.next += count
        return list(range(start, start + count))


def _insert_children(model: type[models.Model], rows: Sequence[models.Model]) -> None:
    """Insert rows of a model that extends Entity (bulk_create refuses those)."""
    fields = model._meta.local_concrete_fields
    table = connection.ops.quote_name(model._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(str(f.column)) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    # The names come from the model, not from input.
    sql = f"INSERT INTO {table} ({columns}) VALUES ({marks})"  # noqa: S608
    with connection.cursor() as cursor:
        for start in range(0, len(rows), BATCH):
            batch = rows[start : start + BATCH]
            cursor.executemany(
                sql,
                [
                    [
                        f.get_db_prep_save(getattr(row, f.attname), connection)
                        for f in fields
                    ]
                    for row in batch
                ],
            )


def _entities(ids: list[int], kind: str) -> None:
    Entity.objects.bulk_create(
        (Entity(pk=pk, type=kind) for pk in ids), batch_size=BATCH
    )


def _keydata(chooser: random.Random, rsa: bool) -> tuple[str, str]:
    if rsa:
        blob = b"\x00\x00\x00\x07ssh-rsa" + chooser.randbytes(525)
        return "ssh-rsa", base64.b64encode(blob).decode()
    blob = b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + chooser.randbytes(32)
    return "ssh-ed25519", base64.b64encode(blob).decode()


class FleetBuilder:
    """Build one fleet; every id is chosen here, then rows go in by bulk."""

    def __init__(self, size: FleetSize, seed: int) -> None:
        self.size = size
        self.chooser = random.Random(seed)
        self.ids = Ids()
        self.admin_id = 0
        self.user_ids: list[int] = []
        self.account_ids: list[int] = []
        self.user_group_ids: list[int] = []
        self.account_group_ids: list[int] = []
        self.key_ids = Ids()

    def build(self) -> None:
        """Insert the whole fleet in one transaction."""
        with transaction.atomic():
            self._users()
            self._servers()
            self._groups()
            self._rules()

    def _date(self) -> datetime.datetime:
        return EPOCH + datetime.timedelta(seconds=self.chooser.randrange(190_000_000))

    def _users(self) -> None:
        ids = self.ids.take(self.size.users + 1)
        self.admin_id, self.user_ids = ids[0], ids[1:]
        _entities(ids, Entity.Type.USER)
        users = [
            User(
                entity_ptr_id=pk,
                type=Entity.Type.USER,
                uid="admin" if pk == self.admin_id else f"u{pk:05d}",
                name=f"User {pk}",
                email=f"u{pk}@example.com",
                password="!",  # noqa: S106  (an unusable password)
                auth_realm=User.Realm.LDAP,
                active=self.chooser.random() > 0.03,
                admin=pk == self.admin_id,
                force_disable=self.chooser.random() < 0.01,
            )
            for pk in ids
        ]
        _insert_children(User, users)
        self._keys(self.user_ids, self.size.keys_per_user)

    def _keys(self, owners: Iterable[int], per_owner: int) -> None:
        keys: list[PublicKey] = []
        rules: list[DestinationRule] = []
        for owner in owners:
            for key_id in self.key_ids.take(per_owner):
                key_type, keydata = _keydata(self.chooser, self.chooser.random() < 0.2)
                keys.append(
                    PublicKey(
                        pk=key_id,
                        owner_id=owner,
                        type=key_type,
                        keydata=keydata,
                        creation_date=self._date().date(),
                    )
                )
                if self.chooser.random() < 0.05:
                    rules.append(
                        DestinationRule(
                            key_id=key_id,
                            account_name_filter=self.chooser.choice(["*", "root"]),
                            hostname_filter=f"*.dc{self.chooser.randrange(4)}.example.com",
                        )
                    )
        PublicKey.objects.bulk_create(keys, batch_size=BATCH)
        DestinationRule.objects.bulk_create(rules, batch_size=BATCH)

    def _servers(self) -> None:
        size = self.size
        servers = []
        for n in range(size.servers):
            mode = Server.KeyManagement.KEYS
            authorization = Server.Authorization.MANUAL
            if n < size.ldap_servers:
                authorization = (
                    Server.Authorization.AUTOMATIC_LDAP
                    if n % 2
                    else Server.Authorization.MANUAL_LDAP
                )
            elif n < size.ldap_servers + size.decommissioned_servers:
                mode = Server.KeyManagement.DECOMMISSIONED
            servers.append(
                Server(
                    pk=n + 1,
                    hostname=f"srv{n:05d}.dc{n % 4}.example.com",
                    key_management=mode,
                    authorization=authorization,
                    history_username_env_mode=self.chooser.choice(
                        ["inherit"] * 8 + ["enabled", "disabled"]
                    ),
                )
            )
        Server.objects.bulk_create(servers, batch_size=BATCH)
        ServerLdapAccessOption.objects.bulk_create(
            ServerLdapAccessOption(server_id=n + 1, option="no-port-forwarding")
            for n in range(size.ldap_servers)
        )
        count = size.servers * size.accounts_per_server
        self.account_ids = self.ids.take(count)
        _entities(self.account_ids, Entity.Type.SERVER_ACCOUNT)
        accounts = [
            ServerAccount(
                entity_ptr_id=pk,
                type=Entity.Type.SERVER_ACCOUNT,
                server_id=index // size.accounts_per_server + 1,
                name=ACCOUNT_NAMES[index % len(ACCOUNT_NAMES)],
                active=self.chooser.random() > 0.02,
                sync_status="proposed"
                if self.chooser.random() < 0.01
                else "sync success",
            )
            for index, pk in enumerate(self.account_ids)
        ]
        _insert_children(ServerAccount, accounts)
        self._keys(self.chooser.sample(self.account_ids, count // 10), 1)

    def _groups(self) -> None:
        half = self.size.groups // 2
        ids = self.ids.take(half * 2)
        self.user_group_ids, self.account_group_ids = ids[:half], ids[half:]
        _entities(ids, Entity.Type.GROUP)
        groups = [
            Group(
                entity_ptr_id=pk,
                type=Entity.Type.GROUP,
                name=f"team{pk}" if pk in self.user_group_ids else f"hosts{pk}",
                active=self.chooser.random() > 0.05,
            )
            for pk in ids
        ]
        _insert_children(Group, groups)
        members = self._nesting(self.user_group_ids) + self._nesting(
            self.account_group_ids
        )
        for group_id in self.user_group_ids:
            for user_id in self.chooser.sample(self.user_ids, 8):
                members.append(GroupMember(group_id=group_id, entity_id=user_id))
        for group_id in self.account_group_ids:
            for account_id in self.chooser.sample(self.account_ids, 10):
                members.append(GroupMember(group_id=group_id, entity_id=account_id))
        GroupMember.objects.bulk_create(members, batch_size=BATCH)

    def _nesting(self, group_ids: list[int]) -> list[GroupMember]:
        """Make a third of the groups children and a third grandchildren."""
        third = len(group_ids) // 3
        top, middle, bottom = (
            group_ids[:third],
            group_ids[third : 2 * third],
            group_ids[2 * third :],
        )
        edges = [(self.chooser.choice(top), child) for child in middle]
        edges += [(self.chooser.choice(middle), child) for child in bottom]
        return [
            GroupMember(group_id=parent, entity_id=child) for parent, child in edges
        ]

    def _rules(self) -> None:
        total = self.size.rules
        kinds = [
            (self.user_ids, self.account_ids, 0.70),
            (self.user_group_ids, self.account_ids, 0.17),
            (self.user_ids, self.account_group_ids, 0.05),
            (self.user_group_ids, self.account_group_ids, 0.015),
            (self.account_ids, self.account_ids, 0.05),
            (self.account_ids, self.account_group_ids, 0.015),
        ]
        pairs: set[tuple[int, int]] = set()
        for sources, dests, share in kinds:
            wanted = len(pairs) + int(total * share)
            while len(pairs) < wanted:
                source, dest = self.chooser.choice(sources), self.chooser.choice(dests)
                if source != dest:
                    pairs.add((source, dest))
        while len(pairs) < total:
            pairs.add(
                (
                    self.chooser.choice(self.user_ids),
                    self.chooser.choice(self.account_ids),
                )
            )
        rules = [
            AccessRule(
                pk=n + 1,
                source_id=source,
                dest_id=dest,
                grant_date=self._date(),
                granted_by_id=self.admin_id,
            )
            for n, (source, dest) in enumerate(sorted(pairs))
        ]
        AccessRule.objects.bulk_create(rules, batch_size=BATCH)
        AccessOption.objects.bulk_create(self._options(len(rules)), batch_size=BATCH)

    def _options(self, rule_count: int) -> list[AccessOption]:
        choices: list[list[tuple[str, str | None]]] = [
            [("no-pty", None)],
            [("from", "10.*.*.*,192.168.0.0/16"), ("no-agent-forwarding", None)],
            [("command", '/usr/local/bin/backup --label "nightly"'), ("no-pty", None)],
            [("no-port-forwarding", None), ("no-X11-forwarding", None)],
        ]
        options = []
        for rule_id in range(1, rule_count + 1):
            if self.chooser.random() < 0.2:
                for name, value in self.chooser.choice(choices):
                    options.append(
                        AccessOption(rule_id=rule_id, option=name, value=value)
                    )
        return options


def reset_sequences() -> None:
    """Move the id sequences past the explicit ids (PostgreSQL needs this)."""
    from django.core.management.color import no_style

    models_with_ids = [
        Entity,
        Server,
        PublicKey,
        DestinationRule,
        GroupMember,
        AccessRule,
        AccessOption,
        ServerLdapAccessOption,
    ]
    statements = connection.ops.sequence_reset_sql(no_style(), models_with_ids)
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def generate(size: FleetSize | None = None, seed: int = 20260209) -> FleetSize:
    """Fill the (empty) configured database with a synthetic fleet."""
    chosen = size or FleetSize()
    FleetBuilder(chosen, seed).build()
    reset_sequences()
    return chosen
