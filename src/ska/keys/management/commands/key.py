"""``ska key inspect FILE``: check public keys as an upload would."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ska.keys.parsing import KeyRejected, ParsedKey, check_strength, parse_public_key


class Command(BaseCommand):
    """Inspect public keys: type, size, fingerprints and randomart."""

    help = "Inspect public keys: type, size, fingerprints, randomart."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Declare the ``inspect`` subcommand and its options."""
        actions = parser.add_subparsers(dest="action", required=True)
        inspect = actions.add_parser(
            "inspect",
            help="check every key line of a file as an upload would",
            description=(
                "Check every key line of FILE (- for standard input), one "
                "authorized_keys line each; blank lines and # lines are skipped. "
                "The exit status is 1 if any line was rejected."
            ),
        )
        inspect.add_argument("file", metavar="FILE")
        inspect.add_argument(
            "--allow-weak",
            action="store_true",
            help="accept keys below the configured minimum size",
        )
        inspect.add_argument(
            "--no-randomart", action="store_true", help="leave out the pictures"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Inspect each key line; exit 1 if any was rejected."""
        data = self._read(options["file"])
        rejected = 0
        for number, raw in enumerate(data.split(b"\n"), start=1):
            try:
                line = raw.removesuffix(b"\r").decode("utf-8")
            except UnicodeDecodeError:
                self.stderr.write(f"line {number}: the line is not valid UTF-8")
                rejected += 1
                continue
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            try:
                key = self._check(line, options["allow_weak"])
            except KeyRejected as error:
                self.stderr.write(f"line {number}: {error.message}")
                rejected += 1
                continue
            self._show(number, key, randomart=not options["no_randomart"])
        if rejected:
            raise SystemExit(1)

    def _read(self, name: str) -> bytes:
        """Return the bytes of FILE, or of standard input for ``-``."""
        if name == "-":
            return sys.stdin.buffer.read()
        try:
            return Path(name).read_bytes()
        except OSError as error:
            raise CommandError(f"cannot read {name}: {error.strerror}") from None

    def _check(self, line: str, allow_weak: bool) -> ParsedKey:
        """Parse a line and hold it to the configured minimum size."""
        security = settings.SKA.security
        key = parse_public_key(line, accept_dsa=security.accept_dsa_keys)
        if not allow_weak:
            check_strength(key, security)
        return key

    def _show(self, number: int, key: ParsedKey, *, randomart: bool) -> None:
        """Print what is known about one key."""
        self.stdout.write(f"line {number}: accepted")
        self.stdout.write(f"  type     {key.type} ({key.label})")
        self.stdout.write(f"  bits     {key.bits}")
        self.stdout.write(f"  md5      MD5:{key.fingerprint_md5}")
        self.stdout.write(f"  sha256   SHA256:{key.fingerprint_sha256}")
        self.stdout.write(f"  comment  {key.comment or '(none)'}")
        if randomart:
            pairs = zip(
                key.randomart_md5.splitlines(),
                key.randomart_sha256.splitlines(),
                strict=True,
            )
            for left, right in pairs:
                self.stdout.write(f"  {left}  {right}")
