"""Login and logout pages."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth import login, logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from ska.directory.login import attempt_login, safe_next

SESSION_FORM_KEY = "login_form"
FORM_EXPIRED = "Invalid request token. Please refresh the page and try again."


def see_other(url: str) -> HttpResponseRedirect:
    """Return a 303 redirect, so a refreshed page never re-posts a form."""
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return response


def _render_login(
    request: HttpRequest, username: str, message: str, status: int = 200
) -> HttpResponse:
    token = request.session.get(SESSION_FORM_KEY) or secrets.token_hex(32)
    request.session[SESSION_FORM_KEY] = token
    context = {
        "username": username,
        "message": message,
        "login_token": token,
        "next": request.POST.get("next") or request.GET.get("next", ""),
        "ldap": settings.SKA.ldap_enabled,
    }
    return render(request, "directory/login.html", context, status=status)


# The form carries its own session-bound token under the reference's field
# name ``csrf_token`` and answers a bad one with the reference's message.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    """Show the login form; on a good POST log in and go back where asked."""
    if request.method == "GET":
        if request.user.is_authenticated:
            return see_other(reverse("home"))
        return _render_login(request, "", "")
    expected = request.session.get(SESSION_FORM_KEY, "")
    given = request.POST.get("csrf_token", "")
    username = request.POST.get("username", "")
    if not expected or not secrets.compare_digest(str(expected), given):
        return _render_login(request, username, FORM_EXPIRED, status=403)
    result = attempt_login(request, username, request.POST.get("password", ""))
    if result.user is None:
        request.session[SESSION_FORM_KEY] = secrets.token_hex(32)
        return _render_login(request, username.strip(), result.message)
    login(request, result.user, backend="ska.directory.backends.DirectoryBackend")
    target = safe_next(request.POST.get("next", ""), reverse("logout"))
    return see_other(target or reverse("home"))


@require_http_methods(["GET", "POST"])
def logout_view(request: HttpRequest) -> HttpResponse:
    """Ask for confirmation on GET; log out on POST (CSRF-checked)."""
    if request.method == "GET":
        return render(request, "directory/logout.html")
    logout(request)
    return see_other(reverse("login"))
