"""``ska syncd``: the sync daemon."""

from __future__ import annotations

import asyncio
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ska.sync.daemon import SyncDaemon


class Command(BaseCommand):
    """Push queued keyfiles to servers until stopped."""

    help = "Push queued keyfiles to servers until stopped (SIGTERM ends it)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        """Declare --once, --concurrency and the reference's --systemd."""
        parser.add_argument(
            "--once",
            action="store_true",
            help="work through what is due now, then exit",
        )
        parser.add_argument(
            "--concurrency",
            type=int,
            metavar="N",
            help="pushes at once (default: [sync] concurrency)",
        )
        parser.add_argument(
            "--systemd",
            action="store_true",
            help="accepted for compatibility; the daemon always runs in the foreground",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Check the key pair, then run the daemon until it stops."""
        config = settings.SKA
        concurrency = options["concurrency"]
        if concurrency is None:
            concurrency = config.sync.concurrency
        if not 1 <= concurrency <= 1000:
            raise CommandError("--concurrency must be between 1 and 1000")
        private_key = config.private_key_path
        try:
            private_key.read_bytes()
        except OSError as error:
            raise CommandError(
                f"sync private key {private_key} unusable: {error.strerror}; "
                "run `ska init` to create it"
            ) from None
        daemon = SyncDaemon(concurrency=concurrency, once=options["once"])
        asyncio.run(daemon.run())
