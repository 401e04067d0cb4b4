"""``ska init``: prepare the data directory for a first start."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from ska.directory.services import ensure_initial_admin, get_keys_sync_user
from ska.sync.keypair import ensure_key_pair

TARGET_STEPS = """\
On every server to manage, as root:
  useradd --system --home-dir /var/local/keys-sync --shell /bin/sh keys-sync
  install -d -m 0711 -o keys-sync /var/local/keys-sync
  install -m 0644 -o keys-sync /dev/stdin /var/local/keys-sync/keys-sync <<< '{key}'
  install -m 0644 -o keys-sync /dev/null /var/local/keys-sync.status
and in /etc/ssh/sshd_config:
  AuthorizedKeysFile /var/local/keys-sync/%u
  StrictModes no
"""


class Command(BaseCommand):
    """Create the database, the sync key pair and a first admin."""

    help = "Prepare the database, the sync key pair and a first admin account."

    def handle(self, *args: Any, **options: Any) -> None:
        """Run every step; each one does nothing when already done."""
        call_command("migrate", verbosity=0, interactive=False)
        call_command("createcachetable", verbosity=0)
        get_keys_sync_user()
        config = settings.SKA
        if ensure_key_pair(config.private_key_path, config.public_key_path):
            key = config.public_key_path.read_text().strip()
            self.stdout.write(f"Generated the sync key pair {config.private_key_path}")
            self.stdout.write(TARGET_STEPS.format(key=key))
        if not config.ldap_enabled and (created := ensure_initial_admin()):
            admin, password = created
            self.stdout.write(
                f"Created the admin account {admin.uid!r} with password: {password}\n"
                "It is shown only this once; change it with `ska user passwd admin`."
            )
