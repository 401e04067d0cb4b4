"""Real OpenSSH servers on loopback, playing managed servers and jump hosts.

Each :class:`Target` is one ``sshd -D -e`` with its own config, host key,
pid file, address ``127.0.X.Y`` and free port. It runs in its own mount
namespace (``unshare -m``) with a per-target directory bound onto
``/var/local`` and a per-target file bound onto ``/etc/uuid``, so every
target has its own ``/var/local/keys-sync``, status file and uuid at the
real paths, invisible to the others.

Usage::

    fleet = SshdFleet(sync_public_key)       # a directory of its own
    web1 = fleet.add()                       # started and listening
    jump = fleet.add(forwarding=True)        # a jump host
    many = fleet.add_many(200)               # started concurrently
    silent = fleet.silent_listener()         # accepts TCP, never answers
    fleet.stop()                             # exactly what it started

Needs root (``useradd``, ``unshare``, ``mount``). Users are created once
with ``useradd`` and their password field set to ``*`` so that sshd with
``UsePAM no`` lets key logins in; they are left in place for later runs.
An empty ``/etc/uuid`` is created as a mount point if the host has none.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh

SYNC_USER = "keys-sync"
SSHD = "/usr/sbin/sshd"
START_TIMEOUT = 10.0
UUID_MOUNT_POINT = Path("/etc/uuid")

_CONFIG = """\
ListenAddress {address}:{port}
HostKey {host_key}
PidFile {pid_file}
AuthorizedKeysFile /var/local/keys-sync/%u
UsePAM no
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowTcpForwarding {forwarding}
Subsystem sftp {sftp}
MaxStartups 200:30:400
UseDNS no
LogLevel VERBOSE
PrintMotd no
"""

# Runs inside the new mount namespace; paths arrive as arguments, never
# spliced into the script.
_LAUNCH = (
    'mount --bind "$1" /var/local && mount --bind "$2" /etc/uuid'
    ' && exec "$3" -D -e -f "$4"'
)

_address_lock = threading.Lock()
_next_address = [int(time.time() * 1000) % 200 * 256 + 2]


def next_address() -> str:
    """Return a loopback address no earlier call returned (127.0.X.Y)."""
    with _address_lock:
        value = _next_address[0]
        _next_address[0] += 1
    value = value % (250 * 256)
    third, fourth = divmod(value, 256)
    if fourth in (0, 1, 255):
        return next_address()
    return f"127.0.{third + 1}.{fourth}"


def free_port(address: str) -> int:
    """Return a TCP port of ``address`` that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind((address, 0))
        return int(probe.getsockname()[1])


def ensure_user(name: str, home: str = "/nonexistent") -> None:
    """Create a Unix user if missing, and let sshd accept its key logins."""
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "-M", "-d", home, "-s", "/bin/sh", name],
            check=True,
            capture_output=True,
        )
    # useradd locks the password ("!"); sshd without PAM then refuses keys.
    subprocess.run(["usermod", "-p", "*", name], check=True, capture_output=True)


def write_host_key(path: Path, algorithm: str = "ssh-ed25519") -> asyncssh.SSHKey:
    """Write a new private host key (mode 0600) and return it."""
    key = (
        asyncssh.generate_private_key(algorithm, key_size=2048)
        if algorithm == "ssh-rsa"
        else asyncssh.generate_private_key(algorithm)
    )
    path.write_bytes(key.export_private_key())
    path.chmod(0o600)
    return key


@dataclass
class Target:
    """One running sshd and the files that make up its server."""

    name: str
    hostname: str
    port: int
    directory: Path
    host_key_file: Path
    forwarding: bool
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def var_local(self) -> Path:
        """Return the directory the server sees as ``/var/local``."""
        return self.directory / "var-local"

    @property
    def key_dir(self) -> Path:
        """Return the directory the server sees as ``/var/local/keys-sync``."""
        return self.var_local / "keys-sync"

    @property
    def status_file(self) -> Path:
        """Return the file the server sees as ``/var/local/keys-sync.status``."""
        return self.var_local / "keys-sync.status"

    @property
    def uuid_file(self) -> Path:
        """Return the file the server sees as ``/etc/uuid``."""
        return self.directory / "uuid"

    @property
    def log_file(self) -> Path:
        """Return sshd's log (``-e`` output, LogLevel VERBOSE)."""
        return self.directory / "sshd.log"

    @property
    def host_key(self) -> asyncssh.SSHKey:
        """Return the server's public host key."""
        return asyncssh.read_private_key(self.host_key_file).convert_to_public()

    def host_key_line(self) -> str:
        """Return ``<type> <base64>`` of the host key, as pins are stored."""
        text = self.host_key.export_public_key("openssh").decode()
        return " ".join(text.split()[:2])

    def known_hosts_line(self) -> str:
        """Return the host key as a known_hosts entry ``[host]:port``."""
        return f"[{self.hostname}]:{self.port} {self.host_key_line()}\n"

    def log_text(self) -> str:
        """Return what sshd logged so far."""
        return self.log_file.read_text(errors="replace")

    def authorize_sync_key(self, public_key: str) -> None:
        """Let the sync key log in as keys-sync (replacing any other)."""
        path = self.key_dir / SYNC_USER
        path.write_text(public_key.strip() + "\n")
        path.chmod(0o644)
        _chown_sync_user(path)

    def stop(self) -> None:
        """Stop this sshd (its pid only) and wait for it."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


def _chown_sync_user(path: Path) -> None:
    entry = pwd.getpwnam(SYNC_USER)
    os.chown(path, entry.pw_uid, entry.pw_gid)


class SilentListener:
    """A TCP port that completes handshakes but never says a word."""

    def __init__(self, address: str) -> None:
        self.hostname = address
        self._socket = socket.socket()
        self._socket.bind((address, 0))
        self._socket.listen(64)
        self.port = int(self._socket.getsockname()[1])

    def close(self) -> None:
        """Stop listening."""
        self._socket.close()


class SshdFleet:
    """Start and stop sshd targets that accept the given sync public key."""

    def __init__(self, sync_public_key: str, base: Path | None = None) -> None:
        self.sync_public_key = sync_public_key.strip()
        self._own_base = base is None
        self.base = base or Path(tempfile.mkdtemp(prefix="ska-sshd-"))
        # sshd reads authorized keys as the target user: every parent of
        # the key directory must be searchable by everyone.
        self.base.chmod(0o755)
        self.targets: list[Target] = []
        self._listeners: list[SilentListener] = []
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        if not UUID_MOUNT_POINT.exists():
            UUID_MOUNT_POINT.touch(mode=0o644)
        ensure_user(SYNC_USER, home="/var/local/keys-sync")

    def add(
        self,
        *,
        forwarding: bool = False,
        host_key_algorithm: str = "ssh-ed25519",
        host_key_file: Path | None = None,
        uuid: str = "",
        sftp: str = "internal-sftp",
        extra_config: str = "",
    ) -> Target:
        """Start one target and wait until it listens.

        ``sftp`` is the SFTP subsystem command (``/bin/cat >/dev/null``
        makes a server that lets the sync log in and then hangs);
        ``extra_config`` is appended to sshd_config.
        """
        target = self._prepare(
            forwarding, host_key_algorithm, host_key_file, uuid, sftp
        )
        if extra_config:
            with (target.directory / "sshd_config").open("a") as config:
                config.write(extra_config.rstrip("\n") + "\n")
        self._launch(target)
        self._wait_listening([target])
        return target

    def add_many(self, count: int, *, forwarding: bool = False) -> list[Target]:
        """Start ``count`` targets at once and wait until all listen."""
        targets = [
            self._prepare(forwarding, "ssh-ed25519", None, "", "internal-sftp")
            for _ in range(count)
        ]
        for target in targets:
            self._launch(target)
        self._wait_listening(targets)
        return targets

    def silent_listener(self) -> SilentListener:
        """Open a port that accepts connections and never answers."""
        listener = SilentListener(next_address())
        self._listeners.append(listener)
        return listener

    def stop(self) -> None:
        """Stop every sshd and listener this fleet started; remove its files."""
        for target in self.targets:
            target.stop()
        for listener in self._listeners:
            listener.close()
        if self._own_base:
            shutil.rmtree(self.base, ignore_errors=True)

    def _prepare(
        self,
        forwarding: bool,
        host_key_algorithm: str,
        host_key_file: Path | None,
        uuid: str,
        sftp: str,
    ) -> Target:
        name = f"t{len(self.targets) + 1}"
        directory = self.base / name
        directory.mkdir(mode=0o755)
        address = next_address()
        target = Target(
            name=name,
            hostname=address,
            port=free_port(address),
            directory=directory,
            host_key_file=directory / "ssh_host_key",
            forwarding=forwarding,
        )
        if host_key_file is None:
            write_host_key(target.host_key_file, host_key_algorithm)
        else:
            shutil.copyfile(host_key_file, target.host_key_file)
            target.host_key_file.chmod(0o600)
        target.var_local.mkdir(mode=0o755)
        target.key_dir.mkdir(mode=0o755)
        _chown_sync_user(target.key_dir)
        target.authorize_sync_key(self.sync_public_key)
        target.status_file.touch(mode=0o644)
        _chown_sync_user(target.status_file)
        target.uuid_file.write_text(uuid + "\n" if uuid else "")
        target.uuid_file.chmod(0o644)
        config = directory / "sshd_config"
        config.write_text(
            _CONFIG.format(
                address=address,
                port=target.port,
                host_key=target.host_key_file,
                pid_file=directory / "sshd.pid",
                forwarding="yes" if forwarding else "no",
                sftp=sftp,
            )
        )
        self.targets.append(target)
        return target

    def _launch(self, target: Target) -> None:
        log = target.log_file.open("wb")
        target.process = subprocess.Popen(
            [
                "unshare",
                "-m",
                "--propagation",
                "private",
                "sh",
                "-c",
                _LAUNCH,
                "sh",
                str(target.var_local),
                str(target.uuid_file),
                SSHD,
                str(target.directory / "sshd_config"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        log.close()

    def _wait_listening(self, targets: Iterable[Target]) -> None:
        waiting = list(targets)
        deadline = time.monotonic() + START_TIMEOUT
        while waiting:
            for target in list(waiting):
                if "Server listening on" in target.log_text():
                    waiting.remove(target)
                elif target.process is not None and target.process.poll() is not None:
                    raise RuntimeError(
                        f"sshd {target.name} exited: {target.log_text().strip()}"
                    )
            if waiting and time.monotonic() > deadline:
                raise RuntimeError(f"sshd {waiting[0].name} did not start in time")
            if waiting:
                time.sleep(0.02)
