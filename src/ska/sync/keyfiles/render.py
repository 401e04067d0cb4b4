"""Render authorized_keys files from a loaded access graph, as text.

The text is the reference's, byte for byte, for data that hits none of
its quirks; where it had quirks (inactive nested groups and source
accounts granting access, groups reached twice emitting their keys twice)
we fix them, as ``docs/compatibility.md`` lists under "Keyfiles".
"""

from __future__ import annotations

import datetime
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from urllib.parse import quote_plus

from ska.access.options import (
    OptionError,
    history_environment,
    render_options,
    validate_option,
    with_history_environment,
)
from ska.directory.models import KEYS_SYNC_UID
from ska.servers.models import Server, ServerAccount
from ska.sync.keyfiles.graph import (
    GROUP,
    SERVER_ACCOUNT,
    USER,
    AccessGraph,
    AccountNode,
    KeyNode,
    Option,
    RuleNode,
    UserNode,
    collate,
)

logger = logging.getLogger(__name__)

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_KEY_TYPE = re.compile(r"[A-Za-z0-9@._+-]+")
_KEY_DATA = re.compile(r"[A-Za-z0-9+/]+={0,3}")


@dataclass(frozen=True)
class Keyfile:
    """One authorized_keys file to write on a target."""

    name: str
    text: str
    account_id: int | None
    check_exists: bool


@dataclass(frozen=True)
class Settings:
    """The configuration keys that shape keyfile text."""

    baseurl: str
    comment_mode: int
    history_default: bool
    history_format: str


def php_urlencode(text: str) -> str:
    """Encode like PHP's ``urlencode``: spaces become ``+``, ``~`` is escaped."""
    return quote_plus(text, safe="").replace("~", "%7E")


def one_line(text: str) -> str:
    """Replace control characters so a name can never start a new line."""
    return _CONTROL.sub(" ", text)


@cache
def _filter_pattern(pattern: str) -> re.Pattern[str]:
    """Compile a destination filter: ``*`` is the only wildcard."""
    body = ".*".join(re.escape(part) for part in pattern.split("*"))
    # The reference matches with PCRE's /i on bytes: ASCII letters only.
    return re.compile(body, re.IGNORECASE | re.ASCII | re.DOTALL)


def key_applies(key: KeyNode, account_name: str, hostname: str) -> bool:
    """Say whether a key goes to ``account_name`` on ``hostname``."""
    if not key.dest_rules:
        return True
    return any(
        _filter_pattern(account).fullmatch(account_name) is not None
        and _filter_pattern(host).fullmatch(hostname) is not None
        for account, host in key.dest_rules
    )


def _grant_date(value: datetime.datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(datetime.UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _safe_options(options: list[Option]) -> str | None:
    """Render stored options, or None when one is unsafe (fail closed).

    Options are validated when stored; data from elsewhere (an import) is
    checked again, and a rule with a bad option grants nothing, because
    dropping only the option could widen what the key may do.
    """
    try:
        checked = [(name, validate_option(name, value)) for name, value in options]
    except OptionError:
        return None
    return render_options(checked)


@dataclass
class RenderCache:
    """Text that is the same on every server, shared by a fleet's renderers."""

    key_lines: dict[int, str | None] = field(default_factory=dict)
    rules: dict[int, tuple[str, str | None]] = field(default_factory=dict)
    members: dict[int, list[int]] = field(default_factory=dict)
    inbound: dict[int, list[RuleNode]] = field(default_factory=dict)


class ServerRenderer:
    """Render the keyfiles of one server from the graph."""

    def __init__(
        self,
        graph: AccessGraph,
        server: Server,
        settings: Settings,
        cache: RenderCache | None = None,
    ) -> None:
        self.graph = graph
        self.server = server
        self.settings = settings
        self.comments = settings.comment_mode == 1
        self.history = self._history_enabled()
        self.cache = cache or RenderCache()

    def _history_enabled(self) -> bool:
        mode = self.server.history_username_env_mode
        if mode == Server.HistoryMode.ENABLED:
            return True
        if mode == Server.HistoryMode.DISABLED:
            return False
        return self.settings.history_default

    def _user_prefix(self, prefix: str, user: UserNode) -> str:
        if not self.history:
            return prefix
        format_text = (
            self.server.history_username_env_format or self.settings.history_format
        )
        return with_history_environment(
            prefix, history_environment(format_text, user.uid)
        )

    def render(self, only_account: str | None) -> list[Keyfile]:
        """Return the managed accounts' files, then the LDAP users' files."""
        files: dict[str, Keyfile] = {}
        account_ids = self.graph.accounts_by_server.get(self.server.pk, [])
        accounts = [self.graph.accounts[pk] for pk in account_ids]
        accounts.sort(key=lambda a: (collate(a.name), a.name))
        for account in accounts:
            if account.active and account.sync_status != ServerAccount.Status.PROPOSED:
                name = account.name.replace("/", "")
                files[name] = Keyfile(
                    name, self.account_file(account), account.id, False
                )
        if self.server.ldap_authorized:
            self._ldap_files(files, only_account)
        # Never replace the sync's own access, nor hidden files such as
        # .hostnames that share the key directory.
        return [
            keyfile
            for name, keyfile in files.items()
            if name and name != KEYS_SYNC_UID and not name.startswith(".")
        ]

    def account_file(self, account: AccountNode) -> str:
        """Return the text of a managed account's file."""
        parts = [
            f"## Auto generated keys file for account '{one_line(account.name)}'\n",
            f"## Do not edit this file! Modify at {self.settings.baseurl}/servers/"
            f"{php_urlencode(self.server.hostname)}/accounts/"
            f"{php_urlencode(account.name)}\n",
        ]
        for group_id in self._membership_groups(account.id):
            group_name = one_line(self.graph.groups[group_id].name)
            if self.comments:
                parts.append(
                    f"# === Start of rules applied due to membership in "
                    f"{group_name} group ===\n"
                )
            parts.extend(self._rules(group_id, account.name))
            if self.comments:
                parts.append(
                    f"# === End of rules applied due to membership in "
                    f"{group_name} group ===\n\n"
                )
        parts.extend(self._rules(account.id, account.name))
        return "".join(parts)

    def _membership_groups(self, account_id: int) -> list[int]:
        """List the active groups an account is in, depth first, each once.

        Direct groups by name, each followed by the groups it belongs to.
        An inactive group is skipped together with its own memberships.
        """
        graph = self.graph
        order: list[int] = []
        seen: set[int] = set()

        def visit(parents: list[int]) -> None:
            for group_id in sorted(parents, key=graph.sort_key):
                group = graph.groups[group_id]
                if group_id in seen or not group.active:
                    continue
                seen.add(group_id)
                order.append(group_id)
                visit(group.parents)

        visit(graph.account_parents.get(account_id, []))
        return order

    def _rules(self, dest_id: int, account_name: str) -> Iterator[str]:
        rules = self.cache.inbound.get(dest_id)
        if rules is None:
            rules = sorted(
                self.graph.inbound.get(dest_id, []),
                key=lambda rule: self.graph.sort_key(rule.source_id),
            )
            self.cache.inbound[dest_id] = rules
        for rule in rules:
            yield from self._rule(rule, account_name)

    def _rule_texts(self, rule: RuleNode) -> tuple[str, str | None]:
        """Return the grant details and the option prefix (None: unsafe)."""
        texts = self.cache.rules.get(rule.id)
        if texts is None:
            granter = one_line(rule.granter_uid or "unknown")
            date = _grant_date(rule.grant_date)
            prefix = _safe_options(rule.options)
            if prefix is None:
                logger.warning("unsafe access option skipped rule=%s", rule.id)
            texts = (f"granted access by {granter} on {date}", prefix)
            self.cache.rules[rule.id] = texts
        return texts

    def _rule(self, rule: RuleNode, account_name: str) -> Iterator[str]:
        details, prefix = self._rule_texts(rule)
        if prefix is None:
            if self.comments:
                yield f"# Rule {rule.id} skipped: invalid access option\n"
            return
        if rule.source_type == USER:
            yield from self._user_keys(rule.source_id, prefix, account_name, details)
        elif rule.source_type == SERVER_ACCOUNT:
            yield from self._account_keys(rule.source_id, prefix, account_name, details)
        else:
            yield from self._group_rule(rule.source_id, prefix, account_name, details)

    def _group_rule(
        self, group_id: int, prefix: str, account_name: str, details: str
    ) -> Iterator[str]:
        group = self.graph.groups[group_id]
        name = one_line(group.name)
        if self.comments:
            yield f"# {name} group {details}\n"
        if not group.active:
            if self.comments:
                yield "# Inactive group\n"
            return
        if self.comments:
            yield f"# == Start of {name} group members ==\n"
        yield from self._group_members(group_id, prefix, account_name, {group_id})
        if self.comments:
            yield f"# == End of {name} group members ==\n"

    def _sorted_members(self, group_id: int) -> list[int]:
        members = self.cache.members.get(group_id)
        if members is None:
            members = sorted(
                set(self.graph.groups[group_id].members), key=self.graph.sort_key
            )
            self.cache.members[group_id] = members
        return members

    def _group_members(
        self, group_id: int, prefix: str, account_name: str, seen: set[int]
    ) -> Iterator[str]:
        """Yield the members' keys; ``seen`` spans the whole rule, so a group
        reached by two paths is expanded once."""
        for member_id in self._sorted_members(group_id):
            kind = self.graph.entity_types.get(member_id)
            if kind == USER:
                yield from self._user_keys(member_id, prefix, account_name, None)
            elif kind == SERVER_ACCOUNT:
                yield from self._account_keys(member_id, prefix, account_name, None)
            elif kind == GROUP and member_id not in seen:
                seen.add(member_id)
                nested = self.graph.groups[member_id]
                name = one_line(nested.name)
                if self.comments:
                    yield f"# {name} group\n"
                if not nested.active:
                    if self.comments:
                        yield "# Inactive group\n"
                    continue
                if self.comments:
                    yield f"# == Start of {name} group members ==\n"
                yield from self._group_members(member_id, prefix, account_name, seen)
                if self.comments:
                    yield f"# == End of {name} group members ==\n"

    def _user_keys(
        self, user_id: int, prefix: str, account_name: str, details: str | None
    ) -> Iterator[str]:
        user = self.graph.users.get(user_id)
        if user is None:
            return
        if self.comments:
            suffix = f" {details}" if details else ""
            yield f"# {one_line(user.uid)}{suffix}\n"
        if not user.deployable:
            if self.comments:
                yield "# Account disabled\n"
            return
        yield from self._key_lines(
            user.keys, self._user_prefix(prefix, user), account_name, user.name
        )

    def _account_keys(
        self, account_id: int, prefix: str, account_name: str, details: str | None
    ) -> Iterator[str]:
        source = self.graph.accounts.get(account_id)
        if source is None:
            return
        if self.comments:
            suffix = f" {details}" if details else ""
            yield f"# {one_line(source.name)}@{one_line(source.hostname)}{suffix}\n"
        if source.key_management == Server.KeyManagement.DECOMMISSIONED:
            if self.comments:
                yield "# Decommissioned server\n"
            return
        if not source.active:
            if self.comments:
                yield "# Inactive account\n"
            return
        label = f"{source.name}@{source.hostname}"
        yield from self._key_lines(source.keys, prefix, account_name, label)

    def _key_lines(
        self, keys: list[KeyNode], prefix: str, account_name: str, label: str
    ) -> Iterator[str]:
        """Yield the lines of the keys that apply to the account."""
        for key in keys:
            if key_applies(key, account_name, self.server.hostname):
                line = self._key_line(key, label)
                if line is not None:
                    yield f"{prefix}{line}\n"

    def _key_line(self, key: KeyNode, owner_label: str) -> str | None:
        """Return ``type keydata[ comment]``, or None for malformed key text."""
        if key.id in self.cache.key_lines:
            return self.cache.key_lines[key.id]
        line = self._new_key_line(key, owner_label)
        self.cache.key_lines[key.id] = line
        return line

    def _new_key_line(self, key: KeyNode, owner_label: str) -> str | None:
        if not (_KEY_TYPE.fullmatch(key.type) and _KEY_DATA.fullmatch(key.keydata)):
            logger.warning("malformed public key skipped key=%s", key.id)
            return None
        line = f"{key.type} {key.keydata}"
        mode = self.settings.comment_mode
        if mode == 1:
            comment = one_line(owner_label)
            if key.creation_date is not None:
                comment += f", {key.creation_date.isoformat()}"
            return f"{line} {comment}"
        if mode == 2 and self.settings.baseurl:
            return (
                f"{line} {self.settings.baseurl}/pubkeys/{php_urlencode(str(key.id))}"
            )
        return line

    def _ldap_files(self, files: dict[str, Keyfile], only_account: str | None) -> None:
        """Add one file per user with an applicable key, named by uid."""
        check_exists = self.server.authorization == Server.Authorization.MANUAL_LDAP
        prefix = _safe_options(self.graph.ldap_options.get(self.server.pk, []))
        if prefix is None:
            logger.warning("unsafe ldap access option server=%s", self.server.hostname)
            return
        header_tail = f"## Do not edit this file! Modify at {self.settings.baseurl}\n"
        for user_id in self.graph.ldap_users:
            user = self.graph.users[user_id]
            name = user.uid.replace("/", "")
            if (only_account is not None and name != only_account) or name in files:
                continue
            if not any(key_applies(k, name, self.server.hostname) for k in user.keys):
                continue
            parts = [
                f"## Auto generated keys file for LDAP user '{one_line(user.uid)}'\n",
                header_tail,
            ]
            if user.deployable:
                user_prefix = self._user_prefix(prefix, user)
                parts.extend(self._key_lines(user.keys, user_prefix, name, user.name))
            elif self.comments:
                parts.append("# Account disabled\n")
            files[name] = Keyfile(name, "".join(parts), None, check_exists)
