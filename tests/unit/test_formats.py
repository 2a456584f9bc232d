"""The format table (edgekit/config/formats.py): every row complete, its functions importable, unknown formats
refused by name, and what export, evaluation, target acceptance and profiling take from it. The Edge TPU rows
use the STAND-IN edgetpu_compiler of tests/standins (the real one cannot be installed here)."""

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from edgekit.config.formats import (FORMATS, Format, FormatSpec, Profiler, Quantization, derived_from, format_spec,
                                    load_function)
from edgekit.config.schema import ExportConfig
from edgekit.config.target import Accepts, Target, load_target
from edgekit.errors import ConfigError, ToolError
from edgekit.export.exporter import Exporter, derived_formats
from edgekit.pipeline.evaluate import artifact_runners

TESTS = Path(__file__).resolve().parent.parent
MODELS = TESTS / "data" / "models"
STANDINS = TESTS / "standins"


@pytest.mark.parametrize("fmt", list(Format))
def test_every_format_has_every_field(fmt):
    spec = FORMATS[fmt]
    assert isinstance(spec, FormatSpec) and spec.name is fmt
    assert spec.suffix.endswith((".tflite", ".onnx")) and spec.quantizations
    assert all(isinstance(q, Quantization) for q in spec.quantizations)
    assert callable(load_function(spec.converter, spec.install_hint))
    # Either a runner on this machine, or scored as its parent with the reason why.
    if spec.evaluator is None:
        assert spec.parent is not None and spec.evaluated_as_parent
    else:
        assert callable(load_function(spec.evaluator, spec.install_hint)) and spec.evaluated_as_parent is None
    assert spec.acceptance and isinstance(spec.profiler, Profiler) and spec.install_hint
    assert FORMATS[fmt.value] is spec  # rows by name: the enum or its value


def test_the_table_is_read_only():
    with pytest.raises(TypeError):
        FORMATS[Format.TFLITE] = FORMATS[Format.ONNX]  # type: ignore[index]


def test_an_unknown_format_is_a_clear_error():
    with pytest.raises(ConfigError, match=r"unknown format 'tflte' \(did you mean 'tflite'\?\); known formats: "
                                          r"tflite, onnx, edgetpu"):
        format_spec("tflte")


def test_a_missing_module_names_what_to_install():
    with pytest.raises(ToolError, match=r"no_such_package.convert:run cannot be imported .*: pip install it"):
        load_function("no_such_package.convert:run", "pip install it")
    with pytest.raises(ToolError, match="edgekit.export.tflite has no missing_function"):
        load_function("edgekit.export.tflite:missing_function", "")


def test_edgetpu_is_made_from_tflite_int8():
    assert [spec.name for spec in derived_from(Format.TFLITE, Quantization.INT8)] == [Format.EDGETPU]
    assert derived_from(Format.ONNX, Quantization.INT8) == []
    assert FORMATS[Format.EDGETPU].file_name("digits", Quantization.INT8) == "digits-int8_edgetpu.tflite"


def test_config_quantizations_come_from_the_table():
    config = ExportConfig(formats=["tflite", "onnx", "edgetpu"], quantization=["float16", "int8"])
    assert config.combinations() == [(Format.TFLITE, Quantization.FLOAT16), (Format.TFLITE, Quantization.INT8),
                                     (Format.ONNX, Quantization.INT8), (Format.EDGETPU, Quantization.INT8)]
    with pytest.raises(ValueError, match="edgetpu cannot be exported as float32 \\(supported: int8\\)"):
        ExportConfig(formats=["tflite", "edgetpu"], quantization={"tflite": ["int8"], "edgetpu": ["float32"]})


def test_edgetpu_without_its_parent_is_refused_by_the_config():
    with pytest.raises(ValueError, match="edgetpu-int8 is made from the tflite-int8 artifact: export.formats needs "
                                         "tflite and export.quantization int8 with it"):
        ExportConfig(formats=["onnx", "edgetpu"], quantization=["int8"])


# ------------------------------------------------------------------------------------------------ acceptance
def test_refuses_takes_the_enums_not_strings():
    with pytest.raises(TypeError, match="Target.refuses takes Format and Quantization, got 'tflite'"):
        load_target("rpi4").refuses("tflite", "int8")


def test_coral_runs_edgetpu_models_and_says_how_to_make_them():
    coral = load_target("coral-usb")
    assert coral.refuses(Format.EDGETPU, Quantization.INT8) is None
    assert coral.refuses(Format.TFLITE, Quantization.INT8) == (
        "target coral-usb runs edgetpu models, not tflite; `edgekit build --target coral-usb` makes the edgetpu "
        "model from it at export with edgetpu_compiler")
    assert coral.refuses(Format.EDGETPU, Quantization.FLOAT32) == "target coral-usb runs only int8 models, not float32"


def test_an_edgetpu_model_needs_the_edgetpu_delegate():
    board = Target(name="board", description="x", adapter="ssh", arch="aarch64",
                   accepts=Accepts(formats=[Format.TFLITE, Format.EDGETPU]))
    assert board.refuses(Format.EDGETPU, Quantization.INT8) == (
        "target board uses the xnnpack delegate; edgetpu models run only with the edgetpu delegate")
    assert load_target("rpi4").refuses(Format.EDGETPU, Quantization.INT8) == \
        "target rpi4 runs tflite, onnx models, not edgetpu"


# ------------------------------------------------------------------------------------------------ export
WANTED = [(Format.TFLITE, Quantization.FLOAT32), (Format.TFLITE, Quantization.INT8)]


def test_a_coral_target_without_the_compiler_is_refused_at_export():
    with pytest.raises(ToolError) as raised:
        derived_formats(WANTED, [Format.EDGETPU], lambda tool: False)
    assert raised.value.exit_code == 3
    assert str(raised.value).startswith("the target runs only edgetpu models, which export makes with "
                                        "edgetpu_compiler, and edgetpu_compiler is not on PATH: install "
                                        "edgetpu_compiler on an x86_64 Debian/Ubuntu machine")
    assert "sudo apt-get install edgetpu-compiler" in str(raised.value)


def test_edgetpu_is_compiled_when_the_compiler_is_there_or_the_target_needs_it():
    assert derived_formats(WANTED, [Format.TFLITE], lambda tool: True) == ([(Format.EDGETPU, Quantization.INT8)], [])
    assert derived_formats(WANTED, [Format.TFLITE], lambda tool: False) == ([], [])
    assert derived_formats(WANTED, [Format.EDGETPU], lambda tool: True)[0] == [(Format.EDGETPU, Quantization.INT8)]
    # Asked for in export.formats: not added twice.
    assert derived_formats(WANTED + [(Format.EDGETPU, Quantization.INT8)], [Format.EDGETPU], lambda t: True) == ([], [])
    added, notes = derived_formats(WANTED[:1], [Format.EDGETPU], lambda tool: False)
    assert added == [] and notes == ["the target runs edgetpu models, which are made from the tflite-int8 artifact, "
                                     "and export.formats/export.quantization do not ask for tflite-int8"]


@pytest.fixture
def standin_compiler(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shutil.copy(STANDINS / "edgetpu_compiler", bin_dir / "edgetpu_compiler")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return bin_dir


def _exporter_with_int8_parent(work: Path) -> Exporter:
    exporter = Exporter(float_model=None, float_stage="train", qat_model=None, representative=None, data=None,
                        opset=17, project="mlp")
    parent = work / "mlp-int8.tflite"
    shutil.copy(MODELS / "mlp-int8.tflite", parent)
    exporter.made[(Format.TFLITE, Quantization.INT8)] = (parent, {"source": "train", "method": "tflite-converter"})
    return exporter


def test_export_compiles_the_int8_artifact_with_a_standin_compiler(standin_compiler, tmp_path):
    work = tmp_path / "export"
    work.mkdir()
    entry = _exporter_with_int8_parent(work).write(work, Format.EDGETPU, Quantization.INT8)
    compiled = work / "mlp-int8_edgetpu.tflite"
    assert compiled.is_file() and (work / "mlp-int8_edgetpu.log").is_file()
    assert entry["name"] == "edgetpu-int8" and entry["format"] == "edgetpu" and entry["quantization"] == "int8"
    assert entry["file"] == compiled.name and entry["parent"] == "tflite-int8" and entry["source"] == "train"
    assert entry["evaluated_as"]["artifact"] == "tflite-int8"
    compiler = entry["compiler"]
    assert (compiler["version"], compiler["ops_on_tpu"], compiler["ops_on_cpu"]) == ("16.0.384591198", 3, 1)
    assert compiler["log"] == "export/mlp-int8_edgetpu.log" and compiler["name"] == "edgetpu_compiler"
    assert "Mapped to Edge TPU" in (work / "mlp-int8_edgetpu.log").read_text()
    # The stand-in copies the model; the real compiler would not, but the bytes written are what it wrote.
    assert hashlib.sha256(compiled.read_bytes()).digest() == hashlib.sha256(
        (MODELS / "mlp-int8.tflite").read_bytes()).digest()


def test_edgetpu_before_its_parent_is_an_export_error(tmp_path):
    from edgekit.errors import ExportError

    exporter = Exporter(float_model=None, float_stage="train", qat_model=None, representative=None, data=None,
                        opset=17)
    with pytest.raises(ExportError, match="edgetpu-int8 is made from another artifact, which was not exported "
                                          r"before it \(exported so far: none\)"):
        exporter.parent(Format.EDGETPU, Quantization.INT8)


def test_export_refuses_a_quantization_the_format_does_not_have(tmp_path):
    from edgekit.errors import ExportError

    exporter = Exporter(float_model=None, float_stage="train", qat_model=None, representative=None, data=None,
                        opset=17)
    with pytest.raises(ExportError, match=r"onnx cannot be exported as float16 \(supported: float32, int8\)"):
        exporter.export(Format.ONNX, Quantization.FLOAT16)


# ------------------------------------------------------------------------------------------------ evaluate, profile
def test_each_artifact_is_evaluated_by_its_formats_runner(tmp_path):
    from edgekit.export.runners import TFLiteRunner

    artifacts = [{"name": "tflite-int8", "format": "tflite", "file": "mlp-int8.tflite"},
                 {"name": "edgetpu-int8", "format": "edgetpu", "file": "mlp-int8_edgetpu.tflite"}]
    runners, scored_as = artifact_runners(artifacts, lambda name: MODELS / name)
    assert list(runners) == ["tflite-int8"] and isinstance(runners["tflite-int8"](), TFLiteRunner)
    assert scored_as == {"edgetpu-int8": {"as": "tflite-int8", "reason": FORMATS[Format.EDGETPU].evaluated_as_parent}}
    with pytest.raises(ConfigError, match="unknown format 'tensorrt'"):
        artifact_runners([{"name": "x", "format": "tensorrt", "file": "x"}], lambda name: MODELS / name)


def test_profile_groups_artifacts_by_their_formats_profiler():
    from edgekit.pipeline.results import ExportedArtifact
    from edgekit.pipeline.stages.profile import _runtime_groups

    artifacts = [ExportedArtifact(name=f"{fmt}-int8", format=fmt, quantization="int8", file=f"m.{fmt}", source="qat",
                                  method="m") for fmt in ("onnx", "tflite", "edgetpu")]
    assert [[a.name for a in group] for group in _runtime_groups(artifacts)] == [
        ["tflite-int8", "edgetpu-int8"], ["onnx-int8"]]
