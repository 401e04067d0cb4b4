"""Grant and revoke access, and edit the options that restrict it.

Every change is validated before anything is written, logged as an event
on the destination, and queues a push of the keyfiles it affects.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from django.db import IntegrityError, transaction

from ska.access.models import AccessOption, AccessRule
from ska.access.options import render_options, validate_option
from ska.activity.services import (
    WARNING,
    concrete_entity,
    log_entity_event,
    log_server_event,
    participant,
)
from ska.directory.models import Entity, User
from ska.servers.models import Server, ServerAccount, ServerLdapAccessOption
from ska.sync.requests import sync_account, sync_group, sync_server

logger = logging.getLogger(__name__)

ACCESS_ADD = "Access add"
ACCESS_REMOVE = "Access remove"
ACCESS_OPTIONS_UPDATE = "Access options update"
LDAP_ACCESS_OPTIONS_UPDATE = "LDAP access options update"
NO_OPTIONS: Mapping[str, str | None] = {}


class AccessError(ValueError):
    """A grant that cannot be made; the message is one sentence for users."""


def validated_options(
    options: Mapping[str, str | None],
) -> list[tuple[str, str | None]]:
    """Return the options as they will be stored, or raise OptionError."""
    return [(name, validate_option(name, value)) for name, value in options.items()]


def _sync_destination(dest: Entity) -> None:
    concrete = concrete_entity(dest)
    if isinstance(concrete, ServerAccount):
        sync_account(concrete)
    else:
        sync_group(concrete.pk)


def grant_access(
    source: Entity,
    dest: Entity,
    *,
    actor: User,
    options: Mapping[str, str | None] = NO_OPTIONS,
) -> AccessRule:
    """Grant ``source`` access to a server account or a group's accounts.

    A rule that already exists is returned unchanged. Options are checked
    first, so a bad one (OptionError) leaves nothing written.
    """
    checked = validated_options(options)
    if dest.type not in (Entity.Type.SERVER_ACCOUNT, Entity.Type.GROUP):
        raise AccessError("Access can only be granted to server accounts or groups.")
    if source.pk == dest.pk:
        raise AccessError("An entity cannot be granted access to itself.")
    target = concrete_entity(dest)
    with transaction.atomic():
        if (
            isinstance(target, ServerAccount)
            and target.sync_status == ServerAccount.Status.PROPOSED
        ):
            target.sync_status = ServerAccount.Status.NOT_SYNCED_YET
            target.save(update_fields=["sync_status"])
        rule = AccessRule.objects.filter(source=source, dest=dest).first()
        if rule is None:
            rule = _create_rule(source, dest, actor, checked)
        _sync_destination(target)
    return rule


def _create_rule(
    source: Entity, dest: Entity, actor: User, options: list[tuple[str, str | None]]
) -> AccessRule:
    try:
        with transaction.atomic():
            rule = AccessRule.objects.create(source=source, dest=dest, granted_by=actor)
    except IntegrityError:
        # Someone granted the same pair meanwhile: theirs is the rule.
        return AccessRule.objects.get(source=source, dest=dest)
    log_entity_event(dest, actor, ACCESS_ADD, participant(source), level=WARNING)
    AccessOption.objects.bulk_create(
        AccessOption(rule=rule, option=name, value=value) for name, value in options
    )
    logger.info("access granted rule=%s source=%s dest=%s", rule.pk, source.pk, dest.pk)
    return rule


def revoke_access(rule: AccessRule, *, actor: User) -> None:
    """Remove a rule (and its options) and push the destination again."""
    dest = rule.dest
    with transaction.atomic():
        log_entity_event(dest, actor, ACCESS_REMOVE, participant(rule.source))
        rule.delete()
        _sync_destination(dest)
    logger.info("access revoked source=%s dest=%s", rule.source_id, dest.pk)


def set_access_options(
    rule: AccessRule, options: Mapping[str, str | None], *, actor: User
) -> None:
    """Replace the whole option set of a rule, validated, and log it."""
    checked = validated_options(options)
    with transaction.atomic():
        rule.options.all().delete()
        AccessOption.objects.bulk_create(
            AccessOption(rule=rule, option=name, value=value) for name, value in checked
        )
        log_entity_event(
            rule.dest,
            actor,
            ACCESS_OPTIONS_UPDATE,
            participant(rule.source),
            options=render_options(checked).strip(),
        )
        _sync_destination(rule.dest)


def set_ldap_access_options(
    server: Server, options: Mapping[str, str | None], *, actor: User
) -> None:
    """Replace the options put before every LDAP user's key on a server."""
    checked = validated_options(options)
    with transaction.atomic():
        server.ldap_access_options.all().delete()
        ServerLdapAccessOption.objects.bulk_create(
            ServerLdapAccessOption(server=server, option=name, value=value)
            for name, value in checked
        )
        log_server_event(
            server,
            actor,
            LDAP_ACCESS_OPTIONS_UPDATE,
            render_options(checked).strip(),
        )
        sync_server(server)
