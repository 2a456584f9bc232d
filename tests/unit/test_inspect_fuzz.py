"""Property-based: truncated, corrupted and random files give a ModelFileError (exit 2), never a crash or a hang."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgekit.cli import main
from edgekit.errors import ModelFileError
from edgekit.inspect import inspect_model
from tests.unit.inspect_models import KERAS_MODELS, keras_models

# EDGEKIT_FUZZ_EXAMPLES=5000 for a longer search than the default run makes.
FUZZ = settings(max_examples=int(os.environ.get("EDGEKIT_FUZZ_EXAMPLES", "150")), deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="session")
def model_bytes(tmp_path_factory):
    paths = keras_models(tmp_path_factory.getbasetemp() / "inspect-models")
    return {name: path.read_bytes() for name, path in paths.items()}


@pytest.fixture(scope="session")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz") / "candidate.tflite"


@FUZZ
@given(name=st.sampled_from(KERAS_MODELS), fraction=st.floats(0, 1, exclude_max=True))
def test_every_truncation_is_refused(model_bytes, scratch, name, fraction):
    data = model_bytes[name]
    scratch.write_bytes(data[: int(len(data) * fraction)])
    refused = r"candidate.tflite (is truncated or corrupt|is \d+ bytes long|is not a TFLite)"
    with pytest.raises(ModelFileError, match=refused):
        inspect_model(scratch, edgetpu=True)


@FUZZ
@given(data=st.binary(max_size=2048))
def test_random_bytes_are_refused(scratch, data):
    scratch.write_bytes(data)
    with pytest.raises(ModelFileError):
        inspect_model(scratch, edgetpu=True)


@FUZZ
@given(tail=st.binary(min_size=0, max_size=2048), root=st.integers(0, 2 ** 32 - 1))
def test_random_bytes_behind_the_tflite_identifier_are_refused(scratch, tail, root):
    scratch.write_bytes(root.to_bytes(4, "little") + b"TFL3" + tail)
    _refused_or_whole(scratch)


@FUZZ
@given(name=st.sampled_from(KERAS_MODELS),
       changes=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), min_size=1, max_size=8))
def test_corrupted_models_read_or_are_refused(model_bytes, scratch, name, changes):
    data = bytearray(model_bytes[name])
    for where, value in changes:
        data[int(where * len(data))] = value
    scratch.write_bytes(bytes(data))
    _refused_or_whole(scratch)


def _refused_or_whole(path) -> None:
    """A ModelFileError, or (bytes that happen to form a model) a complete record: every op placed."""
    try:
        record = inspect_model(path, edgetpu=True)
    except ModelFileError:
        return
    mapping = record["edgetpu"]
    assert record["operators"]["total"] >= len(mapping["operators"])
    assert mapping["ops_on_edgetpu"] + mapping["ops_on_cpu"] == record["operators"]["total"]


def test_cli_on_a_truncated_model_exits_2(model_bytes, tmp_path):
    path = tmp_path / "cut.tflite"
    path.write_bytes(model_bytes["cnn-int8"][:1000])
    result = CliRunner().invoke(main, ["inspect", str(path), "--edgetpu"])
    assert result.exit_code == 2 and "cut.tflite is truncated or corrupt" in result.output
