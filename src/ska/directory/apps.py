"""Django registration of the directory app."""

from django.apps import AppConfig


class DirectoryConfig(AppConfig):
    """Users, groups, memberships; local and LDAP authentication."""

    name = "ska.directory"
    label = "directory"
    default_auto_field = "django.db.models.BigAutoField"
