"""Two daemons on one PostgreSQL or MariaDB database never push one server twice.

Each case creates its own database on the engine's server, so it runs
whatever database the rest of the suite uses, and skips (saying why) when
that server is not reachable. The targets never answer, so every push
lasts the connect timeout, fails, and is retried a second later: the two
daemons keep competing for the same few servers while new account
requests keep arriving. Each daemon writes every push's start and end.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections import defaultdict
from contextlib import ExitStack
from itertools import pairwise
from pathlib import Path

import pytest

from tests.support.daemons import (
    PUSH_LOG,
    read_push_log,
    run_ska,
    scratch_database,
    silent_server,
    start_daemon,
    stop_process,
)
from tests.support.sshd import next_address

SERVERS = 6
RUN_SECONDS = 6.0

SEED = """
import json, os
from ska.servers.models import Server
from ska.sync.requests import request_syncs
for host, port in json.loads(os.environ["TARGETS"]):
    server = Server.objects.create(hostname=host, port=port)
    request_syncs([(server.pk, "")])
"""

# Keeps queueing account and whole-server requests at random, so that a
# server often has rows another daemon could take while one pushes it.
TRIGGER = """
import os, random, time
from ska.servers.models import Server
from ska.sync.requests import request_syncs
ids = list(Server.objects.values_list("pk", flat=True))
end = time.monotonic() + float(os.environ["RUN_SECONDS"])
while time.monotonic() < end:
    request_syncs([(random.choice(ids), random.choice(["", "a", "b", "c"]))])
    time.sleep(0.02)
"""


@pytest.mark.parametrize("engine", ["postgresql", "mysql"])
def test_two_daemons_never_push_one_server_at_the_same_time(
    engine: str, tmp_path: Path
) -> None:
    with ExitStack() as stack:
        env = stack.enter_context(scratch_database(engine, tmp_path / "data"))
        ports = [
            (address, stack.enter_context(silent_server(address)))
            for address in (next_address() for _ in range(SERVERS))
        ]
        run_ska(["init"], env)
        run_ska(["shell", "-c", SEED], {**env, "TARGETS": json.dumps(ports)})

        pushes = tmp_path / "pushes.log"
        daemon_env = {
            **env,
            PUSH_LOG: str(pushes),
            "SKA_SYNC_CONNECT_TIMEOUT": "1",
            "SKA_SYNC_RETRY_DELAY": "1",
            "SKA_SYNC_POLL_INTERVAL": "0.05",
        }
        # Two pushes at a time each (four servers held): neither daemon can
        # take all the servers, so both keep competing for them.
        daemons = [
            start_daemon(["--concurrency", "2"], daemon_env, tmp_path / f"d{n}.log")
            for n in (1, 2)
        ]
        for daemon in daemons:
            stack.callback(stop_process, daemon)
        trigger = subprocess.run(
            [sys.executable, "-m", "ska.cli", "shell", "-c", TRIGGER],
            env={**env, "RUN_SECONDS": str(RUN_SECONDS)},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert trigger.returncode == 0, trigger.stderr
        for daemon in daemons:
            daemon.send_signal(signal.SIGTERM)
        statuses = [daemon.wait(timeout=60) for daemon in daemons]

    assert statuses == [0, 0]
    by_server: dict[int, list[tuple[float, float, int]]] = defaultdict(list)
    for server_id, start, end, pid in read_push_log(pushes):
        by_server[server_id].append((start, end, pid))
    assert len(by_server) == SERVERS
    assert len({pid for runs in by_server.values() for _, _, pid in runs}) == 2
    for server_id, runs in by_server.items():
        runs.sort()
        assert len(runs) >= 3
        for (_, end, pid), (start, _, other) in pairwise(runs):
            assert start >= end, f"server {server_id}: pids {pid} and {other} overlap"
