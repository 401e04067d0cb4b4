"""Benchmark: render every keyfile of a synthetic fleet.

Run from the project directory::

    .venv/bin/python -m bench.render_keyfiles [--scale 1.0] [--comment 1]

It creates the fleet of ``bench.fleet`` in a fresh SQLite file (in a
temporary data directory, unless SKA_DATA_DIR or SKA_DATABASE_* say
otherwise), renders all keyfiles once, then deletes half of the rules and
renders again, and reports wall time, files, bytes and SQL queries.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Run:
    """The figures of one rendering of the whole fleet."""

    label: str
    rules: int
    seconds: float
    files: int
    total_bytes: int
    queries: int

    def line(self) -> str:
        """Return the run as one row of the report."""
        return (
            f"| {self.label} | {self.rules:,} | {self.seconds:.2f} s | {self.files:,} "
            f"| {self.total_bytes / 1e6:.1f} MB | {self.queries} |"
        )


def _setup(comment: int) -> str | None:
    """Point Django at a fresh data directory; return it to remove later."""
    created = None
    if "SKA_DATA_DIR" not in os.environ:
        created = tempfile.mkdtemp(prefix="ska-bench-")
        os.environ["SKA_DATA_DIR"] = created
    os.environ.setdefault("SKA_CONFIG", os.devnull)
    os.environ["SKA_PRIVACY_COMMENT_KEY_FILES"] = str(comment)
    os.environ["DJANGO_SETTINGS_MODULE"] = "ska.settings"
    import django

    django.setup()
    return created


def _render(label: str) -> Run:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from ska.access.models import AccessRule
    from ska.servers.models import Server
    from ska.sync.keyfiles import render_fleet

    servers = list(Server.objects.order_by("pk"))
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        rendered = render_fleet(servers)
        seconds = time.perf_counter() - started
    files = [keyfile for keyfiles in rendered.values() for keyfile in keyfiles]
    return Run(
        label=label,
        rules=AccessRule.objects.count(),
        seconds=seconds,
        files=len(files),
        total_bytes=sum(len(f.text.encode()) for f in files),
        queries=len(queries),
    )


def _single_servers() -> list[str]:
    """Time ``render_server`` as one sync calls it, on typical servers."""
    import statistics

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from ska.servers.models import Server
    from ska.sync.keyfiles import render_server

    lines = []
    managed = Server.objects.filter(key_management=Server.KeyManagement.KEYS)
    for label, authorization in (
        ("one manual server", Server.Authorization.MANUAL),
        ("one LDAP server", Server.Authorization.AUTOMATIC_LDAP),
    ):
        chosen = list(managed.filter(authorization=authorization).order_by("pk")[:20])
        timings = []
        for server in chosen:
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                render_server(server)
                timings.append(time.perf_counter() - started)
        median = statistics.median(timings) * 1000
        lines.append(
            f"{label}: median {median:.0f} ms over {len(chosen)} servers, "
            f"{len(queries)} SQL queries"
        )
    return lines


def main() -> None:
    """Generate the fleet, render it twice, print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--comment", type=int, choices=(0, 1, 2), default=1)
    arguments = parser.parse_args()
    created = _setup(arguments.comment)
    try:
        _run(arguments.scale)
    finally:
        if created:
            shutil.rmtree(created, ignore_errors=True)


def _run(scale: float) -> None:
    from django.conf import settings
    from django.core.management import call_command

    from bench.fleet import FleetSize, generate
    from ska.access.models import AccessRule

    name = settings.DATABASES["default"]["NAME"]
    print(f"database: {settings.SKA.database.engine} {name}")
    call_command("migrate", verbosity=0)
    if AccessRule.objects.exists():
        raise SystemExit("bench: the database is not empty; give it a fresh one")
    started = time.perf_counter()
    size = generate(FleetSize().scaled(scale))
    print(f"fleet: {size}")
    print(f"generated in {time.perf_counter() - started:.1f} s")

    full = _render("all rules")
    AccessRule.objects.filter(pk__in=list(range(2, size.rules + 1, 2))).delete()
    half = _render("half the rules")

    print("| run | rules | wall time | keyfiles | total | SQL queries |")
    print("|---|---|---|---|---|---|")
    print(full.line())
    print(half.line())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory: {peak:.0f} MB")
    for line in _single_servers():
        print(line)
    if full.queries != half.queries:
        raise SystemExit("bench: the query count changed with the rule count")


if __name__ == "__main__":
    main()
