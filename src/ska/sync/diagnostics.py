"""``ska sync --diagnostics``: how the sync runtime is set up on this host.

The first six lines carry the reference's keys; where the reference named a
``timeout`` binary, ours says that timeouts are enforced in-process.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings

PREFIX = "sync_runtime."


def _yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def _readable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.R_OK)


def known_hosts_entries(path: Path) -> int | None:
    """Count the host lines of a known_hosts file; None if it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    lines = (line.strip() for line in text.splitlines())
    return sum(1 for line in lines if line and not line.startswith("#"))


def diagnostic_lines() -> list[str]:
    """Return the diagnostics as ``sync_runtime.<key>=<value>`` lines."""
    config = settings.SKA
    security = config.security
    known_hosts = Path(security.jumphost_known_hosts_file)
    entries = known_hosts_entries(known_hosts)
    values: list[tuple[str, object]] = [
        ("timeout_util", "in-process"),
        ("timeout_binary", "in-process (asyncio timeouts, no timeout command)"),
        ("timeout_seconds", config.sync.server_timeout),
        (
            "jumphost_strict_host_key_checking",
            _yes_no(security.jumphost_strict_host_key_checking),
        ),
        ("jumphost_known_hosts_file", known_hosts),
        ("reschedule_delay_minutes", f"{config.sync.retry_delay / 60:g}"),
        ("concurrency", config.sync.concurrency),
        ("private_key_file", config.private_key_path),
        ("private_key_readable", _yes_no(_readable(config.private_key_path))),
        ("public_key_file", config.public_key_path),
        ("public_key_readable", _yes_no(_readable(config.public_key_path))),
        ("jumphost_known_hosts_file_exists", _yes_no(known_hosts.is_file())),
        ("jumphost_known_hosts_entries", "unreadable" if entries is None else entries),
    ]
    if not security.jumphost_strict_host_key_checking:
        values.append(
            (
                "jumphost_hops_verified",
                "no (jump host keys are not checked: a machine in the path "
                "can pose as a hop)",
            )
        )
    return [f"{PREFIX}{key}={value}" for key, value in values]
