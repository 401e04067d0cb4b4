"""Sessions: rotation, cookies, idle timeout, re-validation, next, logout."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory
from django.utils import timezone
from pytest_django.fixtures import Settings

from ska.directory.middleware import TrustedProxyMiddleware
from ska.directory.models import User
from tests.directory.conftest import login_form, message_of, post_login

pytestmark = pytest.mark.django_db

PASSWORD = "alice password"


@pytest.fixture
def alice() -> User:
    """Return a local user with a known password."""
    return User.objects.create_user("alice", name="Alice Liddell", password=PASSWORD)


def session_row(client: Client) -> Session:
    """Return the stored session of a test client."""
    return Session.objects.get(session_key=client.session.session_key)


def test_login_rotates_the_session_key(client: Client, alice: User) -> None:
    login_form(client)
    before = client.session.session_key

    post_login(client, "alice", PASSWORD)

    assert client.session.session_key != before
    assert not Session.objects.filter(session_key=before).exists()


def test_login_sets_a_strict_http_only_cookie(client: Client, alice: User) -> None:
    response = post_login(client, "alice", PASSWORD)

    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Strict"
    assert cookie["max-age"] == settings.SKA.security.session_timeout


def test_session_timeout_is_counted_from_the_last_request(
    client: Client, alice: User
) -> None:
    post_login(client, "alice", PASSWORD)
    Session.objects.filter(session_key=client.session.session_key).update(
        expire_date=timezone.now() + timedelta(seconds=60)
    )

    assert client.get("/").status_code == 200

    remaining = session_row(client).expire_date - timezone.now()
    timeout = settings.SKA.security.session_timeout
    assert timedelta(seconds=timeout - 60) < remaining <= timedelta(seconds=timeout)


def test_an_idle_session_ends(client: Client, alice: User) -> None:
    post_login(client, "alice", PASSWORD)
    Session.objects.filter(session_key=client.session.session_key).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )

    response = client.get("/")

    assert response.status_code == 302
    assert response["Location"] == "/login?next=/"


@pytest.mark.parametrize(
    "change", [{"force_disable": True}, {"active": False}], ids=["disabled", "inactive"]
)
def test_a_user_who_may_no_longer_log_in_is_logged_out_at_once(
    client: Client, alice: User, change: dict[str, bool]
) -> None:
    post_login(client, "alice", PASSWORD)
    assert client.get("/").status_code == 200
    User.objects.filter(pk=alice.pk).update(**change)

    response = client.get("/")

    assert response.status_code == 302
    assert "_auth_user_id" not in client.session


def test_home_shows_the_user_and_the_admin_flag(client: Client, alice: User) -> None:
    User.objects.filter(pk=alice.pk).update(admin=True)
    post_login(client, "alice", PASSWORD)

    page = client.get("/").content.decode()

    assert "Alice Liddell" in page
    assert "administrator" in page
    assert 'action="/logout"' in page


@pytest.mark.parametrize(
    ("target", "location"),
    [
        ("/health", "/health"),
        ("/servers?x=1", "/servers?x=1"),
        ("/logout", "/"),
        ("//evil.example.com/", "/"),
        ("https://evil.example.com/", "/"),
    ],
)
def test_login_returns_only_to_safe_local_paths(
    client: Client, alice: User, target: str, location: str
) -> None:
    response = post_login(client, "alice", PASSWORD, next_path=target)

    assert response.status_code == 303
    assert response["Location"] == location


def test_login_refuses_a_form_without_its_token(client: Client, alice: User) -> None:
    login_form(client)

    response = client.post(
        "/login", {"csrf_token": "forged", "username": "alice", "password": PASSWORD}
    )

    assert response.status_code == 403
    assert message_of(response) == (
        "Invalid request token. Please refresh the page and try again."
    )
    assert "_auth_user_id" not in client.session


def test_logout_by_get_only_asks_for_confirmation(client: Client, alice: User) -> None:
    post_login(client, "alice", PASSWORD)

    response = client.get("/logout")

    assert response.status_code == 200
    assert b'method="post"' in response.content
    assert client.get("/").status_code == 200


def test_logout_by_post_ends_the_session(alice: User) -> None:
    client = Client(enforce_csrf_checks=True)
    post_login(client, "alice", PASSWORD)
    forged = client.post("/logout")
    token = client.get("/logout").context["csrf_token"]

    response = client.post("/logout", {"csrfmiddlewaretoken": str(token)})

    assert forged.status_code == 403
    assert response.status_code == 303
    assert response["Location"] == "/login"
    assert client.get("/").status_code == 302


@pytest.mark.parametrize(
    ("proxies", "address", "secure"),
    [
        (["10.1.0.0/16"], "10.1.2.3", True),
        (["10.1.2.3"], "10.1.2.3", True),
        (["10.1.0.0/16"], "10.2.0.1", False),
        ([], "10.1.2.3", False),
    ],
)
def test_only_trusted_proxies_say_a_request_is_https(
    settings: Settings, proxies: list[str], address: str, secure: bool
) -> None:
    settings.SKA = dataclasses.replace(
        settings.SKA,
        security=dataclasses.replace(settings.SKA.security, trusted_proxies=proxies),
    )
    seen: list[bool] = []

    def view(request: HttpRequest) -> HttpResponse:
        seen.append(request.is_secure())
        return HttpResponse()

    middleware = TrustedProxyMiddleware(view)
    request = RequestFactory().get(
        "/", REMOTE_ADDR=address, HTTP_X_FORWARDED_PROTO="https"
    )

    middleware(request)

    assert seen == [secure]


def test_a_bad_trusted_proxy_entry_is_named(settings: Settings) -> None:
    settings.SKA = dataclasses.replace(
        settings.SKA,
        security=dataclasses.replace(settings.SKA.security, trusted_proxies=["nope"]),
    )

    with pytest.raises(ImproperlyConfigured, match="'nope' is not an address"):
        TrustedProxyMiddleware(lambda request: HttpResponse())
