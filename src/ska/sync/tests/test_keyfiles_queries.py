"""Rendering reads a fixed number of queries, whatever the amount of data."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ska.access.tests import world
from ska.servers.models import Server
from ska.sync.keyfiles import render_fleet, render_server

pytestmark = pytest.mark.django_db

MAX_QUERIES = 12


def _grow(size: int, tag: str) -> list[Server]:
    """Add ``size`` users, accounts, groups and rules of every kind."""
    servers = [world.server(f"{tag}{n}.example.com") for n in range(2)]
    servers.append(
        world.server(f"{tag}-ldap.example.com", authorization="automatic LDAP")
    )
    previous = None
    for n in range(size):
        person = world.user(f"{tag}u{n}")
        world.key(person, f"AAAA{tag}{n}", rules=(("*", "*"),))
        host = servers[n % 2]
        account = world.account(host, f"acct{n}")
        world.key(account, f"AAAA{tag}a{n}")
        members = [person, account] + ([previous] if previous else [])
        team = world.group(f"{tag}g{n}", *members)
        world.rule(person, account, {"no-pty": None})
        world.rule(team, account)
        world.rule(account, servers[(n + 1) % 2].accounts.first() or account)
        world.rule(person, team)
        previous = team
    return servers


def _count(servers: list[Server]) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as queries:
        files = render_fleet(servers)
    return len(queries), sum(len(f) for f in files.values())


def test_render_fleet_queries_do_not_grow_with_data() -> None:
    small = _grow(3, "s")
    small_queries, small_files = _count(small)

    large = _grow(12, "l")
    large_queries, large_files = _count(small + large)

    assert large_files > small_files
    assert small_queries == large_queries <= MAX_QUERIES


def test_render_server_queries_do_not_grow_with_data() -> None:
    servers = _grow(2, "s")
    with CaptureQueriesContext(connection) as small:
        render_server(servers[0])
    _grow(10, "l")
    with CaptureQueriesContext(connection) as large:
        files = render_server(servers[0])

    assert files
    assert len(small) == len(large) <= MAX_QUERIES
