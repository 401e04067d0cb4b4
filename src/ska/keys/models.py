"""Public keys of users and server accounts, with their restrictions."""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.utils import timezone

from ska.directory.models import Entity


def _today() -> object:
    return timezone.now().date()


class PublicKey(models.Model):
    """An OpenSSH public key owned by a user or a server account.

    Keys are never deleted, only marked with a ``deletion_date``; deleted
    keys are shown but never deployed.
    """

    owner = models.ForeignKey(
        Entity, on_delete=models.CASCADE, related_name="public_keys"
    )
    creation_date = models.DateField(default=_today, null=True)
    type = models.CharField(max_length=64)
    keydata = models.TextField()
    comment = models.TextField(blank=True, default="")
    keysize = models.PositiveIntegerField(null=True)
    fingerprint_md5 = models.CharField(max_length=47, db_index=True)
    fingerprint_sha256 = models.CharField(max_length=50, db_index=True)
    randomart_md5 = models.TextField(blank=True, default="")
    randomart_sha256 = models.TextField(blank=True, default="")
    deletion_date = models.DateField(null=True, blank=True)

    class Meta:
        ordering: ClassVar[list[str]] = ["id"]

    def __str__(self) -> str:
        return f"{self.type} {self.fingerprint_sha256}"

    @property
    def deleted(self) -> bool:
        """Say whether the key was deleted."""
        return self.deletion_date is not None

    def export(self) -> str:
        """Return the key as one authorized_keys line with its comment."""
        line = f"{self.type} {self.keydata}"
        return f"{line} {self.comment}" if self.comment else line


class DestinationRule(models.Model):
    """Restricts a key to accounts and hosts matching ``*`` patterns."""

    key = models.ForeignKey(
        PublicKey, on_delete=models.CASCADE, related_name="dest_rules"
    )
    account_name_filter = models.CharField(max_length=50, default="*")
    hostname_filter = models.CharField(max_length=255, default="*")

    def __str__(self) -> str:
        return f"{self.account_name_filter}@{self.hostname_filter}"


class KeySignature(models.Model):
    """A detached GPG signature uploaded for a key (informational)."""

    key = models.ForeignKey(
        PublicKey, on_delete=models.CASCADE, related_name="signatures"
    )
    signature = models.BinaryField()
    upload_date = models.DateTimeField(default=timezone.now)
    fingerprint = models.CharField(max_length=50)
    sign_date = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return f"signature {self.fingerprint} on key {self.key_id}"
