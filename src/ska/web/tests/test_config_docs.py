"""The configuration reference and the example file follow the code."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from ska import config as ska_config

ROOT = Path(__file__).resolve().parents[4]
REFERENCE = ROOT / "docs" / "configuration.md"
EXAMPLE = ROOT / "deploy" / "ska.example.toml"
TYPE_WORDS = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "list",
    dict: "table",
}
KEYS = [(section, key.name) for section, key in ska_config.iter_keys()]


def _reference_rows(section: str) -> dict[str, list[str]]:
    """Return the key table of ``### [section]`` as key -> cells."""
    text = REFERENCE.read_text(encoding="utf-8")
    match = re.search(rf"^### \[{section}\]\n(.*?)(?=^#{{2,3}} |\Z)", text, re.M | re.S)
    assert match, f"docs/configuration.md has no ### [{section}] heading"
    rows = {}
    for line in match.group(1).splitlines():
        if cell := re.match(r"\| `([a-z0-9_]+)` \|", line):
            rows[cell.group(1)] = [
                part.strip() for part in line.strip("|").split(" | ")
            ]
    return rows


def _example_keys() -> dict[str, set[str]]:
    """Return the keys of the example, commented out or not, by section."""
    found: dict[str, set[str]] = {}
    section = ""
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        if header := re.fullmatch(r"#? ?\[([a-z]+)\]", line):
            section = header.group(1)
        elif key := re.match(r"#? ?([a-z0-9_]+) = ", line):
            found.setdefault(section, set()).add(key.group(1))
    return found


@pytest.mark.parametrize(("section", "key"), KEYS)
def test_reference_documents_every_key_with_its_facts(section: str, key: str) -> None:
    rows = _reference_rows(section)
    assert key in rows, f"[{section}] {key} is missing from docs/configuration.md"
    _, kind, default, variable, meaning = rows[key]
    field = ska_config._field(section, key)
    value = getattr(getattr(ska_config.Config(), section), key)
    assert kind.startswith(TYPE_WORDS[ska_config.key_type(section, key)])
    assert ("secret" in kind) == field.metadata["secret"]
    assert default == f"`{ska_config._toml_value(value)}`"
    assert variable == f"`{ska_config.env_variable(section, key)}`"
    assert meaning


def test_reference_documents_no_key_that_does_not_exist() -> None:
    documented = {
        (section, key)
        for section in ska_config.SECTIONS
        for key in _reference_rows(section)
    }
    assert documented == set(KEYS)


def test_example_loads_and_shows_every_key() -> None:
    ska_config.build(tomllib.loads(EXAMPLE.read_text(encoding="utf-8")))
    shown = _example_keys()
    for section, key in KEYS:
        assert key in shown.get(section, set()), f"[{section}] {key} not in example"
    assert set(shown) == set(ska_config.SECTIONS)
