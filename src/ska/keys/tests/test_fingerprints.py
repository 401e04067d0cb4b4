"""Fingerprints and randomart match ssh-keygen's, byte for byte."""

from __future__ import annotations

import subprocess

import pytest

from ska.keys.fingerprints import randomart
from ska.keys.parsing import parse_public_key
from ska.keys.tests.conftest import SSH_KEYGEN, SampleKey

KINDS = [
    ("rsa2048", "ssh-rsa", 2048),
    ("rsa4096", "ssh-rsa", 4096),
    ("dsa", "ssh-dss", 1024),
    ("ecdsa256", "ecdsa-sha2-nistp256", 256),
    ("ecdsa384", "ecdsa-sha2-nistp384", 384),
    ("ecdsa521", "ecdsa-sha2-nistp521", 521),
    ("ed25519", "ssh-ed25519", 256),
    ("sk-ecdsa", "sk-ecdsa-sha2-nistp256@openssh.com", 256),
    ("sk-ed25519", "sk-ssh-ed25519@openssh.com", 256),
]


def _ssh_keygen(key: SampleKey, hash_name: str) -> tuple[str, str]:
    """Return ssh-keygen's summary line and randomart for one digest."""
    result = subprocess.run(
        [SSH_KEYGEN, "-lv", "-E", hash_name, "-f", key.path],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    summary, _, art = result.stdout.rstrip("\n").partition("\n")
    return summary, art


@pytest.mark.parametrize(("name", "key_type", "bits"), KINDS)
def test_parsed_key_type_and_bits_match_ssh_keygen(
    generated_keys: dict[str, SampleKey], name: str, key_type: str, bits: int
) -> None:
    sample = generated_keys[name]
    summary, _ = _ssh_keygen(sample, "sha256")

    key = parse_public_key(sample.line, accept_dsa=True)

    assert key.type == key_type
    assert key.bits == bits
    assert summary.split(" ", 1)[0] == str(key.bits)
    assert summary.endswith(f" {key.comment} ({key.label})")


@pytest.mark.parametrize(("name", "key_type", "bits"), KINDS)
def test_fingerprints_and_randomart_match_ssh_keygen(
    generated_keys: dict[str, SampleKey], name: str, key_type: str, bits: int
) -> None:
    sample = generated_keys[name]
    md5_summary, md5_art = _ssh_keygen(sample, "md5")
    sha_summary, sha_art = _ssh_keygen(sample, "sha256")

    key = parse_public_key(sample.line, accept_dsa=True)

    assert md5_summary.split(" ")[1] == f"MD5:{key.fingerprint_md5}"
    assert sha_summary.split(" ")[1] == f"SHA256:{key.fingerprint_sha256}"
    assert len(key.fingerprint_md5) == 47
    assert len(key.fingerprint_sha256) == 43
    assert key.randomart_md5 == md5_art
    assert key.randomart_sha256 == sha_art


def test_randomart_of_a_walk_into_the_corner_piles_up_there() -> None:
    # Every move of a zero byte goes up and left: the bishop slides along
    # the top wall into the corner, stays there, and ends there.
    art = randomart(bytes(16), label="ED25519", bits=256, hash_name="MD5")

    assert art.split("\n") == [
        "+--[ED25519 256]--+",
        "|E....            |",
        "|     .           |",
        "|      .          |",
        "|       .         |",
        "|        S        |",
        "|                 |",
        "|                 |",
        "|                 |",
        "|                 |",
        "+------[MD5]------+",
    ]


@pytest.mark.parametrize(
    ("label", "bits", "top"),
    [
        ("RSA", 4096, "+---[RSA 4096]----+"),
        ("ECDSA-SK", 256, "+-[ECDSA-SK 256]--+"),
        ("ED25519-SK", 256, "+[ED25519-SK 256]-+"),
        # Seventeen characters: clipped to sixteen, as ssh-keygen does.
        ("ED25519-SK", 2560, "+[ED25519-SK 2560-+"),
        # Longer: the size is left out.
        ("ED25519-CERT", 256, "+-[ED25519-CERT]--+"),
    ],
)
def test_randomart_title_is_centred_and_fits_the_frame(
    label: str, bits: int, top: str
) -> None:
    art = randomart(bytes(32), label=label, bits=bits, hash_name="SHA256")

    assert art.split("\n")[0] == top
    assert art.split("\n")[-1] == "+----[SHA256]-----+"
