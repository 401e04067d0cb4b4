"""Conversion of the PHP reference's ``config.ini`` into our TOML settings.

The reference reads its file with PHP's ``parse_ini_file`` in sections
mode: ``key = value`` lines under ``[section]`` headers, ``;`` comments,
double-quoted strings (which may span lines and know the escapes ``\\"``,
``\\\\`` and ``\\$``), raw single-quoted strings, ``name[]`` and
``name[key]`` arrays, and the bare words ``on``/``yes``/``true`` (read as
``"1"``) and ``off``/``no``/``false``/``none``/``null`` (read as ``""``).
Every value is a string to PHP; the types come from how the reference uses
each key, and this module gives each key the type and meaning it had there.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ska import config as ska_config

IniValue = str | list[str] | dict[str, str]

_TRUE_WORDS = ("true", "on", "yes")
_FALSE_WORDS = ("false", "off", "no", "none", "null")
_SECTION = re.compile(r"\[([^\]]*)\]\s*(?:[;#].*)?")
_KEY = re.compile(r"([^\[\]=]+?)\s*(?:\[([^\]]*)\])?")


class IniSyntaxError(ValueError):
    """A line the reference's parser would have refused as well."""


class _Unmappable(ValueError):
    """A value the reference accepted that has no equivalent here."""


@dataclass
class Conversion:
    """The TOML document built from an ini file, and what was left out."""

    document: dict[str, dict[str, Any]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def _scan_quoted(lines: list[str], index: int, text: str) -> tuple[str, str, int]:
    """Read a quoted string that may run over several lines.

    Return the string, what follows the closing quote, and the index of the
    line where it ended.
    """
    quote, text = text[0], text[1:]
    start = index
    chunks: list[str] = []
    while True:
        position = 0
        while position < len(text):
            char = text[position]
            if quote == '"' and char == "\\" and position + 1 < len(text):
                following = text[position + 1]
                if following in ('"', "\\", "$"):
                    chunks.append(following)
                    position += 2
                    continue
            if char == quote:
                return "".join(chunks), text[position + 1 :], index
            chunks.append(char)
            position += 1
        index += 1
        if index >= len(lines):
            raise IniSyntaxError(f"line {start + 1}: the quoted value is never closed")
        chunks.append("\n")
        text = lines[index]


def _unquoted(text: str) -> str:
    """Return a bare value the way PHP reads it: comment cut, words replaced."""
    value = text.split(";", 1)[0].strip()
    if value.lower() in _TRUE_WORDS:
        return "1"
    if value.lower() in _FALSE_WORDS:
        return ""
    return value


def _store(
    section: dict[str, IniValue], name: str, subscript: str | None, value: str
) -> None:
    """Set ``name``, or append/set an element of the array ``name[...]``."""
    if subscript is None:
        section[name] = value
        return
    subscript = subscript.strip().strip("\"'")
    current = section.get(name)
    if subscript == "":
        items = current if isinstance(current, list) else []
        items.append(value)
        section[name] = items
    else:
        table = current if isinstance(current, dict) else {}
        table[subscript] = value
        section[name] = table


def parse_ini(text: str) -> dict[str, dict[str, IniValue]]:
    """Parse ini text into sections of string, list or table values.

    Keys above the first section header go into the section ``""``.
    """
    lines = text.lstrip("\ufeff").splitlines()
    sections: dict[str, dict[str, IniValue]] = {}
    current = sections.setdefault("", {})
    index = 0
    while index < len(lines):
        line = lines[index].strip()
        number = index + 1
        if not line or line[0] in ";#":
            index += 1
            continue
        if header := _SECTION.fullmatch(line):
            current = sections.setdefault(header.group(1).strip(), {})
            index += 1
            continue
        name_part, equals, value_part = line.partition("=")
        key = _KEY.fullmatch(name_part.strip())
        if not equals or not key:
            raise IniSyntaxError(f"line {number}: expected key = value or [section]")
        value_part = value_part.strip()
        if value_part[:1] in ('"', "'"):
            value, rest, index = _scan_quoted(lines, index, value_part)
            rest = rest.strip()
            if rest and not rest.startswith(";"):
                raise IniSyntaxError(
                    f"line {index + 1}: unexpected text after the closing quote"
                )
        else:
            value = _unquoted(value_part)
        _store(current, key.group(1), key.group(2), value)
        index += 1
    if not sections[""]:
        del sections[""]
    return sections


def _scalar(value: IniValue) -> str:
    if not isinstance(value, str):
        raise _Unmappable("expected a single value, found an array")
    return value


def _text(value: IniValue) -> str:
    return _scalar(value)


def _flag(value: IniValue) -> bool:
    """PHP truthiness: the empty string and "0" are false."""
    return _scalar(value).strip() not in ("", "0")


def _flag_unless_zero(value: IniValue) -> bool:
    """True unless the value is numerically 0: the reference compares == 0."""
    text = _scalar(value).strip()
    return not (re.fullmatch(r"[+-]?[0-9]+(\.[0-9]*)?", text) and float(text) == 0)


def _flag_if_one(value: IniValue) -> bool:
    """True only for an integer value of 1: the reference checks intval === 1."""
    match = re.match(r"\s*[+-]?[0-9]+", _scalar(value))
    return match is not None and int(match.group()) == 1


def _integer(value: IniValue) -> int:
    text = _scalar(value).strip()
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        raise _Unmappable(f"{text!r} is not an integer")
    return int(text)


def _key_supervision(value: IniValue) -> str:
    """The reference reads "" (a bare ``off``) as off and anything unknown as full."""
    text = _scalar(value).strip()
    if text in ("", "off"):
        return "off"
    return "rootonly" if text == "rootonly" else "full"


def _networks(value: IniValue) -> list[str]:
    """A comma-separated list or an array, as the reference accepts both."""
    if isinstance(value, dict):
        items = list(value.values())
    elif isinstance(value, list):
        items = value
    else:
        items = value.split(",")
    return [item.strip() for item in items if item.strip()]


def _table(value: IniValue) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _Unmappable("expected entries written as name[account] = group")
    return dict(value)


Converter = Callable[[IniValue], Any]

# Every key the reference reads, by section. Each has the same section and
# name here; its type here decides the conversion unless SPECIAL says more.
REFERENCE_KEYS: dict[str, tuple[str, ...]] = {
    "web": ("enabled", "baseurl", "logo", "footer"),
    "general": ("timeout_util", "timeout_binary", "default_key_supervision"),
    "security": (
        "session_timeout",
        "content_security_policy",
        "csp_report_only",
        "content_security_policy_report_uri",
        "hsts_enabled",
        "hsts_max_age",
        "hsts_include_subdomains",
        "hsts_preload",
        "trusted_proxies",
        "host_key_reset_restriction",
        "host_key_collision_protection",
        "jumphost_strict_host_key_checking",
        "jumphost_known_hosts_file",
        "min_rsa_bits",
        "min_ecdsa_bits",
        "min_ed25519_bits",
        "hostname_verification",
    ),
    "privacy": (
        "comment_key_files",
        "history_username_env_default",
        "history_username_env_format",
    ),
    "monitoring": ("status_file_path", "status_file_timeout"),
    "defaults": ("account_groups",),
    "email": (
        "enabled",
        "from_address",
        "from_name",
        "report_address",
        "report_name",
        "admin_address",
        "admin_name",
        "reroute",
    ),
    "database": ("hostname", "port", "username", "password", "database"),
    "ldap": (
        "host",
        "starttls",
        "dn_user",
        "dn_group",
        "follow_referrals",
        "bind_dn",
        "bind_password",
        "user_id",
        "user_name",
        "user_email",
        "user_superior",
        "user_active",
        "user_active_true",
        "user_active_false",
        "user_active_bitmask",
        "group_member",
        "group_member_value",
        "group_class",
        "group_id",
        "group_num",
        "admin_group_cn",
        "indirect_group_memberships",
    ),
    "inventory": ("url",),
    "gpg": ("key_id",),
}

BY_TYPE: dict[type[Any], Converter] = {
    bool: _flag,
    int: _integer,
    str: _text,
    list: _networks,
    dict: _table,
}

# Keys whose reference reading differs from plain PHP truthiness or text.
SPECIAL: dict[tuple[str, str], Converter] = {
    ("security", "host_key_reset_restriction"): _flag_unless_zero,
    ("privacy", "history_username_env_default"): _flag_if_one,
    ("general", "default_key_supervision"): _key_supervision,
}


def _converter(section: str, key: str) -> Converter:
    """Return how to read ``[section] key`` of the reference."""
    if special := SPECIAL.get((section, key)):
        return special
    return BY_TYPE[ska_config.key_type(section, key)]


# Keys the reference knows that have no counterpart here, and why.
UNSUPPORTED: dict[tuple[str, str], str] = {
    ("session", "timeout"): (
        "only tuned PHP's session garbage collection; "
        "[security] session_timeout sets the idle logout"
    ),
    ("ldap", "user_filter"): "an upstream-only key; the reference ignores it too",
    ("ldap", "group_filter"): "an upstream-only key; the reference ignores it too",
    ("ldap", "sync_groups"): "an upstream-only key; the reference ignores it too",
}


def _where(section: str, key: str) -> str:
    return f"[{section}] {key}" if section else key


def _convert_key(
    conversion: Conversion, section: str, key: str, value: IniValue
) -> None:
    """Map one ini key into the document, or record why it cannot be."""
    where = _where(section, key)
    if (section, key) in UNSUPPORTED:
        conversion.problems.append(
            f"{where}: not imported: {UNSUPPORTED[section, key]}"
        )
        return
    if key not in REFERENCE_KEYS.get(section, ()):
        conversion.problems.append(f"{where}: not imported: unknown key")
        return
    try:
        converted = _converter(section, key)(value)
        checked = ska_config.validate_value(section, key, converted)
    except (_Unmappable, ska_config.ConfigError) as error:
        conversion.problems.append(f"{where}: not imported: {error}")
        return
    if (section, key) == ("security", "host_key_reset_restriction") and value == "":
        conversion.problems.append(
            f"{where}: kept true: the reference relaxes it only for 0, not off"
        )
    conversion.document.setdefault(section, {})[key] = checked


def _ordered(document: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Order sections and keys as the configuration declares them."""
    ordered: dict[str, dict[str, Any]] = {}
    for section, key in ska_config.iter_keys():
        if key.name in document.get(section, {}):
            ordered.setdefault(section, {})[key.name] = document[section][key.name]
    return ordered


def convert(sections: dict[str, dict[str, IniValue]]) -> Conversion:
    """Map parsed ini sections onto our sections and keys."""
    conversion = Conversion()
    for section, values in sections.items():
        for key, value in values.items():
            _convert_key(conversion, section, key, value)
    if "database" in sections:
        # The reference speaks only MySQL/MariaDB.
        conversion.document.setdefault("database", {})["engine"] = "mysql"
    conversion.document = _ordered(conversion.document)
    return conversion


def convert_text(text: str) -> Conversion:
    """Parse and convert the text of a ``config.ini``."""
    return convert(parse_ini(text))
