"""Request checks of the directory: who is logged in, and over what.

``ActiveUserMiddleware`` logs out, on their next request, users who
became inactive or disabled; ``TrustedProxyMiddleware`` believes a proxy's
word about HTTPS only when the proxy is configured as trusted.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse

from ska.directory.models import User

logger = logging.getLogger(__name__)


class ActiveUserMiddleware:
    """Re-check the logged-in user on every request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        """End the session of a user who may no longer log in."""
        user = request.user
        if isinstance(user, User) and not user.is_active:
            logger.info("session ended user=%s reason=inactive", user.uid)
            logout(request)
        return self.get_response(request)


class TrustedProxyMiddleware:
    """Take the scheme from X-Forwarded-Proto, but only from trusted proxies.

    Behind a proxy that ends TLS, the application would otherwise believe
    every request is plain HTTP; a header from anyone else is ignored, so
    a client cannot claim HTTPS for itself.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for entry in settings.SKA.security.trusted_proxies:
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise ImproperlyConfigured(
                    f"[security] trusted_proxies: {entry!r} is not an address "
                    "or network"
                ) from None

    def __call__(self, request: HttpRequest) -> HttpResponse:
        """Set the request's scheme from a trusted proxy's header."""
        forwarded = request.META.get("HTTP_X_FORWARDED_PROTO", "").strip().lower()
        if forwarded in ("http", "https") and self._trusted(request):
            request.META["wsgi.url_scheme"] = forwarded
        return self.get_response(request)

    def _trusted(self, request: HttpRequest) -> bool:
        try:
            address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
        except ValueError:
            return False
        return any(address in network for network in self.networks)
