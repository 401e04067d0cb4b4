"""Connection options are built once and nothing in ~/.ssh changes them."""

from __future__ import annotations

import os
import pwd
from collections.abc import Iterator
from pathlib import Path

import asyncssh
import pytest

from ska.servers.models import ServerAccount
from ska.sync.transport import (
    ENCRYPTION_ALGORITHMS,
    SYNC_USER,
    client_options,
    name_local_user,
)
from tests.support.sshd import SshdFleet, Target
from tests.sync.conftest import Configure
from tests.sync.scenario import run_sync, server_for


def test_client_options_built_once_per_setting() -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")

    first = client_options(key, 10.0, 0)

    assert client_options(key, 10.0, 0) is first
    assert client_options(key, 20.0, 0) is not first
    assert client_options(key, 10.0, 30) is not first


def test_client_options_trust_nothing_from_the_local_user() -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")

    options = client_options(key, 10.0, 0)

    assert options.username == SYNC_USER
    assert not options.agent_path
    assert options.x509_trusted_certs is None
    assert not options.x509_trusted_cert_paths
    assert not options.config.loaded
    assert list(options.preferred_auth) == ["publickey"]
    assert options.client_keys is not None
    assert [pair.public_data for pair in options.client_keys] == [key.public_data]
    offered = [name.decode("ascii") for name in options.encryption_algs]
    assert offered == list(ENCRYPTION_ALGORITHMS)


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({}, "from the password database"),
        ({"USER": "operator"}, None),
        ({"LOGNAME": "someone"}, "someone"),
        ({"USERNAME": "admin"}, None),
    ],
)
def test_name_local_user_looks_the_name_up_once(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], expected: str | None
) -> None:
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)

    name_local_user()

    if expected == "from the password database":
        expected = pwd.getpwuid(os.getuid()).pw_name
    assert os.environ.get("LOGNAME") == expected


@pytest.fixture
def hostile_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point HOME at a ~/.ssh/config that would send every connection astray."""
    ssh = tmp_path / "home" / ".ssh"
    ssh.mkdir(parents=True)
    (ssh / "config").write_text(
        "Host *\n"
        "    User intruder\n"
        "    Port 1\n"
        "    Hostname 192.0.2.1\n"
        "    ConnectTimeout 1\n"
    )
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return ssh / "config"


@pytest.fixture
def forwarding_hop(sshd_fleet: SshdFleet) -> Iterator[Target]:
    """Return a jump host that allows forwarding."""
    started = sshd_fleet.add(forwarding=True)
    yield started
    started.stop()


@pytest.mark.sshd
@pytest.mark.django_db(transaction=True)
def test_sync_ignores_the_local_ssh_config(hostile_home: Path, target: Target) -> None:
    server = server_for(target)
    ServerAccount.objects.create(server=server, name="root")

    outcome = run_sync(server)

    assert outcome.ok, outcome.message
    assert (target.key_dir / "root").exists()
    assert "intruder" not in target.log_text()


@pytest.mark.sshd
@pytest.mark.django_db(transaction=True)
def test_sync_through_a_hop_ignores_the_local_ssh_config(
    hostile_home: Path,
    forwarding_hop: Target,
    target: Target,
    configure: Configure,
    tmp_path: Path,
) -> None:
    known = tmp_path / "known_hosts"
    known.write_text(forwarding_hop.known_hosts_line())
    configure(security={"jumphost_known_hosts_file": str(known)})
    hop = forwarding_hop
    server = server_for(target, jumphosts=f"keys-sync@{hop.hostname}:{hop.port}")
    ServerAccount.objects.create(server=server, name="root")

    outcome = run_sync(server)

    assert outcome.ok, outcome.message
    assert "Accepted publickey for keys-sync" in hop.log_text()
    assert "Accepted publickey for keys-sync" in target.log_text()
