"""Users, groups and the entity id space they share with server accounts."""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

KEYS_SYNC_UID = "keys-sync"


class Entity(models.Model):
    """The common identity of users, server accounts and groups.

    Access rules, memberships and public keys point at entities, so one id
    names a principal whatever its kind, as in the reference schema.
    """

    class Type(models.TextChoices):
        USER = "user"
        SERVER_ACCOUNT = "server account"
        GROUP = "group"

    # The reference orders rule sources by this enum's index.
    TYPE_ORDER: ClassVar[dict[str, int]] = {
        Type.USER: 0,
        Type.SERVER_ACCOUNT: 1,
        Type.GROUP: 2,
    }

    type = models.CharField(max_length=20, choices=Type.choices)
    entity_type: ClassVar[str] = ""

    def __str__(self) -> str:
        return f"{self.type} {self.pk}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Stamp the entity type of the concrete subclass before saving."""
        if self.entity_type:
            self.type = self.entity_type
        super().save(*args, **kwargs)


class UserManager(BaseUserManager["User"]):
    """Look up users the way the reference does: uid, case-insensitively."""

    def get_by_natural_key(self, username: str | None) -> User:
        """Return the user whose uid matches ``username`` in any case."""
        return self.get(uid__iexact=username)

    def create_user(
        self,
        uid: str,
        *,
        name: str = "",
        email: str = "",
        password: str | None = None,
        **extra: Any,
    ) -> User:
        """Create a user; without a password the account cannot log in."""
        user = self.model(uid=uid, name=name or uid, email=email, **extra)
        user.set_password(password) if password else user.set_unusable_password()
        user.save(using=self._db)
        return user


class User(Entity, AbstractBaseUser):
    """A person (or the ``keys-sync`` system actor) who may own keys."""

    class Realm(models.TextChoices):
        LDAP = "LDAP"
        LOCAL = "local"
        EXTERNAL = "external"

    entity_type = Entity.Type.USER

    uid = models.CharField(max_length=50, unique=True)
    name = models.CharField(max_length=100)
    email = models.EmailField(max_length=254, blank=True)
    superior = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    auth_realm = models.CharField(
        max_length=10, choices=Realm.choices, default=Realm.LOCAL
    )
    active = models.BooleanField(default=True)
    admin = models.BooleanField(default=False)
    developer = models.BooleanField(default=False)
    force_disable = models.BooleanField(default=False)

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "uid"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = ["name", "email"]

    class Meta:
        ordering: ClassVar[list[str]] = ["uid"]
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(Lower("uid"), name="user_uid_unique_ci"),
        ]

    def __str__(self) -> str:
        return self.uid

    @property
    def is_active(self) -> bool:  # type: ignore[override]
        """Say whether the user may log in: active and not disabled."""
        return self.active and not self.force_disable

    @property
    def keys_deployable(self) -> bool:
        """Say whether the user's keys go to servers.

        Unlike the reference, an administrator's "disable" revokes SSH
        access too, not only the web login.
        """
        return self.active and not self.force_disable

    @property
    def is_system(self) -> bool:
        """Say whether this is the ``keys-sync`` system actor."""
        return self.uid == KEYS_SYNC_UID


class Group(Entity):
    """A set of users and server accounts, as a source or a destination."""

    entity_type = Entity.Type.GROUP

    name = models.CharField(max_length=100, unique=True)
    active = models.BooleanField(default=True)
    system = models.BooleanField(
        default=False, help_text="membership is managed automatically"
    )
    ldap_guid = models.CharField(max_length=36, null=True, blank=True, unique=True)

    class Meta:
        ordering: ClassVar[list[str]] = ["name"]

    def __str__(self) -> str:
        return self.name


class GroupMember(models.Model):
    """Membership of a user, server account or (legacy) group in a group."""

    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="members")
    entity = models.ForeignKey(
        Entity, on_delete=models.CASCADE, related_name="group_memberships"
    )
    add_date = models.DateTimeField(default=timezone.now)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(
                fields=["group", "entity"], name="group_member_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.entity_id} in {self.group_id}"


class GroupAdministrator(models.Model):
    """A user who manages a group's members and access."""

    group = models.ForeignKey(
        Group, on_delete=models.CASCADE, related_name="administrators"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="administered_groups",
    )

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["group", "user"], name="group_admin_once"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} administers {self.group_id}"


class UserAlert(models.Model):
    """A message waiting to be shown to a user on their next page."""

    class Level(models.TextChoices):
        SUCCESS = "success"
        DANGER = "danger"
        WARNING = "warning"
        INFO = "info"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="alerts"
    )
    level = models.CharField(
        max_length=15, choices=Level.choices, default=Level.SUCCESS, db_column="class"
    )
    content = models.TextField()
    escaping = models.PositiveSmallIntegerField(
        default=1, help_text="1 escape HTML, 9 raw HTML built by the server"
    )

    def __str__(self) -> str:
        return f"{self.level}: {self.content[:40]}"
