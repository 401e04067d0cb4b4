"""Top-level URL routes: every app mounts its own."""

from django.urls import URLPattern, URLResolver, include, path

urlpatterns: list[URLPattern | URLResolver] = [
    path("", include("ska.web.urls")),
]
