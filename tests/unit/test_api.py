"""The public API: re-exports only, light to import, typed results, and the CLI on top of it."""

import subprocess
import sys

import pytest


def test_import_edgekit_is_light():
    probe = ("import sys, edgekit\n"
             "heavy = sorted(name for name in ('tensorflow', 'tf_keras', 'tensorflow_model_optimization', 'keras',"
             " 'onnxruntime', 'tf2onnx', 'click') if name in sys.modules)\n"
             "print(','.join(heavy) or '-')")
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert completed.stdout.split() == ["-"], completed.stdout


def test_the_package_re_exports_the_api_only():
    import edgekit
    from edgekit import api, manifest

    assert set(edgekit.__all__) == {"__version__", "Manifest", "build", "inspect", "load_manifest", "profile", "tune",
                                    "regress"}
    assert edgekit.build is api.build and edgekit.regress is api.regress and edgekit.profile is api.profile
    assert edgekit.load_manifest is manifest.load_manifest and edgekit.Manifest is manifest.Manifest
    import edgekit.inspect.render  # noqa: F401  (importing the subpackages keeps the functions)
    import edgekit.regress.view  # noqa: F401

    assert edgekit.inspect is api.inspect and edgekit.regress is api.regress


def test_api_errors_carry_the_cli_exit_code(tmp_path):
    import edgekit
    from edgekit.errors import ConfigError, InputFileError, ModelFileError

    with pytest.raises(ConfigError) as caught:
        edgekit.build(tmp_path / "missing.yaml")
    assert caught.value.exit_code == 2 and "missing.yaml" in str(caught.value)
    with pytest.raises(ModelFileError, match="model.tflite"):
        edgekit.inspect(tmp_path / "model.tflite")
    with pytest.raises(InputFileError, match="has no manifest.json"):
        edgekit.load_manifest(tmp_path)


def test_regress_returns_a_typed_result_with_its_exit_code(tmp_path):
    import json

    import edgekit
    from tests.regress_documents import latency_samples, manifest

    for name, scale in (("a.json", 1.0), ("b.json", 1.5)):
        (tmp_path / name).write_text(json.dumps(manifest({"tflite-int8": latency_samples(scale, seed=3)})))
    same = edgekit.regress(tmp_path / "a.json", tmp_path / "a.json", timing="recorded")
    assert same.passed and same.exit_code == 0
    slower = edgekit.regress(tmp_path / "a.json", tmp_path / "b.json", timing="recorded")
    assert not slower.passed and slower.exit_code == 1
    assert [(row.artifact, row.verdict.value) for row in slower.rows] == [("tflite-int8", "regression")]
    assert slower.to_json()["passed"] is False
