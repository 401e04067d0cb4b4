"""Pure rules of the directory: bind DNs, active flags, identifiers, names."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import pytest

from ska.config import LdapSection
from ska.directory.ldap_client import (
    bind_candidates,
    decode_guid,
    is_active,
    member_key,
)
from ska.directory.login import safe_next
from ska.directory.services import uid_problem


@pytest.mark.parametrize(
    ("dn_user", "username", "expected"),
    [
        (
            "ou=people,dc=example,dc=com",
            "alice",
            [
                ("upn", "alice@example.com"),
                ("ad", "CN=alice,ou=people,DC=example,DC=com"),
                ("dn", "uid=alice,ou=people,dc=example,dc=com"),
            ],
        ),
        (
            "cn=Users,dc=corp,dc=example,dc=org",
            "j.doe",
            [
                ("upn", "j.doe@corp.example.org"),
                ("ad", "CN=j.doe,CN=Users,DC=corp,DC=example,DC=org"),
                ("dn", "uid=j.doe,cn=Users,dc=corp,dc=example,dc=org"),
            ],
        ),
        (
            "o=example",
            "bob",
            [("ad", "CN=bob,o=example"), ("dn", "uid=bob,o=example")],
        ),
    ],
)
def test_bind_candidates_follow_the_three_forms(
    dn_user: str, username: str, expected: list[tuple[str, str]]
) -> None:
    assert bind_candidates(username, LdapSection(dn_user=dn_user)) == expected


def test_bind_candidates_escape_the_user_name() -> None:
    forms = dict(bind_candidates("a,b=c", LdapSection(dn_user="dc=x")))

    assert forms["ad"] == "CN=a\\,b\\=c,DC=x"
    assert forms["dn"] == "uid=a\\,b\\=c,dc=x"


@pytest.mark.parametrize(
    ("rule", "value", "expected"),
    [
        ({}, None, True),
        ({"user_active": "status"}, "1", False),
        ({"user_active": "status", "user_active_true": "yes"}, "yes", True),
        ({"user_active": "status", "user_active_true": "yes"}, "no", False),
        ({"user_active": "status", "user_active_false": "left"}, "left", False),
        ({"user_active": "status", "user_active_false": "left"}, "here", True),
        ({"user_active": "status", "user_active_false": "left"}, None, True),
        ({"user_active": "uac", "user_active_bitmask": "!2"}, "512", True),
        ({"user_active": "uac", "user_active_bitmask": "!2"}, "514", False),
        ({"user_active": "uac", "user_active_bitmask": "2"}, "514", True),
        ({"user_active": "uac", "user_active_bitmask": "2"}, "512", False),
        ({"user_active": "uac", "user_active_bitmask": "!2"}, "junk", False),
        ({"user_active": "uac", "user_active_bitmask": "bad"}, "512", False),
    ],
)
def test_is_active_applies_the_configured_rule(
    rule: dict[str, Any], value: str | None, expected: bool
) -> None:
    section = dataclasses.replace(LdapSection(), **rule)
    assert is_active(value, section) is expected


def test_decode_guid_reads_ad_binary_and_text_identifiers() -> None:
    guid = uuid.UUID("01020304-0506-0708-090a-0b0c0d0e0f10")

    assert decode_guid(guid.bytes_le) == str(guid)
    assert decode_guid(b"0847DE38-8384-1041-841A-F35703FC3567") == (
        "0847de38-8384-1041-841a-f35703fc3567"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Alice", "alice"),
        (
            "UID=Alice, OU=People,dc=Example,DC=com",
            "uid=alice,ou=people,dc=example,dc=com",
        ),
        ("cn=a\\,b,dc=x", "cn=a\\,b,dc=x"),
    ],
)
def test_member_key_normalises_names_and_dns(value: str, expected: str) -> None:
    assert member_key(value) == expected


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/servers/web1", "/servers/web1"),
        ("/users?x=1", "/users?x=1"),
        ("", None),
        ("servers", None),
        ("//evil.example.com/", None),
        ("/\\evil.example.com", None),
        ("https://evil.example.com/", None),
        ("/a\r\nSet-Cookie: x=1", None),
        ("/logout", None),
        ("/logout/", None),
        ("/logout?next=/", None),
        ("/app/logout", None),
    ],
)
def test_safe_next_keeps_only_local_paths(target: str, expected: str | None) -> None:
    assert safe_next(target, "/app/logout") == expected


@pytest.mark.parametrize(
    ("uid", "valid"),
    [
        ("alice", True),
        ("j.doe-2_x", True),
        ("a" * 50, True),
        ("a" * 51, False),
        ("", False),
        ("al ice", False),
        ("alice\n", False),
        ("élise", False),
        ("keys-sync", False),
        ("KEYS-SYNC", False),
    ],
)
def test_uid_problem_accepts_only_safe_names(uid: str, valid: bool) -> None:
    assert (uid_problem(uid) is None) is valid
