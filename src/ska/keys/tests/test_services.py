"""Key services: what is stored, recorded and queued, and what is refused."""

from __future__ import annotations

import json
import syslog
from datetime import date

import pytest
from django.test import override_settings
from django.utils import timezone

from ska.access.models import AccessRule
from ska.activity.models import EntityEvent
from ska.config import Config, SecuritySection
from ska.directory.models import User
from ska.keys.models import DestinationRule, PublicKey
from ska.keys.services import (
    DestinationRuleRejected,
    KeyRejected,
    KeyTooWeak,
    add_destination_rule,
    add_public_key,
    delete_destination_rule,
    delete_public_key,
    key_json,
)
from ska.keys.tests.conftest import SK_ECDSA_LINE, SampleKey
from ska.keys.tests.test_parsing import ECDSA, ED25519
from ska.servers.models import Server, ServerAccount
from ska.sync.models import SyncRequest

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice() -> User:
    """Return a user with access to root@web.example.com."""
    user = User.objects.create_user("alice", name="Alice Liddell")
    server = Server.objects.create(hostname="web.example.com")
    account = ServerAccount.objects.create(server=server, name="root")
    AccessRule.objects.create(source=user, dest=account)
    return user


@pytest.fixture
def admin() -> User:
    """Return an administrator who acts on others' keys."""
    return User.objects.create_user("boss", admin=True)


@pytest.fixture
def deploy() -> ServerAccount:
    """Return a server account on a managed server."""
    server = Server.objects.create(hostname="db.example.com")
    return ServerAccount.objects.create(server=server, name="deploy")


def _events(owner: User | ServerAccount) -> list[dict[str, str]]:
    return [
        json.loads(event.details)
        for event in EntityEvent.objects.filter(entity_id=owner.pk).order_by("id")
    ]


def _queued() -> set[tuple[str, str]]:
    return {
        (row.server.hostname, row.account_name)
        for row in SyncRequest.objects.select_related("server")
    }


def test_add_public_key_stores_the_key_records_and_queues_syncs(
    alice: User, admin: User
) -> None:
    key = add_public_key(alice, f"{ED25519} alice@laptop\n", actor=admin)

    stored = PublicKey.objects.get(pk=key.pk)
    assert stored.owner_id == alice.pk
    assert (stored.type, stored.comment, stored.keysize) == (
        "ssh-ed25519",
        "alice@laptop",
        256,
    )
    assert stored.export() == f"{ED25519} alice@laptop"
    assert len(stored.fingerprint_md5) == 47
    assert len(stored.fingerprint_sha256) == 43
    assert stored.randomart_md5.endswith("+------[MD5]------+")
    assert stored.randomart_sha256.startswith("+--[ED25519 256]--+")
    assert stored.creation_date == timezone.now().date()
    assert stored.deletion_date is None
    assert _events(alice) == [{"action": "Pubkey add", "value": key.fingerprint_md5}]
    assert EntityEvent.objects.get(entity_id=alice.pk).actor_id == admin.pk
    assert _queued() == {("web.example.com", "root")}


def test_add_public_key_keeps_an_international_comment(alice: User) -> None:
    key = add_public_key(alice, f"{ED25519} José's clé 🔑", actor=alice)

    assert PublicKey.objects.get(pk=key.pk).comment == "José's clé 🔑"


def test_add_public_key_without_comment_names_the_user_and_date(
    alice: User,
) -> None:
    key = add_public_key(alice, ED25519, actor=alice)

    assert key.comment == f"alice-{timezone.now().date().isoformat()}"


def test_add_public_key_without_comment_gives_an_account_key_the_date(
    deploy: ServerAccount, admin: User
) -> None:
    key = add_public_key(deploy, ED25519, actor=admin)

    assert key.comment == timezone.now().date().isoformat()
    assert _events(deploy) == [{"action": "Pubkey add", "value": key.fingerprint_md5}]


def test_add_public_key_accepts_a_fido_ecdsa_key_under_the_default_minimum(
    alice: User,
) -> None:
    key = add_public_key(alice, SK_ECDSA_LINE, actor=alice)

    assert (key.type, key.keysize) == ("sk-ecdsa-sha2-nistp256@openssh.com", 256)


@pytest.mark.parametrize(
    "text",
    [
        f"no-pty {ED25519}",
        f"{ED25519} one\n{ECDSA} two",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n",
        ED25519[:-6],
        ECDSA,
        f"{ED25519} a\0b",
    ],
)
def test_add_public_key_stores_nothing_for_a_bad_key(alice: User, text: str) -> None:
    with pytest.raises(KeyRejected):
        add_public_key(alice, text, actor=alice)

    assert not PublicKey.objects.exists()
    assert not EntityEvent.objects.exists()
    assert not SyncRequest.objects.exists()


def test_add_public_key_refuses_a_key_the_owner_already_holds(alice: User) -> None:
    first = add_public_key(alice, f"{ED25519} one", actor=alice)

    with pytest.raises(KeyRejected, match="already"):
        add_public_key(alice, f"{ED25519} other comment", actor=alice)

    assert list(PublicKey.objects.all()) == [first]
    assert len(_events(alice)) == 1


def test_add_public_key_takes_back_a_key_that_was_deleted(alice: User) -> None:
    first = add_public_key(alice, ED25519, actor=alice)
    delete_public_key(first, actor=alice)

    second = add_public_key(alice, ED25519, actor=alice)

    assert second.pk != first.pk
    assert PublicKey.objects.filter(deletion_date__isnull=True).get() == second


def test_add_public_key_lets_two_owners_hold_the_same_key(
    alice: User, deploy: ServerAccount, admin: User
) -> None:
    add_public_key(alice, ED25519, actor=alice)
    add_public_key(deploy, ED25519, actor=admin)

    assert PublicKey.objects.count() == 2


def test_add_public_key_forces_a_weak_key_only_for_a_server_account(
    alice: User, deploy: ServerAccount, admin: User
) -> None:
    with pytest.raises(KeyTooWeak):
        add_public_key(deploy, ECDSA, actor=admin)
    with pytest.raises(KeyRejected, match="server accounts only"):
        add_public_key(alice, ECDSA, actor=admin, force=True)
    with pytest.raises(KeyRejected, match="server accounts only"):
        add_public_key(alice, ED25519, actor=admin, force=True)

    key = add_public_key(deploy, ECDSA, actor=admin, force=True)

    assert key.keysize == 256
    assert list(PublicKey.objects.all()) == [key]


def test_add_public_key_follows_the_configured_minimum(alice: User) -> None:
    lowered = Config(security=SecuritySection(min_ecdsa_bits=256))

    with override_settings(SKA=lowered):
        key = add_public_key(alice, ECDSA, actor=alice)

    assert key.keysize == 256


def test_add_public_key_takes_dsa_keys_when_configured(
    alice: User, generated_keys: dict[str, SampleKey]
) -> None:
    line = generated_keys["dsa"].line

    with pytest.raises(KeyRejected, match="DSA"):
        add_public_key(alice, line, actor=alice)
    with override_settings(SKA=Config(security=SecuritySection(accept_dsa_keys=True))):
        key = add_public_key(alice, line, actor=alice)

    assert (key.type, key.keysize) == ("ssh-dss", 1024)


def test_delete_public_key_marks_it_records_and_queues_syncs(
    alice: User, admin: User
) -> None:
    key = add_public_key(alice, ED25519, actor=alice)
    SyncRequest.objects.all().delete()

    changed = delete_public_key(key, actor=admin)

    stored = PublicKey.objects.get(pk=key.pk)
    assert changed
    assert stored.deletion_date == timezone.now().date()
    assert stored.deleted
    assert _events(alice)[-1] == {
        "action": "Pubkey remove",
        "value": key.fingerprint_md5,
    }
    assert _queued() == {("web.example.com", "root")}


def test_key_events_reach_syslog_at_the_reference_levels(
    alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines: list[tuple[int, str]] = []
    monkeypatch.setattr(
        syslog, "syslog", lambda level, text: lines.append((level, text))
    )

    key = add_public_key(alice, ED25519, actor=alice)
    delete_public_key(key, actor=alice)

    fingerprint = f'KeysValue="{key.fingerprint_md5}"'
    assert [(level, fingerprint in text) for level, text in lines] == [
        (syslog.LOG_WARNING, True),
        (syslog.LOG_INFO, True),
    ]
    assert 'KeysAction="Pubkey add"' in lines[0][1]
    assert 'KeysAction="Pubkey remove"' in lines[1][1]


def test_delete_public_key_twice_changes_nothing(alice: User) -> None:
    key = add_public_key(alice, ED25519, actor=alice)
    delete_public_key(key, actor=alice)
    earlier = date(2020, 1, 2)
    PublicKey.objects.filter(pk=key.pk).update(deletion_date=earlier)
    SyncRequest.objects.all().delete()

    changed = delete_public_key(key, actor=alice)

    assert not changed
    assert PublicKey.objects.get(pk=key.pk).deletion_date == earlier
    assert [event["action"] for event in _events(alice)] == [
        "Pubkey add",
        "Pubkey remove",
    ]
    assert not SyncRequest.objects.exists()


def test_add_destination_rule_stores_it_and_queues_syncs(alice: User) -> None:
    key = add_public_key(alice, ED25519, actor=alice)
    SyncRequest.objects.all().delete()

    rule = add_destination_rule(key, "root", "*.example.com", actor=alice)

    assert list(key.dest_rules.all()) == [rule]
    assert (rule.account_name_filter, rule.hostname_filter) == (
        "root",
        "*.example.com",
    )
    assert _queued() == {("web.example.com", "root")}


@pytest.mark.parametrize(
    ("account_filter", "hostname_filter", "message"),
    [
        ("", "*", "account name filter cannot be empty"),
        ("*", "", "hostname filter cannot be empty"),
        ("a" * 51, "*", "limited to 50 characters"),
        ("*", "h" * 256, "limited to 255 characters"),
        ("ro ot", "*", "blanks or control characters"),
        ("root\n", "*", "blanks or control characters"),
        ("root", "web\x00", "blanks or control characters"),
        ("root", "web\u2028", "blanks or control characters"),
        ("../root", "*", 'cannot contain "/"'),
        ("root", "web/1", 'cannot contain "/"'),
        ("root", "web,db", 'cannot contain ","'),
        ("root", 'web"', 'cannot contain """'),
    ],
)
def test_add_destination_rule_refuses_bad_filters(
    alice: User, account_filter: str, hostname_filter: str, message: str
) -> None:
    key = add_public_key(alice, ED25519, actor=alice)
    SyncRequest.objects.all().delete()

    with pytest.raises(DestinationRuleRejected) as caught:
        add_destination_rule(key, account_filter, hostname_filter, actor=alice)

    assert message in caught.value.message
    assert not DestinationRule.objects.exists()
    assert not SyncRequest.objects.exists()


def test_add_destination_rule_accepts_long_and_international_filters(
    alice: User,
) -> None:
    key = add_public_key(alice, ED25519, actor=alice)

    rule = add_destination_rule(key, "a" * 50, "bücher-*." + "x" * 246, actor=alice)

    assert len(rule.hostname_filter) == 255


def test_add_destination_rule_refuses_a_deleted_key_and_a_repeat(
    alice: User,
) -> None:
    key = add_public_key(alice, ED25519, actor=alice)
    add_destination_rule(key, "root", "*", actor=alice)

    with pytest.raises(DestinationRuleRejected, match="already exists"):
        add_destination_rule(key, "root", "*", actor=alice)
    delete_public_key(key, actor=alice)
    with pytest.raises(DestinationRuleRejected, match="deleted"):
        add_destination_rule(key, "app", "*", actor=alice)

    assert DestinationRule.objects.count() == 1


def test_delete_destination_rule_removes_it_and_queues_syncs(alice: User) -> None:
    key = add_public_key(alice, ED25519, actor=alice)
    rule = add_destination_rule(key, "root", "*", actor=alice)
    SyncRequest.objects.all().delete()

    delete_destination_rule(rule, actor=alice)

    assert not DestinationRule.objects.exists()
    assert _queued() == {("web.example.com", "root")}


def test_key_json_lists_fields_in_the_reference_order(
    alice: User, deploy: ServerAccount, admin: User
) -> None:
    key = add_public_key(alice, f"{ED25519} laptop", actor=alice)
    account_key = add_public_key(deploy, f"{ED25519} ci", actor=admin)
    delete_public_key(account_key, actor=admin)
    today = timezone.now().date().isoformat()

    user_json = key_json(key, include_keydata=True, include_owner=True)
    account_json = key_json(
        PublicKey.objects.get(pk=account_key.pk),
        include_keydata=False,
        include_owner=True,
    )

    assert list(user_json) == [
        "keydata",
        "creation_date",
        "type",
        "keysize",
        "fingerprint",
        "fingerprint_md5",
        "fingerprint_sha256",
        "deletion_date",
        "owner",
    ]
    assert user_json["keydata"] == f"{ED25519} laptop"
    assert user_json["creation_date"] == today
    assert user_json["fingerprint"] == user_json["fingerprint_md5"]
    assert user_json["deletion_date"] is None
    assert user_json["owner"] == {
        "type": "User",
        "uid": "alice",
        "name": "Alice Liddell",
    }
    assert list(user_json["owner"]) == ["type", "uid", "name"]
    assert "keydata" not in account_json
    assert account_json["deletion_date"] == today
    assert account_json["owner"] == {
        "type": "ServerAccount",
        "hostname": "db.example.com",
        "name": "deploy",
    }
    assert key_json(key) == {k: v for k, v in user_json.items() if k != "owner"}


def test_key_json_writes_no_date_for_an_old_key(alice: User) -> None:
    key = add_public_key(alice, ED25519, actor=alice)
    PublicKey.objects.filter(pk=key.pk).update(creation_date=None)

    data = key_json(PublicKey.objects.get(pk=key.pk))

    assert data["creation_date"] is None
    assert data["keysize"] == 256
