"""SSH connections to a target, directly or through a chain of jump hosts.

Every hop is its own asyncssh connection, passed as the tunnel of the next
one, so that each hop is authenticated with the sync key and checked
against the jump host known_hosts file. The target is checked against its
pinned host key only: a pin is compared on the key itself, whatever
signature algorithm was negotiated when it was learned.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import getpass
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import asyncssh
from asyncssh.public_key import decode_ssh_public_key, get_default_public_key_algs

from ska.servers.jumphosts import Hop, JumpChain
from ska.sync.failures import (
    JUMPHOST_TUNNEL_FAILED,
    SSH_AUTHENTICATION_FAILED,
    SyncError,
    Where,
    classify_connect_error,
)

logger = logging.getLogger(__name__)

SYNC_USER = "keys-sync"


def host_key_blob(text: str | None) -> bytes | None:
    """Return the key blob of a stored pin ``<algorithm> <base64>``, or None.

    Pins learned by the reference carry the negotiated signature algorithm
    (``rsa-sha2-256 AAAAB3...``); only the base64 part identifies the key.
    """
    parts = (text or "").split()
    if len(parts) < 2:
        return None
    try:
        return base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        return None


def format_host_key(key: asyncssh.SSHKey) -> str:
    """Return the pin text of a host key: ``<key type> <base64 blob>``."""
    blob = base64.b64encode(key.public_data).decode("ascii")
    return f"{key.get_algorithm()} {blob}"


@lru_cache(maxsize=8)
def _read_client_key(path: str, mtime_ns: int) -> asyncssh.SSHKey:
    return asyncssh.read_private_key(path)


def load_client_key(path: Path) -> asyncssh.SSHKey:
    """Read the sync private key (OpenSSH or PEM), cached while unchanged."""
    try:
        return _read_client_key(str(path), path.stat().st_mtime_ns)
    except (OSError, asyncssh.KeyImportError) as error:
        raise SyncError(
            f"Could not load the sync private key {path}: {error}",
            SSH_AUTHENTICATION_FAILED,
        ) from error


@dataclass(frozen=True)
class TrustPolicy:
    """How hops and the target prove who they are."""

    pinned_host_key: str | None
    jumphost_strict: bool
    jumphost_known_hosts_file: str


class _TargetClient(asyncssh.SSHClient):
    """Accept an unpinned target's key once; refuse any other than the pin."""

    def __init__(self, pinned: bool) -> None:
        self._pinned = pinned

    def validate_host_public_key(
        self, host: str, addr: str, port: int, key: asyncssh.SSHKey
    ) -> bool:
        """Refuse a key other than the pin; accept any while none is pinned."""
        # Only called for keys that are not the pin itself.
        if self._pinned:
            logger.warning(
                "host key mismatch address=%s port=%s offered=%s",
                host,
                port,
                key.get_fingerprint(),
            )
            return False
        return True


class _UncheckedHopClient(asyncssh.SSHClient):
    """Accept any jump host key: strict checking was turned off."""

    def validate_host_public_key(
        self, host: str, addr: str, port: int, key: asyncssh.SSHKey
    ) -> bool:
        """Accept the key unseen, as the configuration asks."""
        return True


class _CoalescingTransport(asyncio.Transport):
    """A TCP transport that sends what one loop turn wrote in one segment.

    The SSH library writes every packet on its own and puts an ignore
    packet before each one, so a single SFTP request cost two send calls
    and two wake-ups of the remote sshd. Joining the writes of one turn
    halves the system calls of a sync without changing a byte on the wire.
    """

    def __init__(self, inner: asyncio.Transport) -> None:
        super().__init__()
        self._inner = inner
        self._pending: list[bytes] = []
        self._loop = asyncio.get_running_loop()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Queue data to send at the end of this loop turn."""
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(bytes(data))

    def _flush(self) -> None:
        if self._pending and not self._inner.is_closing():
            data = b"".join(self._pending)
            self._pending.clear()
            self._inner.write(data)
        self._pending.clear()

    def writelines(
        self, list_of_data: Iterable[bytes | bytearray | memoryview]
    ) -> None:
        """Queue several chunks of data."""
        for data in list_of_data:
            self.write(data)

    def write_eof(self) -> None:
        """Send what is queued, then close the sending side."""
        self._flush()
        self._inner.write_eof()

    def can_write_eof(self) -> bool:
        """Say whether the sending side can be closed alone."""
        return self._inner.can_write_eof()

    def close(self) -> None:
        """Send what is queued, then close."""
        self._flush()
        self._inner.close()

    def abort(self) -> None:
        """Send what is queued (a disconnect message), then drop the rest."""
        self._flush()
        self._inner.abort()

    def is_closing(self) -> bool:
        """Say whether the transport is closing or closed."""
        return self._inner.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """Return information about the underlying socket."""
        return self._inner.get_extra_info(name, default)

    def get_write_buffer_size(self) -> int:
        """Return the bytes not yet sent, queued ones included."""
        queued = sum(len(data) for data in self._pending)
        return queued + self._inner.get_write_buffer_size()

    def set_write_buffer_limits(
        self, high: int | None = None, low: int | None = None
    ) -> None:
        """Set the flow control limits of the underlying transport."""
        self._inner.set_write_buffer_limits(high, low)

    def pause_reading(self) -> None:
        """Stop reading from the socket."""
        self._inner.pause_reading()

    def resume_reading(self) -> None:
        """Start reading from the socket again."""
        self._inner.resume_reading()

    def is_reading(self) -> bool:
        """Say whether the socket is being read."""
        return self._inner.is_reading()


class _CoalescingProtocol(asyncio.Protocol):
    """Hand the SSH connection a coalescing transport; pass all else on."""

    def __init__(self, inner: asyncio.Protocol) -> None:
        self.inner = inner

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Wrap the new TCP transport for the SSH connection."""
        assert isinstance(transport, asyncio.Transport)
        self.inner.connection_made(_CoalescingTransport(transport))

    def data_received(self, data: bytes) -> None:
        """Pass received bytes on."""
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        """Pass the end of the peer's data on."""
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        """Pass the end of the connection on."""
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        """Pass flow control on."""
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        """Pass flow control on."""
        self.inner.resume_writing()


class DirectConnector:
    """Open the TCP connection of a first hop or target, writes coalesced.

    Passed to the SSH library as its ``tunnel``: the library then lets
    this object open the socket instead of doing it itself.
    """

    async def create_connection(
        self, session_factory: Callable[[], asyncio.Protocol], host: str, port: int
    ) -> tuple[asyncio.BaseTransport, asyncio.Protocol]:
        """Connect to ``host``:``port`` and return the SSH session on it."""
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_connection(
            lambda: _CoalescingProtocol(session_factory()), host, port
        )
        return transport, protocol.inner

    def close(self) -> None:
        """Nothing to close: the connection owns its socket."""

    async def wait_closed(self) -> None:
        """Nothing to wait for: the connection owns its socket."""


class Connection:
    """An open connection to a target and the hops that carry it."""

    def __init__(
        self, target: asyncssh.SSHClientConnection, hops: Sequence[Any]
    ) -> None:
        self.target = target
        self._hops = list(hops)

    @property
    def host_key(self) -> asyncssh.SSHKey | None:
        """Return the key the target proved it holds."""
        return self.target.get_server_host_key()

    async def close(self, timeout: float) -> None:
        """Close the target connection, then the hops, innermost first."""
        if not self._hops:
            # Nothing rides on a direct connection: its socket closes on
            # its own, and a push need not wait a loop turn for that.
            self.target.close()
            return
        for conn in [self.target, *reversed(self._hops)]:
            await close_quietly(conn, timeout)


async def close_quietly(conn: asyncssh.SSHClientConnection, timeout: float) -> None:
    """Close a connection and wait a bounded time for it to finish."""
    conn.close()
    try:
        await asyncio.wait_for(conn.wait_closed(), timeout)
    except (TimeoutError, OSError, asyncssh.Error):
        logger.debug("connection close incomplete")


# AES-GCM first: with AES instructions in the processor it costs both ends
# less than ChaCha20-Poly1305; the rest keeps asyncssh's default order.
ENCRYPTION_ALGORITHMS = (
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes256-ctr",
    "aes192-ctr",
    "aes128-ctr",
)


@lru_cache(maxsize=8)
def client_options(
    client_key: asyncssh.SSHKey, connect_timeout: float, keepalive: int
) -> asyncssh.SSHClientConnectionOptions:
    """Return the options every hop and target connection shares, built once.

    Each connection adds only what differs per server (host, port, tunnel,
    user, trusted keys, host key algorithms, client class).
    """
    name_local_user()
    # Nothing from the user's ~/.ssh (config, agent, keys, CA bundle) may
    # change how the authority authenticates or what it trusts. The user
    # is named so that no local account lookup decides it.
    return asyncssh.SSHClientConnectionOptions(
        config=None,
        username=SYNC_USER,
        client_keys=[client_key],
        agent_path=None,
        password=None,
        kbdint_auth=False,
        gss_auth=False,
        x509_trusted_certs=None,
        x509_trusted_cert_paths=[],
        preferred_auth="publickey",
        connect_timeout=connect_timeout,
        keepalive_interval=keepalive or None,
        encryption_algs=ENCRYPTION_ALGORITHMS,
    )


_USER_NAME_VARIABLES = ("LOGNAME", "USER", "LNAME", "USERNAME")


def name_local_user() -> None:
    """Put the local user name in LOGNAME unless the environment has one.

    The SSH library asks for the local user name on every connection, in a
    worker thread; without one of these variables each answer is a password
    database lookup. The name cannot change while the process runs.
    """
    if any(os.environ.get(name) for name in _USER_NAME_VARIABLES):
        return
    try:
        os.environ["LOGNAME"] = getpass.getuser()
    except (KeyError, OSError):
        # No name for this uid: the library reports it on connecting.
        logger.debug("local user name unknown uid=%s", os.getuid())


@lru_cache(maxsize=4)
def _read_known_hosts(path: str, mtime_ns: int) -> asyncssh.SSHKnownHosts:
    return asyncssh.read_known_hosts(path)


def _hop_known_hosts(policy: TrustPolicy) -> asyncssh.SSHKnownHosts | None:
    if not policy.jumphost_strict:
        return None
    path = Path(policy.jumphost_known_hosts_file)
    try:
        return _read_known_hosts(str(path), path.stat().st_mtime_ns)
    except (OSError, ValueError) as error:
        raise SyncError(
            "The tunnel connection via jumphost(s) failed: cannot read "
            f"{policy.jumphost_known_hosts_file}: {error}",
            JUMPHOST_TUNNEL_FAILED,
        ) from error


async def _connect_hop(
    hop: Hop,
    tunnel: asyncssh.SSHClientConnection | DirectConnector,
    known_hosts: asyncssh.SSHKnownHosts | None,
    options: asyncssh.SSHClientConnectionOptions,
) -> asyncssh.SSHClientConnection:
    # Without a known_hosts file the hop is not checked (strict checking is
    # off): no trusted keys, and a client that accepts whatever it is shown.
    unchecked = known_hosts is None
    # config=None again: left out, the library would read ~/.ssh/config.
    return await asyncssh.connect(
        hop.host,
        hop.port,
        tunnel=tunnel,
        config=None,
        options=options,
        username=hop.user,
        known_hosts=([], [], []) if unchecked else known_hosts,
        client_factory=_UncheckedHopClient if unchecked else None,
    )


async def connect(
    address: str,
    port: int,
    chain: JumpChain,
    policy: TrustPolicy,
    client_key: asyncssh.SSHKey,
    *,
    connect_timeout: float,
    keepalive: int = 0,
) -> Connection:
    """Open a connection as keys-sync to the target; raise SyncError.

    The connection time limit applies to each hop and to the target.
    """
    options = client_options(client_key, connect_timeout, keepalive)
    hop_known_hosts = _hop_known_hosts(policy) if chain.hops else None
    opened: list[asyncssh.SSHClientConnection] = []
    tunnel: asyncssh.SSHClientConnection | DirectConnector = DirectConnector()
    where = Where()
    try:
        for hop in chain.hops:
            where = Where(hop=str(hop))
            # Timeout scopes rather than wait_for: no extra task, and no
            # extra loop turns, per connection.
            async with asyncio.timeout(connect_timeout):
                tunnel = await _connect_hop(hop, tunnel, hop_known_hosts, options)
            opened.append(tunnel)
        where = Where(via_jumphosts=bool(chain.hops), target=f"{address}:{port}")
        async with asyncio.timeout(connect_timeout):
            target = await _connect_target(address, port, tunnel, policy, options)
    except (TimeoutError, OSError, asyncssh.Error, SyncError) as error:
        for conn in reversed(opened):
            await close_quietly(conn, connect_timeout)
        raise classify_connect_error(error, where) from error
    except asyncio.CancelledError:
        # The server's time ran out: drop the hops without waiting.
        for conn in opened:
            conn.close()
        raise
    return Connection(target, opened)


async def _connect_target(
    address: str,
    port: int,
    tunnel: asyncssh.SSHClientConnection | DirectConnector,
    policy: TrustPolicy,
    options: asyncssh.SSHClientConnectionOptions,
) -> asyncssh.SSHClientConnection:
    blob = host_key_blob(policy.pinned_host_key)
    pinned = policy.pinned_host_key not in (None, "")
    trusted: list[asyncssh.SSHKey] = []
    if blob is not None:
        try:
            trusted.append(decode_ssh_public_key(blob))
        except asyncssh.KeyImportError:
            logger.warning("pinned host key unreadable address=%s", address)
    return await asyncssh.connect(
        address,
        port,
        tunnel=tunnel,
        config=None,
        options=options,
        known_hosts=(trusted, [], []),
        server_host_key_algs=host_key_algorithms(trusted),
        client_factory=lambda: _TargetClient(pinned),
    )


def host_key_algorithms(pinned: Sequence[asyncssh.SSHKey]) -> list[str]:
    """Return the host key algorithms to offer, the pinned key's first.

    Preferring the pinned key's algorithms makes a server with several host
    keys prove the pinned one; offering the others as well makes a server
    that lost that key show another, which is then refused as a changed
    key rather than ending in a failed negotiation. Host certificates are
    not offered: no certificate authority is trusted.
    """
    names: list[str] = []
    for algorithm in [
        *(alg for key in pinned for alg in key.sig_algorithms),
        *get_default_public_key_algs(),
    ]:
        name = algorithm.decode("ascii")
        if name not in names:
            names.append(name)
    return names
