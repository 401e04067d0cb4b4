"""Django registration of the activity app."""

from django.apps import AppConfig


class ActivityConfig(AppConfig):
    """Events, the syslog mirror and e-mail notifications."""

    name = "ska.activity"
    label = "activity"
    default_auto_field = "django.db.models.BigAutoField"
