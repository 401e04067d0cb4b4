"""The configuration: one TOML file, overridden by ``SKA_*`` environment.

The sections and keys are those of the reference ``config.ini`` plus a
``[sync]`` section of ours. Every key has a type, a default and, where it
matters, a set of allowed values; :func:`load` checks all of them and
raises :class:`ConfigError` naming the first bad key.

Precedence, lowest first: defaults, the file, ``SKA_<SECTION>_<KEY>``
variables, ``SKA_<SECTION>_<KEY>_FILE`` variables (the first line of the
named file, for secrets kept out of the environment).
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import math
import os
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_PREFIX = "SKA_"
CONFIG_FILE_NAME = "ska.toml"


class ConfigError(Exception):
    """A configuration value that cannot be used; the message is one line."""


def default_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Return the data directory: ``SKA_DATA_DIR`` or the XDG data home."""
    environ = os.environ if environ is None else environ
    if explicit := environ.get("SKA_DATA_DIR"):
        return Path(explicit).expanduser().resolve()
    xdg = environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "ska"


def _setting(
    default: Any,
    *,
    choices: tuple[Any, ...] = (),
    secret: bool = False,
    minimum: float | None = None,
    maximum: float | None = None,
    check: Callable[[Any], str | None] | None = None,
    doc: str = "",
) -> Any:
    """Declare one key: its default and the rules its value must follow."""
    metadata = {
        "choices": choices,
        "secret": secret,
        "minimum": minimum,
        "maximum": maximum,
        "check": check,
        "doc": doc,
    }
    if isinstance(default, list | dict):
        return field(default_factory=lambda: type(default)(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def _check_account_groups(value: Any) -> str | None:
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        return "a table of account name = group name strings"
    if any(not k or k.startswith(".") for k in value):
        return "account names that are not empty and do not begin with '.'"
    return None


def _check_base_url(value: Any) -> str | None:
    match = re.fullmatch(r"https?://([^/?#\s]+)(/[^?#\s]*)?", value)
    if not match:
        return "an absolute http:// or https:// address without query or fragment"
    return None


def _check_listen(value: Any) -> str | None:
    if value.startswith("unix:") and len(value) > len("unix:"):
        return None
    host, _, port = value.rpartition(":")
    if host and port.isdigit() and 1 <= int(port) <= 65535:
        return None
    return "address:port (port 1 to 65535) or unix:/path/to/socket"


def _check_ldap_url(value: Any) -> str | None:
    if value and not re.fullmatch(r"ldaps?://[^/\s]+/?", value):
        return "empty, or one ldap://host[:port] or ldaps://host[:port] address"
    return None


def _check_bitmask(value: Any) -> str | None:
    if value and not re.fullmatch(r"!?[0-9]+", value):
        return "empty, or a decimal mask with an optional leading '!' (e.g. '!2')"
    return None


def _check_networks(value: Any) -> str | None:
    for item in value:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            return f"IP addresses or networks such as 10.0.0.0/8 (not {item!r})"
    return None


def _check_header_value(value: Any) -> str | None:
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        return "a single line without control characters"
    return None


def _check_history_format(value: Any) -> str | None:
    # Imported lazily: the access app depends on this module at start-up.
    from ska.access.options import history_format_problem

    return history_format_problem(value)


@dataclass(frozen=True)
class WebSection:
    """The web application."""

    enabled: bool = _setting(True, doc="false answers every page with 503")
    baseurl: str = _setting(
        "http://127.0.0.1:8000",
        check=_check_base_url,
        doc="absolute address used in mails and keyfiles; its path is the app's",
    )
    logo: str = _setting("", doc="address of the navbar image; empty hides it")
    footer: str = _setting(
        "SSH Key Authority %v", doc="footer HTML; %v becomes the version"
    )
    listen: str = _setting(
        "127.0.0.1:8000",
        check=_check_listen,
        doc="address:port or unix:/path the web server of `ska run` binds",
    )
    secret_key: str = _setting(
        "", secret=True, doc="signing key; generated in the data directory if empty"
    )
    debug: bool = _setting(False, doc="Django debug pages; never in production")
    allowed_hosts: list[str] = _setting(
        [], doc="extra Host names accepted besides the baseurl host"
    )


@dataclass(frozen=True)
class GeneralSection:
    """General behaviour."""

    timeout_util: str = _setting(
        "GNU coreutils", doc="accepted for compatibility; syncs time out in-process"
    )
    timeout_binary: str = _setting(
        "", doc="accepted for compatibility; syncs time out in-process"
    )
    default_key_supervision: str = _setting(
        "full",
        choices=("full", "rootonly", "off"),
        doc="key scan mode of servers added through the web",
    )


@dataclass(frozen=True)
class SecuritySection:
    """Sessions, headers, host trust and key strength."""

    session_timeout: int = _setting(
        28800, minimum=0, doc="idle seconds before logout; 0 never"
    )
    content_security_policy: str = _setting(
        "default-src 'self'", check=_check_header_value
    )
    csp_report_only: bool = _setting(False)
    content_security_policy_report_uri: str = _setting("", check=_check_header_value)
    hsts_enabled: bool = _setting(False)
    hsts_max_age: int = _setting(31536000, minimum=0)
    hsts_include_subdomains: bool = _setting(False)
    hsts_preload: bool = _setting(False)
    trusted_proxies: list[str] = _setting(
        [],
        check=_check_networks,
        doc="addresses or networks trusted for X-Forwarded-Proto",
    )
    host_key_reset_restriction: bool = _setting(
        True, doc="true lets only admins clear a pinned host key"
    )
    host_key_collision_protection: bool = _setting(
        True, doc="refuse to sync two servers that share a host key"
    )
    jumphost_strict_host_key_checking: bool = _setting(
        True, doc="check every jump host's key against the known_hosts file"
    )
    jumphost_known_hosts_file: str = _setting("/etc/ssh/ssh_known_hosts")
    min_rsa_bits: int = _setting(4096, minimum=2048)
    min_ecdsa_bits: int = _setting(384, choices=(256, 384, 521))
    min_ed25519_bits: int = _setting(256, choices=(256,))
    accept_dsa_keys: bool = _setting(False, doc="ssh-dss keys are refused unless true")
    hostname_verification: int = _setting(
        0, choices=(0, 1, 2, 3), doc="0 off, 1 hostname -f, 2 .hostnames, 3 required"
    )


@dataclass(frozen=True)
class PrivacySection:
    """What keyfiles reveal about their keys."""

    comment_key_files: int = _setting(
        1, choices=(0, 1, 2), doc="0 none, 1 names and dates, 2 key page address"
    )
    history_username_env_default: bool = _setting(False)
    history_username_env_format: str = _setting(
        "BASH_HISTORY_USERNAME={uid}", check=_check_history_format
    )


@dataclass(frozen=True)
class MonitoringSection:
    """The status file written on every target."""

    status_file_path: str = _setting("/var/local/keys-sync.status")
    status_file_timeout: int = _setting(7200, minimum=60)


@dataclass(frozen=True)
class DefaultsSection:
    """Accounts created on every new server."""

    account_groups: dict[str, str] = _setting(
        {}, check=_check_account_groups, doc="account name = group it joins"
    )


@dataclass(frozen=True)
class EmailSection:
    """Outgoing mail."""

    enabled: bool = _setting(False, doc="false writes mail to the log only")
    from_address: str = _setting("ska@localhost")
    from_name: str = _setting("SSH Key Authority system")
    report_address: str = _setting("")
    report_name: str = _setting("")
    admin_address: str = _setting("root@localhost")
    admin_name: str = _setting("SSH Key Authority administrators")
    reroute: str = _setting("", doc="send every mail to this address instead")
    smtp_host: str = _setting("localhost")
    smtp_port: int = _setting(25, minimum=1, maximum=65535)
    smtp_username: str = _setting("")
    smtp_password: str = _setting("", secret=True)
    smtp_starttls: bool = _setting(False)
    smtp_ssl: bool = _setting(False)
    smtp_timeout: int = _setting(10, minimum=1)


@dataclass(frozen=True)
class DatabaseSection:
    """Where the data lives."""

    engine: str = _setting("sqlite", choices=("sqlite", "postgresql", "mysql"))
    hostname: str = _setting("127.0.0.1")
    port: int = _setting(0, minimum=0, maximum=65535, doc="0 is the engine default")
    username: str = _setting("")
    password: str = _setting("", secret=True)
    database: str = _setting(
        "", doc="database name; for sqlite a file path, default in the data directory"
    )


@dataclass(frozen=True)
class LdapSection:
    """The LDAP directory; unused while ``host`` is empty."""

    host: str = _setting(
        "",
        check=_check_ldap_url,
        doc="ldap:// or ldaps:// address; empty means no LDAP",
    )
    starttls: bool = _setting(False)
    ca_file: str = _setting("", doc="CA bundle for ldaps:// and StartTLS")
    connect_timeout: int = _setting(5, minimum=1)
    dn_user: str = _setting("")
    dn_group: str = _setting("")
    follow_referrals: bool = _setting(False)
    bind_dn: str = _setting("")
    bind_password: str = _setting("", secret=True)
    user_id: str = _setting("uid")
    user_name: str = _setting("cn")
    user_email: str = _setting("mail")
    user_superior: str = _setting("")
    user_active: str = _setting("")
    user_active_true: str = _setting("")
    user_active_false: str = _setting("")
    user_active_bitmask: str = _setting("", check=_check_bitmask)
    group_member: str = _setting("member")
    group_member_value: str = _setting("dn")
    group_class: str = _setting("groupOfNames")
    group_id: str = _setting("cn")
    group_num: str = _setting("entryUUID")
    admin_group_cn: str = _setting("")
    indirect_group_memberships: bool = _setting(False)
    update_interval: int = _setting(60, minimum=0, doc="seconds; 0 disables")
    max_deactivation_share: float = _setting(
        0.10,
        minimum=0.0,
        maximum=1.0,
        doc="refuse an update deactivating more of the active users",
    )


@dataclass(frozen=True)
class InventorySection:
    """Link from a server to an inventory system."""

    url: str = _setting("", doc="printf pattern; %s becomes the server uuid")


@dataclass(frozen=True)
class GpgSection:
    """Signing of outgoing mail (accepted for compatibility)."""

    key_id: str = _setting("")


@dataclass(frozen=True)
class SyncSection:
    """The sync engine and daemon."""

    private_key: str = _setting(
        "", doc="private key file; default keys-sync in the data directory"
    )
    public_key: str = _setting("", doc="default: the private key path + .pub")
    concurrency: int = _setting(50, minimum=1, maximum=1000)
    connect_timeout: int = _setting(10, minimum=1)
    step_timeout: int = _setting(30, minimum=1)
    server_timeout: int = _setting(60, minimum=1)
    retry_delay: int = _setting(1800, minimum=1, doc="seconds before a failed retry")
    lease_seconds: int = _setting(300, minimum=10)
    poll_interval: float = _setting(
        1.0, minimum=0.05, maximum=60.0, doc="seconds between queue polls"
    )
    keepalive_interval: int = _setting(30, minimum=0)


@dataclass(frozen=True)
class Config:
    """The whole configuration, validated."""

    web: WebSection = field(default_factory=WebSection)
    general: GeneralSection = field(default_factory=GeneralSection)
    security: SecuritySection = field(default_factory=SecuritySection)
    privacy: PrivacySection = field(default_factory=PrivacySection)
    monitoring: MonitoringSection = field(default_factory=MonitoringSection)
    defaults: DefaultsSection = field(default_factory=DefaultsSection)
    email: EmailSection = field(default_factory=EmailSection)
    database: DatabaseSection = field(default_factory=DatabaseSection)
    ldap: LdapSection = field(default_factory=LdapSection)
    inventory: InventorySection = field(default_factory=InventorySection)
    gpg: GpgSection = field(default_factory=GpgSection)
    sync: SyncSection = field(default_factory=SyncSection)
    data_dir: Path = field(default_factory=default_data_dir)
    source: Path | None = None

    @property
    def ldap_enabled(self) -> bool:
        """Say whether users come from LDAP rather than local accounts."""
        return bool(self.ldap.host)

    @property
    def private_key_path(self) -> Path:
        """Return the sync private key file."""
        return Path(self.sync.private_key or self.data_dir / "keys-sync")

    @property
    def public_key_path(self) -> Path:
        """Return the sync public key file."""
        return Path(self.sync.public_key or f"{self.private_key_path}.pub")

    @property
    def sqlite_path(self) -> Path:
        """Return the SQLite database file; relative names are in the data dir."""
        return self.data_dir / (self.database.database or "ska.sqlite3")


SECTIONS: dict[str, type[Any]] = {
    f.name: f.type if isinstance(f.type, type) else globals()[str(f.type)]
    for f in dataclasses.fields(Config)
    if f.name not in ("data_dir", "source")
}


def iter_keys() -> Iterator[tuple[str, dataclasses.Field[Any]]]:
    """Yield ``(section, field)`` for every key of every section."""
    for section, cls in SECTIONS.items():
        for key in dataclasses.fields(cls):
            yield section, key


def _type_name(expected: type[Any]) -> str:
    return {
        bool: "true or false",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list of strings",
        dict: "a table",
    }[expected]


def _base_type(key: dataclasses.Field[Any]) -> type[Any]:
    name = str(key.type)
    for candidate in (bool, int, float, str):
        if name == candidate.__name__:
            return candidate
    return list if name.startswith("list") else dict


def _coerce_env(text: str, expected: type[Any]) -> Any:
    """Turn an environment string into the key's type, or raise ValueError."""
    if expected is bool:
        lowered = text.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off", ""):
            return False
        raise ValueError(text)
    if expected is int:
        return int(text.strip())
    if expected is float:
        return float(text.strip())
    if expected is list:
        return [part.strip() for part in text.split(",") if part.strip()]
    if expected is dict:
        parsed = tomllib.loads(f"value = {text}")["value"]
        if not isinstance(parsed, dict):
            raise ValueError(text)
        return parsed
    return text


def env_variable(section: str, key_name: str) -> str:
    """Return the environment variable that overrides ``[section] key``."""
    return f"{ENV_PREFIX}{section}_{key_name}".upper()


def _validate(
    section: str, key: dataclasses.Field[Any], value: Any, origin: str = ""
) -> Any:
    """Return ``value`` if it fits ``key``, else raise a one-line ConfigError.

    ``origin`` names where the value came from when that is not the file
    (an environment variable), so the message points at what to change.
    """
    expected = _base_type(key)
    shown = "<hidden>" if key.metadata["secret"] else repr(value)
    where = f"[{section}] {key.name} = {shown}"
    if origin:
        where = f"{origin} ({where})"
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    fits = isinstance(value, expected) and not (
        expected is int and isinstance(value, bool)
    )
    if expected is list and fits:
        fits = all(isinstance(item, str) for item in value)
    if not fits:
        raise ConfigError(f"{where}: expected {_type_name(expected)}")
    if expected is float and not math.isfinite(value):
        raise ConfigError(f"{where}: expected a finite number")
    choices = key.metadata["choices"]
    if choices and value not in choices:
        allowed = ", ".join(repr(choice) for choice in choices)
        raise ConfigError(f"{where}: allowed values are {allowed}")
    minimum, maximum = key.metadata["minimum"], key.metadata["maximum"]
    if minimum is not None and value < minimum:
        raise ConfigError(f"{where}: must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{where}: must be at most {maximum}")
    if key.metadata["check"] and (problem := key.metadata["check"](value)):
        raise ConfigError(f"{where}: expected {problem}")
    return value


def _field(section: str, key_name: str) -> dataclasses.Field[Any]:
    fields = {key.name: key for key in dataclasses.fields(SECTIONS[section])}
    return fields[key_name]


def key_type(section: str, key_name: str) -> type[Any]:
    """Return the base type of a key: bool, int, float, str, list or dict."""
    return _base_type(_field(section, key_name))


def validate_value(section: str, key_name: str, value: Any) -> Any:
    """Check one value against its key; raise ConfigError if it does not fit."""
    return _validate(section, _field(section, key_name), value)


def config_path(
    explicit: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Path:
    """Return the configuration file: explicit, ``SKA_CONFIG``, or data dir."""
    environ = os.environ if environ is None else environ
    chosen = explicit or environ.get("SKA_CONFIG")
    if chosen:
        return Path(chosen).expanduser()
    return default_data_dir(environ) / CONFIG_FILE_NAME


def _read_file(path: Path, required: bool) -> dict[str, Any] | None:
    """Parse the file; None when it is absent and need not exist."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        if required:
            raise ConfigError(f"{path}: configuration file not found") from None
        return None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not valid TOML: not UTF-8 text") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror}") from None


def _unknown_variable(variable: str) -> str | None:
    """Say why ``variable`` is a mistake if it looks like one of ours."""
    for section in SECTIONS:
        prefix = f"{ENV_PREFIX}{section}_".upper()
        if variable.startswith(prefix):
            names = [
                env_variable(section, key.name)
                for key in dataclasses.fields(SECTIONS[section])
            ]
            if variable in names or variable.removesuffix("_FILE") in names:
                return None
            stem = variable.removesuffix("_FILE")
            close = difflib.get_close_matches(stem, names, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            return f"{variable}: unknown variable for [{section}]{hint}"
    return None


def _read_variable_file(variable: str, path: str) -> str:
    """Return the first line of the file a ``*_FILE`` variable names."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "not UTF-8 text"
        raise ConfigError(f"{variable}={path}: cannot read: {reason}") from None
    if not lines:
        raise ConfigError(f"{variable}={path}: the file is empty")
    return lines[0]


def _environment_overrides(
    environ: Mapping[str, str],
) -> dict[str, dict[str, Any]]:
    """Collect ``SKA_<SECTION>_<KEY>[_FILE]`` values, typed and validated."""
    for variable in environ:
        if problem := _unknown_variable(variable):
            raise ConfigError(problem)
    overrides: dict[str, dict[str, Any]] = {}
    for section, key in iter_keys():
        name = env_variable(section, key.name)
        expected = _base_type(key)
        # The _FILE variant comes last so that it wins over the plain one.
        for variable, from_file in ((name, False), (f"{name}_FILE", True)):
            if variable not in environ:
                continue
            text = environ[variable]
            origin = f"{variable}={text}" if from_file else variable
            if from_file:
                text = _read_variable_file(variable, text)
            try:
                value = _coerce_env(text, expected)
            except (ValueError, tomllib.TOMLDecodeError):
                shown = "<hidden>" if key.metadata["secret"] else repr(text)
                raise ConfigError(
                    f"{origin} ([{section}] {key.name} = {shown}): "
                    f"expected {_type_name(expected)}"
                ) from None
            overrides.setdefault(section, {})[key.name] = _validate(
                section, key, value, origin
            )
    return overrides


def overriding_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """Return the names of the set variables that override a key."""
    environ = os.environ if environ is None else environ
    names = []
    for section, key in iter_keys():
        name = env_variable(section, key.name)
        names += [v for v in (name, f"{name}_FILE") if v in environ]
    return names


def _check_combinations(config: Config) -> None:
    """Refuse settings that are valid one by one but not together."""
    if config.email.smtp_ssl and config.email.smtp_starttls:
        raise ConfigError(
            "[email] smtp_ssl = true and smtp_starttls = true: "
            "expected at most one of them"
        )


def build(raw: Mapping[str, Any], *, data_dir: Path | None = None) -> Config:
    """Validate a parsed TOML document and return the configuration."""
    sections: dict[str, Any] = {}
    for section_name, values in raw.items():
        if section_name not in SECTIONS:
            allowed = ", ".join(SECTIONS)
            raise ConfigError(
                f"[{section_name}]: unknown section; known sections are {allowed}"
            )
        if not isinstance(values, dict):
            raise ConfigError(
                f"{section_name} = {values!r}: expected a [{section_name}] table"
            )
    for section_name, cls in SECTIONS.items():
        values = dict(raw.get(section_name, {}))
        known = {key.name: key for key in dataclasses.fields(cls)}
        for key_name, value in values.items():
            if key_name in known:
                continue
            close = difflib.get_close_matches(key_name, known, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise ConfigError(
                f"[{section_name}] {key_name} = {value!r}: unknown key; "
                f"{hint}known keys are " + ", ".join(known)
            )
        checked = {
            name: _validate(section_name, known[name], value)
            for name, value in values.items()
        }
        sections[section_name] = cls(**checked)
    config = Config(**sections, data_dir=data_dir or default_data_dir())
    _check_combinations(config)
    return config


def load(
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Read, merge and validate the configuration.

    1. Read the file (required only when named explicitly) and validate
       it alone, so that its errors name the file.
    2. Collect and validate the environment overrides.
    3. Merge both and validate the combination.
    """
    environ = os.environ if environ is None else environ
    file_path = config_path(path, environ)
    explicit = bool(path or environ.get("SKA_CONFIG"))
    data_dir = default_data_dir(environ)
    raw = _read_file(file_path, required=explicit)
    if raw is not None:
        try:
            build(raw, data_dir=data_dir)
        except ConfigError as error:
            raise ConfigError(f"{file_path}: {error}") from None

    merged: dict[str, Any] = {
        name: dict(values) for name, values in (raw or {}).items()
    }
    for section, values in _environment_overrides(environ).items():
        merged.setdefault(section, {}).update(values)
    config = build(merged, data_dir=data_dir)
    return dataclasses.replace(config, source=file_path if raw is not None else None)


def masked(config: Config) -> dict[str, dict[str, Any]]:
    """Return the effective configuration with secrets replaced by stars."""
    shown: dict[str, dict[str, Any]] = {}
    for section, key in iter_keys():
        value = getattr(getattr(config, section), key.name)
        if key.metadata["secret"] and value:
            value = "********"
        shown.setdefault(section, {})[key.name] = value
    return shown


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_TOML_ESCAPES = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _toml_string(text: str) -> str:
    """Quote ``text`` as a TOML basic string."""
    out = []
    for char in text:
        if char in ('"', "\\"):
            out.append("\\" + char)
        elif char in _TOML_ESCAPES:
            out.append(_TOML_ESCAPES[char])
        elif ord(char) < 32 or ord(char) == 127:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _toml_key(name: str) -> str:
    return name if _BARE_KEY.fullmatch(name) else _toml_string(name)


def _toml_value(value: Any) -> str:
    """Render one value: bool, int, float, str, list of str or flat table."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        pairs = [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()]
        return "{ " + ", ".join(pairs) + " }" if pairs else "{}"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def to_toml(document: Mapping[str, Mapping[str, Any]]) -> str:
    """Write a document of sections of keys as TOML text."""
    blocks = []
    for section, values in document.items():
        lines = [f"[{_toml_key(section)}]"]
        lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in values.items()]
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)
