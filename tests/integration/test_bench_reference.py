"""The hand-written reference of `scripts/bench pipeline` still runs end to end (train, prune, PQAT, int8, evaluate)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REFERENCE = Path(__file__).resolve().parents[2] / "scripts" / "benchsuite" / "handwritten_reference.py"


@pytest.mark.slow
def test_the_handwritten_reference_runs_end_to_end(tmp_path):
    completed = subprocess.run(
        [sys.executable, str(REFERENCE), "--out", str(tmp_path), "--epochs", "1", "--prune-epochs", "1",
         "--qat-epochs", "1", "--representative-samples", "10"], capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["sparsity"] == pytest.approx(0.5, abs=0.01)
    assert 0.0 <= result["int8_accuracy"] <= 1.0 and result["test_samples"] == 360
    model = Path(result["int8_path"])
    assert model.stat().st_size == result["int8_bytes"] and model.read_bytes()[4:8] == b"TFL3"
