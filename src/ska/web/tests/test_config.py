"""The configuration loader: types, rules, environment and precedence."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path
from typing import Any

import pytest

from ska import config as ska_config
from ska.config import ConfigError, build, load, masked, to_toml


def _environ(tmp_path: Path, **variables: str) -> dict[str, str]:
    """Return an environment that sees no file unless one is named."""
    return {"SKA_DATA_DIR": str(tmp_path / "data"), **variables}


def _write(tmp_path: Path, text: str, name: str = "ska.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("raw", "section", "key", "expected"),
    [
        ({"web": {"enabled": False}}, "web", "enabled", False),
        (
            {"web": {"baseurl": "https://ska.example.com/keys"}},
            "web",
            "baseurl",
            "https://ska.example.com/keys",
        ),
        ({"web": {"listen": "[::1]:8080"}}, "web", "listen", "[::1]:8080"),
        (
            {"web": {"listen": "unix:/run/ska.sock"}},
            "web",
            "listen",
            "unix:/run/ska.sock",
        ),
        ({"web": {"allowed_hosts": ["a", "b"]}}, "web", "allowed_hosts", ["a", "b"]),
        ({"security": {"min_rsa_bits": 2048}}, "security", "min_rsa_bits", 2048),
        ({"security": {"min_ecdsa_bits": 521}}, "security", "min_ecdsa_bits", 521),
        (
            {"security": {"trusted_proxies": ["10.0.0.0/8", "::1"]}},
            "security",
            "trusted_proxies",
            ["10.0.0.0/8", "::1"],
        ),
        (
            {"general": {"default_key_supervision": "rootonly"}},
            "general",
            "default_key_supervision",
            "rootonly",
        ),
        (
            {"ldap": {"max_deactivation_share": 1}},
            "ldap",
            "max_deactivation_share",
            1.0,
        ),
        (
            {"ldap": {"host": "ldaps://ldap.example.com:636"}},
            "ldap",
            "host",
            "ldaps://ldap.example.com:636",
        ),
        ({"ldap": {"user_active_bitmask": "!2"}}, "ldap", "user_active_bitmask", "!2"),
        ({"sync": {"poll_interval": 0.25}}, "sync", "poll_interval", 0.25),
        (
            {"defaults": {"account_groups": {"root": "root-accounts"}}},
            "defaults",
            "account_groups",
            {"root": "root-accounts"},
        ),
        ({"database": {"port": 65535}}, "database", "port", 65535),
    ],
)
def test_build_accepts_valid_values(
    raw: dict[str, Any], section: str, key: str, expected: Any
) -> None:
    value = getattr(getattr(build(raw), section), key)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("raw", "fragments"),
    [
        (
            {"security": {"min_rsa_bits": "4096"}},
            ["[security] min_rsa_bits = '4096'", "expected an integer"],
        ),
        ({"web": {"debug": 1}}, ["[web] debug = 1", "expected true or false"]),
        (
            {"security": {"session_timeout": True}},
            ["[security] session_timeout = True", "expected an integer"],
        ),
        (
            {"sync": {"poll_interval": "1"}},
            ["[sync] poll_interval", "expected a number"],
        ),
        ({"sync": {"poll_interval": math.inf}}, ["expected a finite number"]),
        ({"ldap": {"max_deactivation_share": math.nan}}, ["expected a finite number"]),
        ({"ldap": {"max_deactivation_share": 1.5}}, ["must be at most 1.0"]),
        ({"web": {"allowed_hosts": ["a", 1]}}, ["expected a list of strings"]),
        ({"web": {"allowed_hosts": "a"}}, ["expected a list of strings"]),
        ({"defaults": {"account_groups": {"root": 1}}}, ["account name = group name"]),
        ({"defaults": {"account_groups": {".x": "g"}}}, ["do not begin with '.'"]),
        (
            {"general": {"default_key_supervision": "partial"}},
            ["= 'partial'", "allowed values are 'full', 'rootonly', 'off'"],
        ),
        ({"security": {"min_ecdsa_bits": 300}}, ["allowed values are 256, 384, 521"]),
        ({"security": {"min_rsa_bits": 1024}}, ["must be at least 2048"]),
        ({"security": {"hostname_verification": 4}}, ["allowed values are 0, 1, 2, 3"]),
        ({"privacy": {"comment_key_files": -1}}, ["allowed values are 0, 1, 2"]),
        ({"monitoring": {"status_file_timeout": 59}}, ["must be at least 60"]),
        ({"email": {"smtp_port": 70000}}, ["must be at most 65535"]),
        ({"sync": {"concurrency": 0}}, ["[sync] concurrency = 0", "at least 1"]),
        ({"web": {"baseurl": "ftp://x"}}, ["absolute http:// or https:// address"]),
        ({"web": {"baseurl": "https://x/?a=1"}}, ["without query or fragment"]),
        ({"web": {"listen": "8000"}}, ["address:port"]),
        ({"web": {"listen": "host:http"}}, ["address:port"]),
        ({"ldap": {"host": "http://ldap"}}, ["ldap://host[:port]"]),
        ({"ldap": {"user_active_bitmask": "2x"}}, ["optional leading '!'"]),
        ({"security": {"trusted_proxies": ["proxy"]}}, ["not 'proxy'"]),
        (
            {"security": {"content_security_policy": "default-src 'self'\nX: y"}},
            ["a single line"],
        ),
        (
            {"privacy": {"history_username_env_format": "HISTORY={user}"}},
            ["[privacy] history_username_env_format"],
        ),
        (
            {"web": {"colour": "red"}},
            ["[web] colour = 'red'", "unknown key", "enabled"],
        ),
        ({"ldap": {"hots": "x"}}, ["did you mean host?"]),
        ({"webb": {}}, ["[webb]", "unknown section", "known sections are web"]),
        ({"web": 1}, ["web = 1", "expected a [web] table"]),
        (
            {"email": {"smtp_ssl": True, "smtp_starttls": True}},
            ["smtp_ssl", "smtp_starttls", "at most one"],
        ),
    ],
)
def test_build_rejects_bad_values_naming_key_value_and_rule(
    raw: dict[str, Any], fragments: list[str]
) -> None:
    with pytest.raises(ConfigError) as caught:
        build(raw)
    message = str(caught.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("ldap", "bind_password", 12345),
        ("database", "password", ["s3cret-list"]),
        ("email", "smtp_password", {"s3cret": "table"}),
    ],
)
def test_build_hides_secret_values_in_errors(
    section: str, key: str, value: Any
) -> None:
    with pytest.raises(ConfigError) as caught:
        build({section: {key: value}})
    assert "<hidden>" in str(caught.value)
    assert "12345" not in str(caught.value)
    assert "s3cret" not in str(caught.value)


def test_defaults_pass_their_own_rules() -> None:
    for section, key in ska_config.iter_keys():
        default = getattr(getattr(ska_config.Config(), section), key.name)
        assert ska_config.validate_value(section, key.name, default) == default


def test_env_variable_names_never_collide_with_file_variants() -> None:
    names = {ska_config.env_variable(s, k.name) for s, k in ska_config.iter_keys()}
    assert not {f"{name}_FILE" for name in names} & names


@pytest.mark.parametrize(
    ("variable", "text", "section", "key", "expected"),
    [
        ("SKA_WEB_ENABLED", "no", "web", "enabled", False),
        ("SKA_WEB_ENABLED", "0", "web", "enabled", False),
        ("SKA_WEB_ENABLED", "", "web", "enabled", False),
        ("SKA_WEB_DEBUG", "TRUE", "web", "debug", True),
        ("SKA_WEB_DEBUG", " on ", "web", "debug", True),
        ("SKA_WEB_DEBUG", "1", "web", "debug", True),
        ("SKA_SECURITY_SESSION_TIMEOUT", " 42 ", "security", "session_timeout", 42),
        (
            "SKA_LDAP_MAX_DEACTIVATION_SHARE",
            "0.5",
            "ldap",
            "max_deactivation_share",
            0.5,
        ),
        ("SKA_SYNC_POLL_INTERVAL", "2", "sync", "poll_interval", 2.0),
        ("SKA_WEB_ALLOWED_HOSTS", "a, b,,c ", "web", "allowed_hosts", ["a", "b", "c"]),
        ("SKA_WEB_ALLOWED_HOSTS", "", "web", "allowed_hosts", []),
        (
            "SKA_SECURITY_TRUSTED_PROXIES",
            "10.0.0.0/8,192.0.2.1",
            "security",
            "trusted_proxies",
            ["10.0.0.0/8", "192.0.2.1"],
        ),
        (
            "SKA_DEFAULTS_ACCOUNT_GROUPS",
            '{root = "root-accounts", "app.x" = "apps"}',
            "defaults",
            "account_groups",
            {"root": "root-accounts", "app.x": "apps"},
        ),
        ("SKA_DATABASE_ENGINE", "postgresql", "database", "engine", "postgresql"),
        ("SKA_WEB_FOOTER", "  spaced  ", "web", "footer", "  spaced  "),
    ],
)
def test_load_reads_typed_environment_overrides(
    tmp_path: Path, variable: str, text: str, section: str, key: str, expected: Any
) -> None:
    config = load(environ=_environ(tmp_path, **{variable: text}))
    assert getattr(getattr(config, section), key) == expected


@pytest.mark.parametrize(
    ("variable", "text", "fragments"),
    [
        (
            "SKA_SECURITY_MIN_RSA_BITS",
            "abc",
            ["SKA_SECURITY_MIN_RSA_BITS", "[security] min_rsa_bits = 'abc'", "integer"],
        ),
        (
            "SKA_SECURITY_MIN_RSA_BITS",
            "1024",
            ["SKA_SECURITY_MIN_RSA_BITS", "at least 2048"],
        ),
        ("SKA_WEB_DEBUG", "maybe", ["SKA_WEB_DEBUG", "'maybe'", "true or false"]),
        ("SKA_SYNC_POLL_INTERVAL", "fast", ["SKA_SYNC_POLL_INTERVAL", "a number"]),
        ("SKA_SYNC_POLL_INTERVAL", "nan", ["finite"]),
        (
            "SKA_DEFAULTS_ACCOUNT_GROUPS",
            "[1]",
            ["SKA_DEFAULTS_ACCOUNT_GROUPS", "a table"],
        ),
        ("SKA_DEFAULTS_ACCOUNT_GROUPS", "{", ["a table"]),
        ("SKA_DATABASE_ENGINE", "oracle", ["SKA_DATABASE_ENGINE", "'sqlite'"]),
        ("SKA_LDAP_HOTS", "ldap://x", ["SKA_LDAP_HOTS", "did you mean SKA_LDAP_HOST?"]),
        ("SKA_SYNC_NOPE_FILE", "/x", ["SKA_SYNC_NOPE_FILE", "unknown variable"]),
    ],
)
def test_load_rejects_bad_environment_naming_the_variable(
    tmp_path: Path, variable: str, text: str, fragments: list[str]
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(environ=_environ(tmp_path, **{variable: text}))
    for fragment in fragments:
        assert fragment in str(caught.value)


def test_load_ignores_variables_outside_the_sections(tmp_path: Path) -> None:
    environ = _environ(tmp_path, SKA_TEST_PG_HOST="x", SKA_SYNCD_X="y", SKA_DATA="z")
    assert load(environ=environ).sync == ska_config.SyncSection()


@pytest.mark.parametrize(
    ("in_file", "variable", "file_variable", "expected"),
    [
        (None, None, None, 28800),
        (100, None, None, 100),
        (100, "200", None, 200),
        (None, "200", None, 200),
        (100, "200", "300", 300),
        (None, None, "300", 300),
    ],
)
def test_load_precedence_is_file_then_env_then_file_variable(
    tmp_path: Path,
    in_file: int | None,
    variable: str | None,
    file_variable: str | None,
    expected: int,
) -> None:
    text = f"[security]\nsession_timeout = {in_file}\n" if in_file else ""
    environ = _environ(tmp_path, SKA_CONFIG=str(_write(tmp_path, text)))
    if variable:
        environ["SKA_SECURITY_SESSION_TIMEOUT"] = variable
    if file_variable:
        secret = _write(tmp_path, f"{file_variable}\nignored second line\n", "v")
        environ["SKA_SECURITY_SESSION_TIMEOUT_FILE"] = str(secret)
    assert load(environ=environ).security.session_timeout == expected


def test_load_tells_a_key_ending_in_file_from_a_file_variable(
    tmp_path: Path,
) -> None:
    name = "SKA_SECURITY_JUMPHOST_KNOWN_HOSTS_FILE"
    plain = load(environ=_environ(tmp_path, **{name: "/etc/ssh/jump_hosts"}))
    assert plain.security.jumphost_known_hosts_file == "/etc/ssh/jump_hosts"
    holder = _write(tmp_path, "/srv/known_hosts\n", "holder")
    indirect = load(environ=_environ(tmp_path, **{f"{name}_FILE": str(holder)}))
    assert indirect.security.jumphost_known_hosts_file == "/srv/known_hosts"


def test_load_reads_secret_from_file_variable(tmp_path: Path) -> None:
    secret = _write(tmp_path, "bind pass word\n", "bind-password")
    environ = _environ(tmp_path, SKA_LDAP_BIND_PASSWORD_FILE=str(secret))
    config = load(environ=environ)
    assert config.ldap.bind_password == "bind pass word"
    assert masked(config)["ldap"]["bind_password"] == "********"


@pytest.mark.parametrize(
    ("content", "fragment"),
    [(None, "cannot read"), ("", "the file is empty")],
)
def test_load_rejects_unreadable_file_variable(
    tmp_path: Path, content: str | None, fragment: str
) -> None:
    path = tmp_path / "secret"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    environ = _environ(tmp_path, SKA_DATABASE_PASSWORD_FILE=str(path))
    with pytest.raises(ConfigError) as caught:
        load(environ=environ)
    assert f"SKA_DATABASE_PASSWORD_FILE={path}" in str(caught.value)
    assert fragment in str(caught.value)


def test_load_file_errors_name_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "[web]\ncolour = 'red'\n")
    with pytest.raises(ConfigError) as caught:
        load(path, environ=_environ(tmp_path))
    assert str(caught.value).startswith(f"{path}: [web] colour")


def test_load_reports_toml_syntax_errors_with_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "[web]\nenabled = true\nbaseurl = \n")
    with pytest.raises(ConfigError) as caught:
        load(path, environ=_environ(tmp_path))
    assert f"{path}: not valid TOML" in str(caught.value)
    assert "line 3" in str(caught.value)


def test_load_reports_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "ska.toml"
    path.write_bytes(b"[web]\nfooter = '\xff'\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load(path, environ=_environ(tmp_path))


def test_load_requires_an_explicitly_named_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    with pytest.raises(ConfigError, match="configuration file not found"):
        load(environ=_environ(tmp_path, SKA_CONFIG=str(missing)))
    with pytest.raises(ConfigError, match="configuration file not found"):
        load(missing, environ=_environ(tmp_path))


def test_load_without_a_file_uses_defaults_and_no_source(tmp_path: Path) -> None:
    environ = _environ(tmp_path, SKA_WEB_DEBUG="true")
    config = load(environ=environ)
    assert config.source is None
    assert config.web.debug is True
    assert config.data_dir == (tmp_path / "data").resolve()


def test_load_finds_the_file_in_the_data_directory(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    _write(data, '[web]\nfooter = "from the data dir"\n')
    config = load(environ=_environ(tmp_path))
    assert config.web.footer == "from the data dir"
    assert config.source == data / "ska.toml"


@pytest.mark.parametrize(
    ("explicit", "environ_config", "expected"),
    [
        ("/a.toml", "/b.toml", "/a.toml"),
        (None, "/b.toml", "/b.toml"),
        (None, None, "DATA/ska.toml"),
    ],
)
def test_config_path_prefers_explicit_then_env_then_data_dir(
    tmp_path: Path, explicit: str | None, environ_config: str | None, expected: str
) -> None:
    environ = _environ(tmp_path)
    if environ_config:
        environ["SKA_CONFIG"] = environ_config
    found = ska_config.config_path(explicit, environ)
    assert str(found) == expected.replace("DATA", str((tmp_path / "data").resolve()))


def test_config_paths_derive_from_the_data_directory(tmp_path: Path) -> None:
    config = build({}, data_dir=tmp_path)
    assert config.private_key_path == tmp_path / "keys-sync"
    assert config.public_key_path == tmp_path / "keys-sync.pub"
    assert config.sqlite_path == tmp_path / "ska.sqlite3"
    assert not config.ldap_enabled
    chosen = build(
        {
            "sync": {"private_key": "/etc/ska/id"},
            "database": {"database": "/srv/db.sqlite3"},
            "ldap": {"host": "ldap://127.0.0.1:389"},
        }
    )
    assert chosen.public_key_path == Path("/etc/ska/id.pub")
    assert chosen.sqlite_path == Path("/srv/db.sqlite3")
    relative = build({"database": {"database": "keys.db"}}, data_dir=tmp_path)
    assert relative.sqlite_path == tmp_path / "keys.db"
    assert chosen.ldap_enabled


def test_masked_stars_only_secrets_that_are_set() -> None:
    config = build({"database": {"password": "pw"}, "ldap": {"bind_dn": "cn=x"}})
    shown = masked(config)
    assert shown["database"]["password"] == "********"
    assert shown["ldap"]["bind_password"] == ""
    assert shown["ldap"]["bind_dn"] == "cn=x"
    secrets = [(s, k.name) for s, k in ska_config.iter_keys() if k.metadata["secret"]]
    assert len(secrets) == 4


@pytest.mark.parametrize(
    "text",
    [
        "plain \"double\" and 'single'",
        "back\\slash \\n not a newline",
        "line one\nline two\r\n\ttabbed",
        "control \x01 \x1f \x7f \b \f",
        "unicode é ✓ 🔑",
        "'''\"\"\"",
        "",
    ],
)
def test_to_toml_round_trips_strings(text: str) -> None:
    document: dict[str, dict[str, Any]] = {
        "web": {"footer": text},
        "defaults": {"account_groups": {text or "x": text}},
    }
    assert tomllib.loads(to_toml(document)) == document


def test_to_toml_round_trips_every_type() -> None:
    document = {
        "a": {
            "flag": True,
            "off": False,
            "count": -3,
            "share": 0.1,
            "tiny": 1e-7,
            "names": ["x", "y z"],
            "empty": [],
            "table": {"with space": "v", "dotted.key": "w", "bare_key-1": "z"},
            "none": {},
        }
    }
    assert tomllib.loads(to_toml(document)) == document


def test_masked_defaults_round_trip_through_build(tmp_path: Path) -> None:
    config = build({}, data_dir=tmp_path)
    again = build(tomllib.loads(to_toml(masked(config))), data_dir=tmp_path)
    assert again == config
