"""How a sync proves it talks to the right server, and how it fails."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import asyncssh
import pytest

from ska.servers.models import Server, ServerAccount
from ska.sync.engine import SyncOutcome, sync_server
from tests.support.sshd import (
    SshdFleet,
    Target,
    free_port,
    next_address,
    write_host_key,
)
from tests.sync.conftest import Configure
from tests.sync.scenario import run_async, run_sync, server_events, server_for

pytestmark = [pytest.mark.sshd, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def jump(sshd_fleet: SshdFleet) -> Iterator[Target]:
    """Return a jump host that allows forwarding."""
    started = sshd_fleet.add(forwarding=True)
    yield started
    started.stop()


def _machine_fqdn() -> str:
    # The targets share this machine's UTS namespace, so they report its name.
    done = subprocess.run(["hostname", "-f"], capture_output=True, check=True)
    return done.stdout.decode().strip()


def _assert_failed(outcome: SyncOutcome, message: str) -> None:
    assert not outcome.ok
    assert outcome.status == "sync failure"
    assert outcome.message == message
    assert outcome.retry


def test_ip_collision_refuses_before_connecting(target: Target) -> None:
    server = server_for(target)
    Server.objects.create(
        hostname="alias-of-the-same.example",
        ip_address=target.hostname,
        port=target.port,
    )

    outcome = run_sync(server)

    _assert_failed(
        outcome,
        "Failed to connect; reason=Multiple hosts with same IP address; "
        "code=ip_collision; retry=30m",
    )
    assert "Connection from" not in target.log_text()


def test_closed_port_is_a_connection_failure(sync_public_key: str) -> None:
    address = next_address()
    server = Server.objects.create(hostname=address, port=free_port(address))
    account = ServerAccount.objects.create(server=server, name="root")

    outcome = run_sync(server)

    account.refresh_from_db()
    assert outcome.code == "ssh_connection_failed"
    assert outcome.message.startswith("Failed to connect; reason=SSH connection failed")
    assert outcome.message.endswith("; code=ssh_connection_failed; retry=30m")
    assert account.sync_status == "sync failure"


def test_silent_host_times_out_without_delaying_others(
    sshd_fleet: SshdFleet, target: Target, configure: Configure
) -> None:
    configure(sync={"connect_timeout": 2, "server_timeout": 5})
    listener = sshd_fleet.silent_listener()
    silent = Server.objects.create(hostname=listener.hostname, port=listener.port)
    healthy = server_for(target)

    async def both() -> tuple[list[SyncOutcome | None], float, float]:
        started = time.monotonic()
        finished: dict[int, float] = {}

        async def timed(server: Server) -> SyncOutcome | None:
            outcome = await sync_server(server.pk)
            finished[server.pk] = time.monotonic() - started
            return outcome

        outcomes = await asyncio.gather(timed(silent), timed(healthy))
        return list(outcomes), finished[silent.pk], finished[healthy.pk]

    outcomes, silent_seconds, healthy_seconds = run_async(both())

    silent_outcome, healthy_outcome = outcomes
    assert silent_outcome is not None
    assert healthy_outcome is not None
    assert healthy_outcome.ok
    assert silent_outcome.code == "ssh_timeout"
    assert silent_outcome.message.startswith("SSH connection timed out; reason=")
    assert silent_outcome.message.endswith("; code=ssh_timeout; retry=30m")
    assert 1.8 < silent_seconds < 4.5
    # The healthy server did not wait for the silent one's timeout.
    assert healthy_seconds < silent_seconds - 1


def _other_key_pin(algorithm: str) -> str:
    other = asyncssh.generate_private_key(algorithm).convert_to_public()
    return " ".join(other.export_public_key("openssh").decode().split()[:2])


@pytest.mark.parametrize(
    "pin",
    [
        pytest.param(_other_key_pin("ssh-ed25519"), id="other-ed25519-key"),
        pytest.param(_other_key_pin("ecdsa-sha2-nistp256"), id="other-key-type"),
        pytest.param("garbage", id="unreadable-pin"),
    ],
)
def test_changed_host_key_is_refused(target: Target, pin: str) -> None:
    server = server_for(target, host_key=pin)
    ServerAccount.objects.create(server=server, name="root")

    outcome = run_sync(server)

    server.refresh_from_db()
    _assert_failed(
        outcome,
        "Failed to connect; reason=SSH host key verification failed; "
        "code=host_key_verification_failed; retry=30m",
    )
    assert server.host_key == pin
    assert not (target.key_dir / "root").exists()


def test_pin_of_one_of_several_host_keys_is_the_one_checked(
    sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    rsa_file = tmp_path / "ssh_host_rsa_key"
    rsa = write_host_key(rsa_file, "ssh-rsa")
    target = sshd_fleet.add(extra_config=f"HostKey {rsa_file}")
    try:
        blob = rsa.convert_to_public().export_public_key("openssh").split()[1]
        server = server_for(target, host_key=f"rsa-sha2-512 {blob.decode()}")

        outcome = run_sync(server)
    finally:
        target.stop()

    assert outcome.ok, outcome.message
    assert "Accepted publickey for keys-sync" in target.log_text()


def test_same_host_key_on_two_servers_is_refused(
    sshd_fleet: SshdFleet, target: Target
) -> None:
    twin = sshd_fleet.add(host_key_file=target.host_key_file)
    try:
        server_for(target, host_key=target.host_key_line())
        server = server_for(twin)
        ServerAccount.objects.create(server=server, name="root")

        outcome = run_sync(server)
    finally:
        twin.stop()

    _assert_failed(
        outcome,
        "Failed to connect; reason=Multiple hosts with same host key.; "
        "code=host_key_collision; retry=30m",
    )
    assert not (twin.key_dir / "root").exists()


def test_same_host_key_allowed_when_protection_is_off(
    sshd_fleet: SshdFleet, target: Target, configure: Configure
) -> None:
    configure(security={"host_key_collision_protection": False})
    twin = sshd_fleet.add(host_key_file=target.host_key_file)
    try:
        server_for(target, host_key=target.host_key_line())
        outcome = run_sync(server_for(twin))
    finally:
        twin.stop()

    assert outcome.ok, outcome.message


def test_authentication_failure_is_classified(target: Target) -> None:
    other = asyncssh.generate_private_key("ssh-ed25519")
    target.authorize_sync_key(other.export_public_key().decode())
    server = server_for(target)

    outcome = run_sync(server)

    _assert_failed(
        outcome,
        "Failed to connect; reason=SSH authentication failed; "
        "code=ssh_authentication_failed; retry=30m",
    )


@pytest.mark.parametrize(
    ("level", "hostnames", "ok"),
    [
        (2, "{hostname}\n", True),
        (2, "other.example\n{hostname}", True),
        (2, "other.example\n", False),
        (3, "{hostname}\n", True),
        (3, "other.example\n", False),
    ],
)
def test_hostname_verification_with_hostnames_file(
    target: Target, configure: Configure, level: int, hostnames: str, ok: bool
) -> None:
    configure(security={"hostname_verification": level})
    (target.key_dir / ".hostnames").write_text(
        hostnames.format(hostname=target.hostname)
    )
    server = server_for(target)
    ServerAccount.objects.create(server=server, name="root")

    outcome = run_sync(server)

    assert outcome.ok is ok
    assert (target.key_dir / "root").exists() is ok
    # Nothing at all is written to a server that failed the check.
    assert (target.status_file.read_text() != "") is ok
    if not ok:
        assert outcome.message == (
            "Failed to connect; reason=Hostname check failed "
            "(allowed: other.example).; code=hostname_verification_failed; retry=30m"
        )


def test_hostname_verification_level_3_needs_the_hostnames_file(
    target: Target, configure: Configure
) -> None:
    configure(security={"hostname_verification": 3})
    server = server_for(target)

    outcome = run_sync(server)

    assert outcome.code == "hostname_allowlist_unreadable"
    assert outcome.message.startswith(
        "Failed to connect; reason=Could not read /var/local/keys-sync/.hostnames: "
    )


@pytest.mark.parametrize("level", [1, 2])
def test_hostname_verification_by_hostname_command(
    target: Target, configure: Configure, level: int
) -> None:
    configure(security={"hostname_verification": level})
    fqdn = _machine_fqdn()
    named = server_for(target, hostname=fqdn, jumphosts=f"-> {target.hostname}")
    accepted = run_sync(named)
    named.delete()
    by_address = server_for(target)

    refused = run_sync(by_address)

    assert accepted.ok, accepted.message
    assert refused.message == (
        f"Failed to connect; reason=Hostname check failed (allowed: {fqdn}).; "
        "code=hostname_verification_failed; retry=30m"
    )


def _known_hosts(tmp_path: Path, *hosts: Target) -> str:
    path = tmp_path / "known_hosts"
    path.write_text("".join(host.known_hosts_line() for host in hosts))
    return str(path)


def test_jump_chain_with_known_hops_reaches_the_target(
    sshd_fleet: SshdFleet,
    jump: Target,
    target: Target,
    configure: Configure,
    tmp_path: Path,
) -> None:
    second = sshd_fleet.add(forwarding=True)
    try:
        known = _known_hosts(tmp_path, jump, second)
        configure(security={"jumphost_known_hosts_file": known})
        chain = (
            f"keys-sync@{jump.hostname}:{jump.port},"
            f"keys-sync@{second.hostname}:{second.port}"
        )
        server = server_for(target, jumphosts=chain)
        ServerAccount.objects.create(server=server, name="root")

        outcome = run_sync(server)
        second_log = second.log_text()
    finally:
        second.stop()

    assert outcome.ok, outcome.message
    assert (target.key_dir / "root").exists()
    assert "Accepted publickey for keys-sync" in jump.log_text()
    assert "Accepted publickey for keys-sync" in second_log


def test_jump_host_missing_from_known_hosts_is_refused(
    jump: Target, target: Target, configure: Configure, tmp_path: Path
) -> None:
    configure(security={"jumphost_known_hosts_file": _known_hosts(tmp_path, target)})
    server = server_for(target, jumphosts=f"keys-sync@{jump.hostname}:{jump.port}")

    outcome = run_sync(server)

    assert outcome.code == "jumphost_tunnel_failed"
    assert outcome.message.startswith(
        "Failed to connect; reason=The tunnel connection via jumphost(s) failed: "
        f"keys-sync@{jump.hostname}:{jump.port}: host key not trusted"
    )
    assert "Connection from" not in target.log_text()


def test_jump_host_unchecked_when_strict_checking_is_off(
    jump: Target, target: Target, configure: Configure, tmp_path: Path
) -> None:
    configure(
        security={
            "jumphost_strict_host_key_checking": False,
            "jumphost_known_hosts_file": str(tmp_path / "absent"),
        }
    )
    server = server_for(target, jumphosts=f"keys-sync@{jump.hostname}:{jump.port}")

    outcome = run_sync(server)

    assert outcome.ok, outcome.message


def test_jump_host_refusing_forwarding_is_a_tunnel_failure(
    sshd_fleet: SshdFleet, target: Target, configure: Configure, tmp_path: Path
) -> None:
    closed = sshd_fleet.add(forwarding=False)
    try:
        configure(
            security={"jumphost_known_hosts_file": _known_hosts(tmp_path, closed)}
        )
        server = server_for(
            target, jumphosts=f"keys-sync@{closed.hostname}:{closed.port}"
        )
        outcome = run_sync(server)
    finally:
        closed.stop()

    assert outcome.code == "jumphost_tunnel_failed"
    assert outcome.message.startswith(
        "Failed to connect; reason=The tunnel connection via jumphost(s) failed: "
    )


def test_target_behind_jump_host_is_still_checked_against_its_pin(
    jump: Target, target: Target, configure: Configure, tmp_path: Path
) -> None:
    configure(security={"jumphost_known_hosts_file": _known_hosts(tmp_path, jump)})
    other = asyncssh.generate_private_key("ssh-ed25519").convert_to_public()
    pin = " ".join(other.export_public_key("openssh").decode().split()[:2])
    server = server_for(
        target, jumphosts=f"keys-sync@{jump.hostname}:{jump.port}", host_key=pin
    )

    outcome = run_sync(server)

    assert outcome.code == "host_key_verification_failed"


def test_failure_message_is_recorded_once_per_change(sync_public_key: str) -> None:
    address = next_address()
    server = Server.objects.create(hostname=address, port=free_port(address))

    first = run_sync(server)
    run_sync(server)

    changes = [e for e in server_events(server) if e["action"] == "Sync status change"]
    assert changes == [{"action": "Sync status change", "value": first.message}]
    server.refresh_from_db()
    assert server.sync_status == "sync failure"


def test_unreadable_sync_key_is_a_classified_failure(
    target: Target, configure: Configure, tmp_path: Path
) -> None:
    configure(sync={"private_key": str(tmp_path / "missing")})
    server = server_for(target)

    outcome = run_sync(server)

    assert outcome.code == "ssh_authentication_failed"
    assert "Could not load the sync private key" in outcome.message


def test_unreachable_decommissioned_server_fails_without_touching_accounts(
    sync_public_key: str,
) -> None:
    address = next_address()
    server = Server.objects.create(
        hostname=address,
        port=free_port(address),
        key_management=Server.KeyManagement.DECOMMISSIONED,
    )
    account = ServerAccount.objects.create(server=server, name="root")

    outcome = run_sync(server)

    account.refresh_from_db()
    assert outcome.message.startswith(
        "Failed to connect during decommission; reason=SSH connection failed: "
    )
    assert outcome.message.endswith("; code=ssh_connection_failed; retry=30m")
    assert account.sync_status == "not synced yet"


def test_server_hanging_after_login_costs_its_step_timeout(
    sshd_fleet: SshdFleet, configure: Configure
) -> None:
    configure(sync={"step_timeout": 1, "server_timeout": 10})
    hanging = sshd_fleet.add(sftp="/bin/cat >/dev/null")
    try:
        server = server_for(hanging)
        ServerAccount.objects.create(server=server, name="root")
        started = time.monotonic()

        outcome = run_sync(server)
        seconds = time.monotonic() - started
    finally:
        hanging.stop()

    assert outcome.code == "ssh_timeout"
    assert outcome.message == (
        "Failed to connect; reason=Starting SFTP timed out; code=ssh_timeout; retry=30m"
    )
    assert seconds < 4
