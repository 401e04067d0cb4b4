"""Routes of the directory: login and logout."""

from django.urls import URLPattern, URLResolver, path

from ska.directory import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("login", views.login_view, name="login"),
    path("logout", views.logout_view, name="logout"),
]
