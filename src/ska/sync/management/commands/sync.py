"""``ska sync``: push keyfiles to servers now, or show what would be pushed."""

from __future__ import annotations

import datetime
import sys
from typing import Any, NoReturn, TextIO

from django.core.management.base import BaseCommand, CommandParser

from ska.servers.models import Server
from ska.sync.keyfiles import Keyfile, render_fleet

KEY_DIRECTORY = "/var/local/keys-sync/"
BLUE = "\033[1;34m"
RESET = "\033[0m"


def timestamp() -> str:
    """Return the current UTC time as the sync output stamps its lines."""
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    return now.isoformat()


class Command(BaseCommand):
    """Sync the chosen servers, or preview their keyfiles."""

    help = "Sync public keys to the chosen servers, or preview the keyfiles."

    def create_parser(
        self, prog_name: str, subcommand: str, **kwargs: Any
    ) -> CommandParser:
        """Build the parser without ``-h`` for help: ``-h`` names a host."""
        kwargs["add_help"] = False
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        """Accept the reference's options."""
        parser.add_argument("--help", action="help", help="display this help and exit")
        parser.add_argument(
            "-a", "--all", action="store_true", help="sync every managed server"
        )
        parser.add_argument(
            "-h",
            "--host",
            metavar="HOSTNAME",
            help="sync only these servers (hostnames, comma-separated)",
        )
        parser.add_argument(
            "-i", "--id", metavar="ID", help="sync only the server with this id"
        )
        parser.add_argument(
            "-u", "--user", metavar="NAME", help="sync only this account or LDAP user"
        )
        parser.add_argument(
            "-p",
            "--preview",
            action="store_true",
            help="change nothing, print the content of every keyfile",
        )
        parser.add_argument(
            "--diagnostics",
            action="store_true",
            help="print the sync runtime diagnostics and exit",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Check the choice of servers, then preview, sync or diagnose."""
        if options["diagnostics"]:
            from ska.sync.diagnostics import diagnostic_lines

            for line in diagnostic_lines():
                self.stdout.write(line)
            return
        chosen = [options["host"] is not None, options["id"] is not None]
        if sum(chosen) + options["all"] != 1:
            self._fail("must specify exactly one of --host, --id, or --all")
        servers = self._servers(options)
        only_account: str | None = options["user"]
        if options["preview"]:
            self._preview(servers, only_account, colour=self._colour(options))
            return
        from ska.sync.runner import run_sync

        # The runner writes whole lines itself: give it the raw stream.
        stream: TextIO = options.get("stdout") or sys.stdout
        status = run_sync(servers, only_account, stream)
        if status:
            raise SystemExit(status)

    def _fail(self, message: str) -> NoReturn:
        self.stderr.write(f"Error: {message}")
        raise SystemExit(1)

    def _colour(self, options: dict[str, Any]) -> bool:
        if options.get("no_color"):
            return False
        return bool(options.get("force_color")) or self.stdout.isatty()

    def _servers(self, options: dict[str, Any]) -> list[Server]:
        if options["all"]:
            return list(
                Server.objects.filter(
                    key_management__in=[
                        Server.KeyManagement.KEYS,
                        Server.KeyManagement.DECOMMISSIONED,
                    ]
                ).order_by("hostname")
            )
        if options["id"] is not None:
            text = str(options["id"]).strip()
            server = (
                Server.objects.filter(pk=int(text)).first() if text.isdigit() else None
            )
            if server is None:
                self._fail(f"server id '{text}' not found")
            return [server]
        servers: list[Server] = []
        for hostname in dict.fromkeys(h.strip() for h in options["host"].split(",")):
            server = Server.objects.filter(hostname=hostname).first()
            if server is None:
                self._fail(f"hostname '{hostname}' not found")
            servers.append(server)
        return servers

    def _preview(
        self, servers: list[Server], only_account: str | None, *, colour: bool
    ) -> None:
        """Print what a sync would write; touch no server, write nothing."""
        keyfiles = render_fleet(servers, only_account=only_account)
        for server in servers:
            self._line(server, "Preparing sync.")
            if server.key_management == Server.KeyManagement.DECOMMISSIONED:
                self._line(
                    server,
                    "Server is decommissioned, removing all keys "
                    "(preserving keys-sync access).",
                )
                self._line(
                    server,
                    f"[PREVIEW] Would remove all key files from {KEY_DIRECTORY} "
                    "except 'keys-sync' and '.hostnames'",
                )
                continue
            for keyfile in keyfiles[server.pk]:
                self._keyfile(server, keyfile, colour=colour)

    def _line(self, server: Server, text: str) -> None:
        self.stdout.write(f"{timestamp()} {server.hostname}: {text}")

    def _keyfile(self, server: Server, keyfile: Keyfile, *, colour: bool) -> None:
        start, end = (BLUE, RESET) if colour else ("", "")
        self.stdout.write(
            f"{timestamp()} {server.hostname}: account '{keyfile.name}':\n\n"
            f"{start}{keyfile.text}{end}\n\n",
            ending="",
        )
