"""Log out, on their next request, users who became inactive or disabled."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.contrib.auth import logout
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
