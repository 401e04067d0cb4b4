"""Sync requests are queued where access changes, once per target."""

from datetime import timedelta
from typing import Any

import pytest
from django.db import OperationalError, connections

from ska.access.models import AccessRule
from ska.directory.models import Group, GroupMember, User
from ska.servers.models import Server, ServerAccount
from ska.sync.models import SyncRequest
from ska.sync.requests import (
    request_syncs,
    sync_group,
    sync_remote_access,
    sync_server,
)

pytestmark = pytest.mark.django_db


def _queued() -> set[tuple[str, str]]:
    return {
        (row.server.hostname, row.account_name)
        for row in SyncRequest.objects.select_related("server")
    }


def test_repeated_requests_for_one_target_collapse_into_one_row() -> None:
    server = Server.objects.create(hostname="a.example.com")

    request_syncs([(server.pk, "root")])
    request_syncs([(server.pk, "root"), (server.pk, "root")])
    request_syncs([(server.pk, "")])
    request_syncs([(server.pk, "")])

    assert SyncRequest.objects.count() == 2


def test_delayed_retry_does_not_postpone_a_request_due_now() -> None:
    server = Server.objects.create(hostname="a.example.com")
    request_syncs([(server.pk, "")])

    request_syncs([(server.pk, "")], delay=timedelta(minutes=30))

    assert SyncRequest.objects.get().execution_time is None


def test_user_change_syncs_direct_group_and_ldap_targets() -> None:
    web = Server.objects.create(hostname="web.example.com")
    db = Server.objects.create(hostname="db.example.com")
    Server.objects.create(hostname="ldap.example.com", authorization="automatic LDAP")
    Server.objects.create(hostname="off.example.com", key_management="none")
    root_web = ServerAccount.objects.create(server=web, name="root")
    app_db = ServerAccount.objects.create(server=db, name="app")
    dbas = Group.objects.create(name="dbas")
    dbs = Group.objects.create(name="dbs")
    GroupMember.objects.create(group=dbs, entity=app_db)
    alice = User.objects.create_user("alice")
    GroupMember.objects.create(group=dbas, entity=alice)
    AccessRule.objects.create(source=alice, dest=root_web)
    AccessRule.objects.create(source=dbas, dest=dbs)

    sync_remote_access(alice)

    assert _queued() == {
        ("web.example.com", "root"),
        ("db.example.com", "app"),
        ("ldap.example.com", "alice"),
    }


def test_group_sync_reaches_nested_groups_and_survives_cycles() -> None:
    server = Server.objects.create(hostname="web.example.com")
    outer = Group.objects.create(name="outer")
    inner = Group.objects.create(name="inner")
    GroupMember.objects.create(group=outer, entity=inner)
    GroupMember.objects.create(group=inner, entity=outer)
    account = ServerAccount.objects.create(server=server, name="deploy")
    GroupMember.objects.create(group=inner, entity=account)

    sync_group(outer.pk)

    assert _queued() == {("web.example.com", "deploy")}


def test_unmanaged_servers_get_no_requests() -> None:
    server = Server.objects.create(hostname="x.example.com", key_management="other")

    assert sync_server(server) == 0
    assert not SyncRequest.objects.exists()


def test_request_lost_to_a_deadlock_is_tried_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = Server.objects.create(hostname="a.example.com")
    real_bulk_create = SyncRequest.objects.bulk_create
    calls: list[int] = []

    def deadlock_once(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError(1213, "Deadlock found when trying to get lock")
        return real_bulk_create(*args, **kwargs)

    monkeypatch.setattr(SyncRequest.objects, "bulk_create", deadlock_once)
    monkeypatch.setattr(connections["default"], "in_atomic_block", False)

    assert request_syncs([(server.pk, "root")]) == 1
    assert len(calls) == 2
    assert SyncRequest.objects.filter(account_name="root").exists()


def test_deadlock_inside_a_transaction_is_left_to_the_caller(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = Server.objects.create(hostname="a.example.com")

    def deadlock(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError(1213, "Deadlock found when trying to get lock")

    monkeypatch.setattr(SyncRequest.objects, "bulk_create", deadlock)

    with pytest.raises(OperationalError):
        request_syncs([(server.pk, "root")])
