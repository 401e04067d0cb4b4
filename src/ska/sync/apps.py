"""Django registration of the sync app."""

from django.apps import AppConfig


class SyncConfig(AppConfig):
    """Keyfile rendering, the sync queue, engine, transport and daemon."""

    name = "ska.sync"
    label = "sync"
    default_auto_field = "django.db.models.BigAutoField"
