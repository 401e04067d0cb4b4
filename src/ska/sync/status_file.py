"""The monitoring status file on each target, read by the CheckMK check."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from email.utils import format_datetime

import asyncssh

from ska.sync.plan import StatusFileInputs

WARN_BELOW_VERSION = 1


def render_status_file(
    inputs: StatusFileInputs,
    sync_status: str,
    message: str | None,
    now: datetime,
) -> bytes:
    """Return the status file as the reference writes it: one JSON line."""
    expire = now + timedelta(seconds=inputs.timeout)
    document = {
        "warn_below_version": WARN_BELOW_VERSION,
        "sync_status": sync_status,
        "sync_status_message": message,
        "key_supervision_error": inputs.key_supervision_error,
        "accounts_with_unnoticed_keys": list(inputs.accounts_with_unnoticed_keys),
        "expire": format_datetime(expire),
    }
    # The reference's encoder escapes "/" and non-ASCII characters.
    text = json.dumps(document, separators=(",", ":"), ensure_ascii=True)
    return text.replace("/", "\\/").encode("ascii")


async def write_status_file(
    sftp: asyncssh.SFTPClient, path: str, content: bytes
) -> None:
    """Overwrite the status file in place.

    The file lives in a directory keys-sync may not write to (operators
    create the file for it), so it cannot be replaced by a rename.
    """
    async with sftp.open(path, "wb") as handle:
        await handle.write(content)
