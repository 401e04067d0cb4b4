"""Routes of the web application shell."""

from django.urls import URLPattern, URLResolver, include, path

from ska.web import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.home, name="home"),
    path("health", views.health, name="health"),
    path("", include("ska.directory.urls")),
]
