"""The audit log: one event per change, about a server or an entity."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone

from ska.directory.models import Entity
from ska.servers.models import Server


class ServerEvent(models.Model):
    """Something that happened to a server.

    ``details`` is the reference's JSON text, always beginning with
    ``{"action":``, so that readers of the reference database still parse it.
    """

    server = models.ForeignKey(Server, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    date = models.DateTimeField(default=timezone.now, db_index=True)
    details = models.TextField()

    class Meta:
        ordering: ClassVar[list[str]] = ["-date", "-id"]

    def __str__(self) -> str:
        return f"server event {self.pk}"


class EntityEvent(models.Model):
    """Something that happened to a user, group or server account."""

    entity = models.ForeignKey(Entity, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    date = models.DateTimeField(default=timezone.now, db_index=True)
    details = models.TextField()

    class Meta:
        ordering: ClassVar[list[str]] = ["-date", "-id"]

    def __str__(self) -> str:
        return f"entity event {self.pk}"
