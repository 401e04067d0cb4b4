"""The plan of one server's sync: everything the push needs, read at once.

Building the plan is the only part of a sync that reads the database
before the push; the push itself never touches the ORM, so many servers
can be pushed concurrently from one event loop.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from ska.servers.jumphosts import JumpChain, JumphostError, parse_jumphosts
from ska.servers.models import Server, ServerAccount
from ska.supervision.models import ExternalKey, ExternalKeyOccurrence
from ska.sync.keyfiles import Keyfile, render_fleet
from ska.sync.transport import SYNC_USER, TrustPolicy, host_key_blob

UNNOTICED_KEY_AGE = timedelta(hours=96)


@dataclass(frozen=True)
class Limits:
    """Time limits of a sync, in seconds."""

    connect: float
    step: float
    server: float
    keepalive: int


@dataclass(frozen=True)
class StatusFileInputs:
    """What the monitoring status file reports besides the sync result."""

    path: str
    timeout: int
    key_supervision_error: str | None
    accounts_with_unnoticed_keys: tuple[str, ...]


@dataclass(frozen=True)
class SyncPlan:
    """An immutable description of one server's sync."""

    server_id: int
    hostname: str
    address: str  # the jump alias, or the hostname
    port: int
    jumphosts: str
    chain: JumpChain
    chain_problem: str | None  # why the stored jump hosts cannot be used
    trust: TrustPolicy
    decommission: bool
    only_account: str | None
    keyfiles: tuple[Keyfile, ...]
    account_ids: tuple[int, ...]  # accounts whose status this sync reports
    remove_if_present: tuple[str, ...]  # files of LDAP users without keys
    ip_peers: frozenset[str]  # addresses of other servers on this port/chain
    host_key_peers: frozenset[bytes]  # key blobs pinned by other servers
    host_key_collision_protection: bool
    hostname_verification: int
    status_file: StatusFileInputs
    limits: Limits
    retry_delay: int
    private_key_path: str

    @property
    def full(self) -> bool:
        """Say whether this sync writes every file and removes unknown ones."""
        return self.only_account is None


def build_plan(server_id: int, only_account: str | None = None) -> SyncPlan | None:
    """Read what a sync of ``server_id`` needs; None if nothing is to be done."""
    return build_plans([(server_id, only_account)])[server_id]


def build_plans(
    targets: Sequence[tuple[int, str | None]],
) -> dict[int, SyncPlan | None]:
    """Plan several servers at once, each as :func:`build_plan` would.

    The access graph and the facts about other servers are read once for
    the whole batch, which costs about as much as planning one server.
    """
    close_old_connections()
    wanted = dict(targets)
    plans: dict[int, SyncPlan | None] = dict.fromkeys(wanted)
    managed = (Server.KeyManagement.KEYS, Server.KeyManagement.DECOMMISSIONED)
    servers = list(Server.objects.filter(pk__in=wanted, key_management__in=managed))
    if not servers:
        return plans
    fleet = _FleetFacts.load(servers, wanted)
    for server in servers:
        plans[server.pk] = _plan(server, wanted[server.pk], fleet)
    return plans


def _plan(server: Server, only_account: str | None, fleet: _FleetFacts) -> SyncPlan:
    decommission = server.key_management == Server.KeyManagement.DECOMMISSIONED
    chain, chain_problem = _chain(server.jumphosts)

    keyfiles: tuple[Keyfile, ...] = ()
    account_ids: tuple[int, ...] = ()
    remove: tuple[str, ...] = ()
    if not decommission:
        keyfiles, account_ids = _keyfiles(server, only_account, fleet)
        remove = _ldap_leftovers(server, only_account, keyfiles)
    return SyncPlan(
        server_id=server.pk,
        hostname=server.hostname,
        address=chain.alias or server.hostname,
        port=server.port,
        jumphosts=server.jumphosts,
        chain=chain,
        chain_problem=chain_problem,
        trust=TrustPolicy(
            pinned_host_key=server.host_key or None,
            jumphost_strict=settings.SKA.security.jumphost_strict_host_key_checking,
            jumphost_known_hosts_file=settings.SKA.security.jumphost_known_hosts_file,
        ),
        decommission=decommission,
        only_account=only_account,
        keyfiles=keyfiles,
        account_ids=account_ids,
        remove_if_present=remove,
        ip_peers=fleet.ip_peers(server),
        host_key_peers=fleet.host_key_peers(server),
        host_key_collision_protection=(
            settings.SKA.security.host_key_collision_protection
        ),
        hostname_verification=settings.SKA.security.hostname_verification,
        status_file=_status_file_inputs(server, fleet),
        limits=Limits(
            connect=settings.SKA.sync.connect_timeout,
            step=settings.SKA.sync.step_timeout,
            server=settings.SKA.sync.server_timeout,
            keepalive=settings.SKA.sync.keepalive_interval,
        ),
        retry_delay=settings.SKA.sync.retry_delay,
        private_key_path=str(settings.SKA.private_key_path),
    )


@dataclass(frozen=True)
class _FleetFacts:
    """What the plans of a batch of servers read, loaded in a few queries."""

    rendered: dict[int, list[Keyfile]]
    eligible: dict[int, set[int]]  # active, not proposed accounts per server
    others: tuple[tuple[int, int, str, str | None, bytes | None], ...]
    unnoticed: dict[int, tuple[str, ...]]

    @classmethod
    def load(cls, servers: list[Server], wanted: dict[int, str | None]) -> _FleetFacts:
        """Read the facts for ``servers``, planned with ``wanted`` accounts."""
        rendered: dict[int, list[Keyfile]] = {}
        for only_account in set(wanted.values()):
            group = [s for s in servers if wanted[s.pk] == only_account]
            rendered.update(render_fleet(group, only_account=only_account))
        eligible: dict[int, set[int]] = defaultdict(set)
        accounts = ServerAccount.objects.filter(server__in=servers, active=True)
        for server_id, account_id in accounts.exclude(
            sync_status=ServerAccount.Status.PROPOSED
        ).values_list("server_id", "pk"):
            eligible[server_id].add(account_id)
        others = tuple(
            (pk, port, jumphosts, ip_address or None, host_key_blob(host_key))
            for pk, port, jumphosts, ip_address, host_key in Server.objects.filter(
                key_management=Server.KeyManagement.KEYS
            ).values_list("pk", "port", "jumphosts", "ip_address", "host_key")
        )
        cutoff = timezone.now() - UNNOTICED_KEY_AGE
        unnoticed: dict[int, set[str]] = defaultdict(set)
        for server_id, account_name in ExternalKeyOccurrence.objects.filter(
            server__in=servers, key__status=ExternalKey.Status.NEW, appeared__lte=cutoff
        ).values_list("server_id", "account_name"):
            unnoticed[server_id].add(account_name)
        return cls(
            rendered=rendered,
            eligible=eligible,
            others=others,
            unnoticed={pk: tuple(sorted(names)) for pk, names in unnoticed.items()},
        )

    def ip_peers(self, server: Server) -> frozenset[str]:
        """Return the addresses of other servers on the same port and path."""
        return frozenset(
            address
            for pk, port, jumphosts, address, _ in self.others
            if pk != server.pk
            and address is not None
            and port == server.port
            and jumphosts == server.jumphosts
        )

    def host_key_peers(self, server: Server) -> frozenset[bytes]:
        """Return the host keys pinned by the other managed servers."""
        return frozenset(
            blob for pk, _, _, _, blob in self.others if pk != server.pk and blob
        )


def _chain(jumphosts: str) -> tuple[JumpChain, str | None]:
    try:
        return parse_jumphosts(jumphosts), None
    except JumphostError as error:
        return JumpChain(), f"The stored jump hosts cannot be used: {error}"


def _keyfiles(
    server: Server, only_account: str | None, fleet: _FleetFacts
) -> tuple[tuple[Keyfile, ...], tuple[int, ...]]:
    """Return the files to write and the accounts whose status they decide."""
    eligible_ids = fleet.eligible.get(server.pk, set())
    files = tuple(
        keyfile
        for keyfile in fleet.rendered.get(server.pk, [])
        if keyfile.name != SYNC_USER
        and (keyfile.account_id is None or keyfile.account_id in eligible_ids)
        and (only_account is None or keyfile.name == only_account)
    )
    if only_account is None:
        account_ids = tuple(sorted(eligible_ids))
    else:
        account_ids = tuple(
            keyfile.account_id for keyfile in files if keyfile.account_id is not None
        )
    return files, account_ids


def _ldap_leftovers(
    server: Server, only_account: str | None, keyfiles: tuple[Keyfile, ...]
) -> tuple[str, ...]:
    """Name the file of an LDAP user who no longer has any key, if any.

    A key deletion queues a sync of the owner's uid only; without this the
    file with the deleted key would stay until the next full sync.
    """
    if only_account is None or not server.ldap_authorized:
        return ()
    if only_account == SYNC_USER or only_account.startswith("."):
        return ()
    if any(keyfile.name == only_account for keyfile in keyfiles):
        return ()
    names = ServerAccount.objects.filter(server=server).values_list("name", flat=True)
    if any(name.replace("/", "") == only_account for name in names):
        return ()
    return (only_account,)


def _status_file_inputs(server: Server, fleet: _FleetFacts) -> StatusFileInputs:
    return StatusFileInputs(
        path=settings.SKA.monitoring.status_file_path,
        timeout=settings.SKA.monitoring.status_file_timeout,
        key_supervision_error=server.key_supervision_error,
        accounts_with_unnoticed_keys=fleet.unnoticed.get(server.pk, ()),
    )
