"""Failure messages of a sync: ``summary; reason=...; code=...; retry=30m``.

The grammar and the codes are the reference's, so that monitoring checks
and operators' searches keep working. Unlike the reference, the code is
chosen from what went wrong (the exception type and the step it happened
in) rather than guessed from the message text; the text classifier is kept
for messages that arrive as text only.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass

import asyncssh

REASON_LIMIT = 240

SSH_TIMEOUT = "ssh_timeout"
HOST_KEY_VERIFICATION_FAILED = "host_key_verification_failed"
HOST_KEY_COLLISION = "host_key_collision"
IP_COLLISION = "ip_collision"
HOSTNAME_VERIFICATION_FAILED = "hostname_verification_failed"
HOSTNAME_ALLOWLIST_UNREADABLE = "hostname_allowlist_unreadable"
SSH_AUTHENTICATION_FAILED = "ssh_authentication_failed"
JUMPHOST_TUNNEL_FAILED = "jumphost_tunnel_failed"
HOST_KEY_UNAVAILABLE = "host_key_unavailable"
SSH_CONNECTION_FAILED = "ssh_connection_failed"
SYNC_FAILURE = "sync_failure"
KEY_DIRECTORY_ACCESS_FAILED = "key_directory_access_failed"
DECOMMISSION_CLEANUP_FAILED = "decommission_cleanup_failed"
CLEANUP_FAILED = "cleanup_failed"
ACCOUNT_SYNC_FAILED = "account_sync_failed"
WORKER_PROCESS_ERROR = "worker_process_error"
MONITORING_STATUS_WRITE_FAILED = "monitoring_status_write_failed"

# First match wins, as in the reference: a jump host's "Connection timed
# out" is a timeout before it is a tunnel failure.
_TEXT_RULES: tuple[tuple[str, str], ...] = (
    ("timed out", SSH_TIMEOUT),
    ("host key verification failed", HOST_KEY_VERIFICATION_FAILED),
    ("multiple hosts with same host key", HOST_KEY_COLLISION),
    ("multiple hosts with same ip address", IP_COLLISION),
    ("hostname check failed", HOSTNAME_VERIFICATION_FAILED),
    ("could not read /var/local/keys-sync/.hostnames", HOSTNAME_ALLOWLIST_UNREADABLE),
    ("ssh authentication failed", SSH_AUTHENTICATION_FAILED),
    ("tunnel connection via jumphost", JUMPHOST_TUNNEL_FAILED),
    ("could not receive host key", HOST_KEY_UNAVAILABLE),
    ("cannot access key directory", KEY_DIRECTORY_ACCESS_FAILED),
    ("internal error during sync", WORKER_PROCESS_ERROR),
)

_WHITESPACE = re.compile(r"\s+")


class SyncError(Exception):
    """A classified reason why a sync cannot go on.

    ``reason`` is the text that follows ``reason=``; ``code`` is one of the
    catalogue's codes.
    """

    def __init__(self, reason: str, code: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


def normalise_reason(text: str) -> str:
    """Collapse whitespace runs (newlines included) into single spaces."""
    return _WHITESPACE.sub(" ", text).strip()


def truncate_reason(text: str) -> str:
    """Cut a normalised reason to the stored length, marking the cut."""
    return text if len(text) <= REASON_LIMIT else text[:REASON_LIMIT] + "..."


def escape(text: str) -> str:
    """Escape backslashes, then semicolons, so fields split unambiguously."""
    return text.replace("\\", "\\\\").replace(";", "\\;")


def retry_tag(retry_delay_seconds: int) -> str:
    """Return ``retry=<minutes>m`` for a retry delay given in seconds."""
    minutes = max(1, round(retry_delay_seconds / 60))
    return f"retry={minutes}m"


def compose_message(
    summary: str, reason: str | None, code: str, retry: str | None
) -> str:
    """Join the fields of a failure message in the reference's order."""
    parts = [escape(summary.strip())]
    shown = normalise_reason(reason or "")
    if shown:
        parts.append("reason=" + escape(truncate_reason(shown)))
    parts.append(f"code={code}")
    if retry:
        parts.append(retry)
    return "; ".join(parts)


def classify_reason(reason: str | None) -> str:
    """Return the code for a reason known only as text."""
    text = normalise_reason(reason or "").lower()
    if not text:
        return SYNC_FAILURE
    for needle, code in _TEXT_RULES:
        if needle in text:
            return code
    return SSH_CONNECTION_FAILED


def describe(error: BaseException) -> str:
    """Return a one-line description of an exception for a reason field."""
    if isinstance(error, asyncssh.Error):
        text = error.reason or type(error).__name__
    elif isinstance(error, socket.gaierror):
        text = f"name resolution failed: {error.strerror or error}"
    elif isinstance(error, OSError) and error.errno:
        # asyncio words refusals as "Connect call failed (...)".
        text = os.strerror(error.errno)
    elif isinstance(error, OSError) and error.strerror:
        text = error.strerror
    else:
        text = str(error) or type(error).__name__
    return normalise_reason(text)


@dataclass(frozen=True)
class Where:
    """The step of a connection an exception came from."""

    hop: str | None = None  # the jump host being connected to, if any
    via_jumphosts: bool = False  # the target is reached through a tunnel
    target: str = ""  # address:port of the target


_CHANNEL_OPEN_PROBLEMS = {
    asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED: "the last jump host refuses forwarding",
    asyncssh.OPEN_CONNECT_FAILED: "the last jump host cannot connect to {target}",
}


def classify_connect_error(error: BaseException, where: Where) -> SyncError:
    """Translate an exception raised while connecting into a SyncError."""
    if isinstance(error, SyncError):
        return error
    if isinstance(error, TimeoutError):
        target = f"jump host {where.hop}" if where.hop else "the server"
        return SyncError(f"Connecting to {target} timed out", SSH_TIMEOUT)
    text = describe(error)
    if where.hop:
        return SyncError(
            f"The tunnel connection via jumphost(s) failed: {where.hop}: "
            f"{_hop_problem(error, text)}",
            JUMPHOST_TUNNEL_FAILED,
        )
    if isinstance(error, asyncssh.ChannelOpenError) and where.via_jumphosts:
        problem = _CHANNEL_OPEN_PROBLEMS.get(error.code, "{text}")
        return SyncError(
            "The tunnel connection via jumphost(s) failed: "
            + problem.format(target=where.target, text=text),
            JUMPHOST_TUNNEL_FAILED,
        )
    if isinstance(error, asyncssh.HostKeyNotVerifiable):
        return SyncError(
            "SSH host key verification failed", HOST_KEY_VERIFICATION_FAILED
        )
    if isinstance(error, asyncssh.PermissionDenied):
        return SyncError("SSH authentication failed", SSH_AUTHENTICATION_FAILED)
    place = f" ({where.target})" if where.target else ""
    return SyncError(f"SSH connection failed: {text}{place}", SSH_CONNECTION_FAILED)


def _hop_problem(error: BaseException, text: str) -> str:
    if isinstance(error, asyncssh.HostKeyNotVerifiable):
        return f"host key not trusted ({text})"
    if isinstance(error, asyncssh.PermissionDenied):
        return "authentication failed"
    return text


def classify_remote_error(error: BaseException, doing: str) -> SyncError:
    """Translate an exception of a remote step after login into a SyncError."""
    if isinstance(error, SyncError):
        return error
    if isinstance(error, TimeoutError):
        return SyncError(f"{doing} timed out", SSH_TIMEOUT)
    return SyncError(f"{doing} failed: {describe(error)}", SSH_CONNECTION_FAILED)
