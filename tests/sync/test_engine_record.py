"""The record phase: what a push's result becomes in the database."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from ska.servers.models import Server, ServerAccount
from ska.sync.plan import build_plan
from ska.sync.push import PushResult
from ska.sync.record import record
from tests.sync.scenario import server_events

# The phases refresh their connection, which a test transaction forbids.
pytestmark = pytest.mark.django_db(transaction=True)


def _result(**changes: Any) -> PushResult:
    success = PushResult("sync success", "Synced successfully", None, False)
    return dataclasses.replace(success, **changes)


def test_record_of_a_deleted_server_is_none() -> None:
    server = Server.objects.create(hostname="gone.example.com")
    plan = build_plan(server.pk)
    assert plan is not None
    server.delete()

    assert record(plan, _result()) is None


def test_record_keeps_a_pin_set_while_the_push_ran() -> None:
    server = Server.objects.create(hostname="web.example.com")
    plan = build_plan(server.pk)
    assert plan is not None
    Server.objects.filter(pk=server.pk).update(host_key="ssh-ed25519 AAAAset")

    record(plan, _result(learned_host_key="ssh-ed25519 AAAAlearned"))

    server.refresh_from_db()
    assert server.host_key == "ssh-ed25519 AAAAset"
    assert "Host key" not in {e.get("field") for e in server_events(server)}


def test_record_leaves_proposed_accounts_alone() -> None:
    server = Server.objects.create(hostname="web.example.com")
    asked = ServerAccount.objects.create(
        server=server, name="asked", sync_status=ServerAccount.Status.PROPOSED
    )
    plan = build_plan(server.pk)
    assert plan is not None

    record(plan, _result(account_status={asked.pk: "sync failure"}))

    asked.refresh_from_db()
    assert asked.sync_status == "proposed"


def test_record_failure_with_non_fatal_issue_logs_both() -> None:
    server = Server.objects.create(hostname="web.example.com")
    plan = build_plan(server.pk)
    assert plan is not None
    failed = "1 account failed to sync; code=account_sync_failed; retry=30m"
    issue = (
        "Monitoring status file update failed; reason=x; "
        "code=monitoring_status_write_failed"
    )

    outcome = record(
        plan,
        _result(
            status="sync failure",
            message=failed,
            code="account_sync_failed",
            retry=True,
            nonfatal=issue,
        ),
    )

    assert outcome is not None
    assert (outcome.ok, outcome.status, outcome.retry) == (False, "sync failure", True)
    assert [(e["action"], e.get("value")) for e in server_events(server)][-3:] == [
        ("Sync status change", failed),
        ("Setting update", "sync failure"),
        ("Sync non-fatal issue", issue),
    ]
