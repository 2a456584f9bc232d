"""`edgekit regress` and `edgekit baseline`, in-process: exit codes, messages, JSON, JUnit, the store,
and real interleaved timing of .tflite pairs on the host."""

import hashlib
import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgekit.cli import main
from tests.regress_documents import DEVICE, latency_samples, manifest, profile, write

MODELS = Path(__file__).resolve().parent.parent / "data" / "models"
# Fast timing for tests that check the plumbing of real profiling, not speed.
QUICK_TIMING = ["--runs", "20", "--min-seconds", "0.05", "--block", "5"]


def run(*args):
    return CliRunner().invoke(main, ["regress", *[str(arg) for arg in args]])


def two_manifests(tmp_path, int8_median=0.3):
    baseline = write(tmp_path / "main" / "manifest.json", manifest(
        {"keras-dense": None, "tflite-float32": latency_samples(1.0, seed=1), "tflite-int8": latency_samples(0.3, seed=2)}))
    current = write(tmp_path / "pr" / "manifest.json", manifest(
        {"keras-dense": None, "tflite-float32": latency_samples(1.0, seed=3),
         "tflite-int8": latency_samples(int8_median, seed=4)}))
    return baseline, current


def test_unchanged_manifests_pass(tmp_path):
    result = run(*two_manifests(tmp_path))
    assert result.exit_code == 0, result.output
    assert "latency gate passed: 2 unchanged" in result.output
    assert "not compared (no latency on either side): keras-dense" in result.output


def test_a_regression_exits_1_names_the_artifact_and_writes_junit(tmp_path):
    baseline, current = two_manifests(tmp_path, int8_median=0.36)
    result = run(baseline, current, "--junit", tmp_path / "gate.xml")
    assert result.exit_code == 1, result.output
    assert "error: latency gate failed (max slowdown 5.0%, alpha 0.01): tflite-int8 +2" in result.output
    assert "Traceback" not in result.output
    suite = ElementTree.parse(tmp_path / "gate.xml").getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("failures")) == ("2", "1")
    failed = [case.get("name") for case in suite.iter("testcase") if case.find("failure") is not None]
    assert failed == ["tflite-int8"]


def test_max_slowdown_decides_what_counts(tmp_path):
    assert run(*two_manifests(tmp_path, int8_median=0.36), "--max-slowdown", "0.5").exit_code == 0


def test_json_prints_the_verdicts(tmp_path):
    result = run(*two_manifests(tmp_path, int8_median=0.2), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    verdicts = {row["artifact"]: row["verdict"] for row in report["artifacts"]}
    assert verdicts == {"tflite-float32": "unchanged", "tflite-int8": "improvement"}
    int8 = report["artifacts"][1]
    assert int8["ratio_ci"][0] < int8["ratio"] < int8["ratio_ci"][1] < 1.0
    assert (report["passed"], report["max_slowdown"], report["alpha"], report["confidence"]) == (True, 0.05, 0.01, 0.99)


def test_missing_artifacts_fail_only_with_fail_on_missing(tmp_path):
    baseline = write(tmp_path / "a.json", manifest({"tflite-int8": latency_samples(seed=1),
                                                    "tflite-float16": latency_samples(seed=2)}))
    current = write(tmp_path / "b.json", manifest({"tflite-int8": latency_samples(seed=3)}))
    assert run(baseline, current).exit_code == 0
    result = run(baseline, current, "--fail-on-missing")
    assert result.exit_code == 1
    assert f"tflite-float16 missing (not in {current})" in result.output


@pytest.mark.parametrize(("content", "message"), [
    (None, "no such file"),
    ("not json at all", "not JSON (line 1, column 1: Expecting value)"),
    ('{"name": "digits"}', "not an edgekit profile or manifest"),
    (json.dumps(profile([])), "'model.tflite' has no latency samples"),
])
def test_bad_input_exits_2_naming_the_file(tmp_path, content, message):
    good = write(tmp_path / "good.json", profile(latency_samples()))
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_text(content)
    result = run(good, bad)
    assert result.exit_code == 2, result.output
    assert f"error: {bad}: {message}" in result.output
    assert "Traceback" not in result.output


def test_another_device_exits_2_unless_allowed(tmp_path):
    baseline = write(tmp_path / "a.json", profile(latency_samples(seed=1)))
    current = write(tmp_path / "b.json", profile(latency_samples(seed=2), device=dict(DEVICE, address="ci-runner-7")))
    result = run(baseline, current)
    assert result.exit_code == 2
    assert "latencies from different devices are not comparable (pass --allow-device-change" in result.output
    allowed = run(baseline, current, "--allow-device-change")
    assert allowed.exit_code == 0, allowed.output
    assert "device changed:" in allowed.output


@pytest.mark.parametrize(("args", "message"), [
    ([], "expected BASELINE and CURRENT, got 0 files"),
    (["a.json"], "expected BASELINE and CURRENT, got 1 file"),
    (["a.json", "b.json", "--against-store"], "expected CURRENT (with --against-store), got 2 files"),
    (["a.json", "b.json", "--alpha", "1.5"], "Invalid value for '--alpha'"),
])
def test_usage_errors_exit_2(args, message):
    result = run(*args)
    assert result.exit_code == 2
    assert message in result.output


def test_baseline_save_show_and_regress_against_the_store(tmp_path):
    store = tmp_path / "store"
    invoke = CliRunner().invoke
    for index, median in enumerate((0.30, 0.31)):
        saved = write(tmp_path / f"build{index}.json", manifest({"tflite-int8": latency_samples(median, seed=index)}))
        result = invoke(main, ["baseline", "save", str(saved), "--store", str(store)])
        assert result.exit_code == 0, result.output
        assert "saved tflite-int8: median 0." in result.output and "over 300 runs" in result.output and "tflite-int8.jsonl" in result.output
    shown = invoke(main, ["baseline", "show", "--store", str(store), "--artifact", "tflite-int8"])
    assert shown.exit_code == 0, shown.output
    assert "tflite-int8" in shown.output and "▁█" in shown.output and "build1.json" in shown.output
    history = json.loads(invoke(main, ["baseline", "show", "--store", str(store), "--json"]).stdout)
    assert [len(entry["entries"]) for entry in history] == [2]

    slower = write(tmp_path / "pr.json", manifest({"tflite-int8": latency_samples(0.40, seed=9)}))
    result = run("--against-store", slower, "--store", store)
    assert result.exit_code == 1, result.output
    assert "tflite-int8 +2" in result.output  # against the latest (0.31), not the first (0.30)


def test_the_store_must_hold_a_baseline(tmp_path):
    current = write(tmp_path / "pr.json", manifest({"tflite-int8": latency_samples()}))
    result = run("--against-store", current, "--store", tmp_path / "empty")
    assert result.exit_code == 2
    assert "no baseline saved for target 'host'" in result.output and "edgekit baseline save" in result.output


def test_an_empty_store_shows_so(tmp_path):
    result = CliRunner().invoke(main, ["baseline", "show", "--store", str(tmp_path / "none")])
    assert result.exit_code == 0 and "no baselines in" in result.output


def test_two_tflite_files_are_timed_now_interleaved(tmp_path):
    model = MODELS / "mlp-float32.tflite"
    # A 2x threshold: this checks the plumbing of real interleaved timing, not the speed of this machine.
    result = run(model, model, *QUICK_TIMING, "--max-slowdown", "1.0", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    (row,) = report["artifacts"]
    assert row["artifact"] == "mlp-float32.tflite" and row["verdict"] == "unchanged"
    assert row["baseline_runs"] >= 20 and row["current_runs"] >= 20
    assert report["target"] == "host" and report["device"]["runtime"] == "ai_edge_litert"


def test_a_model_against_a_json_file_is_refused(tmp_path):
    result = run(MODELS / "mlp-float32.tflite", write(tmp_path / "p.json", profile(latency_samples())))
    assert result.exit_code == 2
    assert "mlp-float32.tflite is a model and" in result.output and "pass two model files (.tflite or .onnx" in result.output


def builds_with_model_files(tmp_path, *, recorded=(0.1, 1.0)):
    """Two build folders holding the same int8 model, with recorded latencies that differ 10x."""
    digest = hashlib.sha256((MODELS / "mlp-int8.tflite").read_bytes()).hexdigest()
    manifests = []
    for name, median in zip(("main", "pr"), recorded):
        (tmp_path / name / "export").mkdir(parents=True)
        shutil.copy(MODELS / "mlp-int8.tflite", tmp_path / name / "export" / "tflite-int8.tflite")
        manifests.append(write(tmp_path / name / "manifest.json", manifest(
            {"tflite-int8": latency_samples(median, seed=len(manifests))}, sha256=digest)))
    return manifests


def test_manifests_whose_models_are_found_are_timed_again_interleaved(tmp_path):
    builds = builds_with_model_files(tmp_path)
    result = run(*builds, *QUICK_TIMING, "--max-slowdown", "1.0", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["timing"] == "interleaved now" and report["notes"] == []
    (row,) = report["artifacts"]
    assert row["verdict"] == "unchanged" and row["current_runs"] >= 20


def test_timing_recorded_compares_the_files_latencies(tmp_path):
    result = run(*builds_with_model_files(tmp_path), "--timing", "recorded", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["timing"] == "recorded" and report["artifacts"][0]["verdict"] == "regression"


def test_without_model_files_auto_compares_the_recorded_latencies_and_says_so(tmp_path):
    result = run(*two_manifests(tmp_path))
    assert result.exit_code == 0, result.output
    assert "timing: recorded" in result.output
    assert ("warning: compared the recorded latencies (no model file with the profiled sha256 for tflite-float32, "
            "tflite-int8); latencies from separate runs differ") in result.output


def test_a_rebuilt_model_is_not_re_timed_in_place_of_the_profiled_one(tmp_path):
    baseline, current = builds_with_model_files(tmp_path)
    (tmp_path / "pr" / "export" / "tflite-int8.tflite").write_bytes((MODELS / "mlp-float32.tflite").read_bytes())
    result = run(baseline, current, "--timing", "interleaved")
    assert result.exit_code == 2
    assert ("cannot re-time tflite-int8: the model file with the recorded sha256 was not found beside "
            f"{baseline} or {current} (rebuilt or moved since it was profiled?)") in result.output
    assert run(baseline, current, "--json").exit_code == 1  # auto: the recorded latencies, 10x apart


def test_a_board_without_device_is_not_re_timed(tmp_path):
    pi = dict(DEVICE, address="pi@raspberrypi.local", machine="aarch64", cpu="Raspberry Pi 4")
    digest = hashlib.sha256((MODELS / "mlp-int8.tflite").read_bytes()).hexdigest()
    builds = []
    for name in ("main", "pr"):
        (tmp_path / name / "export").mkdir(parents=True)
        shutil.copy(MODELS / "mlp-int8.tflite", tmp_path / name / "export" / "tflite-int8.tflite")
        builds.append(write(tmp_path / name / "manifest.json", manifest(
            {"tflite-int8": latency_samples(seed=len(builds))}, target="rpi4", device=pi, sha256=digest)))
    result = run(*builds)
    assert result.exit_code == 0, result.output
    assert "compared the recorded latencies (target 'rpi4' needs --device to be re-timed)" in result.output
    forced = run(*builds, "--timing", "interleaved")
    assert forced.exit_code == 2 and "--timing interleaved: target 'rpi4' needs --device to be re-timed" in forced.output


def test_timing_recorded_makes_no_sense_for_model_files():
    model = MODELS / "mlp-float32.tflite"
    result = run(model, model, "--timing", "recorded")
    assert result.exit_code == 2 and "are models, with no recorded latency" in result.output


def test_the_store_keeps_model_files_so_the_baseline_is_timed_again(tmp_path):
    baseline, current = builds_with_model_files(tmp_path)
    store = tmp_path / "store"
    saved = CliRunner().invoke(main, ["baseline", "save", str(baseline), "--store", str(store)])
    assert saved.exit_code == 0, saved.output
    digest = hashlib.sha256((MODELS / "mlp-int8.tflite").read_bytes()).hexdigest()
    assert (store / "models" / f"{digest}.tflite").read_bytes() == (MODELS / "mlp-int8.tflite").read_bytes()
    result = run("--against-store", current, "--store", store, *QUICK_TIMING, "--max-slowdown", "1.0", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["timing"] == "interleaved now"


def test_regress_does_not_import_tensorflow(tmp_path):
    baseline, current = two_manifests(tmp_path)
    probe = ("import sys\nfrom click.testing import CliRunner\nfrom edgekit.cli import main\n"
             f"code = CliRunner().invoke(main, ['regress', {str(baseline)!r}, {str(current)!r}]).exit_code\n"
             f"model = {str(MODELS / 'mlp-float32.tflite')!r}\n"
             f"code += CliRunner().invoke(main, ['regress', model, model, *{QUICK_TIMING!r}, '--max-slowdown', '1']).exit_code\n"
             "heavy = [m for m in ('tensorflow', 'tf_keras', 'tensorflow_model_optimization') if m in sys.modules]\n"
             "print(code, heavy)")
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert completed.stdout.split("\n")[0] == "0 []"
