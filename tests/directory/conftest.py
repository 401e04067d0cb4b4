"""Fixtures of the directory tests: one real slapd for the session."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from pytest_django.fixtures import Settings

from ska.config import LdapSection
from tests.support.slapd import GROUPS, PEOPLE, Slapd


@pytest.fixture(scope="session")
def slapd_server() -> Iterator[Slapd]:
    """Start slapd once; stop exactly that process at the end."""
    server = Slapd()
    server.start()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture
def slapd(slapd_server: Slapd) -> Slapd:
    """Return the session's slapd with an empty tree."""
    slapd_server.reset()
    return slapd_server


def use_ldap(settings: Settings, **changes: Any) -> LdapSection:
    """Point the configuration's ``[ldap]`` section at the test directory."""
    section: LdapSection = dataclasses.replace(settings.SKA.ldap, **changes)
    settings.SKA = dataclasses.replace(settings.SKA, ldap=section)
    return section


@pytest.fixture
def ldap(slapd: Slapd, settings: Settings) -> LdapSection:
    """Configure LDAP against the test slapd, OpenLDAP style."""
    return use_ldap(
        settings,
        host=slapd.url,
        dn_user=PEOPLE,
        dn_group=GROUPS,
        admin_group_cn="ska-admins",
        connect_timeout=3,
    )


def login_form(client: Client, next_path: str = "") -> str:
    """Open the login page and return the form's token."""
    response = client.get("/login", {"next": next_path} if next_path else {})
    assert response.status_code == 200
    return str(response.context["login_token"])


def post_login(
    client: Client,
    username: str,
    password: str,
    next_path: str = "",
    address: str = "127.0.0.1",
) -> Any:
    """Submit the login form as a browser at ``address`` would."""
    token = login_form(client)
    return client.post(
        "/login",
        {
            "csrf_token": token,
            "username": username,
            "password": password,
            "next": next_path,
        },
        REMOTE_ADDR=address,
    )


def message_of(response: Any) -> str:
    """Return the message the login page shows."""
    return str(response.context["message"])
