"""`edgekit regress` against a build folder keeps its verdicts there, and the build's report shows them."""

import json
import shutil

import pytest

from edgekit.profiling.samples import with_samples

from tests.integration.helpers import run_cli

pytestmark = pytest.mark.slow


def test_verdicts_land_in_the_build_folder_and_its_report(digits_build, tmp_path):
    config, _, _ = digits_build
    baseline, current = tmp_path / "baseline", tmp_path / "current"
    shutil.copytree(config.parent / "build" / "host", baseline)
    shutil.copytree(config.parent / "build" / "host", current)
    before = (current / "report.html").read_text()
    result = run_cli("regress", baseline / "manifest.json", current / "manifest.json", "--timing", "recorded")
    assert result.exit_code == 0, result.output
    verdicts = json.loads((current / "regress.json").read_text())
    assert {row["artifact"] for row in verdicts["artifacts"]} >= {"tflite-float32", "tflite-int8"}
    after = (current / "report.html").read_text()
    assert "Latency regression verdicts" not in before
    assert "Latency regression verdicts" in after and "latency gate passed" in after
    assert after.count('class="badge unchanged"') == len(verdicts["artifacts"])
    assert not (baseline / "regress.json").exists()


def test_profiles_outside_a_build_leave_no_verdict_file(digits_build, tmp_path):
    config, _, manifest = digits_build
    latency = manifest["artifacts"][2]["latency"]
    (tmp_path / "a.json").write_text(json.dumps(with_samples(latency, config.parent / "build" / "host")))
    # copied out of the manifest without its samples file: named, not a traceback
    (tmp_path / "b.json").write_text(json.dumps(latency))
    result = run_cli("regress", tmp_path / "a.json", tmp_path / "b.json", "--timing", "recorded")
    assert result.exit_code == 2 and f"its latency samples {latency['samples']['path']} are missing" in result.output
    (tmp_path / "b.json").write_text((tmp_path / "a.json").read_text())
    result = run_cli("regress", tmp_path / "a.json", tmp_path / "b.json", "--timing", "recorded")
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "regress.json").exists()


def test_a_build_with_new_artifacts_drops_verdicts_about_the_old_ones(digits_build, tmp_path):
    from tests.integration.helpers import build

    config, _, _ = digits_build
    folder = tmp_path / "copy"
    shutil.copytree(config.parent, folder)
    build_dir = folder / "build" / "host"
    (build_dir / "regress.json").write_text(json.dumps({"artifacts": []}))
    result, _ = build(folder / "edgekit.yaml")  # unchanged: every stage cached, same artifacts
    assert result.exit_code == 0 and (build_dir / "regress.json").exists()
    config_path = folder / "edgekit.yaml"
    config_path.write_text(config_path.read_text().replace("runs: 50", "runs: 55"))
    result, _ = build(config_path)  # new latencies: the old verdicts no longer apply
    assert result.exit_code == 0 and not (build_dir / "regress.json").exists()
