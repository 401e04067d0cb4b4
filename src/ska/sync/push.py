"""The push: connect, prove the server is the right one, write its files.

Runs in the event loop and never touches the ORM: it reads a SyncPlan and
returns a PushResult for the record phase. Every exception of the SSH
library, the resolver or the network becomes a classified result here.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import shlex
import socket
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import asyncssh
from django.utils import timezone

from ska.servers.models import SyncStatus
from ska.servers.names import account_name_problem
from ska.sync.failures import (
    ACCOUNT_SYNC_FAILED,
    CLEANUP_FAILED,
    DECOMMISSION_CLEANUP_FAILED,
    HOST_KEY_COLLISION,
    HOSTNAME_ALLOWLIST_UNREADABLE,
    HOSTNAME_VERIFICATION_FAILED,
    IP_COLLISION,
    KEY_DIRECTORY_ACCESS_FAILED,
    MONITORING_STATUS_WRITE_FAILED,
    SSH_CONNECTION_FAILED,
    SSH_TIMEOUT,
    SyncError,
    classify_remote_error,
    compose_message,
    describe,
    retry_tag,
)
from ska.sync.keyfiles import Keyfile
from ska.sync.plan import SyncPlan
from ska.sync.status_file import render_status_file, write_status_file
from ska.sync.transport import (
    SYNC_USER,
    Connection,
    connect,
    format_host_key,
    load_client_key,
)

logger = logging.getLogger(__name__)

KEY_DIR = "/var/local/keys-sync"
HOSTNAMES_FILE = f"{KEY_DIR}/.hostnames"
UUID_FILE = "/etc/uuid"
PROTECTED_NAMES = frozenset({SYNC_USER, ".hostnames"})
KEYFILE_MODE = 0o644
_TEMP_NAME = re.compile(r"\..+\.[0-9a-f]{16}\.ska-tmp")
# Errors that concern one file or one command; anything else (a lost
# connection, a socket error) ends the whole sync.
_STEP_ERRORS = (asyncssh.SFTPError, asyncssh.ProcessError, asyncssh.ChannelOpenError)

T = TypeVar("T")


class _UserCheckUnavailable(Exception):
    """The server cannot say whether a user exists."""


@dataclass
class PushResult:
    """What a push found out and did, for the record phase."""

    status: str
    message: str
    code: str | None
    retry: bool
    connected: bool = False
    ip_address: str | None = None
    learned_host_key: str | None = None
    uuid: str | None = None
    account_status: dict[int, str] = field(default_factory=dict)
    nonfatal: str | None = None
    lines: list[str] = field(default_factory=list)


@dataclass
class _Tally:
    """Counts of a sync's file operations."""

    account_errors: int = 0
    cleanup_errors: int = 0
    removed: int = 0


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


async def push(plan: SyncPlan) -> PushResult:
    """Push one server's plan; never raise for network or SSH problems."""
    return await _Push(plan).run()


class _Push:
    """One push: its plan, what it learned so far, and its log lines."""

    def __init__(self, plan: SyncPlan) -> None:
        self.plan = plan
        self.result = PushResult(SyncStatus.FAILURE, "", None, False)
        self.connection: Connection | None = None
        self.sftp: asyncssh.SFTPClient | None = None
        self.proven = False  # every check passed: this is the right server
        self.stage = "connect"
        self.id_usable: bool | None = None
        self.id_problem = ""
        self.suffix = " during decommission" if plan.decommission else ""

    def say(self, text: str) -> None:
        """Add a human log line about this server."""
        self.result.lines.append(f"{self.plan.hostname}: {text}")

    async def run(self) -> PushResult:
        """Connect, check, write, report; every failure ends as a result."""
        plan = self.plan
        loop = asyncio.get_running_loop()
        deadline = loop.time() + plan.limits.server
        if plan.decommission:
            self.say("Server is decommissioned, removing all keys (keeping keys-sync).")
        try:
            async with asyncio.timeout_at(deadline):
                await self._open()
                if plan.decommission:
                    await self._decommission()
                else:
                    await self._sync()
        except SyncError as error:
            self._fail(error)
        except TimeoutError:
            limit = int(plan.limits.server)
            self._fail(SyncError(f"no result within {limit} s", SSH_TIMEOUT))
        except (OSError, asyncssh.Error) as error:
            self._fail(classify_remote_error(error, "The connection"))
        try:
            # After the push proper: their failures never fail a sync. A
            # server that failed a check is not written to or believed.
            if self.proven and not plan.decommission:
                self.result.uuid = await self._read_uuid(self._grace(deadline))
            if self.proven:
                await self._write_status_file(self._grace(deadline))
        finally:
            if self.connection is not None:
                await self.connection.close(plan.limits.step)
        self.say("Sync finished" if not plan.decommission else "Decommission done")
        return self.result

    def _grace(self, deadline: float) -> float:
        """Return the time left for a step after the push, at least 1 s."""
        remaining = deadline - asyncio.get_running_loop().time()
        return max(1.0, min(self.plan.limits.step, remaining))

    async def _step(self, awaitable: Awaitable[T], doing: str) -> T:
        """Await one remote step under the step time limit."""
        try:
            return await asyncio.wait_for(awaitable, self.plan.limits.step)
        except TimeoutError as error:
            raise SyncError(f"{doing} timed out", SSH_TIMEOUT) from error

    def _fail(self, error: SyncError) -> None:
        summaries = {
            "connect": "Failed to connect",
            "keydir": "Cannot access key directory",
            "sync": "Sync failed",
        }
        summary = summaries[self.stage] + self.suffix
        if error.code == SSH_TIMEOUT and not self.result.connected:
            summary = "SSH connection timed out" + self.suffix
        self.say(f"{summary}: {error.reason}")
        self._finish_failed(summary, error.reason, error.code)
        if not self.plan.decommission:
            for account_id in self.plan.account_ids:
                self.result.account_status.setdefault(account_id, SyncStatus.FAILURE)
        logger.warning(
            "sync failed server=%s code=%s reason=%s",
            self.plan.hostname,
            error.code,
            error.reason,
        )

    def _finish_failed(self, summary: str, reason: str | None, code: str) -> None:
        retry = retry_tag(self.plan.retry_delay)
        self.result.status = SyncStatus.FAILURE
        self.result.message = compose_message(summary, reason, code, retry)
        self.result.code = code
        self.result.retry = True

    def _finish_ok(self, message: str) -> None:
        self.result.status = SyncStatus.SUCCESS
        self.result.message = message
        self.result.code = None
        self.result.retry = False

    # Connection and checks, in the reference's order.

    async def _open(self) -> None:
        plan = self.plan
        if plan.chain_problem:
            raise SyncError(plan.chain_problem, SSH_CONNECTION_FAILED)
        self.result.ip_address = await self._resolve()
        if self.result.ip_address and self.result.ip_address in plan.ip_peers:
            raise SyncError("Multiple hosts with same IP address", IP_COLLISION)
        client_key = load_client_key_for(plan)
        self.connection = await connect(
            plan.address,
            plan.port,
            plan.chain,
            plan.trust,
            client_key,
            connect_timeout=plan.limits.connect,
            keepalive=plan.limits.keepalive,
        )
        self.result.connected = True
        host_key = self.connection.host_key
        if host_key is not None and not plan.trust.pinned_host_key:
            self.result.learned_host_key = format_host_key(host_key)
            self.say("Host key learned on first connection")
        if (
            plan.host_key_collision_protection
            and host_key is not None
            and host_key.public_data in plan.host_key_peers
        ):
            raise SyncError("Multiple hosts with same host key.", HOST_KEY_COLLISION)
        try:
            self.sftp = await self._step(
                self.connection.target.start_sftp_client(), "Starting SFTP"
            )
        except _STEP_ERRORS as error:
            raise SyncError(
                f"SFTP subsystem failed: {describe(error)}", SSH_CONNECTION_FAILED
            ) from error
        await self._verify_hostname()
        self.proven = True

    async def _resolve(self) -> str | None:
        """Return the hostname's address, preferring IPv4 as the reference."""
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(
                    self.plan.hostname, self.plan.port, type=socket.SOCK_STREAM
                ),
                self.plan.limits.connect,
            )
        except (OSError, TimeoutError) as error:
            # Through jump hosts the name may resolve only on the far side.
            logger.info(
                "address unresolved server=%s reason=%s",
                self.plan.hostname,
                describe(error),
            )
            return None
        addresses = [str(info[4][0]) for info in infos]
        ipv4 = [info for info in infos if info[0] == socket.AF_INET]
        return str(ipv4[0][4][0]) if ipv4 else (addresses[0] if addresses else None)

    async def _verify_hostname(self) -> None:
        level = self.plan.hostname_verification
        if level == 0:
            return
        allowed: list[str] | None = None
        if level >= 2:
            try:
                text = await self._read_text(HOSTNAMES_FILE)
                lines = text.split("\n")
                if lines and lines[-1] == "":
                    lines.pop()
                allowed = [line.strip() for line in lines]
            except _STEP_ERRORS as error:
                if level >= 3:
                    raise SyncError(
                        f"Could not read {HOSTNAMES_FILE}: {describe(error)}",
                        HOSTNAME_ALLOWLIST_UNREADABLE,
                    ) from error
        if allowed is None:
            allowed = [await self._fqdn()]
        if self.plan.hostname not in allowed:
            raise SyncError(
                f"Hostname check failed (allowed: {', '.join(allowed)}).",
                HOSTNAME_VERIFICATION_FAILED,
            )

    async def _fqdn(self) -> str:
        assert self.connection is not None
        try:
            done = await self._step(
                self.connection.target.run("hostname -f", check=False),
                "Running hostname -f",
            )
        except _STEP_ERRORS as error:
            raise SyncError(
                f"Hostname check failed (hostname -f: {describe(error)}).",
                HOSTNAME_VERIFICATION_FAILED,
            ) from error
        if done.exit_status != 0:
            problem = str(done.stderr or "").strip() or f"exit {done.exit_status}"
            raise SyncError(
                f"Hostname check failed (hostname -f: {problem}).",
                HOSTNAME_VERIFICATION_FAILED,
            )
        return str(done.stdout or "").strip()

    async def _read_text(self, path: str) -> str:
        data = await self._step(_read_file(self._sftp(), path), f"Reading {path}")
        return data.decode("utf-8", "replace")

    async def _list_keydir(self) -> dict[str, asyncssh.SFTPAttrs]:
        assert self.sftp is not None
        self.stage = "keydir"
        try:
            names = await self._step(self.sftp.readdir(KEY_DIR), "Listing " + KEY_DIR)
        except _STEP_ERRORS as error:
            raise SyncError(
                f"{KEY_DIR}: {describe(error)}", KEY_DIRECTORY_ACCESS_FAILED
            ) from error
        self.stage = "sync"
        return {
            str(entry.filename): entry.attrs
            for entry in names
            if str(entry.filename) not in ("", ".", "..")
        }

    # A normal sync.

    async def _sync(self) -> None:
        plan = self.plan
        entries = await self._list_keydir()
        tally = _Tally()
        for keyfile in plan.keyfiles:
            ok = await self._write_keyfile(keyfile, entries)
            if keyfile.account_id is not None:
                status = SyncStatus.SUCCESS if ok else SyncStatus.FAILURE
                self.result.account_status[keyfile.account_id] = status
            tally.account_errors += 0 if ok else 1
        for name in plan.remove_if_present:
            if name in entries and name not in PROTECTED_NAMES:
                await self._remove(name, "Removed file without keys", tally)
        if plan.full:
            await self._remove_unknown(entries, tally)

        if tally.cleanup_errors:
            summary = f"Failed to clean up {_plural(tally.cleanup_errors, 'file')}"
            self._finish_failed(summary, None, CLEANUP_FAILED)
        elif tally.account_errors:
            count = _plural(tally.account_errors, "account")
            self._finish_failed(f"{count} failed to sync", None, ACCOUNT_SYNC_FAILED)
        else:
            self._finish_ok("Synced successfully")

    async def _write_keyfile(
        self, keyfile: Keyfile, entries: dict[str, asyncssh.SFTPAttrs]
    ) -> bool:
        """Put one keyfile in place unless it is already right; say if it worked."""
        name = keyfile.name
        try:
            if keyfile.check_exists and not await self._user_exists(name):
                if name in entries:
                    await self._step(self._sftp().remove(f"{KEY_DIR}/{name}"), "Remove")
                    self.say(f"Removed {name}: no such user on the server")
                else:
                    self.say(f"Skipped {name}: no such user on the server")
                return True
            data = keyfile.text.encode("utf-8")
            if await self._unchanged(name, entries.get(name), data):
                self.say(f"No changes required for {name}")
                return True
            await self._replace(name, data)
            self.say(f"Updated {name}")
            return True
        except (*_STEP_ERRORS, _UserCheckUnavailable) as error:
            self.say(f"Sync command execution failed for {name}, {describe(error)}")
            return False

    def _sftp(self) -> asyncssh.SFTPClient:
        assert self.sftp is not None
        return self.sftp

    async def _user_exists(self, name: str) -> bool:
        """Ask the server whether a Unix user exists, by ``id``'s exit status."""
        if account_name_problem(name):
            return False
        if self.id_usable is None:
            # keys-sync itself exists: if asking about it fails (a nologin
            # shell, no id command), no answer about others can be trusted.
            probe = await self._run_id(SYNC_USER)
            self.id_usable = probe.exit_status == 0
            if not self.id_usable:
                self.id_problem = str(probe.stderr or probe.stdout or "").strip()
        if not self.id_usable:
            raise _UserCheckUnavailable(f"cannot run id: {self.id_problem}")
        return (await self._run_id(name)).exit_status == 0

    async def _run_id(self, name: str) -> asyncssh.SSHCompletedProcess:
        assert self.connection is not None
        return await self._step(
            self.connection.target.run(f"id -- {shlex.quote(name)}", check=False),
            f"Checking user {name}",
        )

    async def _unchanged(
        self, name: str, attrs: asyncssh.SFTPAttrs | None, data: bytes
    ) -> bool:
        if attrs is None or attrs.type != asyncssh.FILEXFER_TYPE_REGULAR:
            return False
        if attrs.size != len(data) or (attrs.permissions or 0) & 0o777 != KEYFILE_MODE:
            return False
        path = f"{KEY_DIR}/{name}"
        return (
            await self._step(
                _read_file(self._sftp(), path, len(data)), f"Reading {name}"
            )
            == data
        )

    async def _replace(self, name: str, data: bytes) -> None:
        """Write a temporary file and rename it over the old one atomically."""
        sftp = self._sftp()
        temporary = f"{KEY_DIR}/.{name}.{secrets.token_hex(8)}.ska-tmp"
        attrs = asyncssh.SFTPAttrs(permissions=KEYFILE_MODE)

        async def write() -> None:
            async with sftp.open(temporary, "wb", attrs) as handle:
                await handle.write(data)
            # The server's umask may have narrowed the mode given at open.
            await sftp.chmod(temporary, KEYFILE_MODE)
            await sftp.posix_rename(temporary, f"{KEY_DIR}/{name}")

        try:
            await self._step(write(), f"Writing {name}")
        except _STEP_ERRORS:
            await self._remove_quietly(temporary)
            raise

    async def _remove_quietly(self, path: str) -> None:
        try:
            await self._step(self._sftp().remove(path), "Removing a temporary file")
        except (SyncError, *_STEP_ERRORS):
            logger.debug("temporary file left path=%s", path)

    async def _remove(self, name: str, done: str, tally: _Tally) -> None:
        try:
            await self._step(
                self._sftp().remove(f"{KEY_DIR}/{name}"), f"Removing {name}"
            )
        except _STEP_ERRORS as error:
            tally.cleanup_errors += 1
            self.say(f"Couldn't remove {name}: {describe(error)}")
            return
        tally.removed += 1
        self.say(f"{done}: {name}")

    async def _remove_unknown(
        self, entries: dict[str, asyncssh.SFTPAttrs], tally: _Tally
    ) -> None:
        known = PROTECTED_NAMES | {keyfile.name for keyfile in self.plan.keyfiles}
        for name in sorted(entries):
            if name in known:
                continue
            if name.startswith("."):
                # Dot files are the operator's, except temporary files of
                # an interrupted write.
                if _TEMP_NAME.fullmatch(name):
                    await self._remove_quietly(f"{KEY_DIR}/{name}")
                continue
            await self._remove(name, "Removed unknown file", tally)

    async def _read_uuid(self, limit: float) -> str | None:
        try:
            data = await asyncio.wait_for(_read_file(self._sftp(), UUID_FILE), limit)
        except (TimeoutError, OSError, asyncssh.Error):
            return None
        text = data.decode("utf-8", "replace").strip()
        return text[:36] if text else None

    # A decommissioned server.

    async def _decommission(self) -> None:
        entries = await self._list_keydir()
        tally = _Tally()
        for name in sorted(entries):
            if name in PROTECTED_NAMES or (
                name.startswith(".") and not _TEMP_NAME.fullmatch(name)
            ):
                continue
            await self._remove(name, "Removed key file", tally)
        if tally.cleanup_errors:
            count = _plural(tally.cleanup_errors, "key file")
            self._finish_failed(
                f"Failed to remove {count} during decommission",
                None,
                DECOMMISSION_CLEANUP_FAILED,
            )
            return
        if not tally.removed:
            self.say("No key files found to remove")
        count = _plural(tally.removed, "key file")
        self._finish_ok(f"Decommissioned: removed {count} (keys-sync access preserved)")

    # The status file, written whatever the outcome once connected.

    async def _write_status_file(self, limit: float) -> None:
        assert self.sftp is not None
        inputs = self.plan.status_file
        content = render_status_file(
            inputs, self.result.status, self.result.message, timezone.now()
        )
        try:
            await asyncio.wait_for(
                write_status_file(self.sftp, inputs.path, content), limit
            )
            return
        except TimeoutError:
            reason = f"no answer within {limit:.0f} s"
        except (OSError, asyncssh.Error) as error:
            reason = describe(error)
        self.say(f"Warning: monitoring status file update failed: {reason}")
        message = compose_message(
            "Monitoring status file update failed" + self.suffix,
            f"{inputs.path}: {reason}",
            MONITORING_STATUS_WRITE_FAILED,
            None,
        )
        self.result.nonfatal = message
        if self.result.status == SyncStatus.SUCCESS:
            self.result.status = SyncStatus.WARNING
            self.result.message = message
            self.result.code = MONITORING_STATUS_WRITE_FAILED


async def _read_file(sftp: asyncssh.SFTPClient, path: str, size: int = -1) -> bytes:
    """Return a remote file's bytes, or its first ``size`` bytes.

    A known size saves the round trip that asks the server for it.
    """
    async with sftp.open(path, "rb") as handle:
        data = await handle.read(size)
    return data if isinstance(data, bytes) else data.encode("utf-8")


def load_client_key_for(plan: SyncPlan) -> asyncssh.SSHKey:
    """Return the sync private key named by the plan."""
    return load_client_key(Path(plan.private_key_path))
