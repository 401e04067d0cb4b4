"""Django registration of the web app."""

from django.apps import AppConfig


class WebConfig(AppConfig):
    """Base templates, home, help and report pages, static files."""

    name = "ska.web"
    label = "web"
    default_auto_field = "django.db.models.BigAutoField"
