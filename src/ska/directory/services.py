"""Services of the directory: users and groups, local and LDAP."""

from __future__ import annotations

import secrets

from django.db import transaction

from ska.directory.models import KEYS_SYNC_UID, User

INITIAL_ADMIN_UID = "admin"


def get_keys_sync_user() -> User:
    """Return the system actor of automatic changes, creating it if needed."""
    user, _ = User.objects.get_or_create(
        uid=KEYS_SYNC_UID,
        defaults={"name": "Synchronization script", "admin": True},
    )
    return user


@transaction.atomic
def ensure_initial_admin() -> tuple[User, str] | None:
    """Create a local admin if there is no admin yet; return it and its password."""
    if User.objects.filter(admin=True).exclude(uid=KEYS_SYNC_UID).exists():
        return None
    password = secrets.token_urlsafe(15)
    admin = User.objects.create_user(
        INITIAL_ADMIN_UID,
        name="Administrator",
        password=password,
        admin=True,
        auth_realm=User.Realm.LOCAL,
    )
    return admin, password
