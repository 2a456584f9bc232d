"""Inputs under attack and builds under fault: hostile YAML, numbers out of range, model files that carry code,
a devices.yaml that names a program, broken image folders, a full disk and a read-only output folder.

Each case ends in one message and a documented exit code (2 bad input, 3 the machine failed), never a
traceback; nothing written before is lost or half-written. The disk cases mount a small tmpfs and need root:
they skip, saying why, when not root, except under CI=true, where they must run.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
import time
import tracemalloc
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from edgekit.cli import main
from edgekit.config.loader import load_config
from edgekit.config.schema import BadFiles, DataConfig, DataSource, EdgekitConfig
from edgekit.config.target import load_target
from edgekit.config.yamlbounds import MAX_DEPTH, MAX_EXPANDED_NODES
from edgekit.errors import ConfigError, DataError, DiskFull, OutputNotWritable
from edgekit.fleet import DeviceChoice, choose_devices, load_inventory

MODELS = Path(__file__).resolve().parents[1] / "data" / "models"


def run_cli(*args, cwd: Path | None = None):
    runner = CliRunner()
    if cwd is None:
        return runner.invoke(main, [str(arg) for arg in args])
    previous = os.getcwd()
    os.chdir(cwd)
    try:
        return runner.invoke(main, [str(arg) for arg in args])
    finally:
        os.chdir(previous)


def one_message(result, exit_code: int, *fragments: str) -> None:
    """The command ended with `exit_code` and a single 'error:' message holding every fragment, no traceback."""
    assert result.exit_code == exit_code, result.output
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.output.count("error:") == 1, result.output
    flat = " ".join(result.output.split())
    for fragment in fragments:
        assert fragment in flat, f"{fragment!r} not in {flat!r}"


# ------------------------------------------------------------------------------------------------ hostile YAML
def alias_bomb(levels: int, width: int = 9) -> str:
    lines = ["name: x", "l0: &l0 [" + ",".join(["lol"] * width) + "]"]
    for level in range(1, levels + 1):
        lines.append(f"l{level}: &l{level} [" + ",".join([f"*l{level - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("levels", [6, 7, 9])
def test_alias_bombs_are_refused_at_once_in_little_memory(tmp_path, levels):
    # Before: 6 levels took 9 s and 1.1 GB, 7 levels ended in MemoryError.
    path = tmp_path / "edgekit.yaml"
    path.write_text(alias_bomb(levels))
    assert path.stat().st_size < 600
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert f"{path}, line " in str(caught.value)
    assert f"expands to more than {MAX_EXPANDED_NODES:,} entries once its aliases are expanded" in str(caught.value)
    assert seconds < 2.0 and peak < 20 * 2**20, (seconds, peak)


@pytest.mark.parametrize("text, line", [
    ("name: x\nloop: &a [1, *a]\n", 2),
    ("name: x\nloop: &a\n  inner: *a\n", 3),
    ("name: x\nouter: &a\n  - [2, [3, *a]]\n", 3),
])
def test_recursive_aliases_name_the_line(tmp_path, text, line):
    path = tmp_path / "edgekit.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=rf"edgekit.yaml, line {line}: the alias \*a refers to a node that contains "
                                          rf"it \(a recursive alias\)"):
        load_config(path)


def test_deep_nesting_is_refused_before_python_runs_out_of_stack(tmp_path):
    path = tmp_path / "edgekit.yaml"
    path.write_text("name: x\ndeep: " + "[" * 20_000 + "]" * 20_000 + "\n")  # RecursionError before
    with pytest.raises(ConfigError, match=rf"edgekit.yaml, line 2: nested more than {MAX_DEPTH} levels deep"):
        load_config(path)
    # aliases cannot stack depth past the limit either
    path.write_text("a: &a " + "[" * 40 + "]" * 40 + "\nb: " + "[" * 40 + "*a" + "]" * 40 + "\n")
    with pytest.raises(ConfigError, match=rf"line 2: nested more than {MAX_DEPTH} levels deep once its aliases are "
                                          rf"expanded"):
        load_config(path)


def test_ordinary_aliases_and_merge_keys_still_work(tmp_path):
    path = tmp_path / "edgekit.yaml"
    path.write_text("name: x\nprune: &short {enabled: true, epochs: 3}\nqat:\n  <<: *short\n")
    config = load_config(path).config
    assert config.prune.epochs == 3 and config.qat.epochs == 3


@pytest.mark.parametrize("what", ["devices", "target"])
def test_devices_and_target_files_have_the_same_bounds(tmp_path, monkeypatch, what):
    hostile = alias_bomb(7).replace("name: x\n", "")
    if what == "devices":
        path = tmp_path / "devices.yaml"
        path.write_text("rpi4: &r [pi@a, *r]\n")
        with pytest.raises(ConfigError, match=r"devices.yaml, line 1: the alias \*r refers to a node that contains it"):
            load_inventory(path)
        path.write_text(hostile)
        with pytest.raises(ConfigError, match=r"devices.yaml, line \d+: this value expands to more than"):
            load_inventory(path)
    else:
        folder = tmp_path / "targets"
        folder.mkdir()
        (folder / "evil.yaml").write_text("name: evil\ndescription: x\nadapter: local\narch: x86_64\n" + hostile)
        monkeypatch.setenv("EDGEKIT_TARGETS_PATH", str(folder))
        with pytest.raises(ConfigError, match=r"evil.yaml, line \d+: this value expands to more than"):
            load_target("evil")


def test_hostile_config_through_the_cli_is_one_message_exit_2(tmp_path):
    path = tmp_path / "edgekit.yaml"
    path.write_text(alias_bomb(7))
    one_message(run_cli("build", "--config", path), 2, "expands to more than")


# A YAML document built from hostile pieces: anchors, aliases (forward, backward, self), deep flow collections,
# merge keys and odd scalars. Whatever comes out, loading ends in a config or a ConfigError, quickly.
SCALARS = st.sampled_from(["1", "-1", "0", "1e32", "1.0e+32", ".inf", "-.inf", ".nan", "~", "yes", "''", "x",
                           "99999999999999999999999999", "0x10", "2:4", "!!binary aGk=", "[]", "{}"])
KEYS = st.sampled_from(["name", "data", "model", "train", "prune", "qat", "export", "evaluate", "profile", "epochs",
                        "seed", "runs", "min_seconds", "image_size", "<<", "x"])


@st.composite
def hostile_documents(draw):
    anchors: list[str] = []

    def value(depth: int) -> str:
        choice = draw(st.integers(0, 5 if depth < 12 else 1))
        if choice == 0 or (choice == 1 and not anchors):
            return draw(SCALARS)
        if choice == 1:
            return "*" + draw(st.sampled_from(anchors))
        if choice == 2:
            items = [value(depth + 1) for _ in range(draw(st.integers(0, 9)))]
            return "[" + ", ".join(items) + "]"
        if choice == 3:
            items = [f"{draw(KEYS)}: {value(depth + 1)}" for _ in range(draw(st.integers(0, 4)))]
            return "{" + ", ".join(items) + "}"
        if choice == 4:
            name = f"a{len(anchors)}"
            anchors.append(name)  # an alias to it inside its own value is a recursive alias
            return f"&{name} " + value(depth + 1)
        nesting = draw(st.integers(1, 200))
        return "[" * nesting + draw(SCALARS) + "]" * nesting

    lines = [f"{draw(KEYS)}: {value(0)}" for _ in range(draw(st.integers(1, 8)))]
    return "\n".join(lines) + "\n"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(document=hostile_documents())
def test_property_any_document_is_a_config_or_one_config_error(tmp_path_factory, document):
    path = tmp_path_factory.mktemp("hostile") / "edgekit.yaml"
    path.write_text(document)
    started = time.perf_counter()
    try:
        loaded = load_config(path)
    except ConfigError as error:
        assert str(error).startswith(str(path)), error
    else:
        assert isinstance(loaded.config, EdgekitConfig)
    assert time.perf_counter() - started < 5.0


# ------------------------------------------------------------------------------------------------ numbers
NUMERIC_KEYS = [("data", "val_fraction"), ("data", "test_fraction"), ("data", "seed"), ("data", "max_bad_fraction"),
                ("model", "width"), ("train", "epochs"), ("train", "batch_size"), ("train", "learning_rate"),
                ("prune", "target_sparsity"), ("prune", "epochs"), ("qat", "epochs"),
                ("export", "representative_samples"), ("export", "onnx_opset"), ("evaluate", "max_accuracy_drop"),
                ("profile", "runs"), ("profile", "warmup"), ("profile", "min_seconds"), ("profile", "threads")]


@settings(max_examples=300, deadline=None)
@given(key=st.sampled_from(NUMERIC_KEYS),
       number=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(min_value=-10**40, max_value=10**40),
                        st.sampled_from(["1e32", "1.0e+32", ".inf", "-.inf", ".nan", "-0.0"])))
def test_property_every_number_is_finite_and_in_range_or_refused_with_its_line(tmp_path_factory, key, number):
    section, name = key
    written = number if isinstance(number, str) else repr(number) if isinstance(number, int) else _yaml_float(number)
    path = tmp_path_factory.mktemp("numbers") / "edgekit.yaml"
    path.write_text(f"name: x\n{section}:\n  {name}: {written}\n")
    try:
        config = load_config(path).config
    except ConfigError as error:
        # the key's own line, or its section's when a check of the whole section refused it (naming the key)
        assert f"line 3: {section}.{name}" in str(error) or f"line 2: {name}" in str(error), error
        return
    value = getattr(getattr(config, section), name)
    assert value is None or math.isfinite(value)
    assert value is None or abs(value) <= 10**7 or (section, name) == ("data", "seed") and value < 2**32


def _yaml_float(number: float) -> str:
    if math.isnan(number):
        return ".nan"
    if math.isinf(number):
        return ".inf" if number > 0 else "-.inf"
    text = repr(number)
    # YAML 1.1 reads 1e+20 as a string; write the exponent in the form PyYAML reads as a float
    if "e" in text and "." not in text.split("e")[0]:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}.0e{'+' if not exponent.startswith('-') else ''}{exponent.lstrip('+')}"
    return text


def test_epochs_1e32_is_one_message_exit_2(tmp_path):
    path = tmp_path / "edgekit.yaml"
    path.write_text("name: x\ntrain:\n  epochs: 100000000000000000000000000000000\n")
    one_message(run_cli("build", "--config", path), 2, "line 3: train.epochs: Input should be less than or equal to "
                                                       "100000")
    path.write_text("name: x\nprofile:\n  min_seconds: .inf\n")
    one_message(run_cli("build", "--config", path), 2, "line 3: profile.min_seconds: Input should be a finite number")


def test_target_file_numbers_are_checked(tmp_path, monkeypatch):
    folder = tmp_path / "targets"
    folder.mkdir()
    (folder / "odd.yaml").write_text("name: odd\ndescription: x\nadapter: local\narch: x86_64\n"
                                     "connect_timeout_s: .inf\nthreads: 100000000000000000000\n")
    monkeypatch.setenv("EDGEKIT_TARGETS_PATH", str(folder))
    with pytest.raises(ConfigError) as caught:
        load_target("odd")
    assert "line 5: connect_timeout_s: Input should be a finite number" in str(caught.value)
    assert "line 6: threads: Input should be less than or equal to 1024" in str(caught.value)


# ------------------------------------------------------------------------------------------------ model files
def _lambda_model(marker: Path):
    from edgekit._tf import keras

    k = keras()
    inputs = k.Input((8, 8))
    flat = k.layers.Flatten()(inputs)
    # The function writes `marker` whenever it runs: loading the file rebuilds the model, which calls it.
    touched = k.layers.Lambda(lambda x, marker=str(marker): (open(marker, "w").close(), x)[1], name="payload")(flat)
    outputs = k.layers.Dense(10, activation="softmax")(touched)
    return k.Model(inputs, outputs)


@pytest.fixture(scope="module")
def crafted_models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("crafted")
    marker = folder / "code-ran"
    model = _lambda_model(marker)
    model.save(folder / "model.h5")
    model.save(folder / "model.keras")
    model.save(folder / "saved_model", save_format="tf")
    marker.unlink(missing_ok=True)
    return folder, marker


@pytest.mark.parametrize("name", ["model.h5", "saved_model", "model.keras"])
def test_model_files_with_code_are_refused_before_loading(crafted_models, name):
    from edgekit.models.loading import load_model_file
    from edgekit.models.trust import UntrustedModelCode

    folder, marker = crafted_models
    marker.unlink(missing_ok=True)
    with pytest.raises(UntrustedModelCode, match=rf"{name}: not loaded: it holds Python code that loading it would "
                                                 rf"run \(Lambda layer 'payload'\).*set model.trust_code: true"):
        load_model_file(folder / name)
    assert not marker.exists()


def test_trust_code_loads_it_and_the_code_does_run(crafted_models):
    # The refusal is not theoretical: with trust_code the stored function runs while loading.
    from edgekit.models.loading import load_model_file

    folder, marker = crafted_models
    marker.unlink(missing_ok=True)
    model = load_model_file(folder / "model.h5", trust_code=True)
    assert model.get_layer("payload") is not None and marker.exists()
    marker.unlink()
    load_model_file(folder / "model.keras", trust_code=True)
    assert marker.exists()


def test_build_with_a_crafted_h5_is_one_message_exit_2(crafted_models, tmp_path):
    folder, marker = crafted_models
    marker.unlink(missing_ok=True)
    config = tmp_path / "edgekit.yaml"
    config.write_text(f"name: crafted\nmodel: {{file: {folder / 'model.h5'}}}\ntrain: {{epochs: 1}}\n"
                      f"prune: {{enabled: false}}\nqat: {{enabled: false}}\n")
    one_message(run_cli("build", "--config", config), 2, "not loaded: it holds Python code",
                "Lambda layer 'payload'", "model.trust_code: true")
    assert not marker.exists()


def test_trust_code_is_a_documented_config_key(tmp_path):
    path = tmp_path / "edgekit.yaml"
    path.write_text("name: x\nmodel: {file: m.h5, trust_code: yes}\n")
    assert load_config(path).config.model.trust_code is True
    path.write_text("name: x\nmodel: {file: m.h5, trust_cod: true}\n")
    with pytest.raises(ConfigError, match=r"line 2: unknown key 'trust_cod' in model \(did you mean 'trust_code'\?\)"):
        load_config(path)


# ------------------------------------------------------------------------------------------------ devices.yaml
def test_devices_yaml_found_in_the_current_folder_runs_no_program(tmp_path):
    marker = tmp_path / "program-ran"
    program = tmp_path / "evil.sh"
    program.write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    program.chmod(0o755)
    (tmp_path / "devices.yaml").write_text(f"host:\n  - address: localhost\n    remote_python: {program}\n")
    result = run_cli("profile", MODELS / "mlp-int8.tflite", "--target", "host", "--runs", "1", cwd=tmp_path)
    one_message(result, 2, "devices.yaml: found in the current folder, not named with --devices",
                f"remote_python: {program}", "pass --devices devices.yaml")
    assert not marker.exists()


def test_devices_yaml_named_with_devices_may_name_the_python(tmp_path):
    path = tmp_path / "devices.yaml"
    path.write_text("rpi4:\n  - {address: pi@a, remote_python: /opt/py}\n")
    pool = choose_devices(load_target("rpi4"), DeviceChoice(devices_file=path))
    assert pool.first.remote_python == "/opt/py"
    with pytest.raises(ConfigError, match="names a program to run for target rpi4"):
        choose_devices(load_target("rpi4"), DeviceChoice(default_file=path))


# ------------------------------------------------------------------------------------------------ images
def make_images(root: Path, per_class: int = 60) -> Path:
    for class_id, name in enumerate(["cat", "dog"]):
        (root / name).mkdir(parents=True)
        for index in range(per_class):
            Image.new("RGB", (12, 10), color=(class_id * 200, index, 0)).save(root / name / f"{index:03d}.png")
    return root


def add_problems(root: Path) -> None:
    buffer = root / "cat" / "whole.jpg"
    Image.new("RGB", (64, 64), color=(10, 200, 30)).save(buffer, quality=95)
    data = buffer.read_bytes()
    buffer.unlink()
    (root / "cat" / "truncated.jpg").write_bytes(data[: len(data) // 2])  # a download cut short
    (root / "cat" / "notes.txt").write_text("not an image")
    (root / "cat" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (root / "dog" / "._001.png").write_bytes(b"\0\5\26\7AppleDouble")  # macOS resource fork
    Image.new("RGB", (1, 1)).save(root / "dog" / "pixel.png")
    Image.new("L", (12, 10), color=90).save(root / "dog" / "grey.png")
    Image.new("RGBA", (12, 10), color=(200, 0, 0, 0)).save(root / "cat" / "clear.png")


def images_config(root: Path, **overrides) -> DataConfig:
    return DataConfig(source=DataSource.IMAGES, path=str(root), image_size=(8, 8), **overrides)


def test_image_problems_are_skipped_counted_and_listed(tmp_path):
    from edgekit.data.streaming import ImageFolderSplits, list_images

    root = make_images(tmp_path / "images")
    add_problems(root)
    listing = list_images(root, images_config(root))
    notes = {note.path: (note.issue.value, note.reason) for note in listing.notes}
    assert notes["cat/truncated.jpg"][0] == "skipped" and "cannot decode this image" in notes["cat/truncated.jpg"][1]
    assert notes["cat/notes.txt"][0] == "skipped" and "not an image by its name" in notes["cat/notes.txt"][1]
    assert notes["cat/.DS_Store"] == ("skipped", "hidden file")
    assert notes["dog/._001.png"] == ("skipped", "hidden file")
    assert notes["dog/pixel.png"] == ("suspicious", "1×1 pixels, smaller than 8×8")
    assert notes["dog/grey.png"] == ("converted", "greyscale read as RGB")
    assert notes["cat/clear.png"] == ("converted", "RGBA (alpha dropped) read as RGB")
    used = set(listing.paths.tolist())
    assert "cat/truncated.jpg" not in used and "dog/pixel.png" in used and "dog/grey.png" in used
    assert len(used) == 120 + 3
    splits = ImageFolderSplits(listing, (8, 8))
    summary = splits.summary()
    assert summary["file_counts"] == {"used": 123, "skipped": 4, "converted": 2, "suspicious": 1}
    assert {"path": "dog/pixel.png", "issue": "suspicious", "reason": "1×1 pixels, smaller than 8×8"} \
        in summary["file_issues"]
    # every file left in decodes: nothing fails mid-epoch
    assert sum(len(labels) for split in ("train", "val", "test") for _, labels in splits.batches(split, 64)) == 123


def test_bad_files_fail_and_max_bad_fraction(tmp_path):
    from edgekit.data.streaming import list_images

    root = make_images(tmp_path / "images")
    add_problems(root)
    with pytest.raises(DataError, match=r"truncated.jpg: cannot decode this image \(.*\); data.bad_files is 'fail'"):
        list_images(root, images_config(root, bad_files=BadFiles.FAIL))
    with pytest.raises(DataError, match=r"1 of 124 images cannot be decoded \(0.8%, more than data.max_bad_fraction "
                                        r"0.5%\): .*truncated.jpg: cannot decode this image"):
        list_images(root, images_config(root, max_bad_fraction=0.005))
    small = make_images(tmp_path / "small", per_class=5)
    (small / "dog" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    with pytest.raises(DataError, match=r"1 of 11 images cannot be decoded \(9.1%, more than data.max_bad_fraction "
                                        r"1.0%\)"):
        list_images(small, images_config(small))
    assert len(list_images(small, images_config(small, max_bad_fraction=0.1)).paths) == 10


def test_bad_files_config_keys(tmp_path):
    path = tmp_path / "edgekit.yaml"
    path.write_text("name: x\ndata: {source: images, path: imgs, image_size: 8, bad_files: ignore}\n")
    with pytest.raises(ConfigError, match=r"line 2: data.bad_files: 'ignore' is not one of 'skip' or 'fail'"):
        load_config(path)
    path.write_text("name: x\ndata: {source: images, path: imgs, image_size: 8, max_bad_fraction: 1.5}\n")
    with pytest.raises(ConfigError, match=r"line 2: data.max_bad_fraction: Input should be less than or equal to 1"):
        load_config(path)


TINY_IMAGES = """
name: shapes
data: {{source: images, path: {path}, image_size: 8, seed: 0}}
model: {{builtin: mlp}}
train: {{epochs: 1, batch_size: 32}}
prune: {{enabled: false}}
qat: {{enabled: false}}
export: {{formats: [tflite], quantization: [float32]}}
evaluate: {{max_accuracy_drop: 1.0}}
profile: {{runs: 2, warmup: 0, min_seconds: 0}}
"""


@pytest.mark.slow
def test_build_lists_image_problems_in_summary_and_manifest(tmp_path):
    root = make_images(tmp_path / "images")
    add_problems(root)
    config = tmp_path / "edgekit.yaml"
    config.write_text(TINY_IMAGES.format(path=root))
    result = run_cli("build", "--config", config)
    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.split())
    assert "image files: 123 used; 4 skipped, 2 converted to RGB, 1 smaller than 8×8" in flat
    manifest = json.loads((tmp_path / "build" / "host" / "manifest.json").read_text())
    assert manifest["data"]["file_counts"] == {"used": 123, "skipped": 4, "converted": 2, "suspicious": 1}
    listed = {item["path"]: item["issue"] for item in manifest["data"]["file_issues"]}
    assert listed == {"cat/.DS_Store": "skipped", "cat/clear.png": "converted", "cat/notes.txt": "skipped",
                      "cat/truncated.jpg": "skipped", "dog/._001.png": "skipped", "dog/grey.png": "converted",
                      "dog/pixel.png": "suspicious"}


# ------------------------------------------------------------------------------------------------ full disk
def _need_root() -> None:
    if os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("the disk-full tests mount a tmpfs and need root; under CI=true they must run")
        pytest.skip("not root: mounting a small tmpfs to fill needs root (these tests run as root in CI)")


@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs mounted at tmp_path/disk; `resize(kib)` changes its size (remount), `read_only()` remounts it ro."""
    _need_root()
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "edgekit-fault", str(mount_point)], check=True)

    class Disk:
        path = mount_point

        def used_kib(self) -> int:
            stat = os.statvfs(mount_point)
            return (stat.f_blocks - stat.f_bfree) * stat.f_frsize // 1024

        def resize(self, kib: int) -> None:
            subprocess.run(["mount", "-o", f"remount,size={kib}k", str(mount_point)], check=True)

        def read_only(self, on: bool = True) -> None:
            subprocess.run(["mount", "-o", "remount," + ("ro" if on else "rw"), str(mount_point)], check=True)

    try:
        yield Disk()
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


TINY_DIGITS = """
name: digits-fault
data: {source: digits, seed: 0}
model: {builtin: mlp}
train: {epochs: 1, batch_size: 64}
prune: {enabled: false}
qat: {enabled: false}
export: {formats: [tflite], quantization: [float32]}
evaluate: {max_accuracy_drop: 1.0}
profile: {runs: 2, warmup: 0, min_seconds: 0}
"""


def _snapshot(build_dir: Path) -> dict[str, str]:
    from edgekit.fsutil import sha256_file

    manifest = json.loads((build_dir / "manifest.json").read_text())
    files = {"manifest.json": sha256_file(build_dir / "manifest.json")}
    for artifact in manifest["artifacts"]:
        files[artifact["path"]] = sha256_file(build_dir / artifact["path"])
        assert files[artifact["path"]] == artifact["sha256"]
    return files


@pytest.mark.slow
def test_full_disk_mid_build_keeps_the_last_build_and_the_next_resumes(tmp_path, small_disk):
    config = tmp_path / "edgekit.yaml"
    config.write_text(textwrap.dedent(TINY_DIGITS))
    out = small_disk.path / "build"
    first = run_cli("build", "--config", config, "--out", out)
    assert first.exit_code == 0, first.output
    before = _snapshot(out)
    # More artifacts than the space left can hold: the export stage fills the disk.
    config.write_text(textwrap.dedent(TINY_DIGITS).replace("formats: [tflite], quantization: [float32]",
                                                           "formats: [tflite, onnx], quantization: [float32, "
                                                           "float16, dynamic, int8]"))
    small_disk.resize(small_disk.used_kib() + 48)
    full = run_cli("build", "--config", config, "--out", out)
    one_message(full, 3, "no space left on the file system of", "nothing already written was changed")
    assert _snapshot(out) == before
    assert not [p.name for p in out.glob(".*.tmp-*")], "a half-written temporary was left"
    small_disk.resize(64 * 1024)
    again = run_cli("build", "--config", config, "--out", out)
    assert again.exit_code == 0, again.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert {stage["name"]: stage["cached"] for stage in manifest["stages"]}["train"] is True
    assert {a["name"] for a in manifest["artifacts"]} >= {"tflite-int8", "onnx-float32"}


def test_disk_full_is_a_typed_error_for_any_write(small_disk):
    from edgekit import fsutil

    small_disk.resize(64)
    target = small_disk.path / "big.bin"
    fsutil.write_bytes(target, b"kept")
    with pytest.raises(DiskFull, match=rf"no space left on the file system of {small_disk.path}"):
        with fsutil.output_errors(small_disk.path):
            fsutil.write_bytes(target, b"\0" * (1 << 20))
    assert target.read_bytes() == b"kept"
    assert DiskFull.exit_code == 3


def test_read_only_output_folders_are_one_message_exit_2(tmp_path, small_disk):
    (small_disk.path / "profiles").mkdir()
    small_disk.read_only()
    config = tmp_path / "edgekit.yaml"
    config.write_text(textwrap.dedent(TINY_DIGITS))
    result = run_cli("build", "--config", config, "--out", small_disk.path / "build")
    one_message(result, 2, "cannot write the build into", "Read-only file system")
    started = time.perf_counter()
    result = run_cli("profile", MODELS / "mlp-int8.tflite", "--target", "host", "--runs", "1000", "--min-seconds", "30",
                     "--output", small_disk.path / "profiles" / "p.json")
    one_message(result, 2, "cannot write the profile into", "Read-only file system")
    assert time.perf_counter() - started < 20  # refused before profiling, not after
    assert OutputNotWritable.exit_code == 2


def test_a_build_that_fails_on_a_write_puts_back_what_it_replaced(tmp_path):
    # A stage replaced its folder, then a later write failed (the disk filled up): the last build's outputs and
    # records come back, so its manifest still describes the folder, and its stages are reused next time.
    from edgekit.pipeline.cache import StageCache

    def produce(content):
        def write(work):
            (work / "model.tflite").write_text(content)
            return {"content": content}
        return write

    first = StageCache(tmp_path, keep_previous=True)
    first.run("export", {"v": 1}, produce("first"))
    first.finish()
    assert not list(tmp_path.glob(".*.old-*"))
    second = StageCache(tmp_path, keep_previous=True)
    second.run("export", {"v": 2}, produce("second"))
    second.run("profile", {"v": 2}, produce("new stage"))
    assert (tmp_path / "export" / "model.tflite").read_text() == "second"
    second.roll_back()
    assert (tmp_path / "export" / "model.tflite").read_text() == "first"
    assert not (tmp_path / "profile").exists() and not list(tmp_path.rglob(".*.old-*"))
    again = StageCache(tmp_path).run("export", {"v": 1}, produce("unused"))
    assert again.cached and again.meta == {"content": "first"}


def test_sigkill_with_outputs_set_aside_then_the_next_build_cleans_up_and_reuses(tmp_path):
    # A build killed (SIGKILL) after a stage replaced its folder, its predecessor still set aside: the next build
    # removes what the dead process set aside and reuses the stage it finished.
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from edgekit.pipeline.cache import StageCache

        def produce(content):
            def write(work):
                (work / "model.tflite").write_text(content)
                return {{"content": content}}
            return write

        root = Path({str(tmp_path)!r})
        first = StageCache(root, keep_previous=True)
        first.run("export", {{"v": 1}}, produce("first"))
        first.finish()
        second = StageCache(root, keep_previous=True)
        second.run("export", {{"v": 2}}, produce("second"))
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    process = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[2])
    assert process.returncode == -9
    assert [p.name for p in tmp_path.glob(".*.old-*")] and [p.name for p in tmp_path.rglob(".export.json.old-*")]
    from edgekit.pipeline.cache import StageCache

    cache = StageCache(tmp_path, keep_previous=True)
    cache.clean_stale_temporaries()
    assert not list(tmp_path.rglob(".*.old-*"))
    result = cache.run("export", {"v": 2}, lambda work: pytest.fail("the finished stage ran again"))
    assert result.cached and (tmp_path / "export" / "model.tflite").read_text() == "second"
