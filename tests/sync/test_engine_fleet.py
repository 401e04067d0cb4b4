"""Many servers pushed at once from one event loop."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator

import pytest

from ska.servers.models import Server, ServerAccount
from ska.sync.engine import SyncOutcome, sync_server
from tests.support.sshd import SshdFleet, Target
from tests.sync.scenario import grant, public_line, run_async, server_for, user_with_key

pytestmark = [pytest.mark.sshd, pytest.mark.django_db(transaction=True)]

# SKA_TEST_FLEET_SIZE=100 measures a larger fleet with the same test.
FLEET_SIZE = int(os.environ.get("SKA_TEST_FLEET_SIZE", "20"))


@pytest.fixture
def fleet(sshd_fleet: SshdFleet) -> Iterator[list[Target]]:
    """Start a batch of targets at once, stopped after the test."""
    targets = sshd_fleet.add_many(FLEET_SIZE)
    yield targets
    for target in targets:
        target.stop()


def test_many_servers_sync_concurrently(fleet: list[Target]) -> None:
    user, key = user_with_key("erin")
    servers: list[Server] = []
    for target in fleet:
        server = server_for(target)
        grant(user, ServerAccount.objects.create(server=server, name="root"))
        servers.append(server)

    async def all_servers() -> list[SyncOutcome | None]:
        return await asyncio.gather(*(sync_server(s.pk) for s in servers))

    started = time.monotonic()
    outcomes = run_async(all_servers())
    seconds = time.monotonic() - started

    print(f"synced {len(servers)} servers in {seconds:.2f} s")
    assert [o.ok if o else None for o in outcomes] == [True] * len(servers)
    for target in fleet:
        assert public_line(key) in (target.key_dir / "root").read_text()
    # One after another they take about 0.14 s each on a two-core machine.
    assert seconds < 0.1 * len(servers)
