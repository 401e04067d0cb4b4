"""Services of the directory: the system actor and local accounts."""

from __future__ import annotations

import logging
import re
import secrets

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from ska.activity.services import INFO, log_entity_event
from ska.directory.models import KEYS_SYNC_UID, User
from ska.sync.requests import sync_remote_access

logger = logging.getLogger(__name__)

INITIAL_ADMIN_UID = "admin"
UID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,50}")
NAME_MAX = 100
PASSWORD_MIN = 8


class DirectoryError(ValueError):
    """Input the directory refuses; the message is one line for the user."""


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


def uid_problem(uid: str) -> str | None:
    """Return why ``uid`` cannot name a user, or None if it can."""
    if not UID_PATTERN.fullmatch(uid):
        return (
            f"invalid user name {uid!r}: use 1 to 50 letters, digits, "
            "dots, hyphens or underscores"
        )
    if uid.lower() == KEYS_SYNC_UID:
        return f"the user name {KEYS_SYNC_UID!r} is reserved for the system"
    return None


def _check_new_user(uid: str, name: str, email: str) -> None:
    """Raise DirectoryError unless the fields can make a new local user."""
    if problem := uid_problem(uid):
        raise DirectoryError(problem)
    if len(name) > NAME_MAX or "\n" in name or "\r" in name:
        raise DirectoryError(f"invalid name: at most {NAME_MAX} characters, one line")
    try:
        validate_email(email)
    except ValidationError:
        raise DirectoryError(f"invalid e-mail address {email!r}") from None
    if User.objects.filter(uid__iexact=uid).exists():
        raise DirectoryError(f"the user {uid!r} already exists")


def _check_password(password: str) -> None:
    if len(password) < PASSWORD_MIN:
        raise DirectoryError(
            f"the password must have at least {PASSWORD_MIN} characters"
        )


def create_local_user(
    uid: str,
    name: str,
    email: str,
    *,
    admin: bool = False,
    actor: User,
    password: str | None = None,
) -> tuple[User, str]:
    """Create a local user; return it and its password (generated if None)."""
    name = name.strip() or uid
    _check_new_user(uid, name, email)
    if password is None:
        password = secrets.token_urlsafe(15)
    _check_password(password)
    user = User.objects.create_user(
        uid,
        name=name,
        email=email,
        password=password,
        admin=admin,
        auth_realm=User.Realm.LOCAL,
    )
    logger.info("local user created user=%s admin=%s actor=%s", uid, admin, actor)
    return user, password


def get_user(uid: str) -> User:
    """Return the user named ``uid`` (any case), or raise DirectoryError."""
    user = User.objects.filter(uid__iexact=uid).first()
    if user is None:
        raise DirectoryError(f"no user named {uid!r}")
    return user


def set_password(user: User, password: str) -> None:
    """Set a local user's password."""
    if user.auth_realm != User.Realm.LOCAL or user.is_system:
        raise DirectoryError(f"{user.uid!r} is not a local account; it has no password")
    _check_password(password)
    user.set_password(password)
    user.save(update_fields=["password"])
    logger.info("local password set user=%s", user.uid)


def _set_force_disable(user: User, disabled: bool, actor: User) -> bool:
    """Change ``force_disable``; log it and queue syncs; say if it changed."""
    if user.is_system:
        raise DirectoryError("the system user cannot be disabled or enabled")
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        if locked.force_disable == disabled:
            return False
        locked.force_disable = disabled
        locked.save(update_fields=["force_disable"])
        log_entity_event(
            locked,
            actor,
            "Setting update",
            "1" if disabled else "0",
            oldvalue="0" if disabled else "1",
            field="Force disable",
            level=INFO,
        )
        # Our "disable" also withdraws the user's keys from every server.
        sync_remote_access(locked)
    user.force_disable = disabled
    return True


def disable_user(user: User, *, actor: User) -> bool:
    """Block a user's login and key deployment; say whether anything changed."""
    return _set_force_disable(user, True, actor)


def enable_user(user: User, *, actor: User) -> bool:
    """Lift an administrator's block; say whether anything changed."""
    return _set_force_disable(user, False, actor)
