"""``ska ldap-update``: refresh LDAP users and linked groups from the directory."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from ska.directory.ldap_update import UpdateRefused, run_ldap_update


class Command(BaseCommand):
    """Refresh users and LDAP-linked groups; refuse unsafe mass deactivations."""

    help = "Refresh LDAP users and groups; refuses (changing nothing) when unsafe."

    def add_arguments(self, parser: ArgumentParser) -> None:
        """Declare --force."""
        parser.add_argument(
            "--force",
            action="store_true",
            help="apply even above [ldap] max_deactivation_share",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Run one update and print what it changed."""
        try:
            summary = run_ldap_update(force=options["force"])
        except UpdateRefused as refusal:
            raise CommandError(str(refusal)) from None
        self.stdout.write(f"ldap-update done: {summary}")
