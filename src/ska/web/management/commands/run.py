"""``ska run``: the web application and the sync daemon together."""

from __future__ import annotations

import signal
import subprocess
import sys
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management import get_commands
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    """Run gunicorn and ``ska syncd`` as children; stop both on a signal."""

    help = "Run the web application and the sync daemon until stopped."

    def add_arguments(self, parser: Any) -> None:
        """Accept the web workers count."""
        parser.add_argument("--workers", type=int, default=2)

    def handle(self, *args: Any, **options: Any) -> None:
        """Start the children, wait for the first to end, stop the rest."""
        config = settings.SKA
        commands = [
            [
                sys.executable,
                "-m",
                "gunicorn",
                "ska.wsgi:application",
                "--bind",
                config.web.listen,
                "--workers",
                str(options["workers"]),
                "--access-logfile",
                "-",
            ],
        ]
        if "syncd" in get_commands():
            commands.append([sys.executable, "-m", "ska.cli", "syncd"])
        children = [subprocess.Popen(command) for command in commands]
        self.stdout.write(
            f"Serving {config.web.baseurl} (listening on {config.web.listen})"
        )

        def stop(signum: int, frame: FrameType | None) -> None:
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        while all(child.poll() is None for child in children):
            try:
                children[0].wait(timeout=1)
            except subprocess.TimeoutExpired:
                continue
        stop(signal.SIGTERM, None)
        codes = [child.wait() for child in children]
        raise SystemExit(max(codes, key=abs))
