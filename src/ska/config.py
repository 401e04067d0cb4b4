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
import os
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_PREFIX = "SKA_"
CONFIG_FILE_NAME = "ska.toml"


class ConfigError(Exception):
    """A configuration value that cannot be used; the message is one line."""


def default_data_dir() -> Path:
    """Return the data directory: ``SKA_DATA_DIR`` or the XDG data home."""
    if explicit := os.environ.get("SKA_DATA_DIR"):
        return Path(explicit).expanduser().resolve()
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "ska"


def _setting(
    default: Any,
    *,
    choices: tuple[Any, ...] = (),
    secret: bool = False,
    minimum: int | None = None,
    maximum: int | None = None,
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


def _check_history_format(value: Any) -> str | None:
    # Imported lazily: the access app depends on this module at start-up.
    from ska.access.options import history_format_problem

    return history_format_problem(value)


@dataclass(frozen=True)
class WebSection:
    """The web application."""

    enabled: bool = _setting(True, doc="false answers every page with 503")
    baseurl: str = _setting(
        "http://127.0.0.1:8000", doc="absolute address used in mails and keyfiles"
    )
    logo: str = _setting("", doc="address of the navbar image; empty hides it")
    footer: str = _setting(
        "SSH Key Authority %v", doc="footer HTML; %v becomes the version"
    )
    listen: str = _setting("127.0.0.1:8000", doc="address:port of `ska serve`")
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
    content_security_policy: str = _setting("default-src 'self'")
    csp_report_only: bool = _setting(False)
    content_security_policy_report_uri: str = _setting("")
    hsts_enabled: bool = _setting(False)
    hsts_max_age: int = _setting(31536000, minimum=0)
    hsts_include_subdomains: bool = _setting(False)
    hsts_preload: bool = _setting(False)
    trusted_proxies: list[str] = _setting(
        [], doc="addresses or networks trusted for X-Forwarded-Proto"
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
    min_rsa_bits: int = _setting(4096, minimum=1024)
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

    host: str = _setting("", doc="ldap:// or ldaps:// address; empty means no LDAP")
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
    user_active_bitmask: str = _setting("")
    group_member: str = _setting("member")
    group_member_value: str = _setting("dn")
    group_class: str = _setting("groupOfNames")
    group_id: str = _setting("cn")
    group_num: str = _setting("entryUUID")
    admin_group_cn: str = _setting("")
    indirect_group_memberships: bool = _setting(False)
    update_interval: int = _setting(60, minimum=0, doc="seconds; 0 disables")
    max_deactivation_share: float = _setting(
        0.10, doc="refuse an update deactivating more of the active users"
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
    poll_interval: float = _setting(1.0, doc="seconds between queue polls")
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
        """Return the SQLite database file."""
        return Path(self.database.database or self.data_dir / "ska.sqlite3")


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


def _validate(section: str, key: dataclasses.Field[Any], value: Any) -> Any:
    """Return ``value`` if it fits ``key``, else raise a one-line ConfigError."""
    expected = _base_type(key)
    shown = "<hidden>" if key.metadata["secret"] else repr(value)
    where = f"[{section}] {key.name} = {shown}"
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    fits = isinstance(value, expected) and not (
        expected is int and isinstance(value, bool)
    )
    if expected is list and fits:
        fits = all(isinstance(item, str) for item in value)
    if not fits:
        raise ConfigError(f"{where}: expected {_type_name(expected)}")
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


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Return the configuration file: explicit, ``SKA_CONFIG``, or data dir."""
    chosen = explicit or os.environ.get("SKA_CONFIG")
    if chosen:
        return Path(chosen).expanduser()
    return default_data_dir() / CONFIG_FILE_NAME


def _read_file(path: Path, required: bool) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        if required:
            raise ConfigError(f"{path}: configuration file not found") from None
        return {}
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror}") from None


def _environment_overrides(
    environ: Mapping[str, str],
) -> dict[str, dict[str, Any]]:
    """Collect ``SKA_<SECTION>_<KEY>[_FILE]`` values, typed."""
    overrides: dict[str, dict[str, Any]] = {}
    for section, key in iter_keys():
        name = f"{ENV_PREFIX}{section}_{key.name}".upper()
        expected = _base_type(key)
        for variable in (name, f"{name}_FILE"):
            if variable not in environ:
                continue
            text = environ[variable]
            if variable.endswith("_FILE"):
                try:
                    text = Path(text).read_text(encoding="utf-8").splitlines()[0]
                except (OSError, IndexError):
                    raise ConfigError(
                        f"{variable}={text}: cannot read a value from that file"
                    ) from None
            try:
                overrides.setdefault(section, {})[key.name] = _coerce_env(
                    text, expected
                )
            except (ValueError, tomllib.TOMLDecodeError):
                shown = "<hidden>" if key.metadata["secret"] else repr(text)
                raise ConfigError(
                    f"{variable}={shown}: expected {_type_name(expected)}"
                ) from None
    return overrides


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
            raise ConfigError(f"{section_name}: expected a [{section_name}] table")
    for section_name, cls in SECTIONS.items():
        values = dict(raw.get(section_name, {}))
        known = {key.name: key for key in dataclasses.fields(cls)}
        for key_name in values:
            if key_name not in known:
                raise ConfigError(
                    f"[{section_name}] {key_name}: unknown key; known keys are "
                    + ", ".join(known)
                )
        checked = {
            name: _validate(section_name, known[name], value)
            for name, value in values.items()
        }
        sections[section_name] = cls(**checked)
    return Config(**sections, data_dir=data_dir or default_data_dir())


def load(
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Read, merge and validate the configuration."""
    environ = os.environ if environ is None else environ
    file_path = config_path(path)
    explicit = bool(path or environ.get("SKA_CONFIG"))
    raw = _read_file(file_path, required=explicit)
    for section, values in _environment_overrides(environ).items():
        merged = raw.setdefault(section, {})
        if not isinstance(merged, dict):
            raise ConfigError(f"{section}: expected a [{section}] table")
        merged.update(values)
    config = build(raw)
    return dataclasses.replace(config, source=file_path if raw or explicit else None)


def masked(config: Config) -> dict[str, dict[str, Any]]:
    """Return the effective configuration with secrets replaced by stars."""
    shown: dict[str, dict[str, Any]] = {}
    for section, key in iter_keys():
        value = getattr(getattr(config, section), key.name)
        if key.metadata["secret"] and value:
            value = "********"
        shown.setdefault(section, {})[key.name] = value
    return shown
