"""Servers, their accounts, leaders, notes and LDAP access options."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from ska.access.options import OPTION_CHOICES
from ska.directory.models import Entity
from ska.servers.jumphosts import validate_jumphosts
from ska.servers.names import validate_account_name, validate_hostname


class SyncStatus(models.TextChoices):
    """Outcome of the last sync of a server or account."""

    NOT_SYNCED_YET = "not synced yet"
    SUCCESS = "sync success"
    FAILURE = "sync failure"
    WARNING = "sync warning"


class Server(models.Model):
    """A managed host, reached directly or through a chain of jump hosts."""

    class KeyManagement(models.TextChoices):
        NONE = "none"
        KEYS = "keys"
        OTHER = "other"
        DECOMMISSIONED = "decommissioned"

    class Authorization(models.TextChoices):
        MANUAL = "manual"
        AUTOMATIC_LDAP = "automatic LDAP"
        MANUAL_LDAP = "manual LDAP"

    class KeyScan(models.TextChoices):
        FULL = "full"
        ROOT_ONLY = "rootonly"
        OFF = "off"

    class HistoryMode(models.TextChoices):
        INHERIT = "inherit"
        ENABLED = "enabled"
        DISABLED = "disabled"

    hostname = models.CharField(
        max_length=150, unique=True, validators=[validate_hostname]
    )
    uuid = models.CharField(max_length=36, null=True, blank=True, db_index=True)
    ip_address = models.CharField(max_length=64, null=True, blank=True, db_index=True)
    port = models.PositiveIntegerField(
        default=22, validators=[MinValueValidator(1), MaxValueValidator(65535)]
    )
    jumphosts = models.CharField(
        max_length=1000, blank=True, default="", validators=[validate_jumphosts]
    )
    key_management = models.CharField(
        max_length=20, choices=KeyManagement.choices, default=KeyManagement.KEYS
    )
    authorization = models.CharField(
        max_length=20, choices=Authorization.choices, default=Authorization.MANUAL
    )
    key_scan = models.CharField(
        max_length=10, choices=KeyScan.choices, default=KeyScan.FULL
    )
    sync_status = models.CharField(
        max_length=20, choices=SyncStatus.choices, default=SyncStatus.NOT_SYNCED_YET
    )
    host_key = models.CharField(max_length=2000, null=True, blank=True)
    key_supervision_error = models.TextField(null=True, blank=True)
    history_username_env_mode = models.CharField(
        max_length=10, choices=HistoryMode.choices, default=HistoryMode.INHERIT
    )
    history_username_env_format = models.CharField(
        max_length=255, null=True, blank=True
    )

    class Meta:
        ordering: ClassVar[list[str]] = ["hostname"]

    def __str__(self) -> str:
        return self.hostname

    @property
    def ldap_authorized(self) -> bool:
        """Say whether LDAP users get a keyfile named after their uid."""
        return self.authorization != self.Authorization.MANUAL


class ServerAccount(Entity):
    """A Unix account on a server, e.g. ``root@web1``."""

    class Status(models.TextChoices):
        NOT_SYNCED_YET = "not synced yet"
        SUCCESS = "sync success"
        FAILURE = "sync failure"
        WARNING = "sync warning"
        PROPOSED = "proposed"

    entity_type = Entity.Type.SERVER_ACCOUNT

    server = models.ForeignKey(
        Server, on_delete=models.CASCADE, related_name="accounts"
    )
    name = models.CharField(max_length=50, validators=[validate_account_name])
    sync_status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.NOT_SYNCED_YET
    )
    active = models.BooleanField(default=True)

    class Meta:
        ordering: ClassVar[list[str]] = ["server__hostname", "name"]
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(
                fields=["server", "name"], name="account_per_server"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name}@{self.server.hostname}"

    @property
    def file_name(self) -> str:
        """Return the keyfile name on the target, as the reference names it."""
        return self.name.replace("/", "")


class ServerLeader(models.Model):
    """A user or group that leads (administers) a server."""

    server = models.ForeignKey(Server, on_delete=models.CASCADE, related_name="leaders")
    entity = models.ForeignKey(
        Entity, on_delete=models.CASCADE, related_name="led_servers"
    )

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(
                fields=["server", "entity"], name="server_leader_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.entity_id} leads {self.server_id}"

    def clean(self) -> None:
        """Refuse leaders that are neither users nor groups."""
        if self.entity.type == Entity.Type.SERVER_ACCOUNT:
            raise ValidationError("A server leader must be a user or a group.")


class AccountLeader(models.Model):
    """A user who manages access to one server account."""

    account = models.ForeignKey(
        ServerAccount, on_delete=models.CASCADE, related_name="leaders"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="led_accounts"
    )

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(
                fields=["account", "user"], name="account_leader_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} leads {self.account_id}"


class ServerNote(models.Model):
    """A free-text note admins keep about a server."""

    server = models.ForeignKey(Server, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    date = models.DateTimeField(default=timezone.now)
    note = models.TextField()

    class Meta:
        ordering: ClassVar[list[str]] = ["date", "id"]

    def __str__(self) -> str:
        return f"note {self.pk} on {self.server_id}"


class ServerLdapAccessOption(models.Model):
    """An option put before every LDAP user's key on an LDAP server."""

    server = models.ForeignKey(
        Server, on_delete=models.CASCADE, related_name="ldap_access_options"
    )
    option = models.CharField(max_length=20, choices=OPTION_CHOICES)
    value = models.TextField(null=True, blank=True)

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(
                fields=["server", "option"], name="server_ldap_option_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.option} on {self.server_id}"
