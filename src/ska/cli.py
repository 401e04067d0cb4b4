"""The ``ska`` command: our subcommands, with Django's underneath.

Every subcommand is a Django management command, so ``ska migrate`` and
``ska shell`` work as well as ours. A configuration error ends the program
with one line naming the key at fault and exit status 2.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

USAGE = """\
usage: ska [--config FILE] <command> [options]

The SSH key authority. Commands:
{commands}

Django's own commands (migrate, shell, dbshell, ...) work too.
Run `ska <command> --help` for the options of a command.
"""

# Spellings with a hyphen, for commands whose module names cannot have one.
ALIASES = {
    "ldap-update": "ldap_update",
}


def _split_global_options(argv: list[str]) -> list[str]:
    """Consume ``--config FILE`` before the command into SKA_CONFIG."""
    rest = list(argv)
    while rest and rest[0].startswith("--config"):
        option = rest.pop(0)
        if "=" in option:
            os.environ["SKA_CONFIG"] = option.split("=", 1)[1]
        elif rest:
            os.environ["SKA_CONFIG"] = rest.pop(0)
        else:
            raise SystemExit("ska: --config needs a file name")
    return rest


def _setup() -> None:
    """Load the configuration and Django, or exit with one line."""
    from ska.config import ConfigError

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ska.settings")
    try:
        import django

        django.setup()
    except ConfigError as error:
        print(f"ska: configuration error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


def _our_commands() -> str:
    """List the commands the project itself provides, with one line each."""
    from django.core.management import get_commands, load_command_class

    lines = []
    for name, app in sorted(get_commands().items()):
        if not app.startswith("ska."):
            continue
        command = load_command_class(app, name)
        summary = (command.help or "").strip().splitlines()[0:1]
        shown = {v: k for k, v in ALIASES.items()}.get(name, name)
        lines.append(f"  {shown:<14} {summary[0] if summary else ''}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the ``ska`` command line."""
    args = _split_global_options(list(sys.argv[1:] if argv is None else argv))
    _setup()
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE.format(commands=_our_commands()), end="")
        return
    from django.core.management import execute_from_command_line

    command = ALIASES.get(args[0], args[0])
    execute_from_command_line(["ska", command, *args[1:]])


if __name__ == "__main__":
    main()
