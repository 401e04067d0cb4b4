"""The benchmark's synthetic fleet renders in a fixed number of queries."""

from __future__ import annotations

import pytest
from bench.fleet import FleetSize, generate
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ska.access.models import AccessRule
from ska.directory.models import User
from ska.servers.models import Server
from ska.sync.keyfiles import render_fleet

pytestmark = pytest.mark.django_db


def _render() -> tuple[int, int, int]:
    servers = list(Server.objects.all())
    with CaptureQueriesContext(connection) as queries:
        rendered = render_fleet(servers)
    lines = sum(f.text.count("\n") for files in rendered.values() for f in files)
    return len(queries), sum(len(files) for files in rendered.values()), lines


def test_fleet_renders_with_the_same_queries_at_half_the_rules() -> None:
    size = generate(FleetSize().scaled(0.02))
    assert User.objects.count() == size.users + 1
    assert AccessRule.objects.count() == size.rules

    queries, files, lines = _render()
    AccessRule.objects.filter(pk__in=range(2, size.rules + 1, 2)).delete()
    half_queries, half_files, half_lines = _render()

    managed = Server.objects.filter(key_management="keys").count()
    assert files == half_files >= managed
    assert half_lines < lines
    assert queries == half_queries <= 12
