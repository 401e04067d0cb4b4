"""Django registration of the servers app."""

from django.apps import AppConfig


class ServersConfig(AppConfig):
    """Servers, server accounts, leaders, notes, host keys, jump hosts."""

    name = "ska.servers"
    label = "servers"
    default_auto_field = "django.db.models.BigAutoField"
