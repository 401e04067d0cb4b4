"""Django registration of the keys app."""

from django.apps import AppConfig


class KeysConfig(AppConfig):
    """Public keys: parsing, fingerprints, strength policy, destination rules."""

    name = "ska.keys"
    label = "keys"
    default_auto_field = "django.db.models.BigAutoField"
