"""Who may log in where: the authorized_keys file of every account.

``render_server`` and ``render_fleet`` read the access data of their
servers in a fixed number of queries (see ``graph``) and render the text
in Python (see ``render``).
"""

from __future__ import annotations

from collections.abc import Sequence

from django.conf import settings

from ska.servers.models import Server
from ska.sync.keyfiles.graph import load_graph
from ska.sync.keyfiles.render import Keyfile, RenderCache, ServerRenderer, Settings

__all__ = ["Keyfile", "render_fleet", "render_server"]


def _settings() -> Settings:
    config = settings.SKA
    return Settings(
        baseurl=config.web.baseurl,
        comment_mode=config.privacy.comment_key_files,
        history_default=config.privacy.history_username_env_default,
        history_format=config.privacy.history_username_env_format,
    )


def render_fleet(
    servers: Sequence[Server], *, only_account: str | None = None
) -> dict[int, list[Keyfile]]:
    """Render the keyfiles of several servers, keyed by server id.

    Servers whose keys are not managed (``none``, ``other``,
    ``decommissioned``) get an empty list: nothing is to be deployed there.
    """
    managed = [s for s in servers if s.key_management == Server.KeyManagement.KEYS]
    graph = load_graph(managed)
    options = _settings()
    result: dict[int, list[Keyfile]] = {server.pk: [] for server in servers}
    cache = RenderCache()
    for server in managed:
        renderer = ServerRenderer(graph, server, options, cache)
        result[server.pk] = renderer.render(only_account)
    return result


def render_server(server: Server, *, only_account: str | None = None) -> list[Keyfile]:
    """Render every keyfile of one server.

    Managed accounts come first, all of them even with ``only_account``,
    sorted by name; then the LDAP users' files (only ``only_account``'s
    when given) sorted by uid. No file is ever named ``keys-sync``.
    """
    return render_fleet([server], only_account=only_account)[server.pk]
