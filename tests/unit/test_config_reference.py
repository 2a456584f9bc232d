"""docs/configuration.md and docs/targets.md are generated from the code and cannot drift from it."""

import re

import pytest

from edgekit.config import STARTER_CONFIG
from edgekit.config.reference import DOCS, GENERATED, KEY_HELP, schema_keys


def test_every_key_of_the_schema_has_a_meaning_and_every_meaning_a_key():
    keys = schema_keys()
    assert [key for key in keys if not KEY_HELP.get(key)] == []
    assert [key for key in KEY_HELP if key not in keys] == []


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_committed_reference_is_what_the_code_writes(name):
    committed = (DOCS / name).read_text()
    assert committed == GENERATED[name](), (
        f"docs/{name} is out of date: run `python -m edgekit.config.reference` and commit it")


def test_the_starter_file_shows_every_key():
    shown = set(re.findall(r"^\s*#?\s*([a-z_0-9]+):", STARTER_CONFIG, flags=re.M))
    missing = [key for key in schema_keys() if key.rsplit(".", 1)[-1] not in shown]
    assert missing == []
