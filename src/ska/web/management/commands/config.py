"""``ska config``: show the effective configuration, import a PHP config.ini."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ska import config as ska_config
from ska.config_ini import IniSyntaxError, convert_text


class Command(BaseCommand):
    """Check the configuration, or convert a reference ``config.ini``."""

    help = "Check the configuration, or import a config.ini of the PHP version."
    # Neither action needs the database, so skip the checks that may use it.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        """Declare the ``check`` and ``import-ini`` actions."""
        actions = parser.add_subparsers(
            dest="action", required=True, metavar="{check,import-ini}"
        )
        actions.add_parser(
            "check",
            help="validate and print the effective configuration, secrets masked",
        )
        importer = actions.add_parser(
            "import-ini", help="convert a config.ini of the PHP version to TOML"
        )
        importer.add_argument("ini_file", help="the config.ini to read")
        importer.add_argument(
            "-o", "--output", help="write the TOML to this file instead of stdout"
        )
        importer.add_argument(
            "--force", action="store_true", help="overwrite an existing output file"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Run the chosen action."""
        if options["action"] == "check":
            self.check_configuration()
        else:
            self.import_ini(
                Path(options["ini_file"]), options["output"], options["force"]
            )

    def check_configuration(self) -> None:
        """Print where the configuration came from and what it is."""
        config: ska_config.Config = settings.SKA
        source = str(config.source) if config.source else "defaults (no file)"
        self.stdout.write(f"# configuration file: {source}")
        self.stdout.write(f"# data directory: {config.data_dir}")
        if variables := ska_config.overriding_variables():
            self.stdout.write(f"# set by the environment: {', '.join(variables)}")
        self.stdout.write("")
        self.stdout.write(ska_config.to_toml(ska_config.masked(config)), ending="")

    def import_ini(self, ini_file: Path, output: str | None, force: bool) -> None:
        """Convert ``ini_file``; report what was left out, one line each."""
        try:
            text = ini_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or "not UTF-8 text"
            raise CommandError(f"{ini_file}: cannot read: {reason}") from None
        try:
            conversion = convert_text(text)
        except IniSyntaxError as error:
            raise CommandError(f"{ini_file}: {error}") from None

        # A file name is free text; keep the comment on its one line.
        name = "".join(c if c.isprintable() else "?" for c in str(ini_file))
        toml_text = (
            f"# Converted from {name} by `ska config import-ini`.\n\n"
            + ska_config.to_toml(conversion.document)
        )
        # The result must load; a failure here is a bug of the converter.
        ska_config.build(tomllib.loads(toml_text))
        for problem in conversion.problems:
            self.stderr.write(f"{ini_file}: {problem}")
        if output is None:
            self.stdout.write(toml_text, ending="")
            return
        self._write_private(Path(output), toml_text, force)
        self.stderr.write(f"wrote {output}")

    def _write_private(self, path: Path, text: str, force: bool) -> None:
        """Write ``text`` readable by its owner only: it may hold passwords."""
        if path.exists() and not force:
            raise CommandError(f"{path}: already exists; add --force to replace it")
        temporary = path.with_name(f".{path.name}.tmp")
        try:
            temporary.unlink(missing_ok=True)
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(text)
            temporary.replace(path)
        except OSError as error:
            temporary.unlink(missing_ok=True)
            raise CommandError(f"{path}: cannot write: {error.strerror}") from None
