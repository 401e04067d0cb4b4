"""Keys found on servers that the authority did not put there."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from ska.servers.models import Server


class ExternalKey(models.Model):
    """A key seen in an account's own authorized_keys files."""

    class Status(models.TextChoices):
        NEW = "new"
        ALLOWED = "allowed"
        DENIED = "denied"

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.NEW)
    type = models.CharField(max_length=64)
    keydata = models.TextField()

    def __str__(self) -> str:
        return f"{self.type} ({self.status})"


class ExternalKeyOccurrence(models.Model):
    """Where an external key was found: a server, an account, a comment."""

    key = models.ForeignKey(
        ExternalKey, on_delete=models.CASCADE, related_name="occurrences"
    )
    server = models.ForeignKey(
        Server, on_delete=models.CASCADE, related_name="external_key_occurrences"
    )
    account_name = models.CharField(max_length=50)
    comment = models.TextField(blank=True, default="")
    appeared = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.key_id} on {self.account_name}@{self.server_id}"
