"""Validation of host names and account names as they are stored."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError

# The reference admits ASCII letters, digits, "-._" and any non-ASCII
# character (so that internationalised names pass).
_HOSTNAME = re.compile(r"[A-Za-z0-9._\-\u00a0-\U0010ffff]+")
_ACCOUNT_FORBIDDEN = re.compile(r"[\x00-\x20\x7f/]")


def hostname_problem(hostname: str) -> str | None:
    """Say why ``hostname`` is not a valid server name, or None."""
    if not hostname:
        return "The hostname cannot be empty."
    if len(hostname) > 150:
        return "The hostname is limited to 150 characters."
    if not _HOSTNAME.fullmatch(hostname):
        return f'"{hostname}" doesn\'t look like a valid hostname.'
    return None


def validate_hostname(hostname: str) -> None:
    """Raise ValidationError for an unusable server hostname."""
    if problem := hostname_problem(hostname):
        raise ValidationError(problem, code="invalid_hostname")


def account_name_problem(name: str) -> str | None:
    """Say why ``name`` is not a valid account name, or None."""
    if not name:
        return "Account name cannot be empty"
    if name.startswith("."):
        return "Account name cannot begin with ."
    if len(name) > 50:
        return "Account name is limited to 50 characters"
    # The name becomes a file name on the target and a line of the keyfile
    # header: no separators, blanks or control characters.
    if _ACCOUNT_FORBIDDEN.search(name):
        return "Account name cannot contain spaces, slashes or control characters"
    return None


def validate_account_name(name: str) -> None:
    """Raise ValidationError for an unusable account name."""
    if problem := account_name_problem(name):
        raise ValidationError(problem, code="invalid_account_name")
