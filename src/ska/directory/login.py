"""The login flow: input checks, the failure limit and the audit log lines.

Failures are counted in Django's cache (the database cache), so every
worker process and every machine that shares the database sees the same
count. The window is fixed from the first failure, as in the reference.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import time
from dataclasses import dataclass

from django.contrib.auth import authenticate
from django.core.cache import cache
from django.http import HttpRequest

from ska.directory.ldap_client import DirectoryUnavailable
from ska.directory.models import User

logger = logging.getLogger(__name__)

USERNAME_PATTERN = re.compile(r"[A-Za-z0-9._-]+")
MAX_FAILURES = 5
WINDOW_SECONDS = 15 * 60

MISSING_FIELDS = "Please enter both username and password."
BAD_USERNAME = (
    "Invalid username format. Username can only contain letters, numbers, "
    "dots, hyphens, and underscores."
)
RATE_LIMITED = "Too many login attempts. Please try again in {minutes} minutes."
INVALID = "Invalid username or password."
AUTH_ERROR = "Authentication error. Please try again."


@dataclass(frozen=True)
class LoginResult:
    """The outcome of a login attempt: a user, or a message to show."""

    user: User | None = None
    message: str = ""


def _throttle_key(username: str, address: str) -> str:
    """Return the cache key of one user name from one client address."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "", username).lower()
    digest = hashlib.sha256(f"{cleaned}|{address}".encode()).hexdigest()
    return f"login-failures:{digest}"


def seconds_locked(username: str, address: str) -> int:
    """Return how long this name and address are still locked out, or 0."""
    record = cache.get(_throttle_key(username, address))
    if not record:
        return 0
    count, first = record
    remaining = int(first + WINDOW_SECONDS - time.time())
    return remaining if count >= MAX_FAILURES and remaining > 0 else 0


def record_failure(username: str, address: str) -> None:
    """Count a failed attempt; the window starts at the first failure."""
    key = _throttle_key(username, address)
    now = time.time()
    record = cache.get(key)
    count, first = record if record else (0, now)
    if now - first >= WINDOW_SECONDS:
        count, first = 0, now
    remaining = max(1, int(first + WINDOW_SECONDS - now))
    cache.set(key, (count + 1, first), timeout=remaining)


def clear_failures(username: str, address: str) -> None:
    """Forget the failures of a name and address after a good login."""
    cache.delete(_throttle_key(username, address))


def client_address(request: HttpRequest) -> str:
    """Return the address the request came from."""
    return str(request.META.get("REMOTE_ADDR", ""))


def _audit(event: str, username: str, address: str, details: str) -> None:
    # Only names that passed the format check are written, so a log line
    # cannot be forged; passwords never reach this function.
    shown = username if USERNAME_PATTERN.fullmatch(username) else "<invalid>"
    logger.info(
        "login %s user=%s address=%s details=%s", event, shown, address, details
    )


def attempt_login(request: HttpRequest, username: str, password: str) -> LoginResult:
    """Check the input and the failure limit, then authenticate.

    The order and the messages follow the reference: missing fields,
    name format, lock-out, then the directory.
    """
    username = username.strip()
    address = client_address(request)
    if not username or not password:
        return LoginResult(message=MISSING_FIELDS)
    if not USERNAME_PATTERN.fullmatch(username) or len(username) > 50:
        return LoginResult(message=BAD_USERNAME)
    if locked := seconds_locked(username, address):
        _audit("rate_limited", username, address, f"locked_seconds={locked}")
        return LoginResult(message=RATE_LIMITED.format(minutes=math.ceil(locked / 60)))
    try:
        user = authenticate(request, username=username, password=password)
    except DirectoryUnavailable as error:
        _audit("failure", username, address, f"error={type(error).__name__}")
        logger.warning("login directory unavailable error=%s", error)
        return LoginResult(message=AUTH_ERROR)
    if not isinstance(user, User):
        record_failure(username, address)
        _audit("failure", username, address, "invalid credentials")
        return LoginResult(message=INVALID)
    clear_failures(username, address)
    _audit("success", username, address, f"realm={user.auth_realm}")
    return LoginResult(user=user)


def safe_next(target: str, logout_path: str) -> str | None:
    """Return ``target`` if it is a local path worth returning to, else None.

    The logout page is refused: returning there after a login would log
    the user straight out again.
    """
    if (
        not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(ord(char) < 32 or ord(char) == 127 for char in target)
    ):
        return None
    path = target.split("?", 1)[0].split("#", 1)[0]
    if path.rstrip("/") in (logout_path.rstrip("/"), "/logout"):
        return None
    return target
