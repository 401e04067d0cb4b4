"""Talk to the LDAP directory: password binds, user and group look-ups.

This module knows LDAP and nothing of the database: it turns entries into
plain :class:`LdapUser` and :class:`LdapGroup` values, and every ldap3 or
socket error into :class:`DirectoryUnavailable`.
"""

from __future__ import annotations

import logging
import re
import ssl
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import ldap3
from ldap3.core.exceptions import LDAPException, LDAPInvalidDnError
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn, parse_dn

from ska.config import LdapSection

logger = logging.getLogger(__name__)

# A page of a large search may take a while on a busy directory.
RESPONSE_TIMEOUT = 30
PAGE_SIZE = 500
AD_GUID_LENGTH = 16
BITMASK_PATTERN = re.compile(r"(!?)([0-9]+)")


class DirectoryUnavailable(Exception):
    """The directory could not be reached, or failed to answer a request."""


@dataclass(frozen=True)
class LdapUser:
    """A user entry as the application needs it."""

    dn: str
    uid: str
    name: str
    email: str
    active: bool
    superior: str
    member_value: str


@dataclass(frozen=True)
class LdapGroup:
    """A group entry: its identity and the member values it lists."""

    dn: str
    cn: str
    group_id: str
    guid: str | None
    members: frozenset[str]


def member_key(value: str) -> str:
    """Return a comparable form of a member value: a normalised DN or a name."""
    if "=" not in value:
        return value.strip().lower()
    try:
        parts = parse_dn(value, escape=False, strip=True)
    except LDAPInvalidDnError:
        return value.strip().lower()
    return ",".join(f"{kind.lower()}={text.lower()}" for kind, text, _ in parts)


def decode_guid(raw: bytes) -> str:
    """Return a group identifier as text; AD's binary GUIDs become UUID text."""
    if len(raw) == AD_GUID_LENGTH and not all(32 <= byte < 127 for byte in raw):
        # AD stores the first three fields little-endian, as uuid's bytes_le.
        return str(uuid.UUID(bytes_le=raw))
    return raw.decode("utf-8", errors="replace").strip().lower()


def is_active(value: str | None, section: LdapSection) -> bool:
    """Apply the configured rule for the ``user_active`` attribute."""
    if not section.user_active:
        return True
    text = value or ""
    if section.user_active_true:
        return text == section.user_active_true
    if section.user_active_false:
        return text != section.user_active_false
    match = BITMASK_PATTERN.fullmatch(section.user_active_bitmask)
    if not match:
        return False
    try:
        flags = int(text)
    except ValueError:
        return False
    return bool(flags & int(match.group(2))) != bool(match.group(1))


def bind_candidates(username: str, section: LdapSection) -> list[tuple[str, str]]:
    """Return ``(form, bind DN)`` pairs to try for a login, in order.

    1. the UPN ``user@domain``, the domain made of the ``dc=`` parts of
       ``dn_user`` (only when it has any);
    2. the AD-style ``CN=user,...`` with ``cn=``/``dc=`` written upper-case;
    3. ``<user_id>=user,<dn_user>``.
    """
    candidates = []
    try:
        parts = parse_dn(section.dn_user, escape=False, strip=True)
    except LDAPInvalidDnError:
        parts = []
    domain = ".".join(text for kind, text, _ in parts if kind.lower() == "dc")
    if domain:
        candidates.append(("upn", f"{username}@{domain}"))
    upper = re.sub(r"(^|,)\s*(cn|dc)=", _upper_kind, section.dn_user, flags=re.I)
    candidates.append(("ad", f"CN={escape_rdn(username)},{upper}"))
    candidates.append(
        ("dn", f"{section.user_id}={escape_rdn(username)},{section.dn_user}")
    )
    return candidates


def _upper_kind(match: re.Match[str]) -> str:
    return f"{match.group(1)}{match.group(2).upper()}="


def resolve_groups(
    direct: Iterable[LdapGroup],
    parents: Callable[[LdapGroup], Iterable[LdapGroup]],
    *,
    nested: bool,
) -> list[LdapGroup]:
    """Return the direct groups and, if ``nested``, every group above them."""
    found = {member_key(group.dn): group for group in direct}
    pending = list(found.values()) if nested else []
    while pending:
        for parent in parents(pending.pop()):
            key = member_key(parent.dn)
            if key not in found:
                found[key] = parent
                pending.append(parent)
    return sorted(found.values(), key=lambda group: group.dn)


def _first(attributes: dict[str, list[bytes]], name: str) -> str:
    values = attributes.get(name.lower()) or []
    return values[0].decode("utf-8", errors="replace") if values else ""


def _lowered(raw: dict[str, Any]) -> dict[str, list[bytes]]:
    return {key.lower(): list(values) for key, values in raw.items()}


class LdapDirectory:
    """A service connection to the directory, opened on entering a ``with``."""

    def __init__(self, section: LdapSection) -> None:
        self.section = section
        self._connection: ldap3.Connection | None = None

    def __enter__(self) -> LdapDirectory:
        self._connection = self._open(
            self.section.bind_dn or None, self.section.bind_password or None
        )
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._connection is not None:
            try:
                self._connection.unbind()
            except LDAPException:
                logger.debug("ldap unbind failed host=%s", self.section.host)
            self._connection = None

    def _server(self) -> ldap3.Server:
        tls = ldap3.Tls(
            validate=ssl.CERT_REQUIRED,
            ca_certs_file=self.section.ca_file or None,
        )
        return ldap3.Server(
            self.section.host,
            connect_timeout=self.section.connect_timeout,
            tls=tls,
            get_info=ldap3.NONE,
        )

    def _open(self, user: str | None, password: str | None) -> ldap3.Connection:
        """Connect, start TLS if configured, and bind; raise if refused."""
        try:
            connection = ldap3.Connection(
                self._server(),
                user=user,
                password=password,
                auto_bind=ldap3.AUTO_BIND_NONE,
                receive_timeout=RESPONSE_TIMEOUT,
                raise_exceptions=True,
                read_only=True,
                auto_referrals=self.section.follow_referrals,
                return_empty_attributes=False,
            )
            connection.open()
            if self.section.starttls:
                connection.start_tls()
            connection.bind()
        except LDAPException as error:
            raise DirectoryUnavailable(
                f"{self.section.host}: {_one_line(error)}"
            ) from error
        return connection

    def check_password(self, username: str, password: str) -> str | None:
        """Return the form of the first bind that accepts the password, or None.

        Each form is tried on a fresh connection, as a failed bind leaves a
        connection in an unspecified state on some servers.
        """
        if not password:
            return None
        for form, bind_dn in bind_candidates(username, self.section):
            try:
                connection = self._open(bind_dn, password)
            except DirectoryUnavailable as error:
                if _is_refusal(error):
                    logger.debug("ldap bind refused form=%s dn=%s", form, bind_dn)
                    continue
                raise
            connection.unbind()
            logger.debug("ldap bind accepted form=%s dn=%s", form, bind_dn)
            return form
        return None

    def _search(self, base: str, search: str, attributes: list[str]) -> Iterator[Any]:
        if self._connection is None:
            raise RuntimeError("LdapDirectory used outside a with block")
        try:
            yield from self._connection.extend.standard.paged_search(
                base,
                search,
                ldap3.SUBTREE,
                attributes=attributes,
                paged_size=PAGE_SIZE,
                generator=True,
            )
        except LDAPException as error:
            raise DirectoryUnavailable(
                f"search under {base!r} failed: {_one_line(error)}"
            ) from error
        # ldap3 does not raise for a size or time limit: a truncated answer
        # would look like users leaving, so it counts as a failed search.
        result = self._connection.result or {}
        if result.get("result", 0) != 0:
            description = result.get("description", result.get("result"))
            raise DirectoryUnavailable(
                f"search under {base!r} incomplete: {description}"
            )

    def _user_attributes(self) -> list[str]:
        section = self.section
        names = [section.user_id, section.user_name, section.user_email]
        names += [section.user_active, section.user_superior]
        if section.group_member_value.lower() != "dn":
            names.append(section.group_member_value)
        return [name for name in dict.fromkeys(names) if name]

    def _to_user(self, entry: dict[str, Any]) -> LdapUser:
        section = self.section
        attributes = _lowered(entry["raw_attributes"])
        dn = str(entry["dn"])
        if section.group_member_value.lower() == "dn":
            member_value = dn
        else:
            member_value = _first(attributes, section.group_member_value)
        active_value = _first(attributes, section.user_active) or None
        return LdapUser(
            dn=dn,
            uid=_first(attributes, section.user_id),
            name=_first(attributes, section.user_name),
            email=_first(attributes, section.user_email),
            active=is_active(active_value, section),
            superior=_first(attributes, section.user_superior)
            if section.user_superior
            else "",
            member_value=member_value,
        )

    def find_user(self, uid: str) -> LdapUser | None:
        """Return the user whose ``user_id`` attribute is ``uid``, if any."""
        search = f"({self.section.user_id}={escape_filter_chars(uid)})"
        for entry in self._search(
            self.section.dn_user, search, self._user_attributes()
        ):
            if entry.get("type") == "searchResEntry":
                user = self._to_user(entry)
                if user.uid:
                    return user
        return None

    def all_users(self) -> list[LdapUser]:
        """Return every entry under ``dn_user`` that has a ``user_id``."""
        search = f"({self.section.user_id}=*)"
        users = []
        for entry in self._search(
            self.section.dn_user, search, self._user_attributes()
        ):
            if entry.get("type") == "searchResEntry":
                user = self._to_user(entry)
                if user.uid:
                    users.append(user)
        return users

    def _group_attributes(self) -> list[str]:
        section = self.section
        names = ["cn", section.group_id, section.group_num, section.group_member]
        return [name for name in dict.fromkeys(names) if name]

    def _to_group(self, entry: dict[str, Any]) -> LdapGroup:
        section = self.section
        attributes = _lowered(entry["raw_attributes"])
        guid_values = attributes.get(section.group_num.lower()) or []
        members = attributes.get(section.group_member.lower()) or []
        return LdapGroup(
            dn=str(entry["dn"]),
            cn=_first(attributes, "cn"),
            group_id=_first(attributes, section.group_id),
            guid=decode_guid(guid_values[0]) if guid_values else None,
            members=frozenset(
                member_key(value.decode("utf-8", errors="replace")) for value in members
            ),
        )

    def _groups(self, search: str) -> list[LdapGroup]:
        entries = self._search(self.section.dn_group, search, self._group_attributes())
        return [
            self._to_group(entry)
            for entry in entries
            if entry.get("type") == "searchResEntry"
        ]

    def groups_with_member(self, value: str) -> list[LdapGroup]:
        """Return the groups that list ``value`` as a direct member."""
        member = escape_filter_chars(value)
        return self._groups(f"({self.section.group_member}={member})")

    def groups_by_id(self, group_id: str) -> list[LdapGroup]:
        """Return the groups whose ``group_id`` attribute is ``group_id``."""
        value = escape_filter_chars(group_id)
        return self._groups(f"({self.section.group_id}={value})")

    def all_groups(self) -> list[LdapGroup]:
        """Return every entry under ``dn_group`` that has a ``cn``."""
        return [group for group in self._groups("(cn=*)") if group.cn]

    def user_groups(self, user: LdapUser) -> list[LdapGroup]:
        """Return the groups of a user, nested ones too if configured."""
        return resolve_groups(
            self.groups_with_member(user.member_value),
            lambda group: self.groups_with_member(group.dn),
            nested=self.section.indirect_group_memberships,
        )


def _one_line(error: LDAPException) -> str:
    """Describe an ldap3 error on one line, for messages and logs."""
    return " ".join(f"{type(error).__name__}: {error}".split())


def _is_refusal(error: DirectoryUnavailable) -> bool:
    """Say whether a failed bind was the server refusing these credentials."""
    cause = error.__cause__
    # 49 is invalidCredentials, 34 invalidDNSyntax (a UPN on a non-AD
    # server), 32 noSuchObject, 53 unwillingToPerform (e.g. locked).
    return getattr(cause, "result", None) in (32, 34, 49, 53)
