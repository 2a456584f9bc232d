"""The typed manifest: the schema file, 0.1 manifests, unknown keys, newer schemas, and what the writer refuses."""

import copy
import json
import re

import pytest
from click.testing import CliRunner

from edgekit.base.version import __version__
from edgekit.cli import main
from edgekit.manifest import (SCHEMA_VERSION, Manifest, ManifestError, NewerManifestSchema, StageName,
                              UnknownManifestKey, load_manifest, parse_manifest)
from edgekit.manifest.schema import SCHEMA_PATH, schema_text
from tests.unit.report_manifest import sample_manifest


def write(folder, document):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.json").write_text(json.dumps(document))
    return folder


def test_the_schema_file_is_generated_from_the_models():
    assert SCHEMA_PATH.read_text(encoding="utf-8") == schema_text(), (
        "docs/manifest.schema.json is out of date: run python -m edgekit.manifest.schema")
    schema = json.loads(schema_text())
    assert schema["properties"]["schema_version"]["default"] == SCHEMA_VERSION
    assert schema["additionalProperties"] is False and "artifacts" in schema["required"]
    formats = schema["$defs"]["ArtifactFormat"]["enum"]
    assert formats == ["keras", "tflite", "onnx", "edgetpu"]


def test_stage_names_are_the_pipeline_stages():
    from edgekit.pipeline.stages import STAGES

    assert [stage.value for stage in StageName] == list(STAGES)


def test_a_manifest_of_edgekit_0_1_reads_with_its_inline_samples(tmp_path):
    old = sample_manifest()  # no schema_version, samples_ms inline: what edgekit 0.1 wrote
    assert "schema_version" not in old
    manifest = load_manifest(write(tmp_path / "build", old))
    assert manifest.schema_version == SCHEMA_VERSION
    int8 = manifest.artifact("tflite-int8")
    assert int8.latency.median_ms == 0.010 and len(int8.latency.samples_ms) == 400
    assert int8.format == "tflite" and int8.quantization == "int8"
    assert manifest.stages[0].name == "data" and manifest.gate.passed is True


def test_a_samples_list_in_place_of_a_reference_is_migrated(tmp_path):
    old = sample_manifest()
    latency = old["artifacts"][5]["latency"]
    latency["samples"] = latency.pop("samples_ms")
    manifest = load_manifest(write(tmp_path / "build", old))
    assert len(manifest.artifact("tflite-int8").latency.samples_ms) == 400


def test_an_unknown_key_is_exit_2_naming_it_with_a_suggestion(tmp_path):
    document = sample_manifest()
    document["artifacts"][2]["acuracy"] = 0.9
    with pytest.raises(UnknownManifestKey, match=r"unknown key artifacts\[2\]\.acuracy \(did you mean 'accuracy'\?\)"):
        load_manifest(write(tmp_path / "a", document))
    document = sample_manifest()
    document["targt"] = "rpi4"
    with pytest.raises(UnknownManifestKey, match=r"manifest.json: unknown key targt \(did you mean 'target'\?\)"):
        load_manifest(write(tmp_path / "b", document))
    result = CliRunner().invoke(main, ["report", str(tmp_path / "b")])
    assert result.exit_code == 2 and "unknown key targt" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(main, ["regress", str(tmp_path / "b" / "manifest.json"),
                                       str(tmp_path / "b" / "manifest.json"), "--timing", "recorded"])
    assert result.exit_code == 2 and "unknown key targt" in result.output


def test_a_newer_schema_version_is_exit_2(tmp_path):
    document = {"schema_version": SCHEMA_VERSION + 1, **sample_manifest(), "new_key": 1}
    with pytest.raises(NewerManifestSchema, match=rf"schema_version is {SCHEMA_VERSION + 1}, newer than this edgekit "
                                                  rf"\({re.escape(__version__)}\) reads \(up to {SCHEMA_VERSION}\)") as caught:
        load_manifest(write(tmp_path / "build", document))
    assert caught.value.exit_code == 2
    result = CliRunner().invoke(main, ["report", str(tmp_path / "build")])
    assert result.exit_code == 2 and "newer than this edgekit" in result.output


@pytest.mark.parametrize("path, value, message", [
    (("artifacts", 2, "format"), "tflight", r"artifacts\[2\]\.format is \"tflight\", expected one of 'keras', "
                                            r"'tflite', 'onnx' or 'edgetpu'"),
    (("stages", 0, "name"), "dta", r"stages\[0\]\.name is \"dta\", expected one of 'data'"),
    (("schema_version",), "1", r"schema_version is \"1\", expected a whole number"),
    (("artifacts", 2, "latency", "samples"), {"path": "profiles/x.json", "sha": "0"},
     r"unknown key artifacts\[2\]\.latency\.samples\.sha \(did you mean 'sha256'\?\)"),
])
def test_a_wrong_value_is_named_by_its_place(tmp_path, path, value, message):
    document = sample_manifest()
    record = document
    for key in path[:-1]:
        record = record[key]
    record[path[-1]] = value
    with pytest.raises(ManifestError, match=message) as caught:
        parse_manifest(document, "m.json")
    assert caught.value.exit_code == 2


def test_an_edgetpu_artifact_with_its_compiler_summary_reads():
    document = sample_manifest()
    document["artifacts"].append({"name": "edgetpu-int8", "format": "edgetpu", "quantization": "int8",
                                  "path": "export/digits-int8_edgetpu.tflite", "bytes": 90000, "latency": None,
                                  "compiler": {"version": "16.0.384591198", "ops_on_tpu": 7, "ops_on_cpu": 1,
                                               "log": "export/digits-int8_edgetpu.log", "subgraphs": 1,
                                               "delegate_hint": "a newer compiler's key"},
                                  "parent": "tflite-int8",
                                  "evaluated_as": {"artifact": "tflite-int8", "reason": "needs an Edge TPU"}})
    artifact = parse_manifest(document).artifact("edgetpu-int8")
    assert artifact.compiler.ops_on_tpu == 7 and artifact.compiler.subgraphs == 1
    assert artifact.compiler.model_extra == {"delegate_hint": "a newer compiler's key"}
    assert artifact.parent == "tflite-int8" and artifact.evaluated_as.artifact == "tflite-int8"


def test_the_document_is_what_was_read_plus_the_version():
    document = sample_manifest()
    read = parse_manifest(copy.deepcopy(document)).document()
    assert read.pop("schema_version") == SCHEMA_VERSION
    assert json.loads(json.dumps(read)) == json.loads(json.dumps(document))


def test_the_writer_refuses_a_manifest_that_is_not_one(tmp_path):
    from pydantic import ValidationError

    from edgekit.pipeline.manifest import write_manifest

    with pytest.raises(ValidationError):
        write_manifest(tmp_path, {**sample_manifest(), "stray": 1})
    assert not (tmp_path / "manifest.json").exists()
    path = write_manifest(tmp_path, {"schema_version": SCHEMA_VERSION, **sample_manifest()})
    assert Manifest.model_validate_json(path.read_text()).name == "digits-cnn"
