"""Coral: which artifacts the Edge TPU takes, the compiler log, compiling with a STAND-IN edgetpu_compiler
(tests/standins/edgetpu_compiler: the real one cannot be installed here). Also what the adb adapter says
when benchmark_model is missing. None of these reach a device."""

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgekit.adapters import ConnectionOptions, open_adapter
from edgekit.adapters.acceptance import model_kind, refusal
from edgekit.cli import main
from edgekit.config.target import load_target
from edgekit.errors import ToolError
from edgekit.export.edgetpu import compile_for_edgetpu, parse_compiler_log, parse_size
from edgekit.profiling.benchmark_timer import BenchmarkModelTimer

TESTS = Path(__file__).resolve().parent.parent
MODELS = TESTS / "data" / "models"
STANDINS = TESTS / "standins"

# What edgetpu_compiler printed in a user's report (google-coral/edgetpu issue 324), shortened.
DOCUMENTED_SUMMARY = """Edge TPU Compiler version 15.0.340273435

Model compiled successfully in 273 ms.

Input model: model.tflite
Input size: 1.40MiB
Output model: model_edgetpu.tflite
Output size: 1.84MiB
On-chip memory used for caching model parameters: 1.30MiB
On-chip memory remaining for caching model parameters: 6.89MiB
Off-chip memory used for streaming uncached model parameters: 0.00B
Number of Edge TPU subgraphs: 3
Total number of operations: 25
Operation log: model_edgetpu.log

Model successfully compiled but not all operations are supported by the Edge TPU.
Number of operations that will run on Edge TPU: 23
Number of operations that will run on CPU: 2

Operator                       Count      Status

RESHAPE                        2          Mapped to Edge TPU
FULLY_CONNECTED                1          More than one subgraph is not supported
FULLY_CONNECTED                1          Mapped to Edge TPU
"""


@pytest.mark.parametrize("name, quantization, io", [
    ("mlp-float32", "float32", ("float32",)), ("mlp-float16", "float16", ("float32",)),
    ("mlp-dynamic", "dynamic", ("float32",)), ("mlp-int8", "int8", ("int8",)),
])
def test_model_kind_from_the_flatbuffer(name, quantization, io):
    kind = model_kind(MODELS / f"{name}.tflite")
    assert kind.quantization == quantization and kind.input_dtypes == io and not kind.edgetpu_compiled


@pytest.mark.parametrize("name", ["mlp-float32", "mlp-float16", "mlp-dynamic"])
def test_coral_refuses_float_models_with_the_reason(name):
    reason = refusal(load_target("coral-usb"), MODELS / f"{name}.tflite")
    assert reason.startswith(f"{name}.tflite is ") and "target coral-usb runs only int8 models" in reason
    assert "the Edge TPU executes only 8-bit integer tensors" in reason


def test_coral_takes_the_compiled_int8_model(tmp_path):
    # Named as edgetpu_compiler names its output (FORMATS[edgetpu].suffix); the real one also has the custom op.
    compiled = tmp_path / "mlp-int8_edgetpu.tflite"
    shutil.copy(MODELS / "mlp-int8.tflite", compiled)
    assert model_kind(compiled).format == "edgetpu"
    assert refusal(load_target("coral-usb"), compiled) is None


def test_cli_refuses_a_float_model_for_coral_before_connecting():
    # The address could not be reached (port 1 on this machine): the refusal must come first.
    result = CliRunner().invoke(main, ["profile", str(MODELS / "mlp-float32.tflite"), "--target", "coral-usb",
                                       "--device", "nobody@127.0.0.1:1"])
    assert result.exit_code == 2, result.output
    assert "mlp-float32.tflite is float32: target coral-usb runs only int8 models" in result.output
    assert "nothing was sent to the device" in result.output


def test_documented_compiler_summary():
    report = parse_compiler_log(DOCUMENTED_SUMMARY)
    assert report.compiler_version == "15.0.340273435"
    assert report.on_chip_memory_used_bytes == parse_size("1.30MiB") == round(1.30 * 1024 ** 2)
    assert report.on_chip_memory_remaining_bytes == round(6.89 * 1024 ** 2)
    assert report.off_chip_memory_used_bytes == 0
    assert (report.subgraphs, report.total_operations) == (3, 25)
    assert (report.operations_on_edgetpu, report.operations_on_cpu) == (23, 2)
    assert {"operator": "FULLY_CONNECTED", "count": 1, "status": "More than one subgraph is not supported",
            "on_edgetpu": False} in report.operators


def test_operation_log_alone_gives_the_split():
    log = ("Edge TPU Compiler version 14.1.317412892\nInput: tiny_yolo.tflite\nOutput: tiny_yolo_edgetpu.tflite\n\n"
           "Operator                       Count      Status\n\n"
           "MAX_POOL_2D                    6          Mapped to Edge TPU\n"
           "RESIZE_NEAREST_NEIGHBOR        1          Operation version not supported\n"
           "CONV_2D                        11         Mapped to Edge TPU\n")
    report = parse_compiler_log(log)
    assert report.input_model == "tiny_yolo.tflite" and report.output_model == "tiny_yolo_edgetpu.tflite"
    assert (report.operations_on_edgetpu, report.operations_on_cpu) == (17, 1)


@pytest.fixture
def standin_compiler(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shutil.copy(STANDINS / "edgetpu_compiler", bin_dir / "edgetpu_compiler")
    monkeypatch.setenv("PATH", f"{bin_dir}:{__import__('os').environ['PATH']}")
    return bin_dir


def test_compile_keeps_the_model_and_the_log_with_a_standin_compiler(standin_compiler, tmp_path):
    compilation = compile_for_edgetpu(MODELS / "mlp-int8.tflite", tmp_path / "out")
    assert compilation.model == tmp_path / "out" / "mlp-int8_edgetpu.tflite" and compilation.model.is_file()
    assert compilation.log.name == "mlp-int8_edgetpu.log" and "Mapped to Edge TPU" in compilation.log.read_text()
    assert (compilation.report.operations_on_edgetpu, compilation.report.operations_on_cpu) == (3, 1)


def test_a_failing_compiler_is_reported(standin_compiler, tmp_path):
    broken = tmp_path / "broken.tflite"
    shutil.copy(MODELS / "mlp-int8.tflite", broken)
    with pytest.raises(ToolError, match="edgetpu_compiler could not compile broken.tflite: .*Internal compiler error"):
        compile_for_edgetpu(broken, tmp_path / "out")


def test_an_uncompiled_model_is_refused_before_connecting_with_how_to_compile():
    # Compilation happens at export now (an edgetpu artifact); profile takes only compiled models for Coral.
    result = CliRunner().invoke(main, ["profile", str(MODELS / "mlp-int8.tflite"), "--target", "coral-usb",
                                       "--device", "nobody@127.0.0.1:1"])
    assert result.exit_code == 2, result.output
    assert ("mlp-int8.tflite is int8: target coral-usb runs edgetpu models, not tflite; `edgekit build --target "
            "coral-usb` makes the edgetpu model from it at export with edgetpu_compiler") in " ".join(result.output.split())


def test_the_coral_adapter_profiles_only_compiled_models(tmp_path):
    # A user's target file may still list tflite for a Coral board: the adapter itself refuses the uncompiled model.
    from edgekit.config.formats import Format
    from edgekit.errors import ArtifactNotAccepted
    from edgekit.profiling.profile import ProfileSettings

    target = load_target("coral-usb").model_copy(update={"accepts": load_target("coral-usb").accepts.model_copy(
        update={"formats": [Format.TFLITE, Format.EDGETPU]})})
    adapter = open_adapter(target, ConnectionOptions(address="mendel@coral"))
    with pytest.raises(ArtifactNotAccepted, match=r"mlp-int8.tflite is not compiled for the Edge TPU: `edgekit build "
                                                  r"--target <coral target>` compiles .* `edgekit inspect --edgetpu` "
                                                  r"estimates \d+ ops on the Edge TPU and \d+ on the CPU; nothing was "
                                                  r"sent to the device"):
        adapter.profile([MODELS / "mlp-int8.tflite"], ProfileSettings())


def test_adb_without_benchmark_model_says_where_to_get_it():
    adapter = open_adapter(load_target("android-arm64"), ConnectionOptions(address="emulator-5554"))
    assert isinstance(adapter.timer, BenchmarkModelTimer)  # the target file's `runtime: benchmark_model`
    with pytest.raises(ToolError, match="times models with TFLite's benchmark_model binary, and none is configured: "
                                        "download it from https://storage.googleapis.com/.*android_aarch64_benchmark_"
                                        "model, then pass --benchmark-binary PATH"):
        adapter.timer.local_binary()


def test_deploy_of_a_missing_file_is_bad_input():
    result = CliRunner().invoke(main, ["deploy", "no-such.tflite", "--target", "rpi4", "--device", "pi@127.0.0.1:1"])
    assert result.exit_code == 2 and "no-such.tflite: no such file" in result.output
