"""Keys made by the real ssh-keygen, once per test session."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

SSH_KEYGEN = "/usr/bin/ssh-keygen"

# Every kind ssh-keygen can make without a hardware token: (name, options).
GENERATED_KINDS = [
    ("rsa2048", ["-t", "rsa", "-b", "2048"]),
    ("rsa4096", ["-t", "rsa", "-b", "4096"]),
    ("dsa", ["-t", "dsa"]),
    ("ecdsa256", ["-t", "ecdsa", "-b", "256"]),
    ("ecdsa384", ["-t", "ecdsa", "-b", "384"]),
    ("ecdsa521", ["-t", "ecdsa", "-b", "521"]),
    ("ed25519", ["-t", "ed25519"]),
]

# FIDO public keys cannot be made without a token, but ssh-keygen reads
# them; these two lines were written once for the tests.
SK_ECDSA_LINE = (
    "sk-ecdsa-sha2-nistp256@openssh.com AAAAInNrLWVjZHNhLXNoYTItbmlzdHAyNTZAb3Bl"
    "bnNzaC5jb20AAAAIbmlzdHAyNTYAAABBBNSIJEHozYXVeQuxNLuzu/yQjegUEYKrVG4f9O86M0R"
    "OZeNokcZDAUn7uFbBVUWlZrvkyleneDu76Jl7VG+V8xYAAAAEc3NoOg== sample sk-ecdsa"
)
SK_ED25519_LINE = (
    "sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIN5K5"
    "ZawNB0CTqXxtH7ShUTNdEFBLoW9vW0GSS2wgC9bAAAABHNzaDo= sample sk-ed25519"
)


@dataclass(frozen=True)
class SampleKey:
    """A public key file and its one line."""

    name: str
    path: Path

    @property
    def line(self) -> str:
        """Return the key's line without the line ending."""
        return self.path.read_text().strip()


@pytest.fixture(scope="session")
def generated_keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SampleKey]:
    """Generate one key of every kind, plus the two FIDO sample lines."""
    folder = tmp_path_factory.mktemp("keys")
    keys = {}
    for name, options in GENERATED_KINDS:
        path = folder / name
        subprocess.run(
            [SSH_KEYGEN, "-q", "-N", "", "-C", f"{name}@test", *options, "-f", path],
            check=True,
            timeout=60,
        )
        keys[name] = SampleKey(name, path.with_suffix(".pub"))
    for name, line in (("sk-ecdsa", SK_ECDSA_LINE), ("sk-ed25519", SK_ED25519_LINE)):
        path = folder / f"{name}.pub"
        path.write_text(f"{line}\n")
        keys[name] = SampleKey(name, path)
    return keys
