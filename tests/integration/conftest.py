"""Fixtures shared by the integration tests."""

import pytest

from tests.integration.helpers import TINY_DIGITS, build, write_config


@pytest.fixture(scope="session")
def digits_build(tmp_path_factory):
    """One real build of the digits example with few epochs, shared by the tests that read its results."""
    config = write_config(tmp_path_factory.mktemp("digits"), TINY_DIGITS)
    result, manifest = build(config)
    assert result.exit_code == 0, result.output
    return config, result, manifest
