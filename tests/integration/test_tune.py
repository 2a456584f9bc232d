"""`edgekit tune` end to end on a tiny digits space: a run killed half-way and continued, the choice and the
tune/ folder, the shared stage cache, the trial and time limits, nothing fitting (exit 1), and the tune: section."""

import json
import os
import subprocess
import sys

import pytest

import edgekit
from edgekit.config.loader import load_config
from tests.integration.helpers import run_cli, write_config

TUNE_DIGITS = """
name: digits-tune
data: {source: digits, seed: 0}
model: {builtin: small_cnn, width: 0.5}
train: {epochs: 2, batch_size: 64, learning_rate: 0.003}
prune: {enabled: false, epochs: 1}
qat: {enabled: false}
export: {formats: [tflite], quantization: [float32, int8], representative_samples: 50}
profile: {runs: 20, warmup: 2, min_seconds: 0.05}
tune:
  max_latency_ms: 1000
  profile_runs: 10
  keep_within_se: 0  # the top quarter alone: both pruned folders, ranked on the same full training, are close
  race: false  # the kept folder is built in full even where it cannot beat the default build (rung 1's flow)
  space: {width: [0.5], sparsity: [0, 0.5, 0.75], quantization: [float16, int8], threads: [1]}
"""

pytestmark = pytest.mark.slow


def _state(tune_dir):
    return json.loads((tune_dir / "state.json").read_text())


def _trials(tune_dir):
    return {path.stem: json.loads(path.read_text()) for path in sorted((tune_dir / "trials").glob("t*.json"))}


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    """A run killed (SIGKILL) after its second trial, then the same command again: it continues."""
    config = write_config(tmp_path_factory.mktemp("tune"), TUNE_DIGITS)
    tune_dir = config.parent / "build" / "host" / "tune"
    killed = subprocess.run([sys.executable, "-c", "from edgekit.cli import main; main()", "tune", "--config",
                             str(config)], env={**os.environ, "EDGEKIT_TUNE_KILL_AFTER_TRIALS": "2"},
                            capture_output=True, text=True, timeout=900)
    assert killed.returncode == -9, killed.stdout + killed.stderr
    before = _trials(tune_dir)
    result = run_cli("tune", "--config", config)
    return config, tune_dir, before, result


def test_a_killed_run_continues_with_its_finished_trials(tuned):
    _, tune_dir, before, result = tuned
    assert result.exit_code == 0, result.output
    finished = {key: trial for key, trial in before.items() if trial["status"] != "pending"}
    assert sorted(finished) == ["t0000", "t0001"]
    state = _state(tune_dir)
    assert state["trials_reused"] == 2 and "continuing the run" in result.output
    after = _trials(tune_dir)
    for key, trial in finished.items():
        assert after[key]["latency_ms"] == trial["latency_ms"]  # reused, not measured again


def test_the_run_chooses_a_fitting_candidate_and_writes_tune_folder(tuned):
    config, tune_dir, _, result = tuned
    state, trials = _state(tune_dir), _trials(tune_dir)
    assert state["stopped"] == "done" and state["device"] is None and state["finished"]
    assert state["measured_on"] == "this machine (local adapter)"
    assert state["baseline"] == "t0000" and trials["t0000"]["rung"] == 1
    chosen = trials[state["chosen"]]
    assert chosen["status"] == "measured" and chosen["fits"] is True and chosen["rung"] == 1
    assert chosen["latency_ms"]["p90"] > 0 and chosen["bytes"] > 0 and chosen["peak_memory_mb"] > 0
    assert state["front"] and set(state["front"]) <= set(trials)
    # every fully trained survivor was timed in A/B rounds against the best of its time (the default build first);
    # the default candidate's own rung 1, while the default build is the best, is the default build's measurement
    assert all(t["same_as"] == "t0000" for t in trials.values() if "same_as" in t)
    for trial in trials.values():
        if trial["rung"] == 1 and trial["id"] != "t0000" and "same_as" not in trial:
            if "timed_alone" in trial:  # less accurate than the best beyond the tolerance: profiled once
                assert "ab" not in trial and trial["became_best"] is False, trial
                continue
            assert trial["ab"]["against"] in trials and trial["ab"]["rounds"] == 2, trial
            assert trial["ab"]["p90_ms"] == trial["latency_ms"]["p90"]
    # the default build; its own folder's 2 candidates straight to rung 1; 2 sparse folders at rung 0, each
    # ranked by its float model pruned in memory (the trial: float16, the least compressed); the better one's 2
    # candidates in full (a quarter of the folders, at least one), the other's int8 recorded as not exported
    assert [t["rung"] for t in trials.values()].count(0) == 3
    assert [t["rung"] for t in trials.values()].count(1) == 5
    direct = [t for t in trials.values() if t.get("rung0")]
    assert sorted(t["candidate"]["quantization"] for t in direct) == ["float16", "int8"]
    assert all(t["candidate"]["sparsity"] == 0 and t["parent"] is None for t in direct)
    eliminated = sorted((t for t in trials.values() if t["status"] == "eliminated"),
                        key=lambda t: t["candidate"]["quantization"])
    assert [t["candidate"]["quantization"] for t in eliminated] == ["float16", "int8"]
    assert eliminated[0]["reason"].startswith("rung 0: accuracy ") and "ranked 2 of 2" in eliminated[0]["reason"]
    assert eliminated[1]["reason"].startswith("rung 0: not exported; its build folder ranked 2 of 2 by "
                                              + eliminated[0]["id"])
    assert len({t["candidate"]["sparsity"] for t in eliminated}) == 1
    # rung 0 took its latencies from the probe (the same structures, untrained, timed before any training)
    probe = json.loads((tune_dir / "probe.json").read_text())
    assert sorted(probe["facts"]) == ["0.5/-/float16/1", "0.5/-/int8/1"]
    assert probe["facts"]["0.5/-/int8/1"]["file"] == trials["t0000"]["artifact"]  # the default build's own file
    assert all(t["latency_from"].startswith("the probe (w0.5-float32-e2/dense/export/") for t in trials.values()
               if t["rung"] == 0 and not t.get("deferred"))
    for trial in trials.values():
        if trial.get("deferred"):  # not exported: nothing of it was measured
            assert trial["epochs"] == 0 and trial["accuracy"] is None and trial["latency_ms"] is None
            continue
        assert trial["train_seconds"] > 0 and trial["cache_keys"]["train"] and trial["config"]["model"]
    chosen_config = load_config(tune_dir / "edgekit.yaml").config
    assert chosen_config.profile.threads == chosen["candidate"]["threads"]
    assert [q.value for q in chosen_config.export.quantization] == [chosen["candidate"]["quantization"]]
    assert chosen_config.train.epochs == 2
    assert f"chosen: {state['chosen']}" in result.output


def test_candidates_share_training_through_the_stage_cache(tuned):
    _, tune_dir, _, _ = tuned
    trials = _trials(tune_dir).values()
    rung0 = {trial["candidate"]["sparsity"]: trial for trial in trials if trial["rung"] == 0
             and not trial.get("deferred")}
    # the pruned candidates are ranked on the default build's training (the same width: same key, same model,
    # from the cache, all epochs), pruned in memory: no prune stage, export or file of their own
    baseline = _trials(tune_dir)["t0000"]
    assert rung0[0.5]["cache_keys"]["train"] == rung0[0.75]["cache_keys"]["train"] == baseline["cache_keys"]["train"]
    assert rung0[0.5]["dense_model"] == rung0[0.75]["dense_model"] == baseline["dense_model"] == \
        "w0.5-float32-e2/dense/train/digits-tune-dense.keras"
    assert all(trial["epochs"] == 2 and trial["rung0_epochs"] == "2 of 2: the default build's training, done already"
               for trial in rung0.values())
    for sparsity, trial in rung0.items():
        assert "prune" not in trial["cache_keys"] and trial["stage_seconds"]["prune (in memory)"] > 0
        assert trial["ranked_in_memory"]["kernel_sparsity"] == pytest.approx(sparsity, abs=0.02)
    # one training per (width, epochs): every fully trained trial has the default build's training
    full = [trial for trial in trials if trial["rung"] == 1]
    assert len({trial["cache_keys"]["train"] for trial in full}) == 1


def test_the_section_of_the_config_is_honoured(tuned):
    _, tune_dir, _, _ = tuned
    state = _state(tune_dir)
    assert state["constraints"]["max_latency_ms"] == 1000
    assert state["space"] == {"width": [0.5], "input_size": [None], "sparsity": [0.0, 0.5, 0.75],
                              "quantization": ["float16", "int8"], "precision": ["float32"], "threads": [1]}


def test_the_same_command_again_measures_nothing_new(tuned):
    config, tune_dir, _, _ = tuned
    stamps = {path.name: path.stat().st_mtime_ns for path in (tune_dir / "trials").glob("*.json")}
    result = run_cli("tune", "--config", config)
    assert result.exit_code == 0, result.output
    assert _state(tune_dir)["trials_reused"] == len(stamps)
    assert {path.name: path.stat().st_mtime_ns for path in (tune_dir / "trials").glob("*.json")} == stamps


def test_trial_limit_stops_with_the_best_so_far_through_the_python_api(tuned):
    config, tune_dir, _, _ = tuned
    result = edgekit.tune(config, max_latency_ms=999, trials=2)  # other limits: a fresh search (cache kept)
    assert result.error is None and result.state["stopped"] == "trials"
    assert result.state["constraints"]["max_latency_ms"] == 999  # the flag wins over the tune: section
    assert sorted(_trials(tune_dir)) == ["t0000", "t0001"]
    assert result.chosen.id == "t0000" and (tune_dir / "edgekit.yaml").is_file()


def test_budget_stops_cleanly_with_the_best_so_far(tuned):
    config, tune_dir, _, _ = tuned
    result = run_cli("tune", "--config", config, "--max-latency-ms", 998, "--budget-minutes", 0.005)
    assert result.exit_code == 0, result.output
    state = _state(tune_dir)
    assert state["stopped"] == "budget" and state["chosen"] == "t0000"
    assert "stopped by the time budget" in result.output


def test_nothing_fits_exits_1_naming_the_closest_and_what_each_misses(tuned):
    config, tune_dir, _, _ = tuned
    result = run_cli("tune", "--config", config, "--max-bytes", 1000)
    assert result.exit_code == 1, result.output
    output = " ".join(result.output.split())
    assert "no candidate fits; the closest:" in output
    assert "file size" in output and "bytes > 1,000 bytes" in output
    state = _state(tune_dir)
    assert state["stopped"] == "nothing_fits" and state["chosen"] is None
    assert not (tune_dir / "edgekit.yaml").exists()
    assert all(t["status"] in ("eliminated", "measured") for t in _trials(tune_dir).values())


def test_a_device_target_without_device_is_profiled_here_and_says_so(tuned):
    config, tune_dir, _, _ = tuned
    # the same folder: other arguments start the trials afresh, and the builds come from the cache
    result = run_cli("tune", "--config", config, "--target", "rpi4", "--out", tune_dir, "--trials", 1)
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "no --device for rpi4 (reached over ssh): profiling on this machine with the local adapter" in output
    state = _state(tune_dir)
    assert state["target"] == "rpi4" and state["device"] is None and state["stopped"] == "trials"
    assert state["measured_on"] == "this machine (local adapter, no --device for rpi4)"
    assert _trials(tune_dir)["t0000"]["device"]["address"] == "localhost"
