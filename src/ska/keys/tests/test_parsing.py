"""Public key lines: what is accepted, and what each mistake is told."""

from __future__ import annotations

import base64
import struct

import pytest

from ska.config import SecuritySection
from ska.keys.parsing import (
    KeyRejected,
    KeyTooWeak,
    ParsedKey,
    check_strength,
    minimum_bits,
    parse_public_key,
)
from ska.keys.tests.conftest import SK_ECDSA_LINE, SK_ED25519_LINE, SampleKey

ED25519_DATA = "AAAAC3NzaC1lZDI1NTE5AAAAIHypzYoNLJvzdZNPuCZpt3t5MlazsUqcNw8zMbqjfKPd"
ED25519 = f"ssh-ed25519 {ED25519_DATA}"
ECDSA_DATA = (
    "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBNextZaQ+FqP6dW0o8eZFsx"
    "TJuH4RTOkIoqM+FViHp1VmRv+pvKRFMtSlNsOQQhrPNHhaH5RdJKrO2sA1iz1isg="
)
ECDSA = f"ecdsa-sha2-nistp256 {ECDSA_DATA}"
PRIVATE_KEY = """-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
-----END OPENSSH PRIVATE KEY-----
"""


def _ssh_string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def _rsa_line(modulus_bits: int) -> str:
    """Return an ssh-rsa line with a modulus of the given size."""
    modulus = (1 << (modulus_bits - 1)) | 1
    blob = (
        _ssh_string(b"ssh-rsa")
        + _ssh_string((65537).to_bytes(3, "big"))
        + _ssh_string(b"\0" + modulus.to_bytes(modulus_bits // 8, "big"))
    )
    return f"ssh-rsa {base64.b64encode(blob).decode()}"


@pytest.mark.parametrize(
    ("text", "key_type", "comment"),
    [
        (f"{ED25519} alice@laptop", "ssh-ed25519", "alice@laptop"),
        (ED25519, "ssh-ed25519", ""),
        (f"{ED25519} alice@laptop\n", "ssh-ed25519", "alice@laptop"),
        (f"{ED25519} alice@laptop\r\n", "ssh-ed25519", "alice@laptop"),
        (f"  {ED25519}   work  key  \n", "ssh-ed25519", "work  key"),
        (f"ssh-ed25519   {ED25519_DATA}", "ssh-ed25519", ""),
        (f"{ED25519} José's clé", "ssh-ed25519", "José's clé"),
        (f"{ED25519} {'c' * 255}", "ssh-ed25519", "c" * 255),
        (f"{ECDSA} ops", "ecdsa-sha2-nistp256", "ops"),
        (f"{ED25519} my old ssh-rsa key", "ssh-ed25519", "my old ssh-rsa key"),
        (SK_ECDSA_LINE, "sk-ecdsa-sha2-nistp256@openssh.com", "sample sk-ecdsa"),
        (SK_ED25519_LINE, "sk-ssh-ed25519@openssh.com", "sample sk-ed25519"),
        (_rsa_line(16384), "ssh-rsa", ""),
    ],
)
def test_parse_public_key_accepts_one_line(
    text: str, key_type: str, comment: str
) -> None:
    key = parse_public_key(text)

    assert key.type == key_type
    assert key.comment == comment
    assert key.keydata in text


def _noncanonical(data: str) -> str:
    # The last character before "=" carries two unused bits: set one.
    index = len(data.rstrip("=")) - 1
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    value = alphabet.index(data[index]) | 1
    return data[:index] + alphabet[value] + data[index + 1 :]


def _certificate_line() -> str:
    blob = _ssh_string(b"ssh-ed25519-cert-v01@openssh.com") + _ssh_string(b"x" * 32)
    return f"ssh-ed25519-cert-v01@openssh.com {base64.b64encode(blob).decode()}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "The public key is empty."),
        ("   \n", "The public key is empty."),
        (f"no-pty {ED25519}", "set on access rules, not on keys"),
        (f'command="ls -l" {ED25519} x', "set on access rules, not on keys"),
        (f'from="10.1.2.3",no-pty {ED25519}', "set on access rules, not on keys"),
        (f"restrict {ECDSA}", "set on access rules, not on keys"),
        (f"{ED25519} one\n{ECDSA} two", "one public key at a time"),
        (f"{ED25519} one\r\n{ED25519} two\r\n", "one public key at a time"),
        (f"{ED25519} {ECDSA} two", "one public key at a time"),
        (PRIVATE_KEY, "Never share a private key"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n", "This is a private key"),
        ("PuTTY-User-Key-File-3: ssh-ed25519\n", "This is a private key"),
        (f"ssh-ed25519 {ED25519_DATA[:-8]}", "Public key doesn't look valid"),
        (f"ssh-ed25519 {ED25519_DATA[:-1]}", "truncated or corrupt"),
        (f"{ED25519[:-4]}$$$$ me", "not base64"),
        (f"ssh-ed25519 {ECDSA_DATA}", "not an ssh-ed25519 key"),
        (f"ecdsa-sha2-nistp256 {_noncanonical(ECDSA_DATA)}", "canonical"),
        (_certificate_line(), "certificate"),
        (f"ssh-ed25519 {_certificate_line().split()[1]}", "certificate"),
        (f"ssh-ed448 {ED25519_DATA}", '"ssh-ed448" is not a supported key type'),
        ("ssh-rsa1 AAAA", "not a supported key type"),
        (ED25519_DATA, "the key type (such as ssh-ed25519) is missing"),
        ("ssh-ed25519", "the key data is missing"),
        (f"{ED25519}\nmore", "line break"),
        (f"{ED25519} a\n\n", "line break"),
        (f"\n{ED25519}", "line break"),
        (f"{ED25519} a\rb", "carriage return"),
        (f"{ED25519} a\0b", "NUL character"),
        (f"{ED25519} a\x1bb", "control character U+001B"),
        (f"{ED25519} a\x7f", "control character U+007F"),
        (f"{ED25519} a\tb", "blank character U+0009"),
        (f"{ED25519} a\u2028b", "U+2028"),
        (f"{ED25519} a\u202eb", "control character U+202E"),
        (f"{ED25519} {'c' * 256}", "at most 255 are allowed"),
        (f"{ED25519} {'c' * 20000}", "longer than 16384 characters"),
        (_rsa_line(16392), "larger than 16384 bits"),
        ("ssh-dss AAAAB3NzaC1kc3MAAACBAM", "DSA (ssh-dss) keys are not accepted"),
    ],
)
def test_parse_public_key_rejects_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(KeyRejected) as caught:
        parse_public_key(text)

    assert message in caught.value.message
    assert "\n" not in caught.value.message


def _dsa_line(prime_bits: int) -> str:
    """Return an ssh-dss line whose prime has the given size."""

    def mpint(number: int) -> bytes:
        return _ssh_string(number.to_bytes(number.bit_length() // 8 + 1, "big"))

    prime, subprime = (1 << (prime_bits - 1)) | 1, (1 << 255) | 1
    blob = _ssh_string(b"ssh-dss") + mpint(prime) + mpint(subprime)
    blob += mpint(2) + mpint(3)
    return f"ssh-dss {base64.b64encode(blob).decode()}"


def test_parse_public_key_refuses_dsa_keys_of_other_sizes() -> None:
    with pytest.raises(KeyRejected, match="only DSA keys of 1024 bits"):
        parse_public_key(_dsa_line(2048), accept_dsa=True)


def test_parse_public_key_takes_dsa_keys_only_when_allowed(
    generated_keys: dict[str, SampleKey],
) -> None:
    line = generated_keys["dsa"].line

    with pytest.raises(KeyRejected, match="DSA"):
        parse_public_key(line)
    assert parse_public_key(line, accept_dsa=True).bits == 1024


@pytest.mark.parametrize(
    ("key_type", "bits", "settings", "minimum"),
    [
        ("ssh-rsa", 2048, {}, 4096),
        ("ssh-rsa", 4096, {}, None),
        ("ssh-rsa", 2048, {"min_rsa_bits": 2048}, None),
        ("ecdsa-sha2-nistp256", 256, {}, 384),
        ("ecdsa-sha2-nistp256", 256, {"min_ecdsa_bits": 256}, None),
        ("ecdsa-sha2-nistp384", 384, {}, None),
        ("ecdsa-sha2-nistp521", 521, {"min_ecdsa_bits": 521}, None),
        ("ssh-ed25519", 256, {}, None),
        ("sk-ecdsa-sha2-nistp256@openssh.com", 256, {"min_ecdsa_bits": 521}, None),
        ("sk-ssh-ed25519@openssh.com", 256, {}, None),
        ("ssh-dss", 1024, {"min_rsa_bits": 8192}, None),
    ],
)
def test_check_strength_holds_each_type_to_its_minimum(
    key_type: str, bits: int, settings: dict[str, int], minimum: int | None
) -> None:
    security = SecuritySection(**settings)  # type: ignore[arg-type]
    key = ParsedKey(key_type, keydata="", comment="", bits=bits, blob=b"")

    if minimum is None:
        check_strength(key, security)
        assert minimum_bits(key_type, security) <= bits
    else:
        with pytest.raises(KeyTooWeak) as caught:
            check_strength(key, security)
        assert caught.value.minimum == minimum
        assert caught.value.bits == bits


def test_key_too_weak_speaks_as_the_reference_does() -> None:
    error = KeyTooWeak(2048, 4096)

    assert str(error) == "Insufficient bits in public key: 2048 < 4096"
    assert error.message == (
        "The public key you submitted is of insufficient strength; "
        "it has 2048 bits but must be at least 4096 bits."
    )
