"""``ska user``: manage local accounts from the command line."""

from __future__ import annotations

import getpass
import sys
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ska.directory import services
from ska.directory.models import User
from ska.directory.services import DirectoryError


def _read_password(from_stdin: bool) -> str:
    """Read a new password from standard input, or twice from the terminal."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise CommandError("not a terminal: pass the password with --password-stdin")
    first = getpass.getpass("New password: ")
    if first != getpass.getpass("Repeat it: "):
        raise CommandError("the two passwords differ; nothing was changed")
    return first


class Command(BaseCommand):
    """Add, list, disable and enable users; set local passwords."""

    help = "Manage users: add, passwd, disable, enable, list."

    def add_arguments(self, parser: ArgumentParser) -> None:
        """Declare one subcommand per action."""
        actions = parser.add_subparsers(dest="action", metavar="ACTION")
        actions.required = True
        add = actions.add_parser("add", help="create a local user")
        add.add_argument("uid")
        add.add_argument("--email", required=True)
        add.add_argument("--name", default="")
        add.add_argument("--admin", action="store_true")
        add.add_argument("--password-stdin", action="store_true")
        passwd = actions.add_parser("passwd", help="set a local user's password")
        passwd.add_argument("uid")
        passwd.add_argument("--password-stdin", action="store_true")
        for name, text in (
            ("disable", "block login and key deployment"),
            ("enable", "lift a disable"),
        ):
            actions.add_parser(name, help=text).add_argument("uid")
        actions.add_parser("list", help="list every user")

    def handle(self, *args: Any, **options: Any) -> None:
        """Run the chosen action; bad input ends with one line."""
        action = options["action"]
        try:
            getattr(self, f"_{action}")(options)
        except DirectoryError as error:
            raise CommandError(str(error)) from None

    def _require_local_mode(self) -> None:
        if settings.SKA.ldap_enabled:
            raise CommandError(
                "LDAP is configured: users and passwords come from the directory"
            )

    def _add(self, options: dict[str, Any]) -> None:
        self._require_local_mode()
        password = _read_password(True) if options["password_stdin"] else None
        user, generated = services.create_local_user(
            options["uid"],
            options["name"],
            options["email"],
            admin=options["admin"],
            actor=services.get_keys_sync_user(),
            password=password,
        )
        self.stdout.write(f"Created the user {user.uid!r}.")
        if password is None:
            self.stdout.write(f"Password (shown only this once): {generated}")

    def _passwd(self, options: dict[str, Any]) -> None:
        self._require_local_mode()
        user = services.get_user(options["uid"])
        services.set_password(user, _read_password(options["password_stdin"]))
        self.stdout.write(f"Changed the password of {user.uid!r}.")

    def _disable(self, options: dict[str, Any]) -> None:
        self._switch(options["uid"], disabled=True)

    def _enable(self, options: dict[str, Any]) -> None:
        self._switch(options["uid"], disabled=False)

    def _switch(self, uid: str, *, disabled: bool) -> None:
        user = services.get_user(uid)
        change = services.disable_user if disabled else services.enable_user
        word = "disabled" if disabled else "enabled"
        if change(user, actor=services.get_keys_sync_user()):
            self.stdout.write(f"The user {user.uid!r} is now {word}.")
        else:
            self.stdout.write(f"The user {user.uid!r} was already {word}.")

    def _list(self, options: dict[str, Any]) -> None:
        rows = [("UID", "NAME", "EMAIL", "REALM", "STATE", "ADMIN")]
        for user in User.objects.order_by("uid"):
            if user.force_disable:
                state = "disabled"
            else:
                state = "active" if user.active else "inactive"
            rows.append(
                (
                    user.uid,
                    user.name,
                    user.email,
                    user.auth_realm,
                    state,
                    "yes" if user.admin else "no",
                )
            )
        widths = [max(len(row[column]) for row in rows) for column in range(6)]
        for row in rows:
            line = "  ".join(
                cell.ljust(width) for cell, width in zip(row, widths, strict=True)
            )
            self.stdout.write(line.rstrip())
