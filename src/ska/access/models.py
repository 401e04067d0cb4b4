"""Access rules, their options, and requests for access."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from ska.access.options import OPTION_CHOICES, OptionError, validate_option
from ska.directory.models import Entity
from ska.servers.models import ServerAccount


class AccessRule(models.Model):
    """Grants a source (user, account or group) access to a destination.

    The destination is a server account, or a group, meaning every server
    account that is a member of it.
    """

    source = models.ForeignKey(
        Entity, on_delete=models.CASCADE, related_name="outbound_rules"
    )
    dest = models.ForeignKey(
        Entity, on_delete=models.CASCADE, related_name="inbound_rules"
    )
    grant_date = models.DateTimeField(default=timezone.now)
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(
                fields=["source", "dest"], name="one_rule_per_pair"
            ),
        ]

    def __str__(self) -> str:
        return f"rule {self.pk}: {self.source_id} -> {self.dest_id}"

    def clean(self) -> None:
        """Refuse destinations that are users, and rules onto themselves."""
        if self.dest.type == Entity.Type.USER:
            raise ValidationError("Access can only be granted to accounts or groups.")
        if self.source_id == self.dest_id:
            raise ValidationError("An entity cannot be granted access to itself.")


class AccessOption(models.Model):
    """One option of an access rule, e.g. ``command="/usr/bin/backup"``."""

    rule = models.ForeignKey(
        AccessRule, on_delete=models.CASCADE, related_name="options"
    )
    option = models.CharField(max_length=20, choices=OPTION_CHOICES)
    value = models.TextField(null=True, blank=True)

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["rule", "option"], name="rule_option_once"),
        ]

    def __str__(self) -> str:
        return f"{self.option} on rule {self.rule_id}"

    def clean(self) -> None:
        """Check the value so that it renders as exactly one option."""
        try:
            self.value = validate_option(self.option, self.value)
        except OptionError as error:
            raise ValidationError(str(error)) from error


class AccessRequest(models.Model):
    """A request, waiting for a leader, for access to a server account."""

    source = models.ForeignKey(
        Entity, on_delete=models.CASCADE, related_name="outbound_requests"
    )
    dest = models.ForeignKey(
        ServerAccount, on_delete=models.CASCADE, related_name="inbound_requests"
    )
    request_date = models.DateTimeField(default=timezone.now)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(
                fields=["source", "dest"], name="one_request_per_pair"
            ),
        ]

    def __str__(self) -> str:
        return f"request {self.pk}: {self.source_id} -> {self.dest_id}"
