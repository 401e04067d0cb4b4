"""Failure messages, their classification, pins and the status file text."""

from __future__ import annotations

import base64
import json
import socket
from datetime import UTC, datetime

import asyncssh
import pytest

from ska.sync.failures import (
    SyncError,
    Where,
    classify_connect_error,
    classify_reason,
    classify_remote_error,
    compose_message,
    retry_tag,
)
from ska.sync.plan import StatusFileInputs
from ska.sync.status_file import render_status_file
from ska.sync.transport import format_host_key, host_key_algorithms, host_key_blob


@pytest.mark.parametrize(
    ("summary", "reason", "code", "retry", "expected"),
    [
        (
            "Failed to connect",
            "SSH authentication failed",
            "ssh_authentication_failed",
            "retry=30m",
            "Failed to connect; reason=SSH authentication failed; "
            "code=ssh_authentication_failed; retry=30m",
        ),
        (
            "SSH connection timed out",
            None,
            "ssh_timeout",
            "retry=30m",
            "SSH connection timed out; code=ssh_timeout; retry=30m",
        ),
        (
            "Failed to clean up 2 files",
            "",
            "cleanup_failed",
            "retry=5m",
            "Failed to clean up 2 files; code=cleanup_failed; retry=5m",
        ),
        (
            "Monitoring status file update failed",
            "path; with\\backslash",
            "monitoring_status_write_failed",
            None,
            "Monitoring status file update failed; reason=path\\; with\\\\backslash; "
            "code=monitoring_status_write_failed",
        ),
        (
            "  Failed to connect ",
            "first line\n\n  second\tline  ",
            "ssh_connection_failed",
            None,
            "Failed to connect; reason=first line second line; "
            "code=ssh_connection_failed",
        ),
        (
            "Failed to connect",
            "x" * 300,
            "ssh_connection_failed",
            None,
            "Failed to connect; reason="
            + "x" * 240
            + "...; code=ssh_connection_failed",
        ),
    ],
)
def test_compose_message_follows_the_reference_grammar(
    summary: str, reason: str | None, code: str, retry: str | None, expected: str
) -> None:
    assert compose_message(summary, reason, code, retry) == expected


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(1800, "retry=30m"), (60, "retry=1m"), (3600, "retry=60m"), (10, "retry=1m")],
)
def test_retry_tag_is_in_minutes(seconds: int, expected: str) -> None:
    assert retry_tag(seconds) == expected


@pytest.mark.parametrize(
    ("reason", "code"),
    [
        ("", "sync_failure"),
        (None, "sync_failure"),
        ("ssh: connect to host j1 port 22: Connection timed out", "ssh_timeout"),
        ("Host key verification failed.", "host_key_verification_failed"),
        ("Multiple hosts with same host key.", "host_key_collision"),
        ("Multiple hosts with same IP address", "ip_collision"),
        ("Hostname check failed (allowed: a, b).", "hostname_verification_failed"),
        (
            "Could not read /var/local/keys-sync/.hostnames: gone",
            "hostname_allowlist_unreadable",
        ),
        ("SSH authentication failed", "ssh_authentication_failed"),
        ("The tunnel connection via jumphost(s) failed: x", "jumphost_tunnel_failed"),
        ("Could not receive host key from target server", "host_key_unavailable"),
        ("Cannot access key directory", "key_directory_access_failed"),
        ("Internal error during sync", "worker_process_error"),
        ("something else entirely", "ssh_connection_failed"),
    ],
)
def test_classify_reason_by_text_in_reference_order(
    reason: str | None, code: str
) -> None:
    assert classify_reason(reason) == code


def _channel_open(code: int) -> asyncssh.ChannelOpenError:
    return asyncssh.ChannelOpenError(code, "open failed")


@pytest.mark.parametrize(
    ("error", "where", "code", "reason"),
    [
        (
            TimeoutError(),
            Where(),
            "ssh_timeout",
            "Connecting to the server timed out",
        ),
        (
            TimeoutError(),
            Where(hop="u@j1:22"),
            "ssh_timeout",
            "Connecting to jump host u@j1:22 timed out",
        ),
        (
            asyncssh.HostKeyNotVerifiable("Host key is not trusted"),
            Where(target="h:22"),
            "host_key_verification_failed",
            "SSH host key verification failed",
        ),
        (
            asyncssh.HostKeyNotVerifiable("Host key is not trusted"),
            Where(hop="u@j1:22"),
            "jumphost_tunnel_failed",
            "The tunnel connection via jumphost(s) failed: u@j1:22: "
            "host key not trusted (Host key is not trusted)",
        ),
        (
            asyncssh.PermissionDenied("denied"),
            Where(),
            "ssh_authentication_failed",
            "SSH authentication failed",
        ),
        (
            asyncssh.PermissionDenied("denied"),
            Where(hop="u@j1:22"),
            "jumphost_tunnel_failed",
            "The tunnel connection via jumphost(s) failed: u@j1:22: "
            "authentication failed",
        ),
        (
            _channel_open(asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED),
            Where(via_jumphosts=True, target="h:22"),
            "jumphost_tunnel_failed",
            "The tunnel connection via jumphost(s) failed: "
            "the last jump host refuses forwarding",
        ),
        (
            _channel_open(asyncssh.OPEN_CONNECT_FAILED),
            Where(via_jumphosts=True, target="h:22"),
            "jumphost_tunnel_failed",
            "The tunnel connection via jumphost(s) failed: "
            "the last jump host cannot connect to h:22",
        ),
        (
            ConnectionRefusedError(111, "Connect call failed ('h', 22)"),
            Where(target="h:22"),
            "ssh_connection_failed",
            "SSH connection failed: Connection refused (h:22)",
        ),
        (
            socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
            Where(target="h:22"),
            "ssh_connection_failed",
            "SSH connection failed: name resolution failed: "
            "Name or service not known (h:22)",
        ),
        (
            asyncssh.ConnectionLost("Connection lost"),
            Where(),
            "ssh_connection_failed",
            "SSH connection failed: Connection lost",
        ),
        (
            SyncError("Multiple hosts with same IP address", "ip_collision"),
            Where(),
            "ip_collision",
            "Multiple hosts with same IP address",
        ),
    ],
)
def test_classify_connect_error_by_exception_type(
    error: BaseException, where: Where, code: str, reason: str
) -> None:
    classified = classify_connect_error(error, where)

    assert (classified.code, classified.reason) == (code, reason)


@pytest.mark.parametrize(
    ("error", "code", "reason"),
    [
        (TimeoutError(), "ssh_timeout", "Listing timed out"),
        (
            asyncssh.SFTPPermissionDenied("Permission denied"),
            "ssh_connection_failed",
            "Listing failed: Permission denied",
        ),
        (
            BrokenPipeError(32, "Broken pipe"),
            "ssh_connection_failed",
            "Listing failed: Broken pipe",
        ),
    ],
)
def test_classify_remote_error_by_exception_type(
    error: BaseException, code: str, reason: str
) -> None:
    classified = classify_remote_error(error, "Listing")

    assert (classified.code, classified.reason) == (code, reason)


_ED25519 = asyncssh.generate_private_key("ssh-ed25519").convert_to_public()
_ED25519_BASE64 = base64.b64encode(_ED25519.public_data).decode()


@pytest.mark.parametrize(
    ("pin", "blob"),
    [
        (f"ssh-ed25519 {_ED25519_BASE64}", _ED25519.public_data),
        (f"rsa-sha2-256 {_ED25519_BASE64}", _ED25519.public_data),
        (f"ssh-ed25519 {_ED25519_BASE64} comment", _ED25519.public_data),
        ("", None),
        (None, None),
        ("ssh-ed25519", None),
        ("ssh-ed25519 not*base64", None),
    ],
)
def test_host_key_blob_ignores_the_algorithm_name(
    pin: str | None, blob: bytes | None
) -> None:
    assert host_key_blob(pin) == blob


def test_format_host_key_stores_key_type_and_blob() -> None:
    assert format_host_key(_ED25519) == f"ssh-ed25519 {_ED25519_BASE64}"


def test_status_file_is_the_reference_json_line() -> None:
    inputs = StatusFileInputs(
        path="/var/local/keys-sync.status",
        timeout=7200,
        key_supervision_error=None,
        accounts_with_unnoticed_keys=("root", "web"),
    )
    now = datetime(2026, 2, 9, 12, 0, tzinfo=UTC)

    text = render_status_file(inputs, "sync failure", "Café a/b; code=x", now)

    assert text == (
        b'{"warn_below_version":1,"sync_status":"sync failure",'
        b'"sync_status_message":"Caf\\u00e9 a\\/b; code=x",'
        b'"key_supervision_error":null,"accounts_with_unnoticed_keys":["root","web"],'
        b'"expire":"Mon, 09 Feb 2026 14:00:00 +0000"}'
    )
    assert json.loads(text)["sync_status_message"] == "Café a/b; code=x"


def test_host_key_algorithms_offer_the_pinned_type_first_and_no_certificates() -> None:
    rsa = asyncssh.generate_private_key("ssh-rsa", key_size=2048).convert_to_public()

    pinned = host_key_algorithms([rsa])
    unpinned = host_key_algorithms([])

    assert pinned[:2] == ["rsa-sha2-256", "rsa-sha2-512"]
    assert "ssh-ed25519" in pinned
    assert len(pinned) == len(set(pinned))
    assert set(pinned) == set(unpinned)
    assert not [name for name in pinned if "cert" in name]
