"""Fixtures of the sync tests: the sync key pair, real sshd targets, config."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings as django_settings
from pytest_django.fixtures import Settings

from ska.config import Config
from ska.sync.keypair import ensure_key_pair
from tests.support.sshd import SshdFleet, Target

Configure = Callable[..., Config]


@pytest.fixture(scope="session")
def sync_public_key() -> str:
    """Return the sync public key, generating the pair on first use."""
    config: Config = django_settings.SKA
    ensure_key_pair(config.private_key_path, config.public_key_path)
    return config.public_key_path.read_text()


@pytest.fixture(scope="session")
def sshd_fleet(sync_public_key: str) -> Iterator[SshdFleet]:
    """Start sshd targets on demand; stop all of them after the session."""
    fleet = SshdFleet(sync_public_key)
    yield fleet
    fleet.stop()


@pytest.fixture
def target(sshd_fleet: SshdFleet) -> Iterator[Target]:
    """Return a fresh sshd target, stopped after the test."""
    started = sshd_fleet.add()
    yield started
    started.stop()


@pytest.fixture
def configure(settings: Settings) -> Configure:
    """Return a function replacing configuration keys for one test.

    ``configure(sync={"connect_timeout": 1})`` changes those keys only;
    the previous configuration comes back after the test.
    """

    def apply(**sections: dict[str, Any]) -> Config:
        config: Config = settings.SKA
        for name, values in sections.items():
            section = dataclasses.replace(getattr(config, name), **values)
            config = dataclasses.replace(config, **{name: section})
        settings.SKA = config
        return config

    return apply
