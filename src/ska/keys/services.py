"""Adding and removing public keys and their destination rules.

Every change is recorded as the reference records it and queues syncs of
everywhere the key's owner has access, so that a key removed here is
removed from the servers too.
"""

from __future__ import annotations

import logging
import unicodedata
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ska.activity.services import (
    INFO,
    WARNING,
    concrete_entity,
    log_entity_event,
    participant,
)
from ska.directory.models import Entity, User
from ska.keys.models import DestinationRule, PublicKey
from ska.keys.parsing import (
    KeyRejected,
    KeyTooWeak,
    ParsedKey,
    check_strength,
    parse_public_key,
)
from ska.servers.models import ServerAccount
from ska.sync.requests import sync_remote_access

__all__ = [
    "DestinationRuleRejected",
    "KeyRejected",
    "KeyTooWeak",
    "add_destination_rule",
    "add_public_key",
    "delete_destination_rule",
    "delete_public_key",
    "key_json",
    "read_public_key",
]

logger = logging.getLogger(__name__)

PUBKEY_ADD = "Pubkey add"
PUBKEY_REMOVE = "Pubkey remove"
ACCOUNT_FILTER_LENGTH = 50
HOSTNAME_FILTER_LENGTH = 255


class DestinationRuleRejected(ValueError):
    """A destination rule that cannot be stored; ``message`` is for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _default_comment(owner: User | ServerAccount) -> str:
    """Return the comment of a key submitted without one (UTC date)."""
    today = timezone.now().date().isoformat()
    return f"{owner.uid}-{today}" if isinstance(owner, User) else today


def read_public_key(
    owner: Entity, text: str, *, force: bool = False
) -> tuple[ParsedKey, str]:
    """Check a key submitted for ``owner``; return it and the comment to store.

    ``force`` accepts a key below the size minimum, and only for a server
    account: a person's key must always meet the minimum.
    """
    concrete = concrete_entity(owner)
    if force and not isinstance(concrete, ServerAccount):
        raise KeyRejected(
            "Weak keys can be accepted for server accounts only, not for users."
        )
    security = settings.SKA.security
    parsed = parse_public_key(text, accept_dsa=security.accept_dsa_keys)
    if not force:
        check_strength(parsed, security)
    if isinstance(concrete, User | ServerAccount):
        return parsed, parsed.comment or _default_comment(concrete)
    raise KeyRejected("Only users and server accounts can hold public keys.")


def add_public_key(
    owner: Entity, text: str, *, actor: User, force: bool = False
) -> PublicKey:
    """Check and store a public key for a user or server account.

    Raise KeyRejected (nothing stored) for a bad key, or for a key that the
    owner already holds.
    """
    parsed, comment = read_public_key(owner, text, force=force)
    with transaction.atomic():
        # Lock the owner so that two identical submissions cannot both pass
        # the duplicate check.
        Entity.objects.select_for_update().filter(pk=owner.pk).first()
        held = PublicKey.objects.filter(
            owner_id=owner.pk,
            deletion_date__isnull=True,
            type=parsed.type,
            fingerprint_sha256=parsed.fingerprint_sha256,
        )
        if held.exists():
            raise KeyRejected(
                "This public key is already on the list "
                f"(SHA256:{parsed.fingerprint_sha256})."
            )
        key = PublicKey.objects.create(
            owner_id=owner.pk,
            type=parsed.type,
            keydata=parsed.keydata,
            comment=comment,
            keysize=parsed.bits,
            fingerprint_md5=parsed.fingerprint_md5,
            fingerprint_sha256=parsed.fingerprint_sha256,
            randomart_md5=parsed.randomart_md5,
            randomart_sha256=parsed.randomart_sha256,
        )
        log_entity_event(owner, actor, PUBKEY_ADD, key.fingerprint_md5, level=WARNING)
        sync_remote_access(owner)
    logger.info(
        "public key added owner=%s key=%s fingerprint=SHA256:%s forced=%s",
        participant(owner),
        key.pk,
        key.fingerprint_sha256,
        force,
    )
    return key


def delete_public_key(key: PublicKey, *, actor: User) -> bool:
    """Mark a key deleted; say whether it changed (a deleted key stays so)."""
    with transaction.atomic():
        changed = PublicKey.objects.filter(
            pk=key.pk, deletion_date__isnull=True
        ).update(deletion_date=timezone.now().date())
        if not changed:
            return False
        key.refresh_from_db(fields=["deletion_date"])
        owner = key.owner
        log_entity_event(owner, actor, PUBKEY_REMOVE, key.fingerprint_md5, level=INFO)
        sync_remote_access(owner)
    logger.info(
        "public key removed owner=%s key=%s fingerprint=SHA256:%s",
        participant(owner),
        key.pk,
        key.fingerprint_sha256,
    )
    return True


def _filter_problem(value: str, what: str, limit: int, forbidden: str) -> str | None:
    """Say why a ``*`` pattern cannot be used as a filter, or None."""
    if not value:
        return f"The {what} filter cannot be empty; use * to match any."
    if len(value) > limit:
        return f"The {what} filter is limited to {limit} characters."
    for character in value:
        category = unicodedata.category(character)
        if character.isspace() or category.startswith("C") or category == "Zl":
            return f"The {what} filter cannot contain blanks or control characters."
        if character in forbidden:
            return f'The {what} filter cannot contain "{character}".'
    return None


def _hostname_filter_problem(value: str) -> str | None:
    problem = _filter_problem(value, "hostname", HOSTNAME_FILTER_LENGTH, "")
    if problem:
        return problem
    # Host names: ASCII letters, digits, "-._", any non-ASCII letter.
    for character in value:
        if character.isascii() and not (character.isalnum() or character in "-._*"):
            return f'The hostname filter cannot contain "{character}".'
    return None


def add_destination_rule(
    key: PublicKey, account_filter: str, hostname_filter: str, *, actor: User
) -> DestinationRule:
    """Restrict a key to accounts and hosts matching ``*`` patterns."""
    problem = _filter_problem(
        account_filter, "account name", ACCOUNT_FILTER_LENGTH, "/"
    ) or _hostname_filter_problem(hostname_filter)
    if problem:
        raise DestinationRuleRejected(problem)
    if key.deleted:
        raise DestinationRuleRejected("A deleted key cannot get destination rules.")
    with transaction.atomic():
        if key.dest_rules.filter(
            account_name_filter=account_filter, hostname_filter=hostname_filter
        ).exists():
            raise DestinationRuleRejected("This destination rule already exists.")
        rule = DestinationRule.objects.create(
            key=key,
            account_name_filter=account_filter,
            hostname_filter=hostname_filter,
        )
        sync_remote_access(key.owner)
    logger.info(
        "destination rule added key=%s rule=%s actor=%s", key.pk, rule, actor.uid
    )
    return rule


def delete_destination_rule(rule: DestinationRule, *, actor: User) -> None:
    """Remove a destination rule; its key goes everywhere its rules allow."""
    with transaction.atomic():
        owner = rule.key.owner
        shown = str(rule)
        rule.delete()
        sync_remote_access(owner)
    logger.info(
        "destination rule removed key=%s rule=%s actor=%s",
        rule.key_id,
        shown,
        actor.uid,
    )


def _owner_json(owner: Entity) -> dict[str, Any]:
    concrete = concrete_entity(owner)
    if isinstance(concrete, User):
        return {"type": "User", "uid": concrete.uid, "name": concrete.name}
    if isinstance(concrete, ServerAccount):
        return {
            "type": "ServerAccount",
            "hostname": concrete.server.hostname,
            "name": concrete.name,
        }
    return {"type": "Group", "name": concrete.name}


def key_json(
    key: PublicKey, *, include_keydata: bool = True, include_owner: bool = False
) -> dict[str, Any]:
    """Return the key object of the JSON outputs, keys in the reference order."""
    data: dict[str, Any] = {}
    if include_keydata:
        data["keydata"] = key.export()
    creation = key.creation_date.isoformat() if key.creation_date else None
    deletion = key.deletion_date.isoformat() if key.deletion_date else None
    data.update(
        creation_date=creation,
        type=key.type,
        keysize=key.keysize,
        fingerprint=key.fingerprint_md5,
        fingerprint_md5=key.fingerprint_md5,
        fingerprint_sha256=key.fingerprint_sha256,
        deletion_date=deletion,
    )
    if include_owner:
        data["owner"] = _owner_json(key.owner)
    return data
