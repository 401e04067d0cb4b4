"""Record events: one row per change, mirrored to syslog.

The details are the reference's JSON text, key order ``action``, ``value``,
then ``oldvalue`` and ``field`` for setting updates, so that the last sync
message can still be found by its ``{"action":"Sync status change"`` prefix.
"""

from __future__ import annotations

import json
import logging
import syslog
from typing import TYPE_CHECKING, Any

from ska.activity.models import EntityEvent, ServerEvent
from ska.directory.models import Entity, Group, User

if TYPE_CHECKING:
    from ska.servers.models import Server, ServerAccount

logger = logging.getLogger(__name__)

INFO = syslog.LOG_INFO
WARNING = syslog.LOG_WARNING
SYNC_STATUS_CHANGE = "Sync status change"


def encode_details(action: str, value: Any = None, **extra: Any) -> str:
    """Return the details JSON as the reference writes it."""
    details: dict[str, Any] = {"action": action}
    if value is not None:
        details["value"] = value
    details.update(extra)
    # PHP's json_encode escapes "/"; keep the stored text identical.
    text = json.dumps(details, ensure_ascii=False, separators=(",", ":"))
    return text.replace("/", "\\/")


def participant(entity: Entity) -> str:
    """Name an entity as events do: ``user:x``, ``account:a@h``, ``group:g``."""
    concrete = concrete_entity(entity)
    if isinstance(concrete, User):
        return f"user:{concrete.uid}"
    if isinstance(concrete, Group):
        return f"group:{concrete.name}"
    return f"account:{concrete}"


def concrete_entity(entity: Entity) -> User | Group | ServerAccount:
    """Return the user, group or server account behind an entity row."""
    if isinstance(entity, User | Group):
        return entity
    from ska.servers.models import ServerAccount

    if isinstance(entity, ServerAccount):
        return entity
    if entity.type == Entity.Type.USER:
        return User.objects.get(pk=entity.pk)
    if entity.type == Entity.Type.GROUP:
        return Group.objects.get(pk=entity.pk)
    return ServerAccount.objects.select_related("server").get(pk=entity.pk)


def _mirror_to_syslog(
    scope: str, actor: User | None, details: dict[str, Any], level: int
) -> None:
    """Send the reference's ``KeysScope="..." KeysRequester="..."`` line."""
    parts = [f'KeysScope="{scope}"', f'KeysRequester="{actor.uid if actor else ""}"']
    for key, value in details.items():
        shown = "" if value is None else str(value).replace('"', "")
        parts.append(f'Keys{key[:1].upper()}{key[1:]}="{shown}"')
    syslog.openlog("keys", syslog.LOG_ODELAY, syslog.LOG_AUTH)
    syslog.syslog(level, " ".join(parts).replace("\n", " "))


def log_server_event(
    server: Server,
    actor: User | None,
    action: str,
    value: Any = None,
    *,
    level: int = INFO,
    **extra: Any,
) -> ServerEvent:
    """Record an event about a server."""
    text = encode_details(action, value, **extra)
    event = ServerEvent.objects.create(server=server, actor=actor, details=text)
    _mirror_to_syslog(f"server:{server.hostname}", actor, json.loads(text), level)
    return event


def log_entity_event(
    entity: Entity,
    actor: User | None,
    action: str,
    value: Any = None,
    *,
    level: int = INFO,
    **extra: Any,
) -> EntityEvent:
    """Record an event about a user, group or server account."""
    text = encode_details(action, value, **extra)
    event = EntityEvent.objects.create(entity=entity, actor=actor, details=text)
    scope = participant(entity)
    _mirror_to_syslog(scope, actor, json.loads(text), level)
    return event


def setting_field_name(column: str) -> str:
    """Name a changed column as events do: ``ip_address`` -> ``Ip address``."""
    text = column.replace("_", " ")
    return text[:1].upper() + text[1:]


def last_sync_event(server: Server) -> ServerEvent | None:
    """Return the newest ``Sync status change`` event of a server."""
    prefix = encode_details(SYNC_STATUS_CHANGE)[:-1]
    return (
        ServerEvent.objects.filter(server=server, details__startswith=prefix)
        .order_by("-id")
        .first()
    )
