"""The fleet summary (median of medians, spread), the documents a pool writes, and what `edgekit regress` reads
of them."""

import json
import time
from pathlib import Path

import pytest

from edgekit.errors import ArtifactNotAccepted, DeviceDisconnected, TargetUnreachable
from edgekit.fleet import fleet_statistics
from edgekit.fleet.pool import DeviceRun, FleetRun, fleet_document, profile_document
from edgekit.fleet.summary import fleet_by_name
from edgekit.pipeline.manifest import final_error
from edgekit.pipeline.summary import print_manifest_fleet
from edgekit.regress.inputs import SetKind, load_latency_set

MODELS = Path(__file__).resolve().parents[1] / "data" / "models"


def test_median_of_medians_and_spread_of_an_odd_fleet():
    stats = fleet_statistics({"a": 2.0, "b": 1.0, "c": 4.0})
    assert stats["devices"] == 3 and stats["median_of_medians_ms"] == 2.0
    assert (stats["min_median_ms"], stats["max_median_ms"], stats["spread_ms"]) == (1.0, 4.0, 3.0)
    assert stats["relative_spread"] == pytest.approx(1.5)
    assert (stats["fastest"], stats["slowest"]) == ("b", "c")
    assert stats["median_ms_by_device"] == {"a": 2.0, "b": 1.0, "c": 4.0}


def test_an_even_fleet_takes_the_mean_of_the_middle_two_and_devices_without_a_median_are_left_out():
    stats = fleet_statistics({"a": 1.0, "b": 3.0, "android": None, "c": 2.0, "d": 10.0})
    assert stats["devices"] == 4 and stats["median_of_medians_ms"] == 2.5
    assert stats["relative_spread"] == pytest.approx(9.0 / 2.5)
    assert stats["median_ms_by_device"]["android"] is None
    assert fleet_statistics({"android": None}) is None
    assert fleet_statistics({"a": 1.5})["relative_spread"] == 0.0


def test_fleet_by_name_keeps_first_seen_order_and_missing_models():
    fleet = fleet_by_name({"a": {"m1": {"median_ms": 1.0}, "m2": {"median_ms": 4.0}},
                           "b": {"m1": {"median_ms": 3.0}}})
    assert list(fleet) == ["m1", "m2"]
    assert fleet["m1"]["median_of_medians_ms"] == 2.0 and fleet["m2"]["devices"] == 1


def profile(address, model, median):
    return {"model": {"path": f"/x/{model}", "sha256": "0" * 64, "bytes": 10}, "target": "rpi4",
            "device": {"address": address, "machine": "aarch64", "cpu": "A72"}, "runs": 3,
            "median_ms": median, "samples_ms": [median, median, median * 1.1]}


def fleet_of_three() -> FleetRun:
    return FleetRun("rpi4", [
        DeviceRun("pi@a", [profile("pi@a", "m.tflite", 2.0)]),
        DeviceRun("pi@b", error=DeviceDisconnected("pi@b: the device dropped the connection while running python3")),
        DeviceRun("pi@c", [profile("pi@c", "m.tflite", 3.0)]),
    ])


def test_a_failed_device_is_named_with_its_cause_and_the_kept_ones_listed():
    fleet = fleet_of_three()
    error = fleet.error()
    assert error.exit_code == 3
    assert str(error) == ("profiling failed on 1 of 3 devices of target rpi4: pi@b: the device dropped the "
                          "connection while running python3; the results of pi@a, pi@c were kept")


def test_when_every_device_fails_a_shared_cause_keeps_its_exit_code():
    refused = FleetRun("rpi4", [DeviceRun("pi@a", error=ArtifactNotAccepted("m is float32")),
                                DeviceRun("pi@b", error=ArtifactNotAccepted("m is float32"))])
    assert refused.error().exit_code == 2
    assert str(refused.error()) == ("profiling failed on every device of target rpi4: pi@a: m is float32; "
                                    "pi@b: m is float32")
    mixed = FleetRun("rpi4", [DeviceRun("pi@a", error=ArtifactNotAccepted("m")),
                              DeviceRun("pi@b", error=TargetUnreachable("pi@b: unreachable"))])
    assert mixed.error().exit_code == 3


def test_the_fleet_document_is_read_by_regress_as_the_first_devices_profiles(tmp_path):
    document = fleet_document(fleet_of_three())
    assert [p["device"]["address"] for p in document["profiles"]] == ["pi@a"]
    assert [device["address"] for device in document["devices"]] == ["pi@a", "pi@c"]
    assert document["devices_failed"] == [{"address": "pi@b",
                                           "error": "the device dropped the connection while running python3"}]
    assert list(document["profiles_by_device"]) == ["pi@a", "pi@c"]  # nothing of the failed device
    assert document["fleet"][0]["model"] == "m.tflite" and document["fleet"][0]["median_of_medians_ms"] == 2.5
    path = tmp_path / "fleet.json"
    path.write_text(json.dumps(document))
    latency_set = load_latency_set(path)
    assert latency_set.kind is SetKind.PROFILES and latency_set.device["address"] == "pi@a"
    assert list(latency_set.profiles) == ["m.tflite"]


def test_one_device_writes_one_shape_whatever_the_number_of_models():
    one = FleetRun("rpi4", [DeviceRun("pi@a", [profile("pi@a", "m.tflite", 2.0)])])
    assert list(profile_document(one)) == ["profiles"] and profile_document(one)["profiles"][0]["median_ms"] == 2.0
    two_models = FleetRun("rpi4", [DeviceRun("pi@a", [profile("pi@a", "m.tflite", 2.0),
                                                      profile("pi@a", "n.tflite", 1.0)])])
    assert list(profile_document(two_models)) == ["profiles"]


def fleet_manifest(failed):
    latency = {"pi@a": profile("pi@a", "m.tflite", 2.0), "pi@c": profile("pi@c", "m.tflite", 3.0)}
    return {
        "target": "rpi4", "device": latency["pi@a"]["device"],
        "devices": [latency["pi@a"]["device"], latency["pi@c"]["device"]],
        "devices_failed": failed,
        "artifacts": [{"name": "tflite-int8", "latency": latency["pi@a"], "latency_by_device": latency,
                       "fleet": fleet_statistics({"pi@a": 2.0, "pi@c": 3.0})},
                      {"name": "keras-dense", "latency": None}],
        "gate": {"failures": []},
    }


def test_a_build_with_a_failed_device_ends_with_exit_3_and_names_the_gate_too():
    failed = [{"address": "pi@b", "error": "unreachable"}]
    error = final_error(fleet_manifest(failed))
    assert error.exit_code == 3
    assert str(error) == ("profiling failed on 1 of 3 devices of target rpi4: pi@b: unreachable; the results of "
                          "pi@a, pi@c were kept")
    manifest = fleet_manifest(failed)
    manifest["gate"]["failures"] = ["tflite-int8 accuracy 0.5 is 0.4 below"]
    assert str(final_error(manifest)).endswith("; also, accuracy gate failed: tflite-int8 accuracy 0.5 is 0.4 below")
    assert final_error(fleet_manifest([])) is None


def test_the_build_summary_prints_the_fleet(capsys):
    print_manifest_fleet(fleet_manifest([{"address": "pi@b", "error": "unreachable (Connection timed out)"}]))
    printed = capsys.readouterr().out
    assert "fleet · rpi4 · 2 of 3 devices (1 failed)" in printed
    row = next(line for line in printed.splitlines() if "tflite-int8" in line)
    cells = [cell.strip() for cell in row.strip("│ ").split("│")]
    assert cells == ["tflite-int8", "2", "3", "2.5", "2–3", "40.0%"]
    assert "failed: pi@b: unreachable (Connection timed out)" in printed
    assert "keras-dense" not in printed


def test_a_profile_records_when_it_was_measured_while_the_device_was_held(tmp_path, monkeypatch):
    from edgekit.adapters import ConnectionOptions
    from edgekit.profiling.profile import ProfileSettings
    from edgekit.fleet.measure import profile_models

    monkeypatch.setenv("EDGEKIT_LOCK_DIR", str(tmp_path / "locks"))
    before = time.time()
    (measured,) = profile_models([MODELS / "mlp-int8.tflite"], "host", ConnectionOptions(),
                                 ProfileSettings(runs=3, warmup=0, min_seconds=0))
    window = measured["measured_at"]
    assert before <= window["start"] <= window["end"] <= time.time()
    assert list(measured)[-1] == "measured_at"  # after the profile JSON's own keys (DESIGN.md)
    assert list((tmp_path / "locks").glob("local-localhost-*.lock"))
