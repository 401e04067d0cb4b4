"""The real ``ska`` command: configuration errors and ``ska config check``."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

SKA = Path(sys.executable).with_name("ska")


def run_ska(
    tmp_path: Path, *args: str, toml: str | None = None, **variables: str
) -> subprocess.CompletedProcess[str]:
    """Run ``ska`` with a clean environment, a private data dir and ``toml``."""
    environ = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("SKA_") and name != "DJANGO_SETTINGS_MODULE"
    }
    environ["SKA_DATA_DIR"] = str(tmp_path / "data")
    if toml is not None:
        path = tmp_path / "ska.toml"
        path.write_text(toml, encoding="utf-8")
        environ["SKA_CONFIG"] = str(path)
    environ.update(variables)
    return subprocess.run(
        [str(SKA), *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("toml", "variables", "fragments"),
    [
        (
            '[web]\ncolour = "red"\n',
            {},
            ["[web] colour = 'red'", "unknown key", "known keys are enabled"],
        ),
        (
            '[security]\nmin_rsa_bits = "4096"\n',
            {},
            ["[security] min_rsa_bits = '4096'", "expected an integer"],
        ),
        (
            '[general]\ndefault_key_supervision = "partial"\n',
            {},
            ["'partial'", "allowed values are 'full', 'rootonly', 'off'"],
        ),
        (
            "[ldap]\nbind_password = 1234567\n",
            {},
            ["[ldap] bind_password = <hidden>", "expected a string"],
        ),
        ("[web]\nenabled = \n", {}, ["ska.toml: not valid TOML", "line 2"]),
        ("[nonsense]\n", {}, ["[nonsense]: unknown section", "known sections"]),
        (
            "",
            {"SKA_SECURITY_MIN_RSA_BITS": "abc"},
            ["SKA_SECURITY_MIN_RSA_BITS", "'abc'", "expected an integer"],
        ),
        (
            "",
            {"SKA_SECURITY_MIN_RSA_BITS": "1024"},
            ["SKA_SECURITY_MIN_RSA_BITS", "[security] min_rsa_bits", "at least 2048"],
        ),
        (
            "",
            {"SKA_LDAP_HOTS": "ldap://x"},
            ["SKA_LDAP_HOTS: unknown variable", "did you mean SKA_LDAP_HOST?"],
        ),
        (
            "",
            {"SKA_LDAP_BIND_PASSWORD_FILE": "/nonexistent/secret"},
            ["SKA_LDAP_BIND_PASSWORD_FILE=/nonexistent/secret: cannot read"],
        ),
    ],
)
def test_ska_reports_a_bad_configuration_in_one_line(
    tmp_path: Path, toml: str, variables: dict[str, str], fragments: list[str]
) -> None:
    result = run_ska(tmp_path, "config", "check", toml=toml, **variables)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("ska: configuration error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert "1234567" not in result.stderr


def test_ska_reports_a_missing_config_file_for_any_command(tmp_path: Path) -> None:
    result = run_ska(tmp_path, "--config", str(tmp_path / "absent.toml"), "help")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"ska: configuration error: {tmp_path / 'absent.toml'}: "
        "configuration file not found"
    )


def test_config_check_prints_the_effective_masked_configuration(
    tmp_path: Path,
) -> None:
    secret_file = tmp_path / "bind-password"
    secret_file.write_text("Very-Secret-Bind\n", encoding="utf-8")
    toml = (
        '[web]\nbaseurl = "https://ska.example.com"\n'
        '[ldap]\nhost = "ldaps://ldap.example.com"\nbind_password = "in-file"\n'
        '[database]\npassword = "Db-Secret"\n'
    )
    result = run_ska(
        tmp_path,
        "config",
        "check",
        toml=toml,
        SKA_LDAP_BIND_PASSWORD_FILE=str(secret_file),
        SKA_SECURITY_SESSION_TIMEOUT="600",
    )
    assert result.returncode == 0, result.stderr
    assert "Very-Secret-Bind" not in result.stdout
    assert "Db-Secret" not in result.stdout
    assert "in-file" not in result.stdout
    header = result.stdout.split("\n\n", 1)[0].splitlines()
    assert header == [
        f"# configuration file: {tmp_path / 'ska.toml'}",
        f"# data directory: {(tmp_path / 'data').resolve()}",
        "# set by the environment: SKA_SECURITY_SESSION_TIMEOUT, "
        "SKA_LDAP_BIND_PASSWORD_FILE",
    ]
    shown = tomllib.loads(result.stdout)
    assert shown["ldap"]["bind_password"] == "********"
    assert shown["database"]["password"] == "********"
    assert shown["web"]["baseurl"] == "https://ska.example.com"
    assert shown["security"]["session_timeout"] == 600
    assert shown["sync"]["concurrency"] == 50


def test_config_check_without_a_file_says_defaults(tmp_path: Path) -> None:
    result = run_ska(tmp_path, "config", "check")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("# configuration file: defaults (no file)\n")
    assert tomllib.loads(result.stdout)["database"]["engine"] == "sqlite"


def test_config_requires_an_action(tmp_path: Path) -> None:
    result = run_ska(tmp_path, "config")
    assert result.returncode != 0
    assert "check" in result.stderr
    assert "Traceback" not in result.stderr


def test_import_ini_refuses_to_overwrite_in_one_line(tmp_path: Path) -> None:
    ini = tmp_path / "config.ini"
    ini.write_text("[web]\nbaseurl = https://ska.example.com\n", encoding="utf-8")
    out = tmp_path / "out.toml"
    out.write_text("# kept\n", encoding="utf-8")
    result = run_ska(tmp_path, "config", "import-ini", str(ini), "-o", str(out))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"CommandError: {out}: already exists; add --force to replace it"
    ]
    assert out.read_text(encoding="utf-8") == "# kept\n"

    result = run_ska(
        tmp_path, "config", "import-ini", str(ini), "-o", str(out), "--force"
    )
    assert result.returncode == 0, result.stderr
    assert tomllib.loads(out.read_text(encoding="utf-8")) == {
        "web": {"baseurl": "https://ska.example.com"}
    }
