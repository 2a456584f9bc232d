"""The one test suite every adapter passes (the fsspec pattern): subclasses give the `adapter` fixture
(connected, closed afterwards) and say whether it runs edgekit's Python profiler.

tests/unit/test_adapters.py runs it on the local adapter; tests/lab/ on ssh (x86_64 and aarch64) and adb.
"""

from pathlib import Path

import pytest

from edgekit import fsutil
from edgekit.errors import ArtifactNotAccepted
from edgekit.profiling.profile import PROFILE_KEYS, ProfileSettings

MODELS = Path(__file__).resolve().parent / "data" / "models"
# Spaces, both quotes, a `$(...)` and a `;`: any unquoted use of a path on a shell would break or run it.
AWKWARD_NAME = "it's a \"model\" $(touch pwned); x.tflite"
QUICK = ProfileSettings(runs=5, warmup=1, min_seconds=0.0)


class AdapterContract:
    """Behaviour every adapter shares. Subclasses define the `adapter` fixture."""

    #: False for adapters that time with another tool (adb's benchmark_model): no per-run samples then
    per_run_samples = True

    def test_run_returns_code_and_output_with_arguments_untouched(self, adapter):
        code, stdout, _ = adapter.run(["sh", "-c", 'printf "%s|" "$@"; exit 7', "sh", "a b", "'q'", '"d"', "$(id)", ";"])
        assert code == 7
        assert stdout == "a b|'q'|\"d\"|$(id)|;|"

    def test_put_and_sha256_of_an_awkward_name(self, adapter, tmp_path):
        local = tmp_path / AWKWARD_NAME
        local.write_bytes(b"edgekit\x00bytes\n" * 100)
        remote = adapter.put(local, f"{adapter.workdir()}/sub dir/{AWKWARD_NAME}")
        assert remote.endswith(AWKWARD_NAME)
        assert adapter.sha256(remote) == fsutil.sha256_file(local)
        code, listing, _ = adapter.run(["ls", f"{adapter.workdir()}/sub dir"])
        assert code == 0 and listing.strip() == AWKWARD_NAME  # and no file named `pwned` appeared
        assert not (Path.cwd() / "pwned").exists() and not (Path.home() / "pwned").exists()

    def test_fetch_returns_the_same_bytes(self, adapter, tmp_path):
        source = tmp_path / "source.bin"
        source.write_bytes(bytes(range(256)) * 40)
        remote = adapter.push(source, "round trip.bin")
        fetched = adapter.fetch(remote, tmp_path / "back" / "fetched.bin")
        assert fetched.read_bytes() == source.read_bytes()

    def test_deploy_verifies_the_sha256_on_the_device(self, adapter, tmp_path):
        model = MODELS / "mlp-int8.tflite"
        digest = adapter.deploy(model, f"{adapter.workdir()}/deployed/{model.name}")
        assert digest == fsutil.sha256_file(model)

    def test_sha256_of_a_missing_file_names_it(self, adapter):
        with pytest.raises(Exception, match="cannot compute the sha256 of .*no-such-file"):
            adapter.sha256(f"{adapter.workdir()}/no-such-file")

    def test_profile_of_a_real_model(self, adapter):
        (profile,) = adapter.profile([MODELS / "mlp-int8.tflite"], QUICK)
        assert list(profile)[: len(PROFILE_KEYS)] == list(PROFILE_KEYS)
        assert profile["target"] == adapter.target.name
        assert profile["device"]["address"] == adapter.address
        assert profile["runs"] >= 5 and profile["mean_ms"] > 0
        if self.per_run_samples:
            assert len(profile["samples_ms"]) == profile["runs"]
            assert profile["min_ms"] <= profile["median_ms"] <= profile["max_ms"]
        else:
            assert profile["samples_ms"] == [] and "aggregate" in profile["samples_source"]

    def test_a_refused_model_is_not_pushed(self, adapter):
        adapter.target.accepts.quantization = ["int8"]
        with pytest.raises(ArtifactNotAccepted, match="mlp-float32.tflite is float32: .* runs only int8 models"):
            adapter.profile([MODELS / "mlp-float32.tflite"], QUICK)

    def test_close_is_safe_twice(self, adapter):
        adapter.close()
        adapter.close()
