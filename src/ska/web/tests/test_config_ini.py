"""Importing the reference's ``config.ini``: parsing, mapping, the command."""

from __future__ import annotations

import io
import stat
import tomllib
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from ska.config import build, to_toml
from ska.config_ini import IniSyntaxError, convert, convert_text, parse_ini

# A complete file in the shape of the reference's example, with the values
# an installation on Active Directory would have, plus the extras operators
# add: an undocumented key, an upstream-only one and a password that needs
# quoting.
REFERENCE_INI = r"""
; SSH Key Authority configuration
[web]
enabled = 1
baseurl = https://ska.example.com/keys
logo = /logo-header.svg
footer = 'Developed by <a href="https://example.com/">Example</a> - %v'

[general]
timeout_util = GNU coreutils
default_key_supervision = off

[security]
session_timeout = 28800
;content_security_policy = "default-src 'self'"
csp_report_only = 0
hsts_enabled = yes
hsts_max_age = 31536000
hsts_include_subdomains = 0
hsts_preload = 0
trusted_proxies = "10.0.0.0/8, 192.0.2.10"
host_key_reset_restriction = 1
host_key_collision_protection = 1
jumphost_strict_host_key_checking = 1
jumphost_known_hosts_file = /etc/ssh/ssh_known_hosts
min_rsa_bits = 4096
min_ecdsa_bits = 384
min_ed25519_bits = 256
hostname_verification = 2

[session]
timeout = 3600

[privacy]
comment_key_files = 2
history_username_env_default = 1
history_username_env_format = "BASH_HISTORY_USERNAME={uid}"

[monitoring]
status_file_path = "/var/local/keys-sync.status"
status_file_timeout = 93600

[defaults]
account_groups[root] = "root-accounts"
account_groups[deploy] = "deploy-accounts"

[email]
enabled = 1
from_address = ssh-key-authority@example.com
from_name = "SSH Key Authority system"
report_address = reports@example.com
report_name = "SSH Key Authority reports"
admin_address = admin@example.com
admin_name = "SSH Key Authority administrators"
;reroute = test@example.com

[database]
hostname = ska-db
port = 3306
username = ska-user
password = "p4ss\"w;rd\\"
database = ska-db

[ldap]
host = ldaps://ldap.example.com:636
starttls = 0
dn_user = "cn=users,dc=example,dc=com"
dn_group = "ou=groups,dc=example,dc=com"
follow_referrals = 0
bind_dn = "cn=ska,cn=users,dc=example,dc=com"
bind_password = 'bind$ecret'
user_id = sAMAccountName
user_name = displayName
user_email = mail
user_superior = manager
user_active = userAccountControl
user_active_bitmask = '!2'
group_member = member
group_member_value = dn
group_class = group
group_id = sAMAccountName
group_num = objectGUID
admin_group_cn = "Key Admins"
indirect_group_memberships = 1
user_filter = "(objectClass=person)"

[inventory]
url = "https://inventory.example.com/device/%s"

[gpg]
key_id = 0x1234ABCD
"""

EXPECTED_PROBLEMS = [
    "[session] timeout: not imported: only tuned PHP's session garbage "
    "collection; [security] session_timeout sets the idle logout",
    "[ldap] user_filter: not imported: an upstream-only key; "
    "the reference ignores it too",
]


@pytest.mark.parametrize(
    ("section", "key", "expected"),
    [
        ("web", "enabled", True),
        ("web", "baseurl", "https://ska.example.com/keys"),
        (
            "web",
            "footer",
            'Developed by <a href="https://example.com/">Example</a> - %v',
        ),
        ("general", "default_key_supervision", "off"),
        ("security", "hsts_enabled", True),
        ("security", "csp_report_only", False),
        ("security", "content_security_policy", "default-src 'self'"),
        ("security", "trusted_proxies", ["10.0.0.0/8", "192.0.2.10"]),
        ("security", "hostname_verification", 2),
        ("security", "host_key_reset_restriction", True),
        ("privacy", "comment_key_files", 2),
        ("privacy", "history_username_env_default", True),
        ("monitoring", "status_file_timeout", 93600),
        (
            "defaults",
            "account_groups",
            {"root": "root-accounts", "deploy": "deploy-accounts"},
        ),
        ("email", "enabled", True),
        ("email", "reroute", ""),
        ("database", "engine", "mysql"),
        ("database", "hostname", "ska-db"),
        ("database", "port", 3306),
        ("database", "password", 'p4ss"w;rd\\'),
        ("ldap", "host", "ldaps://ldap.example.com:636"),
        ("ldap", "bind_password", "bind$ecret"),
        ("ldap", "user_active_bitmask", "!2"),
        ("ldap", "indirect_group_memberships", True),
        ("ldap", "starttls", False),
        ("inventory", "url", "https://inventory.example.com/device/%s"),
        ("gpg", "key_id", "0x1234ABCD"),
    ],
)
def test_import_of_the_reference_example_loads_with_its_meaning(
    section: str, key: str, expected: Any
) -> None:
    conversion = convert_text(REFERENCE_INI)
    config = build(tomllib.loads(to_toml(conversion.document)))
    assert getattr(getattr(config, section), key) == expected


def test_import_of_the_reference_example_reports_only_unmappable_keys() -> None:
    assert convert_text(REFERENCE_INI).problems == EXPECTED_PROBLEMS


def test_import_writes_only_keys_present_in_the_ini() -> None:
    document = convert_text("[web]\nbaseurl = https://x.example\n").document
    assert document == {"web": {"baseurl": "https://x.example"}}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[s]\na = 1\n", {"s": {"a": "1"}}),
        ("[s]\na=value with spaces  \n", {"s": {"a": "value with spaces"}}),
        (
            "[s]\na = on\nb = Yes\nc = TRUE\nd = off\ne = none\nf = null\ng = No\n",
            {"s": {"a": "1", "b": "1", "c": "1", "d": "", "e": "", "f": "", "g": ""}},
        ),
        ('[s]\na = "off"\n', {"s": {"a": "off"}}),
        ("[s]\na = value ; a comment\n", {"s": {"a": "value"}}),
        ('[s]\na = "x ; y" ; comment\n', {"s": {"a": "x ; y"}}),
        ("[s]\na = 'raw \\ \"quoted\"'\n", {"s": {"a": 'raw \\ "quoted"'}}),
        ('[s]\na = "esc \\" and \\\\"\n', {"s": {"a": 'esc " and \\'}}),
        ('[s]\na = "\\$HOME \\n \\t"\n', {"s": {"a": "$HOME \\n \\t"}}),
        ('[s]\na = "first\nsecond"\nb = 2\n', {"s": {"a": "first\nsecond", "b": "2"}}),
        ("[s]\na[] = x\na[] = y\n", {"s": {"a": ["x", "y"]}}),
        (
            "[s]\na[k] = v\na[\"q\"] = w\na[ 'r' ] = z\n",
            {"s": {"a": {"k": "v", "q": "w", "r": "z"}}},
        ),
        ("; c\n# c\n\n[s] ; c\n\na =\n", {"s": {"a": ""}}),
        ('\ufeff[s]\na = ""\n', {"s": {"a": ""}}),
        ("top = 1\n[s]\n", {"": {"top": "1"}, "s": {}}),
        (
            "[s]\na = 1\n[t]\na = 2\n[s]\nb = 3\n",
            {"s": {"a": "1", "b": "3"}, "t": {"a": "2"}},
        ),
        ("[s]\na = 1\na = 2\n", {"s": {"a": "2"}}),
    ],
)
def test_parse_ini_reads_php_syntax(
    text: str, expected: dict[str, dict[str, Any]]
) -> None:
    assert parse_ini(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[s]\njust words\n", "line 2: expected key = value or [section]"),
        ('[s]\na = "never closed\nb = 1\n', "line 2: the quoted value is never closed"),
        ("[s]\na = 'x' y\n", "line 2: unexpected text after the closing quote"),
        ("[s]\n= value\n", "line 2: expected key = value"),
    ],
)
def test_parse_ini_refuses_what_php_refuses(text: str, message: str) -> None:
    with pytest.raises(IniSyntaxError) as caught:
        parse_ini(text)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("section", "key", "value", "expected"),
    [
        ("web", "enabled", "1", True),
        ("web", "enabled", "", False),
        ("web", "enabled", "0", False),
        ("security", "host_key_collision_protection", "", False),
        ("security", "host_key_collision_protection", "0", False),
        ("security", "jumphost_strict_host_key_checking", "2", True),
        ("security", "host_key_reset_restriction", "0", False),
        ("security", "host_key_reset_restriction", "0.0", False),
        ("security", "host_key_reset_restriction", "1", True),
        ("privacy", "history_username_env_default", "1", True),
        ("privacy", "history_username_env_default", "2", False),
        ("privacy", "history_username_env_default", "", False),
        ("general", "default_key_supervision", "", "off"),
        ("general", "default_key_supervision", "rootonly", "rootonly"),
        ("general", "default_key_supervision", "everything", "full"),
        ("security", "hostname_verification", " 3 ", 3),
        (
            "security",
            "trusted_proxies",
            ["192.0.2.1", "10.0.0.0/8"],
            ["192.0.2.1", "10.0.0.0/8"],
        ),
        ("security", "trusted_proxies", "", []),
        ("database", "port", "", None),
    ],
)
def test_convert_keeps_the_reference_meaning_of_each_key(
    section: str, key: str, value: Any, expected: Any
) -> None:
    conversion = convert({section: {key: value}})
    assert conversion.document.get(section, {}).get(key) == expected


@pytest.mark.parametrize(
    ("sections", "problem"),
    [
        (
            {"security": {"min_rsa_bits": "1024"}},
            "[security] min_rsa_bits: not imported: "
            "[security] min_rsa_bits = 1024: must be at least 2048",
        ),
        (
            {"security": {"hostname_verification": "yes please"}},
            "[security] hostname_verification: not imported: "
            "'yes please' is not an integer",
        ),
        (
            {"defaults": {"account_groups": "root-accounts"}},
            "[defaults] account_groups: not imported: "
            "expected entries written as name[account] = group",
        ),
        (
            {"web": {"baseurl": ["a"]}},
            "[web] baseurl: not imported: expected a single value, found an array",
        ),
        (
            {"ldap": {"host": "ldap://a ldap://b"}},
            "[ldap] host: not imported: [ldap] host = 'ldap://a ldap://b': expected",
        ),
        ({"web": {"colour": "red"}}, "[web] colour: not imported: unknown key"),
        ({"extra": {"a": "1"}}, "[extra] a: not imported: unknown key"),
        ({"": {"top": "1"}}, "top: not imported: unknown key"),
        (
            {"security": {"host_key_reset_restriction": ""}},
            "[security] host_key_reset_restriction: kept true: "
            "the reference relaxes it only for 0, not off",
        ),
        (
            {"ldap": {"sync_groups": ["a", "b"]}},
            "[ldap] sync_groups: not imported: an upstream-only key",
        ),
    ],
)
def test_convert_reports_each_key_it_cannot_map(
    sections: dict[str, dict[str, Any]], problem: str
) -> None:
    conversion = convert(sections)
    assert len(conversion.problems) == 1
    assert conversion.problems[0].startswith(problem)
    build(tomllib.loads(to_toml(conversion.document)))


def _import(*args: str) -> tuple[str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    call_command("config", "import-ini", *args, stdout=stdout, stderr=stderr)
    return stdout.getvalue(), stderr.getvalue()


def test_import_ini_command_prints_toml_and_reports_on_stderr(tmp_path: Path) -> None:
    ini = tmp_path / "config.ini"
    ini.write_text(REFERENCE_INI, encoding="utf-8")
    stdout, stderr = _import(str(ini))
    assert build(tomllib.loads(stdout)).ldap.bind_password == "bind$ecret"
    assert stderr.splitlines() == [f"{ini}: {problem}" for problem in EXPECTED_PROBLEMS]


def test_import_ini_command_writes_a_private_file_once(tmp_path: Path) -> None:
    ini = tmp_path / "config.ini"
    ini.write_text('[database]\npassword = "pw"\n', encoding="utf-8")
    out = tmp_path / "ska.toml"
    stdout, _ = _import(str(ini), "-o", str(out))
    assert stdout == ""
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert tomllib.loads(out.read_text())["database"] == {
        "engine": "mysql",
        "password": "pw",
    }

    out.write_text("# edited by hand\n")
    with pytest.raises(CommandError, match="already exists; add --force"):
        _import(str(ini), "-o", str(out))
    assert out.read_text() == "# edited by hand\n"
    _import(str(ini), "-o", str(out), "--force")
    assert "password" in out.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.ini", "ska.toml"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read: No such file or directory"),
        (b"[web]\nenabled = '\xff'\n", "cannot read: not UTF-8 text"),
        (b"[web]\nnot a pair\n", "line 2: expected key = value or [section]"),
    ],
)
def test_import_ini_command_refuses_unreadable_input(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    ini = tmp_path / "config.ini"
    if content is not None:
        ini.write_bytes(content)
    with pytest.raises(CommandError) as caught:
        _import(str(ini))
    assert str(caught.value) == f"{ini}: {message}"


def test_import_ini_command_keeps_an_odd_file_name_in_its_comment(
    tmp_path: Path,
) -> None:
    ini = tmp_path / "config\n[web]\nenabled = false.ini"
    ini.write_text("[web]\nlogo = /logo.svg\n", encoding="utf-8")
    stdout, _ = _import(str(ini))
    assert tomllib.loads(stdout) == {"web": {"logo": "/logo.svg"}}
