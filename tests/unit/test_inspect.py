"""`edgekit inspect` on real converted models, on models that do not load, and on files that are not models."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from edgekit.cli import main
from edgekit.errors import ArtifactNotAccepted, ModelFileError
from edgekit.inspect import inspect_model, read_tflite
from tests.unit.inspect_models import as_edgetpu_compiled, keras_models

# The tiny CNN: conv1 3x3x1→4, conv2 3x3x4→8, fc 32→10 (kernels only: the converter drops the Dense layer's
# bias, which is all zeros in an untrained model).
KERNEL_VALUES = 3 * 3 * 1 * 4 + 3 * 3 * 4 * 8 + 32 * 10
CONV_BIAS_VALUES = 4 + 8
RESHAPE_SHAPE_BYTES = 2 * 4  # the Flatten's target shape, an int32 pair


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    return keras_models(tmp_path_factory.getbasetemp() / "inspect-models")


@pytest.fixture(scope="session")
def compiled(models, tmp_path_factory):
    return as_edgetpu_compiled(models["cnn-int8"], models["cnn-int8"].with_name("cnn_edgetpu.tflite"))


def test_int8_model_inputs_outputs_and_quantization(models):
    record = inspect_model(models["cnn-int8"])
    (source,), (result,) = record["inputs"], record["outputs"]
    assert (source["dtype"], source["shape"], source["shape_signature"]) == ("int8", [1, 8, 8, 1], [-1, 8, 8, 1])
    # Calibrated on uniform [0, 1) data: scale ≈ 1/255, the int8 range starting at -128.
    assert source["quantization"]["scale"][0] == pytest.approx(1 / 255, rel=1e-3)
    assert source["quantization"]["zero_point"] == [-128]
    # A softmax output is always quantized to [0, 1) with scale 1/256 and zero point -128.
    assert result["quantization"] == {"scale": [1 / 256], "zero_point": [-128], "quantized_dimension": 0}
    assert record["fully_integer"] is True and record["float_tensor_count"] == 0


def test_ops_tensors_and_weights_by_dtype(models):
    integer = inspect_model(models["cnn-int8"])
    assert integer["operators"]["by_type"] == {"CONV_2D": 2, "FULLY_CONNECTED": 1, "MAX_POOL_2D": 1, "RESHAPE": 1,
                                               "SOFTMAX": 1}
    assert integer["operators"]["total"] == 6
    assert integer["tensors"]["by_dtype"] == {"int8": {"count": 10, "weights": 3, "activations": 7},
                                              "int32": {"count": 3, "weights": 3, "activations": 0}}
    assert integer["weights"]["by_dtype"] == {"int8": KERNEL_VALUES,
                                              "int32": 4 * CONV_BIAS_VALUES + RESHAPE_SHAPE_BYTES}
    floating = inspect_model(models["cnn-float32"])
    assert floating["weights"]["by_dtype"] == {"float32": 4 * (KERNEL_VALUES + CONV_BIAS_VALUES),
                                               "int32": RESHAPE_SHAPE_BYTES}
    assert floating["fully_integer"] is False and floating["float_tensor_count"] == 12
    assert floating["inputs"][0]["quantization"] is None


def test_largest_tensors_come_first_with_their_kind(models):
    largest = inspect_model(models["cnn-int8"])["largest_tensors"]
    assert [(t["shape"], t["bytes"], t["kind"]) for t in largest[:3]] == [
        ([10, 32], 320, "weight"), ([8, 3, 3, 4], 288, "weight"), ([1, 8, 8, 4], 256, "activation")]
    assert len(largest) == 10


def test_per_channel_weight_quantization_is_read(models):
    model = read_tflite(models["cnn-int8"])
    kernel = next(t for t in model.main.tensors if t.shape == (8, 3, 3, 4))
    assert kernel.quantization.per_channel and len(kernel.quantization.scales) == 8
    assert kernel.quantization.zero_points == (0,) * 8  # int8 weights are symmetric
    assert model.metadata["min_runtime_version"].count(".") == 2


def test_a_model_that_does_not_load_still_inspects(compiled):
    from ai_edge_litert.interpreter import Interpreter

    with pytest.raises(RuntimeError, match="edgetpu-custom-op"):
        Interpreter(model_path=str(compiled)).allocate_tensors()
    record = inspect_model(compiled, edgetpu=True)
    assert record["operators"]["custom"] == ["edgetpu-custom-op"]
    assert record["operators"]["by_type"]["edgetpu-custom-op"] == 2
    mapping = record["edgetpu"]
    assert (mapping["compiled"], mapping["ops_on_edgetpu"], mapping["ops_on_cpu"]) == (True, 2, 4)


def test_edgetpu_runs_the_whole_int8_cnn(models):
    mapping = inspect_model(models["cnn-int8"], edgetpu=True)["edgetpu"]
    assert (mapping["ops_on_edgetpu"], mapping["ops_on_cpu"]) == (6, 0)
    assert mapping["segment"] == {"start": 0, "end": 6, "ended_by": None}
    assert any("dynamic batch size" in note for note in mapping["notes"])


def test_edgetpu_runs_nothing_of_a_float_model(models):
    mapping = inspect_model(models["cnn-float32"], edgetpu=True)["edgetpu"]
    assert (mapping["ops_on_edgetpu"], mapping["ops_on_cpu"], mapping["segment"]) == (0, 6, None)
    assert "is float32; the Edge TPU computes only on int8/uint8 tensors" in mapping["operators"][0]["reasons"][0]


def test_the_first_unsupported_op_ends_the_edgetpu_segment(models):
    mapping = inspect_model(models["leaky-int8"], edgetpu=True)["edgetpu"]
    assert [op["op"] for op in mapping["operators"]] == ["CONV_2D", "LEAKY_RELU", "CONV_2D", "RESHAPE",
                                                         "FULLY_CONNECTED"]
    assert (mapping["ops_on_edgetpu"], mapping["ops_on_cpu"]) == (1, 4)
    assert mapping["segment"]["ended_by"] == {
        "index": 1, "op": "LEAKY_RELU", "reasons": ["LEAKY_RELU is not in Coral's list of Edge TPU operations"]}
    second_conv = mapping["operators"][2]
    assert second_conv["supported"] is True and second_conv["placement"] == "cpu"
    assert "after the end of the Edge TPU segment (op 1, LEAKY_RELU)" in second_conv["reasons"][0]


# ---- files that are not models


def test_missing_folder_and_empty_files_are_refused(tmp_path):
    with pytest.raises(ModelFileError, match="no such file"):
        inspect_model(tmp_path / "absent.tflite")
    with pytest.raises(ModelFileError, match="is a folder; inspect reads one .tflite or .onnx file"):
        inspect_model(tmp_path)
    (tmp_path / "empty.tflite").write_bytes(b"")
    with pytest.raises(ModelFileError, match="is 0 bytes long: too short to be a model"):
        inspect_model(tmp_path / "empty.tflite")


def test_other_formats_are_named(tmp_path):
    keras_file = tmp_path / "model.keras"
    keras_file.write_bytes(b"PK\x03\x04" + bytes(60))
    with pytest.raises(ModelFileError, match=r"is a zip archive \(a Keras .keras model\?\)"):
        inspect_model(keras_file)
    text = tmp_path / "model.tflite"
    text.write_text("this is not a model at all\n")
    with pytest.raises(ModelFileError, match="is not a TFLite model: no 'TFL3' file identifier at byte 4"):
        inspect_model(text)
    noise = tmp_path / "noise.bin"
    noise.write_bytes(np.random.default_rng(0).integers(0, 256, 512, dtype=np.uint8).tobytes())
    with pytest.raises(ModelFileError, match="is neither a TFLite model .* nor an ONNX model"):
        inspect_model(noise)


def test_a_truncated_model_names_the_problem(models, tmp_path):
    data = models["cnn-int8"].read_bytes()
    truncated = tmp_path / "half.tflite"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match=rf"half.tflite is truncated or corrupt: .* {len(data) // 2} bytes"):
        inspect_model(truncated)


def test_a_corrupt_count_is_refused_before_any_loop(models, tmp_path):
    from ai_edge_litert import schema_py_generated as schema

    data = bytearray(models["cnn-int8"].read_bytes())
    graph = schema.Model.GetRootAs(bytes(data), 0).Subgraphs(0)
    count_at = graph._tab.Vector(graph._tab.Offset(4)) - 4  # the tensors vector's length field
    data[count_at:count_at + 4] = (2 ** 30).to_bytes(4, "little")
    corrupt = tmp_path / "corrupt.tflite"
    corrupt.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match=f"claim {2 ** 30} tensors, more than a {len(data)}-byte file can hold"):
        inspect_model(corrupt)


def test_edgetpu_mapping_of_an_onnx_model_is_refused(tmp_path):
    from tests.unit.test_inspect_onnx import small_onnx_model

    with pytest.raises(ArtifactNotAccepted, match="is an ONNX model; the Edge TPU runs only TFLite models"):
        inspect_model(small_onnx_model(tmp_path / "m.onnx"), edgetpu=True)


# ---- the command


def test_cli_json_and_tables(models):
    runner = CliRunner()
    result = runner.invoke(main, ["inspect", str(models["cnn-int8"]), "--json", "--edgetpu"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["operators"]["total"] == 6 and record["edgetpu"]["ops_on_edgetpu"] == 6
    result = runner.invoke(main, ["inspect", str(models["leaky-int8"]), "--edgetpu"])
    assert result.exit_code == 0, result.output
    assert "LEAKY_RELU" in result.stdout and "fully integer: yes" in result.stdout
    assert "Edge TPU: 1 of 5 ops, CPU: 4; the Edge TPU segment ops 0..0 ends at op 1 LEAKY_RELU" in result.stdout


def test_cli_bad_file_exits_2_with_one_message(tmp_path):
    noise = tmp_path / "noise.tflite"
    noise.write_bytes(b"\x00" * 40)
    result = CliRunner().invoke(main, ["inspect", str(noise)])
    assert result.exit_code == 2
    assert result.output.startswith("error: ") and "is not a TFLite model" in result.output
    assert "Traceback" not in result.output


def test_inspect_does_not_import_tensorflow(models):
    probe = ("import sys, json\n"
             "from click.testing import CliRunner\n"
             "from edgekit.cli import main\n"
             f"result = CliRunner().invoke(main, ['inspect', {str(models['cnn-int8'])!r}, '--json', '--edgetpu'])\n"
             "heavy = [m for m in ('tensorflow', 'tf_keras', 'keras') if m in sys.modules]\n"
             "print(result.exit_code, json.loads(result.stdout)['edgetpu']['ops_on_edgetpu'], heavy)\n")
    output = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert output.split("\n")[0] == "0 6 []"
