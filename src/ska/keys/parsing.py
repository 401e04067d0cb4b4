"""Read one OpenSSH public key line, check it, and measure it.

The key material is decoded by asyncssh (no ``ssh-keygen`` process per key);
the line around it is checked here first, so that every kind of mistake
gets its own message and nothing unexpected can reach an authorized_keys
file: no options, no second key, no line breaks or control characters.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import re
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING

import asyncssh
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa

from ska.keys import fingerprints

if TYPE_CHECKING:
    from ska.config import SecuritySection

MAX_INPUT_LENGTH = 16384
MAX_COMMENT_LENGTH = 255
# OpenSSH refuses RSA moduli past this size.
MAX_RSA_BITS = 16384
DSA_BITS = 1024

RSA = "ssh-rsa"
DSA = "ssh-dss"
ED25519 = "ssh-ed25519"
SK_ED25519 = "sk-ssh-ed25519@openssh.com"
SK_ECDSA = "sk-ecdsa-sha2-nistp256@openssh.com"
ECDSA_TYPES = ("ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521")

# Key type -> the name ssh-keygen prints for it (``-l`` and randomart).
LABELS: dict[str, str] = {
    RSA: "RSA",
    DSA: "DSA",
    **dict.fromkeys(ECDSA_TYPES, "ECDSA"),
    ED25519: "ED25519",
    SK_ECDSA: "ECDSA-SK",
    SK_ED25519: "ED25519-SK",
}

_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_OPTION_START = re.compile(r"[A-Za-z][A-Za-z0-9-]*(=|,|$)")
_PRIVATE_MARKERS = (
    "PRIVATE KEY-----",
    "PuTTY-User-Key-File",
    "BEGIN SSH2 ENCRYPTED PRIVATE KEY",
)

GENERIC_MESSAGE = "Public key doesn't look valid"
CERTIFICATE_MESSAGE = (
    "This is an SSH certificate, not a public key; submit the plain "
    "public key (the .pub file without -cert)."
)


class KeyRejected(ValueError):
    """A public key that cannot be accepted; ``message`` is for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class KeyTooWeak(KeyRejected):
    """A key smaller than the configured minimum for its type."""

    def __init__(self, bits: int, minimum: int) -> None:
        super().__init__(
            "The public key you submitted is of insufficient strength; "
            f"it has {bits} bits but must be at least {minimum} bits."
        )
        self.bits = bits
        self.minimum = minimum

    def __str__(self) -> str:
        """Return the short form the reference logs."""
        return f"Insufficient bits in public key: {self.bits} < {self.minimum}"


@dataclass(frozen=True)
class ParsedKey:
    """A checked public key with everything that is stored about it."""

    type: str
    keydata: str
    comment: str
    bits: int
    blob: bytes

    @property
    def label(self) -> str:
        """Name the key kind as ssh-keygen does: ``RSA``, ``ED25519``..."""
        return LABELS[self.type]

    @property
    def fingerprint_md5(self) -> str:
        """Return the MD5 fingerprint, ``aa:bb:...``."""
        return fingerprints.fingerprint_md5(self.blob)

    @property
    def fingerprint_sha256(self) -> str:
        """Return the SHA256 fingerprint, unpadded base64 without prefix."""
        return fingerprints.fingerprint_sha256(self.blob)

    @property
    def randomart_md5(self) -> str:
        """Draw the MD5 randomart."""
        return fingerprints.randomart_md5(self.blob, self.label, self.bits)

    @property
    def randomart_sha256(self) -> str:
        """Draw the SHA256 randomart."""
        return fingerprints.randomart_sha256(self.blob, self.label, self.bits)


def _invalid(detail: str) -> KeyRejected:
    return KeyRejected(f"{GENERIC_MESSAGE}: {detail}.")


def _single_line(text: str) -> str:
    """Strip blanks and one line ending; refuse anything else multi-line."""
    if any(marker in text for marker in _PRIVATE_MARKERS):
        raise KeyRejected(
            "This is a private key, not a public key. Never share a private "
            "key with anyone; submit the contents of the .pub file instead."
        )
    line = text.strip(" \t")
    line = line.removesuffix("\n").removesuffix("\r").strip(" \t")
    if "\n" in line:
        lines = [part for part in line.splitlines() if part.strip()]
        if sum(1 for part in lines if part.split(maxsplit=1)[0] in LABELS) > 1:
            raise KeyRejected("Submit one public key at a time, not several.")
        raise _invalid("a public key is one line, but this text has a line break")
    if "\r" in line:
        raise _invalid("it contains a carriage return")
    return line


def _control_character_problem(text: str) -> str | None:
    """Name the first control or line-separating character in ``text``."""
    for character in text:
        if character == "\0":
            return "it contains a NUL character"
        if character.isspace() and character != " ":
            return f"it contains the blank character U+{ord(character):04X}"
        if unicodedata.category(character) in ("Cc", "Cf", "Zl", "Zp"):
            return f"it contains the control character U+{ord(character):04X}"
    return None


def _check_type(words: list[str], accept_dsa: bool) -> str:
    """Return the key type of the line's first word, or say what is wrong."""
    first = words[0]
    if first.endswith("-cert-v01@openssh.com"):
        raise KeyRejected(CERTIFICATE_MESSAGE)
    if first not in LABELS:
        if any(word in LABELS for word in words[1:]) and _OPTION_START.match(first):
            raise KeyRejected(
                "Remove the options in front of the key: options such as "
                "from= or command= are set on access rules, not on keys."
            )
        if _looks_like_key_data(first):
            raise _invalid("the key type (such as ssh-ed25519) is missing")
        shown = first[:40]
        raise _invalid(f'"{shown}" is not a supported key type')
    if first == DSA and not accept_dsa:
        raise KeyRejected(
            "DSA (ssh-dss) keys are not accepted: they are limited to 1024 "
            "bits and OpenSSH no longer supports them. Use an Ed25519 key."
        )
    return first


def _blob_type(blob: bytes) -> bytes:
    """Return the type name a key blob starts with (b'' if none)."""
    length = int.from_bytes(blob[:4], "big")
    return blob[4 : 4 + length] if len(blob) >= 4 + length else b""


def _decode(key_type: str, keydata: str) -> tuple[asyncssh.SSHKey, bytes]:
    """Decode the base64 blob with asyncssh and check it is of ``key_type``."""
    if not _BASE64.fullmatch(keydata):
        raise _invalid("the key data is not base64")
    try:
        blob = base64.b64decode(keydata, validate=True)
    except binascii.Error:
        raise _invalid("the key data is truncated or corrupt") from None
    if _blob_type(blob).endswith(b"-cert-v01@openssh.com"):
        raise KeyRejected(CERTIFICATE_MESSAGE)
    try:
        key = asyncssh.import_public_key(f"{key_type} {keydata}")
    except asyncssh.KeyImportError as error:
        if "mismatch" in str(error):
            raise _invalid(f"the key data is not an {key_type} key") from None
        raise _invalid("the key data is truncated or corrupt") from None
    # Refuse odd encodings of a valid key: fingerprints are taken over
    # the canonical form, and two spellings would hide a duplicate.
    if key.public_data != blob or base64.b64encode(blob).decode() != keydata:
        raise _invalid("the key data is not in its canonical encoding")
    return key, blob


def _bits(key: asyncssh.SSHKey) -> int:
    """Return the key size in bits as ``ssh-keygen -l`` reports it."""
    public = key.pyca_key
    if isinstance(public, rsa.RSAPublicKey | dsa.DSAPublicKey):
        return public.key_size
    if isinstance(public, ec.EllipticCurvePublicKey):
        return public.curve.key_size
    if isinstance(public, ed25519.Ed25519PublicKey):
        return 256
    raise _invalid("the key kind cannot be measured")


def _looks_like_key_data(word: str) -> bool:
    # Every key blob starts with a length below 2**24: "AAAA" in base64.
    return word.startswith("AAAA") and len(word) > 32 and bool(_BASE64.fullmatch(word))


def _check_comment(comment: str) -> str:
    if len(comment) > MAX_COMMENT_LENGTH:
        raise KeyRejected(
            f"The key comment is {len(comment)} characters long; "
            f"at most {MAX_COMMENT_LENGTH} are allowed."
        )
    words = comment.split(" ")
    for word, following in itertools.pairwise(words):
        if word in LABELS and _looks_like_key_data(following):
            raise KeyRejected("Submit one public key at a time, not several.")
    return comment


def parse_public_key(text: str, *, accept_dsa: bool = False) -> ParsedKey:
    """Parse one ``type base64 [comment]`` line, or raise KeyRejected.

    Blanks around the line and one line ending are ignored; the comment is
    everything after the key data ('' when there is none). Size minimums
    are not checked here: see :func:`check_strength`.
    """
    if len(text) > MAX_INPUT_LENGTH:
        raise _invalid(f"it is longer than {MAX_INPUT_LENGTH} characters")
    line = _single_line(text)
    if problem := _control_character_problem(line):
        raise _invalid(problem)
    words = line.split(" ")
    if not line:
        raise KeyRejected("The public key is empty.")
    key_type = _check_type([word for word in words if word], accept_dsa)
    rest = line[len(key_type) :].lstrip(" ")
    if not rest:
        raise _invalid("the key data is missing")
    keydata, _, comment = rest.partition(" ")
    key, blob = _decode(key_type, keydata)
    bits = _bits(key)
    if key_type == RSA and bits > MAX_RSA_BITS:
        raise _invalid(f"RSA keys larger than {MAX_RSA_BITS} bits are not usable")
    if key_type == DSA and bits != DSA_BITS:
        raise _invalid(f"OpenSSH uses only DSA keys of {DSA_BITS} bits")
    comment = _check_comment(comment.strip(" "))
    return ParsedKey(key_type, keydata, comment, bits, blob)


def minimum_bits(key_type: str, security: SecuritySection) -> int:
    """Return the smallest size in bits accepted for keys of ``key_type``.

    FIDO keys are held to the Ed25519 minimum: their size is fixed by the
    authenticator (P-256 is the only ECDSA curve they offer) and the private
    half never leaves the hardware, so the software ECDSA minimum does not
    apply to them. Accepted DSA keys have OpenSSH's only DSA size.
    """
    if key_type == RSA:
        return security.min_rsa_bits
    if key_type in ECDSA_TYPES:
        return security.min_ecdsa_bits
    if key_type == DSA:
        return DSA_BITS
    return security.min_ed25519_bits


def check_strength(key: ParsedKey, security: SecuritySection) -> None:
    """Raise KeyTooWeak if ``key`` is below the minimum for its type."""
    minimum = minimum_bits(key.type, security)
    if key.bits < minimum:
        raise KeyTooWeak(key.bits, minimum)
