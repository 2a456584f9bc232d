"""The suites every transport and every adapter pass (the fsspec pattern): subclasses give the fixture.

- TransportContract: a `transport` fixture (connected, closed afterwards); every way of reaching a device.
- AdapterContract: an `adapter` fixture (a transport and a timer); says whether its timer gives per-run samples.

tests/unit/test_adapters.py runs both on this machine (the local transport; the Python profiler and a STAND-IN
benchmark_model as timers); tests/lab/ on ssh (x86_64 and aarch64 boards) and adb, with the real clients and servers.
"""

import re
from pathlib import Path

import pytest

from edgekit import fsutil
from edgekit.errors import ArtifactNotAccepted, DeviceError
from edgekit.profiling.profile import PROFILE_KEYS, ProfileSettings
from edgekit.transport import RunResult

MODELS = Path(__file__).resolve().parent / "data" / "models"
# Spaces, both quotes, a `$(...)` and a `;`: any unquoted use of a path on a shell would break or run it.
AWKWARD_NAME = "it's a \"model\" $(touch pwned); x.tflite"
QUICK = ProfileSettings(runs=5, warmup=1, min_seconds=0.0)


class TransportContract:
    """Behaviour every transport shares. Subclasses define the `transport` fixture."""

    def test_run_returns_a_typed_result_with_arguments_untouched(self, transport):
        argv = ["sh", "-c", 'printf "%s|" "$@"; echo oops >&2; exit 7', "sh", "a b", "'q'", '"d"', "$(id)", ";"]
        result = transport.run(argv)
        assert isinstance(result, RunResult) and result.argv == tuple(argv)
        assert (result.exit_code, result.stdout, result.stderr.strip()) == (7, "a b|'q'|\"d\"|$(id)|;|", "oops")
        assert not result.ok and result.detail() == "oops" and 0 < result.seconds < 60

    def test_a_failure_says_stderr_else_stdout_else_the_exit_code(self, transport):
        assert transport.run(["sh", "-c", "echo said; exit 3"]).detail() == "said"
        assert transport.run(["sh", "-c", "exit 5"]).detail() == "exit code 5"
        with pytest.raises(DeviceError, match=f"^{re.escape(transport.address)}: cannot list it: said$"):
            transport.checked(["sh", "-c", "echo said >&2; exit 1"], "cannot list it")

    def test_a_missing_program_is_exit_code_127(self, transport):
        result = transport.run(["/nonexistent/edgekit-tool", "--help"])
        assert result.exit_code == 127 and "edgekit-tool" in result.detail()

    def test_a_command_past_its_timeout_is_an_error_naming_it(self, transport):
        with pytest.raises(DeviceError, match=f"{re.escape(transport.address)}: sleep did not finish within 0.5 s"):
            transport.run(["sleep", "5"], timeout=0.5)

    def test_put_into_the_session_folder_and_sha256_there(self, transport, tmp_path):
        local = tmp_path / AWKWARD_NAME
        local.write_bytes(b"edgekit\x00bytes\n" * 100)
        folder = f"{transport.workdir()}/sub dir"
        assert transport.deploy(local, f"{folder}/{AWKWARD_NAME}") == fsutil.sha256_file(local)
        listing = transport.checked(["ls", folder], "cannot list")
        assert listing.strip() == AWKWARD_NAME and not (Path.cwd() / "pwned").exists()

    def test_fetch_returns_the_same_bytes(self, transport, tmp_path):
        source = tmp_path / "source.bin"
        source.write_bytes(bytes(range(256)) * 40)
        fetched = transport.fetch(transport.push(source, "round trip.bin"), tmp_path / "back" / "fetched.bin")
        assert fetched.read_bytes() == source.read_bytes()

    def test_close_removes_the_session_folder_and_is_safe_twice(self, transport, tmp_path):
        source = tmp_path / "scratch.bin"
        source.write_bytes(b"x")
        folder = transport.workdir()
        transport.push(source, "scratch.bin")
        transport.close()
        transport.close()
        transport.connect()
        assert transport.run(["test", "-e", folder]).exit_code == 1  # gone with the session that made it


class AdapterContract:
    """Behaviour every adapter shares. Subclasses define the `adapter` fixture."""

    #: False for adapters that time with another tool (benchmark_model): no per-run samples then
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
        assert profile["threads"] == adapter.target.threads  # the target's, when the settings name none
        if self.per_run_samples:
            assert len(profile["samples_ms"]) == profile["runs"]
            assert profile["min_ms"] <= profile["median_ms"] <= profile["max_ms"]
        else:
            assert profile["samples_ms"] == [] and "aggregate" in profile["samples_source"]
            assert profile["device"]["runtime"] == "benchmark_model"

    def test_a_refused_model_is_not_pushed(self, adapter):
        adapter.target.accepts.quantization = ["int8"]
        with pytest.raises(ArtifactNotAccepted, match="mlp-float32.tflite is float32: .* runs only int8 models"):
            adapter.profile([MODELS / "mlp-float32.tflite"], QUICK)

    def test_close_is_safe_twice(self, adapter):
        adapter.close()
        adapter.close()
