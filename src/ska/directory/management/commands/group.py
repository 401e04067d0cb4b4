"""``ska group``: group tasks that operators run without the web pages."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from ska.directory.ldap_update import UpdateRefused, link_ldap_group


class Command(BaseCommand):
    """Link LDAP groups to system groups."""

    help = "Manage groups: link-ldap CN."

    def add_arguments(self, parser: ArgumentParser) -> None:
        """Declare the subcommands."""
        actions = parser.add_subparsers(dest="action", metavar="ACTION")
        actions.required = True
        link = actions.add_parser(
            "link-ldap", help="create a system group mirroring an LDAP group"
        )
        link.add_argument("cn", help="the LDAP group's [ldap] group_id value")

    def handle(self, *args: Any, **options: Any) -> None:
        """Run the chosen action."""
        try:
            group = link_ldap_group(options["cn"])
        except UpdateRefused as refusal:
            raise CommandError(str(refusal)) from None
        self.stdout.write(
            f"Linked the group {group.name!r} to LDAP ({group.ldap_guid}); "
            "`ska ldap-update` fills in its members."
        )
