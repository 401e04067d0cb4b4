"""The sync key pair: the identity the authority logs in with as keys-sync."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import asyncssh

logger = logging.getLogger(__name__)


def ensure_key_pair(private_path: Path, public_path: Path) -> bool:
    """Generate an ed25519 pair unless the private key exists; say if made."""
    if private_path.exists():
        return False
    private_path.parent.mkdir(parents=True, exist_ok=True)
    key = asyncssh.generate_private_key("ssh-ed25519", comment="keys-sync")
    # Create the file with its final mode so the key is never world-readable.
    descriptor = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key.export_private_key())
    public_path.write_bytes(key.export_public_key())
    logger.info("sync key pair generated path=%s", private_path)
    return True
