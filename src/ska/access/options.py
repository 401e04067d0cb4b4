"""Access options (``command=``, ``from=``, flags) and the history env option.

Everything that ends up in front of a key in an authorized_keys file is
checked here when it is stored, so that rendering can never produce a
second line or an extra option.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum


class Option(StrEnum):
    """The options an access rule may carry, in the reference's enum order."""

    COMMAND = "command"
    FROM = "from"
    NO_AGENT_FORWARDING = "no-agent-forwarding"
    NO_PORT_FORWARDING = "no-port-forwarding"
    NO_PTY = "no-pty"
    NO_X11_FORWARDING = "no-X11-forwarding"


OPTION_ORDER = {option.value: index for index, option in enumerate(Option)}
VALUED_OPTIONS = frozenset({Option.COMMAND.value, Option.FROM.value})
OPTION_CHOICES = [(option.value, option.value) for option in Option]

# One pattern of an OpenSSH pattern-list: a host name or address with the
# wildcards * and ?, an optional CIDR suffix, optionally negated with !.
_FROM_PATTERN = re.compile(r"!?[A-Za-z0-9.:*?_%\[\]-]+(/[0-9]{1,3})?")
_HISTORY_FORMAT = re.compile(r"[A-Za-z0-9 ._@:+={}-]+")
_HISTORY_VALUE = re.compile(r"[A-Za-z0-9 ._@:+=-]+")
DEFAULT_HISTORY_FORMAT = "BASH_HISTORY_USERNAME={uid}"
MAX_COMMAND_LENGTH = 4096


class OptionError(ValueError):
    """An option value that cannot be written into a keyfile safely."""


def validate_option(name: str, value: str | None) -> str | None:
    """Return the value to store for option ``name``, or raise OptionError."""
    if name not in OPTION_ORDER:
        raise OptionError(f"Unknown access option {name!r}.")
    if name not in VALUED_OPTIONS:
        if value not in (None, ""):
            raise OptionError(f"The {name} option takes no value.")
        return None
    if value is None or not value.strip():
        raise OptionError(f"The {name} option needs a value.")
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
        raise OptionError(
            f"The {name} option must be one line without control characters."
        )
    if name == Option.COMMAND:
        return _validate_command(value)
    return _validate_from(value)


def _validate_command(value: str) -> str:
    if len(value) > MAX_COMMAND_LENGTH:
        raise OptionError(
            f"The command option is limited to {MAX_COMMAND_LENGTH} characters."
        )
    # sshd ends a quoted option value at the first unescaped quote and takes
    # a backslash before a quote as an escape; a trailing backslash would
    # escape our closing quote, so it is refused.
    if value.endswith("\\"):
        raise OptionError("The command option must not end with a backslash.")
    return value


def _validate_from(value: str) -> str:
    patterns = value.split(",")
    for pattern in patterns:
        if not _FROM_PATTERN.fullmatch(pattern):
            raise OptionError(
                f"The from option needs a comma-separated list of host names or "
                f"addresses with * and ? wildcards; {pattern!r} is not one."
            )
    return value


def render_option(name: str, value: str | None) -> str:
    """Render one option as the reference does: ``name`` or ``name="value"``."""
    if value is None:
        return name
    return f'{name}="{value.replace(chr(34), chr(92) + chr(34))}"'


def render_options(options: Iterable[tuple[str, str | None]]) -> str:
    """Render options in enum order, comma-joined, with a trailing space."""
    ordered = sorted(options, key=lambda item: OPTION_ORDER[item[0]])
    text = ",".join(render_option(name, value) for name, value in ordered)
    return f"{text} " if text else ""


def history_format_problem(value: object) -> str | None:
    """Say what is wrong with a history username format, or None if valid."""
    if not isinstance(value, str) or not value:
        return "a non-empty format"
    if not _HISTORY_FORMAT.fullmatch(value):
        return (
            "only letters, digits, spaces and . _ - @ : + = with {uid} as the "
            "placeholder"
        )
    if "=" not in value or "{uid}" not in value:
        return "a format containing both '=' and {uid}"
    if "{" in value.replace("{uid}", "") or "}" in value.replace("{uid}", ""):
        return "no braces other than the {uid} placeholder"
    return None


def history_environment(format_text: str | None, uid: str) -> str | None:
    """Return the ``environment="..."`` option for ``uid``, or None.

    An invalid format falls back to the default one; a value that would
    need escaping (an unusual uid) omits the option, as the reference does.
    """
    if not format_text or history_format_problem(format_text):
        format_text = DEFAULT_HISTORY_FORMAT
    value = format_text.replace("{uid}", uid)
    if not _HISTORY_VALUE.fullmatch(value):
        return None
    return f'environment="{value}"'


def with_history_environment(prefix: str, environment: str | None) -> str:
    """Append the environment option to a rendered option prefix."""
    if environment is None:
        return prefix
    if not prefix:
        return f"{environment} "
    return f"{prefix.strip().rstrip(',')},{environment} "
