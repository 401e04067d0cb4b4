"""Sync daemons in their own processes, and servers that never answer.

``python -m tests.support.daemons ARGS...`` runs ``ska ARGS...``; with
``SKA_TEST_PUSH_LOG`` set it first wraps the engine so that every push
appends ``<server id> <start> <end> <pid>`` to that file, which lets a test
check that two daemons never push one server at the same time.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
PUSH_LOG = "SKA_TEST_PUSH_LOG"


def daemon_env(**overrides: str) -> dict[str, str]:
    """Return the environment for a daemon that uses the test database."""
    from django.conf import settings
    from django.db import connection

    database = settings.SKA.database
    env = dict(os.environ)
    env.update(
        SKA_CONFIG=os.devnull,
        SKA_DATA_DIR=str(settings.SKA.data_dir),
        SKA_DATABASE_ENGINE=database.engine,
        SKA_DATABASE_DATABASE=str(connection.settings_dict["NAME"]),
        SKA_DATABASE_HOSTNAME=database.hostname,
        SKA_DATABASE_USERNAME=database.username,
        SKA_DATABASE_PORT=str(database.port),
        SKA_SYNC_PRIVATE_KEY=str(settings.SKA.private_key_path),
        SKA_SYNC_PUBLIC_KEY=str(settings.SKA.public_key_path),
    )
    env.update(overrides)
    return env


def start_daemon(
    args: list[str], env: dict[str, str], log: Path
) -> subprocess.Popen[bytes]:
    """Start ``ska syncd ARGS`` in its own session, logging to ``log``."""
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.support.daemons", "syncd", *args],
            cwd=REPOSITORY,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Kill a process this test started, if it still runs, and reap it."""
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)


def wait_for_text(path: Path, text: str, timeout: float) -> None:
    """Wait until ``text`` appears in the file ``path``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        time.sleep(0.05)
    shown = path.read_text(errors="replace")[-2000:] if path.exists() else ""
    raise AssertionError(f"{text!r} not seen in {path} after {timeout}s:\n{shown}")


@contextmanager
def silent_server(address: str = "127.0.0.1") -> Iterator[int]:
    """Listen on a free port and never answer, like a hung host; yield it."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((address, 0))
        listener.listen(64)
        yield int(listener.getsockname()[1])


def read_push_log(path: Path) -> list[tuple[int, float, float, int]]:
    """Return the pushes a recording daemon wrote: server, start, end, pid."""
    pushes = []
    for line in path.read_text().splitlines():
        server, start, end, pid = line.split()
        pushes.append((int(server), float(start), float(end), int(pid)))
    return pushes


def _record_pushes(path: str) -> None:
    """Wrap the engine so that each push appends its interval to ``path``."""
    import ska.sync.runner as runner
    from ska.sync.engine import sync_plan as engine_sync
    from ska.sync.plan import SyncPlan

    async def recorded(plan: SyncPlan) -> object:
        start = time.time()
        try:
            return await engine_sync(plan)
        finally:
            line = f"{plan.server_id} {start:.6f} {time.time():.6f} {os.getpid()}\n"
            descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(descriptor, line.encode())
            finally:
                os.close(descriptor)

    setattr(runner, "sync_plan", recorded)  # noqa: B010  (mypy: not exported)


def main() -> None:
    """Run ``ska`` with the given arguments, recording pushes if asked."""
    from ska.cli import _setup
    from ska.cli import main as ska_main

    _setup()
    if log := os.environ.get(PUSH_LOG):
        _record_pushes(log)
    ska_main(sys.argv[1:])


SCRATCH_ENGINES = {"postgresql": "postgres", "mysql": "root"}


@contextmanager
def scratch_database(engine: str, data_dir: Path) -> Iterator[dict[str, str]]:
    """Create an empty database on a server engine; yield a daemon's env.

    The database is dropped afterwards. Skips the test, saying why, when
    that database server cannot be reached.
    """
    import pytest

    from tests.support.databases import reachable

    if problem := reachable(engine):
        pytest.skip(f"{engine} not reachable: {problem}")
    name = f"ska_scratch_{os.getpid()}_{int(time.time() * 1000) % 10**8}"
    user = SCRATCH_ENGINES[engine]
    _admin_sql(engine, f"CREATE DATABASE {name}")
    env = dict(os.environ)
    env.update(
        SKA_CONFIG=os.devnull,
        SKA_DATA_DIR=str(data_dir),
        SKA_DATABASE_ENGINE=engine,
        SKA_DATABASE_HOSTNAME="127.0.0.1",
        SKA_DATABASE_USERNAME=user,
        SKA_DATABASE_DATABASE=name,
    )
    try:
        yield env
    finally:
        _admin_sql(engine, f"DROP DATABASE {name}")


def _admin_sql(engine: str, statement: str) -> None:
    """Run one statement outside a transaction as the engine's admin user."""
    if engine == "postgresql":
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True
        ) as connection:
            if statement.startswith("DROP"):
                statement += " WITH (FORCE)"
            connection.execute(statement.encode())
    else:
        import MySQLdb

        connection = MySQLdb.connect(host="127.0.0.1", user="root", connect_timeout=5)
        try:
            connection.cursor().execute(statement)
        finally:
            connection.close()


def run_ska(args: list[str], env: dict[str, str], timeout: float = 120) -> str:
    """Run ``ska ARGS`` to completion; return its output or fail the test."""
    done = subprocess.run(
        [sys.executable, "-m", "ska.cli", *args],
        cwd=REPOSITORY,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"ska {args[0]} failed: {done.stderr[-2000:]}")
    return done.stdout


if __name__ == "__main__":
    main()
