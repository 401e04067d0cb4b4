"""The authentication backend: local passwords, or LDAP binds when configured.

With ``[ldap] host`` set, only the directory decides: a local password
cannot bypass it (an LDAP leader who left keeps no way in). Without LDAP,
local users log in with their Django-hashed password.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.backends import BaseBackend
from django.http import HttpRequest

from ska.directory.models import User
from ska.directory.provisioning import login_ldap_user
from ska.directory.services import UID_PATTERN


class DirectoryBackend(BaseBackend):
    """Authenticate against LDAP or the local password, per configuration."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        """Return the user if the password is right and they may log in."""
        if not password or not username or not UID_PATTERN.fullmatch(username):
            return None
        config = settings.SKA
        if config.ldap_enabled:
            user = login_ldap_user(config.ldap, username, password)
        else:
            user = self._local_user(username, password)
        if user is None or not user.is_active or user.is_system:
            return None
        return user

    @staticmethod
    def _local_user(username: str, password: str) -> User | None:
        user = User.objects.filter(
            uid__iexact=username, auth_realm=User.Realm.LOCAL
        ).first()
        if user is None:
            # Spend the same time as a real check, so names cannot be probed.
            User().set_password(password)
            return None
        return user if user.check_password(password) else None

    def get_user(self, user_id: int) -> User | None:
        """Return the session's user; the middleware logs out disabled ones."""
        return User.objects.filter(pk=user_id).first()
