"""A real (tiny) build holds every stage to its declaration: it reads no config key it did not declare, and its
derived cache key hits on an unchanged rebuild and misses when a declared input changes."""

import pytest

from edgekit.pipeline.runner import BuildRequest, run_build
from edgekit.pipeline.stages import STAGES
from tests.integration.helpers import write_config

pytestmark = pytest.mark.slow

# One epoch everywhere; int8 recovery always, so the diagnose stage's conditional reads (it converts and
# profiles again) are exercised too.
TINY = """
name: declared
data: {source: digits, seed: 0}
model: {builtin: mlp}
train: {epochs: 1, batch_size: 64}
prune: {enabled: true, target_sparsity: 0.5, epochs: 1}
qat: {enabled: true, epochs: 1}
export: {formats: [tflite], quantization: [float32, int8], representative_samples: 50, int8_recovery: always}
profile: {runs: 5, warmup: 1, min_seconds: 0}
"""


def _build(config, record=False):
    result = run_build(BuildRequest(config_path=config, record_config_reads=record))
    return result, {stage["name"]: stage["cached"] for stage in result.manifest["stages"]}


def test_stages_read_only_what_they_declare_and_their_keys_hit_and_miss(tmp_path):
    config = write_config(tmp_path, TINY)
    result, cached = _build(config, record=True)
    assert list(cached) == list(STAGES) and not any(cached.values())
    log = result.config_reads
    assert log.undeclared() == {}
    # The recorder is really in the stages' way: each reads its own section (or key).
    for stage, key in [("data", "data"), ("train", "train"), ("prune", "prune"), ("qat", "qat"),
                       ("export", "export"), ("diagnose", "export.int8_recovery"), ("profile", "profile")]:
        assert key in log.reads[stage], (stage, log.reads[stage])

    _, cached = _build(config)
    assert all(cached.values()), cached  # unchanged: every derived key hits

    config.write_text(config.read_text().replace("runs: 5", "runs: 6"))
    _, cached = _build(config)
    assert [name for name, hit in cached.items() if not hit] == ["diagnose", "profile"]  # recovery profiles too

    config.write_text(config.read_text().replace("representative_samples: 50", "representative_samples: 40"))
    _, cached = _build(config)
    assert [name for name, hit in cached.items() if not hit] == ["export", "evaluate", "diagnose", "profile"]
