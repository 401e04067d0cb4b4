"""Routes of the web application shell."""

from django.urls import URLPattern, URLResolver, path

from ska.web import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("health", views.health, name="health"),
]
