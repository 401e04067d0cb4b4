"""Sync a fleet of real sshd servers and compare with raw SSH throughput.

Starts N sshd instances on loopback (each with its own host key, see
``tests/support/sshd.py``), fills a throw-away SQLite database with users,
keys, groups and rules reaching every server, and measures, each in a
child process of its own:

1. raw: asyncssh connect + run ``true`` + close over every server, at the
   sync concurrency: the ceiling a sync can approach;
2. first: the first full sync (host keys learned, every file written);
3. steady: a full sync where nothing changed;
4. rule change: one new group rule that touches every server, queued as
   the web application would, then drained;
5. peak RSS (VmHWM) of a full sync at concurrency 50 and at 200.

Needs root (sshd in mount namespaces). Run from the repository root::

    .venv/bin/python -m bench.sync_fleet [--servers 200] [--concurrency 50]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TARGETS_FILE = "targets.json"
ACCOUNTS = ("root", "app", "deploy")
USERS = 40
ADMINS = 8


def vm_hwm_megabytes() -> float:
    """Return this process's peak resident memory in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("VmHWM missing from /proc/self/status")


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ska.settings")
    import django

    django.setup()


async def _raw_run(targets: list[dict[str, Any]], concurrency: int) -> float:
    """Connect, run ``true`` and close on every target; return seconds."""
    import asyncssh
    from django.conf import settings

    key = asyncssh.read_private_key(settings.SKA.private_key_path)
    known_hosts = asyncssh.import_known_hosts(
        "".join(f"[{t['host']}]:{t['port']} {t['host_key']}\n" for t in targets)
    )
    slots = asyncio.Semaphore(concurrency)

    async def one(target: dict[str, Any]) -> None:
        async with (
            slots,
            asyncssh.connect(
                target["host"],
                target["port"],
                username="keys-sync",
                client_keys=[key],
                known_hosts=known_hosts,
                connect_timeout=30,
            ) as connection,
        ):
            await asyncio.wait_for(connection.run("true", check=True), 30)

    start = time.perf_counter()
    await asyncio.gather(*(one(target) for target in targets))
    return time.perf_counter() - start


def child(mode: str, concurrency: int, work: Path, profile: Path | None) -> None:
    """Run one measurement and print its figures as JSON."""
    _setup_django()
    profiler = cProfile.Profile() if profile else None
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    if mode == "raw":
        targets = json.loads((work / TARGETS_FILE).read_text())
        loop_before = time.thread_time()
        seconds = asyncio.run(_raw_run(targets, concurrency))
        loop_cpu = time.thread_time() - loop_before
        count = len(targets)
    else:
        from ska.servers.models import Server
        from ska.sync.daemon import SyncDaemon
        from ska.sync.models import SyncRequest
        from ska.sync.requests import sync_server

        if mode == "full":
            for server in Server.objects.all():
                sync_server(server)
        count = SyncRequest.objects.values("server_id").distinct().count()
        thread_profiles: list[cProfile.Profile] = []
        if profiler is not None:
            _profile_database_threads(thread_profiles)
        cpu_before = resource.getrusage(resource.RUSAGE_SELF)
        loop_before = time.thread_time()
        start = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        asyncio.run(SyncDaemon(concurrency=concurrency, once=True).run())
        if profiler is not None:
            profiler.disable()
        seconds = time.perf_counter() - start
        loop_cpu = time.thread_time() - loop_before
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu_after.ru_utime + cpu_after.ru_stime) - (
        cpu_before.ru_utime + cpu_before.ru_stime
    )
    if profiler is not None and profile is not None:
        stamp = time.time_ns()
        profiler.dump_stats(profile / f"{mode}-{stamp}.prof")
        for number, thread_profile in enumerate(thread_profiles):
            thread_profile.disable()
            thread_profile.dump_stats(profile / f"{mode}-{stamp}-db{number}.prof")
    figures = {
        "seconds": seconds,
        "servers": count,
        "rss_mb": vm_hwm_megabytes(),
        "cpu_ms": 1000 * cpu / max(1, count),
        "loop_ms": 1000 * loop_cpu / max(1, count),
    }
    print(json.dumps(figures))


def _profile_database_threads(profiles: list[cProfile.Profile]) -> None:
    """Profile every database thread of the sync from its start."""
    from ska.sync import runner

    register = runner.DatabaseThreads._register

    def profiled(threads: runner.DatabaseThreads) -> None:
        register(threads)
        thread_profile = cProfile.Profile()
        profiles.append(thread_profile)
        thread_profile.enable()

    runner.DatabaseThreads._register = profiled  # type: ignore[method-assign,assignment]


def _measure(
    mode: str, concurrency: int, work: Path, profile: Path | None = None
) -> dict[str, float]:
    extra = ["--profile", str(profile)] if profile else []
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.sync_fleet",
            "--child",
            mode,
            "--concurrency",
            str(concurrency),
            "--work",
            str(work),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{mode} measurement failed:\n{done.stderr[-3000:]}")
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def _populate(targets: list[Any]) -> None:
    """Create servers, accounts, users with keys, groups and rules."""
    import asyncssh

    from ska.access.models import AccessRule
    from ska.directory.models import Group, GroupMember, User
    from ska.directory.services import get_keys_sync_user
    from ska.keys.services import add_public_key
    from ska.servers.models import Server, ServerAccount

    everyone_root = Group.objects.create(name="all-root")
    everyone_app = Group.objects.create(name="all-app")
    actor = get_keys_sync_user()
    admins = Group.objects.create(name="admins")
    developers = Group.objects.create(name="developers")
    for target in targets:
        server = Server.objects.create(hostname=target.hostname, port=target.port)
        for name in ACCOUNTS:
            account = ServerAccount.objects.create(server=server, name=name)
            if name == "root":
                GroupMember.objects.create(group=everyone_root, entity=account)
            elif name == "app":
                GroupMember.objects.create(group=everyone_app, entity=account)
    for number in range(USERS):
        user = User.objects.create_user(f"user{number:03d}", name=f"User {number}")
        key = asyncssh.generate_private_key("ssh-ed25519")
        add_public_key(user, key.export_public_key().decode(), actor=actor)
        group = admins if number < ADMINS else developers
        GroupMember.objects.create(group=group, entity=user)
    AccessRule.objects.create(source=admins, dest=everyone_root)
    AccessRule.objects.create(source=developers, dest=everyone_app)


def _rule_change() -> None:
    """Add one group rule reaching every server and queue it like the web."""
    from ska.access.models import AccessRule
    from ska.directory.models import Group
    from ska.sync.requests import sync_group

    everyone_root = Group.objects.get(name="all-root")
    developers = Group.objects.get(name="developers")
    AccessRule.objects.create(source=developers, dest=everyone_root)
    sync_group(everyone_root.pk)


def _check_synced(expected: int) -> None:
    from ska.servers.models import Server, SyncStatus
    from ska.sync.models import SyncRequest

    synced = Server.objects.filter(sync_status=SyncStatus.SUCCESS).count()
    left = SyncRequest.objects.count()
    if synced != expected or left:
        raise SystemExit(f"only {synced} of {expected} servers synced, {left} left")


def main() -> None:
    """Start the fleet, run every measurement and print the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--child", choices=("raw", "full", "queued"))
    parser.add_argument("--work", type=Path)
    parser.add_argument(
        "--profile",
        type=Path,
        help="directory for cProfile dumps of the event loop of each sync run",
    )
    args = parser.parse_args()
    if args.child:
        child(args.child, args.concurrency, args.work, args.profile)
        return

    work = Path(tempfile.mkdtemp(prefix="ska-bench-"))
    # sshd reads keyfiles as their user: every parent must be searchable.
    work.chmod(0o755)
    (work / "fleet").mkdir()
    os.environ.update(SKA_DATA_DIR=str(work / "data"), SKA_CONFIG=os.devnull)
    os.environ.setdefault("SKA_DATABASE_ENGINE", "sqlite")
    _setup_django()
    from django.conf import settings
    from django.core.management import call_command
    from tests.support.sshd import SshdFleet

    from ska.sync.keypair import ensure_key_pair

    call_command("migrate", verbosity=0)
    ensure_key_pair(settings.SKA.private_key_path, settings.SKA.public_key_path)
    fleet = SshdFleet(settings.SKA.public_key_path.read_text(), base=work / "fleet")
    try:
        began = time.perf_counter()
        targets = fleet.add_many(args.servers)
        print(f"started {len(targets)} sshd in {time.perf_counter() - began:.1f}s")
        (work / TARGETS_FILE).write_text(
            json.dumps(
                [
                    {"host": t.hostname, "port": t.port, "host_key": t.host_key_line()}
                    for t in targets
                ]
            )
        )
        _populate(targets)
        _report(args.concurrency, args.servers, work, args.profile)
    finally:
        fleet.stop()
        shutil.rmtree(work, ignore_errors=True)


def _report(concurrency: int, servers: int, work: Path, profile: Path | None) -> None:
    results: dict[str, dict[str, float]] = {}
    results["raw"] = _measure("raw", concurrency, work)
    results["first"] = _measure("full", concurrency, work, profile)
    _check_synced(servers)
    results["steady"] = _measure("full", concurrency, work, profile)
    _check_synced(servers)
    _rule_change()
    results["rule change"] = _measure("queued", concurrency, work, profile)
    _check_synced(servers)
    results["rss 50"] = _measure("full", 50, work)
    results["rss 200"] = _measure("full", 200, work)

    raw_rate = servers / results["raw"]["seconds"]
    print(f"servers={servers} concurrency={concurrency} cores={os.cpu_count()}")
    print(
        "| run | servers | seconds | servers/s | share of raw | peak RSS "
        "| CPU ms/server (event loop) |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, figures in results.items():
        rate = figures["servers"] / figures["seconds"]
        print(
            f"| {name} | {figures['servers']:.0f} | {figures['seconds']:.2f} "
            f"| {rate:.1f} | {rate / raw_rate:.0%} | {figures['rss_mb']:.0f} MB "
            f"| {figures['cpu_ms']:.1f} ({figures['loop_ms']:.1f}) |"
        )


if __name__ == "__main__":
    main()
