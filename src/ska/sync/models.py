"""The sync queue: which servers (or accounts) need their keyfiles pushed."""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.utils import timezone

from ska.servers.models import Server

WHOLE_SERVER = ""


class SyncRequest(models.Model):
    """A pending push to one server, or to one account of it.

    One row per server and account name (the empty name means the whole
    server), so repeated triggers collapse into one. A daemon claims a row
    by setting ``claimed_by`` and a lease; a row whose lease ran out is
    claimed again, so the work of a killed daemon is not lost. A trigger
    that arrives while a row is claimed moves ``requested_at`` forward and
    the row runs again after the current push.
    """

    server = models.ForeignKey(
        Server, on_delete=models.CASCADE, related_name="sync_requests"
    )
    account_name = models.CharField(max_length=50, blank=True, default=WHOLE_SERVER)
    execution_time = models.DateTimeField(
        null=True, blank=True, help_text="not before this time (retries)"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    claimed_by = models.CharField(max_length=100, blank=True, default="")
    lease_expires = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering: ClassVar[list[str]] = ["id"]
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(
                fields=["server", "account_name"], name="one_request_per_target"
            ),
        ]

    def __str__(self) -> str:
        target = self.account_name or "*"
        return f"sync {target}@{self.server_id}"
