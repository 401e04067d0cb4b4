"""The jump host chain: ``user@host[:port],... [-> alias]``.

The syntax is the reference's; the parser is stricter where the reference
lets a user part carry separators or look like a command-line option.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError

_HOST = r"[A-Za-z0-9.\-\u00a0-\U0010ffff]+"
_HOP = re.compile(rf"(?P<user>[^@,\s]+)@(?P<host>{_HOST})(?::(?P<port>[0-9]{{1,5}}))?")
_ALIAS = re.compile(rf"^(?P<chain>[^>]*?) *-> *(?P<alias>{_HOST})$")


@dataclass(frozen=True)
class Hop:
    """One jump host of a chain."""

    user: str
    host: str
    port: int = 22

    def __str__(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"


@dataclass(frozen=True)
class JumpChain:
    """The hops to pass, in order, and the name the last one connects to."""

    hops: tuple[Hop, ...] = ()
    alias: str | None = None


class JumphostError(ValueError):
    """A jump host list that does not follow the syntax."""


def parse_jumphosts(text: str) -> JumpChain:
    """Parse a stored jump host string; raise JumphostError if invalid."""
    text = text.strip()
    if not text:
        return JumpChain()
    alias = None
    if match := _ALIAS.match(text):
        text, alias = match["chain"].strip(), match["alias"]
    hops: list[Hop] = []
    for part in text.split(",") if text else []:
        hop = _HOP.fullmatch(part)
        if not hop:
            raise JumphostError(
                f"{part!r} is not of the form user@host or user@host:port"
            )
        if hop["user"].startswith("-"):
            raise JumphostError(f"the user in {part!r} must not begin with '-'")
        port = int(hop["port"] or 22)
        if not 1 <= port <= 65535:
            raise JumphostError(f"the port in {part!r} must be between 1 and 65535")
        hops.append(Hop(hop["user"], hop["host"], port))
    if not hops and alias is None:
        raise JumphostError("the list of jump hosts is empty")
    return JumpChain(tuple(hops), alias)


def validate_jumphosts(text: str) -> None:
    """Raise ValidationError for a jump host list that cannot be parsed."""
    try:
        parse_jumphosts(text)
    except JumphostError as error:
        raise ValidationError(
            f'The list of jumphosts "{text}" is syntactically incorrect: {error}.',
            code="invalid_jumphosts",
        ) from error
