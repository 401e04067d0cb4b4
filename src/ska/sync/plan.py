"""The plan of one server's sync: everything the push needs, read at once.

Building the plan is the only part of a sync that reads the database
before the push; the push itself never touches the ORM, so many servers
can be pushed concurrently from one event loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from ska.servers.jumphosts import JumpChain, JumphostError, parse_jumphosts
from ska.servers.models import Server, ServerAccount
from ska.supervision.models import ExternalKey, ExternalKeyOccurrence
from ska.sync.keyfiles import Keyfile, render_server
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
    close_old_connections()
    server = Server.objects.filter(pk=server_id).first()
    managed = (Server.KeyManagement.KEYS, Server.KeyManagement.DECOMMISSIONED)
    if server is None or server.key_management not in managed:
        return None
    decommission = server.key_management == Server.KeyManagement.DECOMMISSIONED
    chain, chain_problem = _chain(server.jumphosts)

    keyfiles: tuple[Keyfile, ...] = ()
    account_ids: tuple[int, ...] = ()
    remove: tuple[str, ...] = ()
    if not decommission:
        keyfiles, account_ids = _keyfiles(server, only_account)
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
        ip_peers=_ip_peers(server),
        host_key_peers=_host_key_peers(server),
        host_key_collision_protection=(
            settings.SKA.security.host_key_collision_protection
        ),
        hostname_verification=settings.SKA.security.hostname_verification,
        status_file=_status_file_inputs(server),
        limits=Limits(
            connect=settings.SKA.sync.connect_timeout,
            step=settings.SKA.sync.step_timeout,
            server=settings.SKA.sync.server_timeout,
            keepalive=settings.SKA.sync.keepalive_interval,
        ),
        retry_delay=settings.SKA.sync.retry_delay,
        private_key_path=str(settings.SKA.private_key_path),
    )


def _chain(jumphosts: str) -> tuple[JumpChain, str | None]:
    try:
        return parse_jumphosts(jumphosts), None
    except JumphostError as error:
        return JumpChain(), f"The stored jump hosts cannot be used: {error}"


def _keyfiles(
    server: Server, only_account: str | None
) -> tuple[tuple[Keyfile, ...], tuple[int, ...]]:
    """Return the files to write and the accounts whose status they decide."""
    eligible = ServerAccount.objects.filter(server=server, active=True).exclude(
        sync_status=ServerAccount.Status.PROPOSED
    )
    eligible_ids = set(eligible.values_list("pk", flat=True))
    files = tuple(
        keyfile
        for keyfile in render_server(server, only_account=only_account)
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


def _ip_peers(server: Server) -> frozenset[str]:
    peers = (
        Server.objects.filter(
            key_management=Server.KeyManagement.KEYS,
            port=server.port,
            jumphosts=server.jumphosts,
        )
        .exclude(pk=server.pk)
        .exclude(ip_address__isnull=True)
        .exclude(ip_address="")
        .values_list("ip_address", flat=True)
    )
    return frozenset(str(address) for address in peers)


def _host_key_peers(server: Server) -> frozenset[bytes]:
    pins = (
        Server.objects.filter(key_management=Server.KeyManagement.KEYS)
        .exclude(pk=server.pk)
        .exclude(host_key__isnull=True)
        .exclude(host_key="")
        .values_list("host_key", flat=True)
    )
    blobs = (host_key_blob(pin) for pin in pins)
    return frozenset(blob for blob in blobs if blob is not None)


def _status_file_inputs(server: Server) -> StatusFileInputs:
    cutoff = timezone.now() - UNNOTICED_KEY_AGE
    accounts = (
        ExternalKeyOccurrence.objects.filter(
            server=server, key__status=ExternalKey.Status.NEW, appeared__lte=cutoff
        )
        .values_list("account_name", flat=True)
        .distinct()
        .order_by("account_name")
    )
    return StatusFileInputs(
        path=settings.SKA.monitoring.status_file_path,
        timeout=settings.SKA.monitoring.status_file_timeout,
        key_supervision_error=server.key_supervision_error,
        accounts_with_unnoticed_keys=tuple(accounts),
    )
