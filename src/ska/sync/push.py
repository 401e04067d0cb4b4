"""The push: connect, prove the server is the right one, write its files.

Runs in the event loop and never touches the ORM: it reads a SyncPlan and
returns a PushResult for the record phase. Every exception of the SSH
library, the resolver or the network becomes a classified result here.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import secrets
import shlex
import socket
from collections.abc import Awaitable, Coroutine, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

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
from ska.sync.status_file import render_status_file
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
# Reads no larger than this come back whole from any SFTP server, so a
# shorter answer means the end of the file.
_READ_CHUNK = 32768
# Keyfiles handled at once: their SFTP requests share round trips.
_KEYFILES_AT_ONCE = 16
# User checks at once: each is a session, and sshd allows 10 by default.
_USER_CHECKS_AT_ONCE = 4

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
        self.id_probe: asyncio.Task[asyncssh.SSHCompletedProcess] | None = None
        self.id_slots = asyncio.Semaphore(_USER_CHECKS_AT_ONCE)
        self.suffix = " during decommission" if plan.decommission else ""
        # Started as soon as the server is proven, to share round trips
        # with the key directory survey; awaited after the push proper.
        self.uuid_task: asyncio.Task[bytes] | None = None
        self.status_task: asyncio.Task[asyncssh.SFTPClientFile] | None = None

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
            if self.uuid_task is not None:
                self.result.uuid = await self._read_uuid(
                    self.uuid_task, self._grace(deadline)
                )
            if self.status_task is not None:
                await self._write_status_file(self.status_task, self._grace(deadline))
        finally:
            for task in (self.uuid_task, self.status_task):
                if task is not None and not task.done():
                    task.cancel()
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
            # A timeout scope rather than wait_for: no extra task per step.
            async with asyncio.timeout(self.plan.limits.step):
                return await awaitable
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
        sftp = self.sftp
        if not plan.decommission:
            self.uuid_task = asyncio.create_task(_read_file(sftp, UUID_FILE, 4096))
        # Opened without truncating: the content stays until it is rewritten.
        self.status_task = asyncio.create_task(
            _open_for_writing(sftp, plan.status_file.path)
        )

    async def _resolve(self) -> str | None:
        """Return the hostname's address, preferring IPv4 as the reference."""
        try:
            # An address needs no resolver thread.
            return str(ipaddress.ip_address(self.plan.hostname))
        except ValueError:
            pass
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

    async def _list_keydir(
        self, rendered: dict[str, bytes] | None = None
    ) -> tuple[dict[str, asyncssh.SFTPAttrs], dict[str, asyncio.Task[bytes]]]:
        """List the key directory; start reading files that may be unchanged.

        A file is read, while the listing goes on, only when its type, mode
        and size match its ``rendered`` content: any other file is rewritten
        without looking (and a special file is never opened).
        """
        sftp = self._sftp()
        entries: dict[str, asyncssh.SFTPAttrs] = {}
        reads: dict[str, asyncio.Task[bytes]] = {}
        rendered = rendered or {}

        async def scan() -> None:
            async for entry in sftp.scandir(KEY_DIR):
                name = str(entry.filename)
                if name in ("", ".", ".."):
                    continue
                entries[name] = entry.attrs
                data = rendered.get(name)
                if data is not None and _may_be_unchanged(entry.attrs, data):
                    reads[name] = asyncio.create_task(
                        _read_file(sftp, f"{KEY_DIR}/{name}", len(data))
                    )

        self.stage = "keydir"
        try:
            await self._step(scan(), "Listing " + KEY_DIR)
        except _STEP_ERRORS as error:
            await _discard(reads.values())
            raise SyncError(
                f"{KEY_DIR}: {describe(error)}", KEY_DIRECTORY_ACCESS_FAILED
            ) from error
        except BaseException:
            await _discard(reads.values())
            raise
        self.stage = "sync"
        return entries, reads

    # A normal sync.

    async def _sync(self) -> None:
        plan = self.plan
        rendered = {
            keyfile.name: keyfile.text.encode("utf-8") for keyfile in plan.keyfiles
        }
        entries, reads = await self._list_keydir(rendered)
        tally = _Tally()
        slots = asyncio.Semaphore(_KEYFILES_AT_ONCE)

        async def one(keyfile: Keyfile) -> tuple[bool, list[str]]:
            async with slots:
                return await self._write_keyfile(
                    keyfile, rendered[keyfile.name], entries, reads.get(keyfile.name)
                )

        try:
            # Concurrently, so that the files' requests share round trips;
            # the log lines still come in the plan's order.
            done = await _all_or_cancel([one(keyfile) for keyfile in plan.keyfiles])
        finally:
            await _discard(reads.values())
        for keyfile, (ok, lines) in zip(plan.keyfiles, done, strict=True):
            for line in lines:
                self.say(line)
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
        self,
        keyfile: Keyfile,
        data: bytes,
        entries: dict[str, asyncssh.SFTPAttrs],
        reading: asyncio.Task[bytes] | None,
    ) -> tuple[bool, list[str]]:
        """Put one keyfile in place unless it is already right.

        Return whether it worked and the log lines about it.
        """
        name = keyfile.name
        try:
            if keyfile.check_exists and not await self._user_exists(name):
                if name in entries:
                    await self._step(self._sftp().remove(f"{KEY_DIR}/{name}"), "Remove")
                    return True, [f"Removed {name}: no such user on the server"]
                return True, [f"Skipped {name}: no such user on the server"]
            if reading is not None and (
                await self._step(reading, f"Reading {name}") == data
            ):
                return True, [f"No changes required for {name}"]
            await self._replace(name, data)
            return True, [f"Updated {name}"]
        except (*_STEP_ERRORS, _UserCheckUnavailable) as error:
            return False, [
                f"Sync command execution failed for {name}, {describe(error)}"
            ]

    def _sftp(self) -> asyncssh.SFTPClient:
        assert self.sftp is not None
        return self.sftp

    async def _user_exists(self, name: str) -> bool:
        """Ask the server whether a Unix user exists, by ``id``'s exit status."""
        if account_name_problem(name):
            return False
        if self.id_probe is None:
            # keys-sync itself exists: if asking about it fails (a nologin
            # shell, no id command), no answer about others can be trusted.
            # One probe, shared by the keyfiles handled at once.
            self.id_probe = asyncio.ensure_future(self._run_id(SYNC_USER))
        probe = await asyncio.shield(self.id_probe)
        if probe.exit_status != 0:
            problem = str(probe.stderr or probe.stdout or "").strip()
            raise _UserCheckUnavailable(f"cannot run id: {problem}")
        return (await self._run_id(name)).exit_status == 0

    async def _run_id(self, name: str) -> asyncssh.SSHCompletedProcess:
        assert self.connection is not None
        async with self.id_slots:
            return await self._step(
                self.connection.target.run(f"id -- {shlex.quote(name)}", check=False),
                f"Checking user {name}",
            )

    async def _replace(self, name: str, data: bytes) -> None:
        """Write a temporary file and rename it over the old one atomically."""
        sftp = self._sftp()
        temporary = f"{KEY_DIR}/.{name}.{secrets.token_hex(8)}.ska-tmp"
        attrs = asyncssh.SFTPAttrs(permissions=KEYFILE_MODE)

        async def write() -> None:
            handle = await sftp.open(
                temporary,
                asyncssh.FXF_WRITE | asyncssh.FXF_CREAT | asyncssh.FXF_TRUNC,
                attrs,
                encoding=None,
                block_size=0,
            )
            # Sent together and handled in order by the server. The mode is
            # set again because the server's umask may have narrowed it.
            await _all_or_first_error(
                handle.write(data, 0), handle.chmod(KEYFILE_MODE), handle.close()
            )
            # Only once the whole content is safely written.
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

    async def _read_uuid(
        self, reading: asyncio.Task[bytes], limit: float
    ) -> str | None:
        try:
            async with asyncio.timeout(limit):
                data = await reading
        except (TimeoutError, OSError, asyncssh.Error):
            return None
        text = data.decode("utf-8", "replace").strip()
        return text[:36] if text else None

    # A decommissioned server.

    async def _decommission(self) -> None:
        entries, _ = await self._list_keydir()
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

    async def _write_status_file(
        self, opening: asyncio.Task[asyncssh.SFTPClientFile], limit: float
    ) -> None:
        inputs = self.plan.status_file
        content = render_status_file(
            inputs, self.result.status, self.result.message, timezone.now()
        )

        async def write() -> None:
            handle = await opening
            # The file is rewritten in place: keys-sync may not be allowed
            # to create files beside it, so it cannot be renamed over.
            await _all_or_first_error(
                handle.truncate(0), handle.write(content, 0), handle.close()
            )

        try:
            async with asyncio.timeout(limit):
                await write()
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


async def _open_for_writing(
    sftp: asyncssh.SFTPClient, path: str
) -> asyncssh.SFTPClientFile:
    """Open a file for writing, created if missing, its content kept."""
    return await sftp.open(
        path, asyncssh.FXF_WRITE | asyncssh.FXF_CREAT, encoding=None, block_size=0
    )


def _may_be_unchanged(attrs: asyncssh.SFTPAttrs, data: bytes) -> bool:
    """Say whether a listed file may hold ``data``: worth reading to compare."""
    return (
        attrs.type == asyncssh.FILEXFER_TYPE_REGULAR
        and attrs.size == len(data)
        and (attrs.permissions or 0) & 0o777 == KEYFILE_MODE
    )


async def _read_file(sftp: asyncssh.SFTPClient, path: str, size: int = -1) -> bytes:
    """Return a remote file's bytes, or at most its first ``size`` bytes.

    Reads are asked for directly, without asking the file's size first: a
    short answer marks the end of the file. A small known size is read in
    one request sent together with the close.
    """
    handle = await sftp.open(path, asyncssh.FXF_READ, encoding=None, block_size=0)
    if 0 < size <= _READ_CHUNK:
        data, _ = await _all_or_first_error(handle.read(size, 0), handle.close())
        assert isinstance(data, bytes)
        return data
    chunks: list[bytes] = []
    try:
        got = 0
        while size < 0 or got < size:
            want = _READ_CHUNK if size < 0 else min(_READ_CHUNK, size - got)
            chunk = await handle.read(want, got)
            assert isinstance(chunk, bytes)
            chunks.append(chunk)
            got += len(chunk)
            if len(chunk) < want:
                break
    finally:
        await handle.close()
    return b"".join(chunks)


async def _all_or_first_error(*steps: Awaitable[object]) -> list[object]:
    """Await steps sent together; raise the first one's error, if any.

    Every step runs to its end either way, so that none is left behind.
    """
    results = await asyncio.gather(*steps, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


async def _all_or_cancel(steps: list[Coroutine[Any, Any, T]]) -> list[T]:
    """Run steps at once; on the first error, stop the others and raise it.

    Unlike a plain gather, nothing keeps writing to a server after its sync
    has already failed.
    """
    if not steps:
        return []
    tasks = [asyncio.ensure_future(step) for step in steps]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in tasks:
        error = None if task.cancelled() else task.exception()
        if error is not None:
            raise error
    return [task.result() for task in tasks]


async def _discard(tasks: Iterable[asyncio.Task[bytes]]) -> None:
    """Cancel reads nobody waits for any more and collect their ends."""
    pending = list(tasks)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


def load_client_key_for(plan: SyncPlan) -> asyncssh.SSHKey:
    """Return the sync private key named by the plan."""
    return load_client_key(Path(plan.private_key_path))
