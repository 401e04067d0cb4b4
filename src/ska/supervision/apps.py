"""Django registration of the supervision app."""

from django.apps import AppConfig


class SupervisionConfig(AppConfig):
    """Scans of servers for keys the authority did not put there."""

    name = "ska.supervision"
    label = "supervision"
    default_auto_field = "django.db.models.BigAutoField"
