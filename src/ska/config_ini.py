"""Conversion of the PHP reference's ``config.ini`` into our TOML settings.

The reference reads its file with PHP's ``parse_ini_file`` in sections
mode: ``key = value`` lines under ``[section]`` headers, ``;`` comments,
double- or single-quoted strings, ``name[]`` and ``name[key]`` arrays, and
the bare words ``on``/``yes``/``true`` (read as ``"1"``) and
``off``/``no``/``false``/``none``/``null`` (read as ``""``). Every value is a
string to PHP; the types come from how the reference uses each key, and
this module gives each key the type and meaning it had there.
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
    chunks: list[str] = []
    while True:
        position = 0
        while position < len(text):
            char = text[position]
            if quote == '"' and char == "\\" and position + 1 < len(text):
                following = text[position + 1]
                if following in ('"', "\\"):
                    chunks.append(following)
                    position += 2
                    continue
            if char == quote:
                return "".join(chunks), text[position + 1 :], index
            chunks.append(char)
            position += 1
        index += 1
        if index >= len(lines):
            raise IniSyntaxError(f"line {index}: the quoted value is never closed")
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

# Every key the reference reads, with its section and key here and the
# conversion that keeps its meaning. Keys not listed are reported.
KEY_MAP: dict[tuple[str, str], tuple[str, str, Converter]] = {
    ("web", "enabled"): ("web", "enabled", _flag),
    ("web", "baseurl"): ("web", "baseurl", _text),
    ("web", "logo"): ("web", "logo", _text),
    ("web", "footer"): ("web", "footer", _text),
    ("general", "timeout_util"): ("general", "timeout_util", _text),
    ("general", "timeout_binary"): ("general", "timeout_binary", _text),
    ("general", "default_key_supervision"): (
        "general",
        "default_key_supervision",
        _key_supervision,
    ),
    ("security", "session_timeout"): ("security", "session_timeout", _integer),
    ("security", "content_security_policy"): (
        "security",
        "content_security_policy",
        _text,
    ),
    ("security", "csp_report_only"): ("security", "csp_report_only", _flag),
    ("security", "content_security_policy_report_uri"): (
        "security",
        "content_security_policy_report_uri",
        _text,
    ),
    ("security", "hsts_enabled"): ("security", "hsts_enabled", _flag),
    ("security", "hsts_max_age"): ("security", "hsts_max_age", _integer),
    ("security", "hsts_include_subdomains"): (
        "security",
        "hsts_include_subdomains",
        _flag,
    ),
    ("security", "hsts_preload"): ("security", "hsts_preload", _flag),
    ("security", "trusted_proxies"): ("security", "trusted_proxies", _networks),
    ("security", "host_key_reset_restriction"): (
        "security",
        "host_key_reset_restriction",
        _flag_unless_zero,
    ),
    ("security", "host_key_collision_protection"): (
        "security",
        "host_key_collision_protection",
        _flag,
    ),
    ("security", "jumphost_strict_host_key_checking"): (
        "security",
        "jumphost_strict_host_key_checking",
        _flag,
    ),
    ("security", "jumphost_known_hosts_file"): (
        "security",
        "jumphost_known_hosts_file",
        _text,
    ),
    ("security", "min_rsa_bits"): ("security", "min_rsa_bits", _integer),
    ("security", "min_ecdsa_bits"): ("security", "min_ecdsa_bits", _integer),
    ("security", "min_ed25519_bits"): ("security", "min_ed25519_bits", _integer),
    ("security", "hostname_verification"): (
        "security",
        "hostname_verification",
        _integer,
    ),
    ("privacy", "comment_key_files"): ("privacy", "comment_key_files", _integer),
    ("privacy", "history_username_env_default"): (
        "privacy",
        "history_username_env_default",
        _flag_if_one,
    ),
    ("privacy", "history_username_env_format"): (
        "privacy",
        "history_username_env_format",
        _text,
    ),
    ("monitoring", "status_file_path"): ("monitoring", "status_file_path", _text),
    ("monitoring", "status_file_timeout"): (
        "monitoring",
        "status_file_timeout",
        _integer,
    ),
    ("defaults", "account_groups"): ("defaults", "account_groups", _table),
    ("email", "enabled"): ("email", "enabled", _flag),
    ("email", "from_address"): ("email", "from_address", _text),
    ("email", "from_name"): ("email", "from_name", _text),
    ("email", "report_address"): ("email", "report_address", _text),
    ("email", "report_name"): ("email", "report_name", _text),
    ("email", "admin_address"): ("email", "admin_address", _text),
    ("email", "admin_name"): ("email", "admin_name", _text),
    ("email", "reroute"): ("email", "reroute", _text),
    ("database", "hostname"): ("database", "hostname", _text),
    ("database", "port"): ("database", "port", _integer),
    ("database", "username"): ("database", "username", _text),
    ("database", "password"): ("database", "password", _text),
    ("database", "database"): ("database", "database", _text),
    ("ldap", "host"): ("ldap", "host", _text),
    ("ldap", "starttls"): ("ldap", "starttls", _flag),
    ("ldap", "dn_user"): ("ldap", "dn_user", _text),
    ("ldap", "dn_group"): ("ldap", "dn_group", _text),
    ("ldap", "follow_referrals"): ("ldap", "follow_referrals", _flag),
    ("ldap", "bind_dn"): ("ldap", "bind_dn", _text),
    ("ldap", "bind_password"): ("ldap", "bind_password", _text),
    ("ldap", "user_id"): ("ldap", "user_id", _text),
    ("ldap", "user_name"): ("ldap", "user_name", _text),
    ("ldap", "user_email"): ("ldap", "user_email", _text),
    ("ldap", "user_superior"): ("ldap", "user_superior", _text),
    ("ldap", "user_active"): ("ldap", "user_active", _text),
    ("ldap", "user_active_true"): ("ldap", "user_active_true", _text),
    ("ldap", "user_active_false"): ("ldap", "user_active_false", _text),
    ("ldap", "user_active_bitmask"): ("ldap", "user_active_bitmask", _text),
    ("ldap", "group_member"): ("ldap", "group_member", _text),
    ("ldap", "group_member_value"): ("ldap", "group_member_value", _text),
    ("ldap", "group_class"): ("ldap", "group_class", _text),
    ("ldap", "group_id"): ("ldap", "group_id", _text),
    ("ldap", "group_num"): ("ldap", "group_num", _text),
    ("ldap", "admin_group_cn"): ("ldap", "admin_group_cn", _text),
    ("ldap", "indirect_group_memberships"): (
        "ldap",
        "indirect_group_memberships",
        _flag,
    ),
    ("inventory", "url"): ("inventory", "url", _text),
    ("gpg", "key_id"): ("gpg", "key_id", _text),
}

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
    if (section, key) not in KEY_MAP:
        conversion.problems.append(f"{where}: not imported: unknown key")
        return
    target_section, target_key, converter = KEY_MAP[section, key]
    try:
        converted = converter(value)
        checked = ska_config.validate_value(target_section, target_key, converted)
    except _Unmappable as error:
        conversion.problems.append(f"{where}: not imported: {error}")
        return
    except ska_config.ConfigError as error:
        conversion.problems.append(f"{where}: not imported: {error}")
        return
    if (section, key) == ("security", "host_key_reset_restriction") and value == "":
        conversion.problems.append(
            f"{where}: kept true: the reference relaxes it only for 0, not off"
        )
    conversion.document.setdefault(target_section, {})[target_key] = checked


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
