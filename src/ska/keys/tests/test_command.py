"""``ska key inspect``: in-process for the details, once through ``ska``."""

from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from ska.keys.tests.conftest import SK_ECDSA_LINE, SampleKey
from ska.keys.tests.test_parsing import ED25519


def _inspect(path: Path, *options: str) -> tuple[str, str, int]:
    """Run the command in-process; return stdout, stderr and exit status."""
    out, err = StringIO(), StringIO()
    try:
        call_command("key", "inspect", str(path), *options, stdout=out, stderr=err)
    except SystemExit as stop:
        return out.getvalue(), err.getvalue(), int(stop.code or 0)
    return out.getvalue(), err.getvalue(), 0


def test_key_inspect_shows_fingerprints_and_randomart_like_ssh_keygen(
    generated_keys: dict[str, SampleKey],
) -> None:
    sample = generated_keys["ed25519"]
    keygen = subprocess.run(
        ["/usr/bin/ssh-keygen", "-lv", "-E", "md5", "-f", sample.path],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.splitlines()
    md5 = keygen[0].split(" ")[1]

    out, err, status = _inspect(sample.path)

    lines = out.splitlines()
    assert (status, err) == (0, "")
    assert lines[:3] == [
        "line 1: accepted",
        "  type     ssh-ed25519 (ED25519)",
        "  bits     256",
    ]
    assert lines[3] == f"  md5      {md5}"
    assert lines[4].startswith("  sha256   SHA256:")
    assert lines[5] == "  comment  ed25519@test"
    assert [line[2:21] for line in lines[6:]] == keygen[1:]


def test_key_inspect_reports_each_rejected_line_and_fails(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_bytes(
        b"# team keys\n"
        b"\n"
        + f"{ED25519} good\r\n".encode()
        + f"no-pty {ED25519}\n".encode()
        + b"ecdsa-sha2-nistp256 AAAA\n"
        + b"ssh-ed25519 \xff\xfe\n"
        + f"{SK_ECDSA_LINE}\n".encode()
    )

    out, err, status = _inspect(keys, "--no-randomart")

    assert status == 1
    assert err.splitlines() == [
        "line 4: Remove the options in front of the key: options such as from= "
        "or command= are set on access rules, not on keys.",
        "line 5: Public key doesn't look valid: the key data is truncated or corrupt.",
        "line 6: the line is not valid UTF-8",
    ]
    assert [line for line in out.splitlines() if line.startswith("line")] == [
        "line 3: accepted",
        "line 7: accepted",
    ]
    assert "+" not in out


def test_key_inspect_holds_keys_to_the_minimum_unless_told(
    generated_keys: dict[str, SampleKey],
) -> None:
    weak = generated_keys["rsa2048"].path

    _, err, status = _inspect(weak)
    out, _, allowed_status = _inspect(weak, "--allow-weak")

    assert status == 1
    assert err == (
        "line 1: The public key you submitted is of insufficient strength; "
        "it has 2048 bits but must be at least 4096 bits.\n"
    )
    assert allowed_status == 0
    assert "  bits     2048" in out.splitlines()


def test_key_inspect_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match=r"cannot read .*: No such file"):
        call_command("key", "inspect", str(tmp_path / "absent.pub"))


def test_ska_key_inspect_reads_standard_input_through_the_ska_command(
    tmp_path: Path, generated_keys: dict[str, SampleKey]
) -> None:
    ska = Path(sys.executable).with_name("ska")
    text = generated_keys["ecdsa384"].line + "\nssh-ed25519\n"
    environment = {
        **os.environ,
        "SKA_DATA_DIR": str(tmp_path),
        "SKA_CONFIG": os.devnull,
        "DJANGO_SETTINGS_MODULE": "ska.settings",
    }

    result = subprocess.run(
        [ska, "key", "inspect", "-"],
        input=text,
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )
    missing = subprocess.run(
        [ska, "key", "inspect", str(tmp_path / "absent")],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )

    assert result.returncode == 1
    assert "line 1: accepted" in result.stdout
    assert "  type     ecdsa-sha2-nistp384 (ECDSA)" in result.stdout
    assert result.stderr == (
        "line 2: Public key doesn't look valid: the key data is missing.\n"
    )
    assert missing.returncode != 0
    assert len(missing.stderr.splitlines()) == 1
    assert "Traceback" not in missing.stderr
