"""Benchmark: ``ska ldap-update`` and LDAP logins against a real slapd.

Run from the project directory::

    .venv/bin/python -m bench.ldap_update [--users 2000] [--groups 100]

It starts a slapd on loopback, fills it with users (each in a few of the
groups, half of the groups nested in another), links every group, and
times: the first update (fills the linked groups), a second one with
nothing to change, one after 5% of the users left (forced past the
fail-safe), and a series of logins through the real login view.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from typing import Any

from tests.support.slapd import GROUPS, PEOPLE, ROOT_DN, ROOT_PASSWORD, Slapd, ssha

LOGINS = 50


def _setup() -> str | None:
    """Point Django at a fresh data directory; return it to remove later."""
    created = None
    if "SKA_DATA_DIR" not in os.environ:
        created = tempfile.mkdtemp(prefix="ska-bench-")
        os.environ["SKA_DATA_DIR"] = created
    os.environ.setdefault("SKA_CONFIG", os.devnull)
    os.environ["DJANGO_SETTINGS_MODULE"] = "ska.settings"
    import django

    django.setup()
    return created


def _fill(slapd: Slapd, users: int, groups: int) -> list[str]:
    """Add users and groups in one connection; return the user DNs."""
    chooser = random.Random(7)
    password = ssha("bench password")
    dns = []
    with slapd.connect() as conn:
        for number in range(users):
            uid = f"user{number:05d}"
            dn = f"uid={uid},{PEOPLE}"
            conn.add(
                dn,
                ["inetOrgPerson"],
                {
                    "uid": uid,
                    "cn": uid,
                    "sn": uid,
                    "mail": f"{uid}@example.com",
                    "userPassword": password,
                },
            )
            dns.append(dn)
        for number in range(groups):
            members = chooser.sample(dns, k=max(1, users * 3 // groups))
            if number % 2 and number > 1:
                members.append(f"cn=group{number - 1:04d},{GROUPS}")
            conn.add(
                f"cn=group{number:04d},{GROUPS}",
                ["groupOfNames"],
                {"cn": f"group{number:04d}", "member": members},
            )
    return dns


def _timed(label: str, function: Callable[[], object]) -> None:
    from django.db import connection

    queries = 0

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        nonlocal queries
        queries += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        started = time.perf_counter()
        result = function()
        seconds = time.perf_counter() - started
    print(f"| {label} | {seconds:.2f} s | {queries} | {result} |")


def _run(slapd: Slapd, users: int, groups: int) -> None:
    import dataclasses

    from django.conf import settings
    from django.core.management import call_command
    from django.db import transaction
    from django.test import Client
    from django.test.utils import setup_test_environment

    from ska.directory.ldap_update import link_ldap_group, run_ldap_update
    from ska.directory.models import User

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    section = dataclasses.replace(
        settings.SKA.ldap,
        host=slapd.url,
        dn_user=PEOPLE,
        dn_group=GROUPS,
        admin_group_cn="group0000",
        bind_dn=ROOT_DN,
        bind_password=ROOT_PASSWORD,
        indirect_group_memberships=True,
    )
    settings.SKA = dataclasses.replace(settings.SKA, ldap=section)
    started = time.perf_counter()
    dns = _fill(slapd, users, groups)
    print(
        f"directory: {users} users, {groups} groups, "
        f"loaded in {time.perf_counter() - started:.1f} s"
    )
    with transaction.atomic():
        for dn in dns:
            User.objects.create_user(dn.split(",")[0][4:], auth_realm="LDAP")
    for number in range(groups):
        link_ldap_group(f"group{number:04d}")

    print("| run | wall time | SQL queries | summary |")
    print("|---|---|---|---|")
    _timed("first update", run_ldap_update)
    _timed("nothing to change", run_ldap_update)
    with slapd.connect() as conn:
        for dn in dns[: users // 20]:
            conn.delete(dn)
    _timed("5% left (forced)", lambda: run_ldap_update(force=True))

    setup_test_environment()  # so responses carry their template context
    client = Client(HTTP_HOST="127.0.0.1")
    started = time.perf_counter()
    for number in range(users // 20, users // 20 + LOGINS):
        token = client.get("/login").context["login_token"]
        response = client.post(
            "/login",
            {
                "csrf_token": token,
                "username": f"user{number:05d}",
                "password": "bench password",
            },
        )
        assert response.status_code == 303
        client.post("/logout")
    per_login = (time.perf_counter() - started) / LOGINS * 1000
    print(f"login through the view: {per_login:.0f} ms each over {LOGINS}")


def main() -> None:
    """Start slapd, run the benchmark, stop slapd."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--groups", type=int, default=100)
    arguments = parser.parse_args()
    created = _setup()
    slapd = Slapd()
    slapd.start()
    try:
        slapd.reset()
        _run(slapd, arguments.users, arguments.groups)
    finally:
        slapd.remove()
        if created:
            shutil.rmtree(created, ignore_errors=True)


if __name__ == "__main__":
    main()
