"""The entity id space and the constraints of users and groups."""

import pytest
from django.db import IntegrityError

from ska.directory.models import Entity, Group, GroupMember, User
from ska.servers.models import Server, ServerAccount

pytestmark = pytest.mark.django_db


def test_entities_share_one_id_space() -> None:
    user = User.objects.create_user("alice", name="Alice")
    group = Group.objects.create(name="admins")
    server = Server.objects.create(hostname="web1.example.com")
    account = ServerAccount.objects.create(server=server, name="root")

    ids = {user.pk, group.pk, account.pk}
    assert len(ids) == 3
    assert {entity.type for entity in Entity.objects.all()} == {
        "user",
        "group",
        "server account",
    }


def test_user_uid_is_unique_whatever_its_case() -> None:
    User.objects.create_user("alice")

    with pytest.raises(IntegrityError):
        User.objects.create_user("ALICE")


def test_user_lookup_by_natural_key_ignores_case() -> None:
    alice = User.objects.create_user("Alice")

    assert User.objects.get_by_natural_key("alice") == alice


def test_group_member_is_recorded_once() -> None:
    group = Group.objects.create(name="ops")
    user = User.objects.create_user("bob")
    GroupMember.objects.create(group=group, entity=user)

    with pytest.raises(IntegrityError):
        GroupMember.objects.create(group=group, entity=user)


def test_disabled_user_keeps_no_login_and_no_keys() -> None:
    user = User.objects.create_user("carol", force_disable=True)

    assert not user.is_active
    assert not user.keys_deployable
