"""A real OpenSSH server reads rendered keyfiles as intended.

The options we render (quoted commands, ``from=`` patterns, flags) are
checked by the program that matters: sshd logs the user in, or not, and
runs the forced command exactly as it was stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import asyncssh
import pytest
from tests.support.sshd import SshdFleet, Target, ensure_user

from ska.access.tests import world
from ska.servers.models import Server, ServerAccount
from ska.sync.keyfiles import render_server

pytestmark = [pytest.mark.django_db, pytest.mark.sshd]

UNIX_USER = "ska-keyfile"
TIMEOUT = 10


@pytest.fixture(scope="module")
def sshd() -> Iterator[Target]:
    """Start one sshd for the module; stop exactly it afterwards."""
    sync_key = asyncssh.generate_private_key("ssh-ed25519")
    fleet = SshdFleet(sync_key.export_public_key().decode())
    try:
        ensure_user(UNIX_USER)
        yield fleet.add()
    finally:
        fleet.stop()


@pytest.fixture(scope="module")
def alice_key() -> asyncssh.SSHKey:
    """Return the private key of the user who logs in."""
    return asyncssh.generate_private_key("ssh-ed25519")


def _deploy(
    target: Target, private: asyncssh.SSHKey, options: dict[str, str | None]
) -> str:
    """Grant alice access with ``options``, render, and write the file."""
    server = Server.objects.create(hostname=target.hostname)
    account = ServerAccount.objects.create(server=server, name=UNIX_USER)
    alice = world.user("alice", "Alice Example")
    key_type, keydata = private.export_public_key().decode().split()[:2]
    world.key(alice, keydata, key_type=key_type)
    world.rule(alice, account, options)
    with world.configured(1, history_default=True):
        (keyfile,) = render_server(server)
    path = target.key_dir / keyfile.name
    path.write_text(keyfile.text)
    path.chmod(0o644)
    return keyfile.text


async def _login(target: Target, private: asyncssh.SSHKey) -> str:
    """Log in as the account and run a command; return its output."""
    known_hosts = asyncssh.import_known_hosts(target.known_hosts_line())
    async with asyncssh.connect(
        target.hostname,
        target.port,
        username=UNIX_USER,
        client_keys=[private],
        known_hosts=known_hosts,
        connect_timeout=TIMEOUT,
    ) as connection:
        result = await asyncio.wait_for(
            connection.run("echo requested", check=False), TIMEOUT
        )
    return str(result.stdout)


@pytest.mark.parametrize(
    ("options", "output"),
    [
        ({}, "requested\n"),
        ({"command": 'echo "hi" there'}, "hi there\n"),
        ({"command": "printf '%s,' \"a b\" c"}, "a b,c,"),
        ({"command": "echo 'x\"y'"}, 'x"y\n'),
        ({"command": 'echo a\\"b'}, 'a"b\n'),
        ({"command": "echo ok", "no-pty": None}, "ok\n"),
        ({"from": "127.0.0.0/8,10.*", "no-port-forwarding": None}, "requested\n"),
    ],
)
def test_sshd_runs_the_forced_command_as_stored(
    sshd: Target,
    alice_key: asyncssh.SSHKey,
    options: dict[str, str | None],
    output: str,
) -> None:
    text = _deploy(sshd, alice_key, options)

    assert 'environment="BASH_HISTORY_USERNAME=alice"' in text
    assert asyncio.run(_login(sshd, alice_key)) == output


def test_sshd_refuses_a_login_from_outside_the_from_patterns(
    sshd: Target, alice_key: asyncssh.SSHKey
) -> None:
    _deploy(sshd, alice_key, {"from": "10.9.9.9"})

    with pytest.raises(asyncssh.PermissionDenied):
        asyncio.run(_login(sshd, alice_key))
