"""Django registration of the access app."""

from django.apps import AppConfig


class AccessConfig(AppConfig):
    """Access rules, options and requests: who may log in where."""

    name = "ska.access"
    label = "access"
    default_auto_field = "django.db.models.BigAutoField"
