"""Fingerprints and randomart of public key blobs, as ``ssh-keygen`` shows them.

The stored forms follow the reference: MD5 as lowercase hex pairs joined by
colons, SHA256 as base64 without padding and without the ``SHA256:`` prefix.
"""

from __future__ import annotations

import base64
import hashlib

FIELD_WIDTH = 17
FIELD_HEIGHT = 9

# Visit counts map onto these characters; the last two mark the walk's start
# and end, so a busy square never reaches them.
_RAMP = " .o+=*BOX@%&#/^"
_START = "S"
_END = "E"


def fingerprint_md5(blob: bytes) -> str:
    """Return the MD5 fingerprint of a key blob as ``aa:bb:...``."""
    return hashlib.md5(blob, usedforsecurity=False).digest().hex(":")


def fingerprint_sha256(blob: bytes) -> str:
    """Return the SHA256 fingerprint of a key blob as unpadded base64."""
    digest = hashlib.sha256(blob).digest()
    return base64.b64encode(digest).decode("ascii").rstrip("=")


def randomart_md5(blob: bytes, label: str, bits: int) -> str:
    """Draw the MD5 randomart of a key blob."""
    digest = hashlib.md5(blob, usedforsecurity=False).digest()
    return randomart(digest, label=label, bits=bits, hash_name="MD5")


def randomart_sha256(blob: bytes, label: str, bits: int) -> str:
    """Draw the SHA256 randomart of a key blob."""
    return randomart(hashlib.sha256(blob).digest(), label, bits, "SHA256")


def _walk(digest: bytes) -> tuple[list[list[int]], tuple[int, int]]:
    """Move the bishop over the field; return visit counts and the end square.

    1. Start in the centre.
    2. Read each byte from its low bits up, two bits per move: the first
       bit steps right (1) or left (0), the second down (1) or up (0).
    3. A move into a wall slides along it instead.
    4. Count the visits of each square the bishop lands on.
    """
    counts = [[0] * FIELD_WIDTH for _ in range(FIELD_HEIGHT)]
    x, y = FIELD_WIDTH // 2, FIELD_HEIGHT // 2
    ceiling = len(_RAMP) - 1
    for byte in digest:
        for shift in (0, 2, 4, 6):
            step = byte >> shift
            x = min(max(x + (1 if step & 1 else -1), 0), FIELD_WIDTH - 1)
            y = min(max(y + (1 if step & 2 else -1), 0), FIELD_HEIGHT - 1)
            counts[y][x] = min(counts[y][x] + 1, ceiling)
    return counts, (x, y)


def _border(caption: str) -> str:
    """Return a frame line with ``caption`` centred, leaning left."""
    caption = caption[: FIELD_WIDTH - 1]
    left = (FIELD_WIDTH - len(caption)) // 2
    right = FIELD_WIDTH - len(caption) - left
    return f"+{'-' * left}{caption}{'-' * right}+"


def _title(label: str, bits: int) -> str:
    """Return ``[LABEL BITS]``, or ``[LABEL]`` when that would not fit."""
    title = f"[{label} {bits}]"
    # ssh-keygen keeps a title that overflows by one character, clipped.
    return title if len(title) <= FIELD_WIDTH else f"[{label}]"


def randomart(digest: bytes, label: str, bits: int, hash_name: str) -> str:
    """Draw the "drunken bishop" picture of a digest, nine lines inside a frame.

    ``label`` is the key kind as ssh-keygen names it (``ED25519``,
    ``RSA``...), ``hash_name`` the digest's name for the bottom frame.
    """
    counts, end = _walk(digest)
    centre = (FIELD_WIDTH // 2, FIELD_HEIGHT // 2)
    rows = []
    for y, row in enumerate(counts):
        cells = []
        for x, count in enumerate(row):
            if (x, y) == end:
                cells.append(_END)
            elif (x, y) == centre:
                cells.append(_START)
            else:
                cells.append(_RAMP[count])
        rows.append(f"|{''.join(cells)}|")
    top = _border(_title(label, bits))
    bottom = _border(f"[{hash_name}]")
    return "\n".join([top, *rows, bottom])
