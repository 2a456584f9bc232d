"""Stores, numbers read from files, and what edgekit prints, under attack and fault.

Every file here is one edgekit wrote and someone (a script, a colleague on a shared board, a bad disk) changed:
baseline stores saved by many processes at once, profiles with infinite samples, stage records and lock files
with odd values, manifests with the wrong types, names holding terminal escapes. Each must give a clean message
and exit 2 (or be read as stale, for a cache), never a traceback; and nothing edgekit prints may carry a control
character to the terminal, into XML, or as NaN into JSON.
"""

from __future__ import annotations

import copy
import json
import math
import os
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgekit.base.process import HOST
from edgekit.cli import main
from edgekit.errors import BuildLocked, DeviceBusy, DeviceError, InputFileError
from edgekit.fleet import device_lock, locks
from edgekit.fleet.device_lock import stale_reason
from edgekit.fleet.lock_owner import Deadline, Holder, WaitReporter
from edgekit.fleet.locks import LocalDeviceLock
from edgekit.pipeline.cache import StageCache
from edgekit.pipeline.lock import BuildLock
from edgekit.regress import BaselineStore, GateThresholds, compare_sets, load_latency_set
from edgekit.regress.junit import junit_xml
from edgekit.safetext import finite_json, printable, xml_text
from tests.regress_documents import latency_samples, manifest, profile, write

ROOT = Path(__file__).resolve().parents[2]
ESCAPE = "\x1b[2J\x1b]0;pwned\x07"  # clear the screen, set the window title
HOSTILE_NAME = f"tflite-int8{ESCAPE}\u202e[/bold]\x00"
FAULT_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                                 HealthCheck.too_slow])

# Any JSON value, with the numbers and strings that break naive readers: NaN, infinities, huge integers,
# booleans where numbers go, control characters, lone surrogates.
json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2 ** 70), max_value=2 ** 70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(["", "..", "/etc/passwd", "../../outside", ESCAPE, "\ud800", "[/x]", "$\\frac$"]))
json_values = st.recursive(json_scalars, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)), max_leaves=12)


def cli(*args):
    return CliRunner().invoke(main, [str(arg) for arg in args])


def assert_clean_exit_2(result, *fragments):
    """Exit 2 with one message (no traceback, no escape on the terminal) holding every fragment."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output and "\x1b" not in result.output
    for fragment in fragments:
        assert fragment in result.output, (fragment, result.output)


def replace_at(document, path, value):
    """`document` (deep-copied) with the node at `path` (keys and indexes) replaced by `value`."""
    changed = copy.deepcopy(document)
    if not path:
        return value
    node = changed
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return changed


def node_paths(document, prefix=()):
    """Every path to a node of a JSON document."""
    yield prefix
    if isinstance(document, dict):
        for key, value in document.items():
            yield from node_paths(value, prefix + (key,))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield from node_paths(value, prefix + (index,))


@st.composite
def mangled(draw, document):
    """`document` with one node, anywhere, replaced by any JSON value."""
    paths = list(node_paths(document))
    return replace_at(document, draw(st.sampled_from(paths)), draw(json_values))


# ------------------------------------------------------------------------------------ concurrent baseline saves
SAVERS = 20
SAVER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from edgekit.regress import BaselineStore, save_baseline_file
    manifest, store, start = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    while not start.exists():
        time.sleep(0.001)
    save_baseline_file(manifest, BaselineStore(store))
""")


def test_concurrent_baseline_saves_keep_every_line_in_one_order(tmp_path):
    """20 processes save a three-artifact manifest into one store at the same moment: every history holds all 20
    saves, and every history lists them in the same order (read-then-rewrite without a lock lost a third)."""
    artifacts = ("tflite-float32", "tflite-int8", "tflite-dynamic")
    manifests = [write(tmp_path / f"build-{index:02d}" / "manifest.json",
                       manifest({name: latency_samples(0.5, count=50, seed=index) for name in artifacts}))
                 for index in range(SAVERS)]
    store, start = tmp_path / "store", tmp_path / "start"
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    savers = [subprocess.Popen([sys.executable, "-c", SAVER, str(path), str(store), str(start)], env=environment,
                               stderr=subprocess.PIPE, text=True) for path in manifests]
    time.sleep(3.0)  # every saver imported edgekit and waits for the start signal
    start.touch()
    errors = [saver.communicate(timeout=180)[1] for saver in savers]
    assert [saver.returncode for saver in savers] == [0] * SAVERS, errors

    histories = {history.latest.artifact: history for history in BaselineStore(store).histories()}
    assert sorted(histories) == sorted(artifacts)
    orders = {name: [entry.source for entry in history.entries] for name, history in histories.items()}
    for name, order in orders.items():
        assert sorted(order) == sorted(str(path) for path in manifests), (name, len(order))
    assert orders["tflite-int8"] == orders["tflite-float32"] == orders["tflite-dynamic"]
    assert not list(store.rglob(".*.tmp-*"))


def test_a_read_only_store_is_read_without_its_lock(tmp_path):
    store = BaselineStore(tmp_path / "store")
    store.save(load_latency_set(write(tmp_path / "m.json", manifest({"tflite-int8": latency_samples(0.3)}))))
    (tmp_path / "store" / ".lock").unlink()
    os.chmod(tmp_path / "store", 0o555)
    try:
        assert [history.latest.artifact for history in store.histories()] == ["tflite-int8"]
    finally:
        os.chmod(tmp_path / "store", 0o755)


# ------------------------------------------------------------------------------------ numbers read from files
@pytest.mark.parametrize("sample, shown", [(math.inf, "Infinity"), (-math.inf, "-Infinity"), (math.nan, "NaN"),
                                           ("1e999", "Infinity"), (0, "0"), (1e12, "1000000000000.0"),
                                           (True, "true"), ("0.5", '"0.5"')])
def test_a_sample_that_is_not_a_finite_latency_is_refused(tmp_path, sample, shown):
    samples = latency_samples(0.3, count=40)
    document = profile(samples)
    text = json.dumps(document).replace(f"{samples[3]}", "1e999" if sample == "1e999" else json.dumps(sample), 1)
    path = tmp_path / "p.json"
    path.write_text(text)
    with pytest.raises(InputFileError, match=rf"p.json: 'model.tflite' has a latency sample that is not a positive "
                                             rf"number of milliseconds from 1e-06 to 8.64e\+07: samples_ms\[3\] is "
                                             rf"{shown}"):
        load_latency_set(path)


def test_regress_with_an_infinite_sample_exits_2_instead_of_passing_with_a_nan_median(tmp_path):
    samples = latency_samples(0.3, count=40)
    baseline = write(tmp_path / "a.json", profile(samples))
    current = tmp_path / "b.json"
    current.write_text(json.dumps(profile(samples[:-1] + [1.0])).replace("1.0]", "Infinity]"))
    assert_clean_exit_2(cli("regress", baseline, current, "--timing", "recorded"),
                        "samples_ms[39] is Infinity")


def infinite_baseline_store(tmp_path) -> Path:
    """A store whose only saved line has an infinite sample (as a script or an old edgekit could write it)."""
    store = tmp_path / "store"
    samples = latency_samples(0.3, count=40)
    saved = load_latency_set(write(tmp_path / "m.json", manifest({"tflite-int8": samples})))
    (_, history), = BaselineStore(store).save(saved)
    history.write_text(history.read_text().replace(str(samples[5]), "Infinity", 1))
    return store


def test_an_infinite_saved_baseline_is_refused_by_show_and_by_the_gate(tmp_path):
    store = infinite_baseline_store(tmp_path)
    assert_clean_exit_2(cli("baseline", "show", "--store", store), "tflite-int8.jsonl: line 1",
                        "samples_ms[5] is Infinity")
    current = write(tmp_path / "current.json", manifest({"tflite-int8": latency_samples(0.3, seed=9)}))
    assert_clean_exit_2(cli("regress", "--against-store", current, "--store", store, "--timing", "recorded"),
                        "tflite-int8.jsonl: line 1", "samples_ms[5] is Infinity")


@pytest.mark.parametrize("line, why", [
    (b"[]", "line 2 is not a saved baseline (not a JSON object)"),
    (b"\xff\xfe not utf-8", "line 2 is not a saved baseline (not UTF-8 text)"),
    (b'{"saved_at": 5}', "line 2 is not a saved baseline ('saved_at' is not a string)"),
    (b"{", "line 2 is not a saved baseline (Expecting property name"),
])
def test_a_damaged_history_line_is_named_by_show(tmp_path, line, why):
    store = tmp_path / "store"
    saved = load_latency_set(write(tmp_path / "m.json", manifest({"tflite-int8": latency_samples(0.3)})))
    (_, history), = BaselineStore(store).save(saved)
    history.write_bytes(history.read_bytes() + line + b"\n")
    assert_clean_exit_2(cli("baseline", "show", "--store", store), why)
    # Saving again keeps the damaged line as it is and adds a good one after it.
    assert cli("baseline", "save", tmp_path / "m.json", "--store", store).exit_code == 0
    assert history.read_bytes().count(b"\n") == 3


def test_a_saved_model_file_outside_the_store_is_refused(tmp_path):
    store = tmp_path / "store"
    saved = load_latency_set(write(tmp_path / "m.json", manifest({"tflite-int8": latency_samples(0.3)})))
    (_, history), = BaselineStore(store).save(saved)
    record = json.loads(history.read_text())
    history.write_text(json.dumps({**record, "model_file": "/etc/passwd"}) + "\n")
    assert_clean_exit_2(cli("baseline", "show", "--store", store),
                        "\"model_file\" '/etc/passwd' is not a file under models/ of the store")


@pytest.mark.parametrize("recorded", ["/tmp/elsewhere/model.tflite", "../../model.tflite", "export/../../x.tflite"])
def test_an_artifact_path_outside_the_build_folder_is_refused(tmp_path, recorded):
    document = manifest({"tflite-int8": latency_samples(0.3)})
    document["artifacts"][0]["path"] = recorded
    current = write(tmp_path / "build" / "manifest.json", document)
    baseline = write(tmp_path / "main" / "manifest.json", manifest({"tflite-int8": latency_samples(0.3, seed=3)}))
    assert_clean_exit_2(cli("regress", baseline, current), f"artifact 'tflite-int8' has the path {recorded!r}, "
                                                           f"outside its build folder")


@FAULT_SETTINGS
@given(data=st.data())
def test_any_mangled_manifest_or_profile_is_compared_saved_and_reported_or_refused(tmp_path_factory, data):
    """The gate's readers, the store, the tables and the JUnit XML, on a manifest or profile with one node
    replaced by anything: an InputFileError, or a result; never another exception."""
    folder = tmp_path_factory.mktemp("gate")
    good = data.draw(st.sampled_from([manifest({"keras-dense": None, "tflite-int8": latency_samples(0.3, count=30)}),
                                      profile(latency_samples(0.3, count=30))]))
    document = data.draw(mangled(good))
    baseline = write(folder / "baseline.json", good)
    current = folder / "current.json"
    current.write_text(json.dumps(document))
    try:
        current_set = load_latency_set(current)
        report = compare_sets(load_latency_set(baseline), current_set, GateThresholds(resamples=50),
                              allow_device_change=True)
        BaselineStore(folder / "store").save(current_set)
        BaselineStore(folder / "store").histories()
    except InputFileError:
        return
    ElementTree.fromstring(junit_xml(report))
    json.dumps(finite_json(report.to_json()), allow_nan=False)


# ------------------------------------------------------------------------------------ stage records (a cache)
def produce(calls):
    def run(work):
        calls.append(work)
        (work / "model.bin").write_text("weights")
        return {"accuracy": 0.9}

    return run


@pytest.mark.parametrize("record", [b"[]", b"\xff\xfe\x00garbage", b"{}", b'{"key": 1}', b"null", b"[" * 100_000])
def test_a_damaged_stage_record_makes_the_stage_run_again(tmp_path, record):
    calls = []
    StageCache(tmp_path).run("train", {"epochs": 1}, produce(calls))
    (tmp_path / ".edgekit" / "stages" / "train.json").write_bytes(record)
    result = StageCache(tmp_path).run("train", {"epochs": 1}, produce(calls))
    assert not result.cached and len(calls) == 2
    assert StageCache(tmp_path).run("train", {"epochs": 1}, produce(calls)).cached


@pytest.mark.parametrize("field, value", [("files", {"/etc/hostname": "0" * 64}),
                                          ("files", {"../../outside.bin": "0" * 64}),
                                          ("meta", {"accuracy": "edited"}), ("seconds", math.inf),
                                          ("seconds", "fast"), ("digest", ["x"])])
def test_an_edited_stage_record_makes_the_stage_run_again(tmp_path, field, value):
    calls = []
    StageCache(tmp_path).run("train", {}, produce(calls))
    path = tmp_path / ".edgekit" / "stages" / "train.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), field: value}))
    assert not StageCache(tmp_path).run("train", {}, produce(calls)).cached
    assert len(calls) == 2


@FAULT_SETTINGS
@given(data=st.data())
def test_any_mangled_stage_record_is_reused_only_when_intact(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("cache")
    calls = []
    StageCache(folder).run("train", {}, produce(calls))
    path = folder / ".edgekit" / "stages" / "train.json"
    original = json.loads(path.read_text())
    document = data.draw(mangled(original))
    path.write_text(json.dumps(document))
    result = StageCache(folder).run("train", {}, produce(calls))
    if result.cached:  # only a record that still says exactly what the stage wrote may be reused
        assert (result.files, result.meta, result.digest) == (original["files"], original["meta"],
                                                              original["digest"])


def test_a_damaged_report_key_or_gzip_cache_does_not_stop_a_rebuild(tmp_path):
    from edgekit.pipeline.manifest import _read_json, write_manifest
    from edgekit.pipeline.runner import _write_report
    from tests.unit.report_manifest import sample_manifest, write_build

    build = write_build(tmp_path / "build")
    (build / ".edgekit").mkdir()
    (build / ".edgekit" / "report.sha256").write_bytes(b"\xff\xfe")
    assert _write_report(build) == build / "report.html"
    for damaged in (b"[]", b"\xff", b"{"):
        (build / ".edgekit" / "gzip_bytes.json").write_bytes(damaged)
        assert _read_json(build / ".edgekit" / "gzip_bytes.json") == {}
    (build / "manifest.json").write_bytes(b"[1, 2]")
    write_manifest(build, sample_manifest())
    assert json.loads((build / "manifest.json").read_text())["name"] == "digits-cnn"


@pytest.mark.parametrize("value", ["[]", "5", "null", '"worker"'])
def test_a_tf_config_that_is_not_an_object_is_a_config_error(value):
    from edgekit.errors import ConfigError
    from edgekit.pipeline.distribute import read_tf_config

    with pytest.raises(ConfigError, match=r"TF_CONFIG needs a \"cluster\" and a \"task\" object"):
        read_tf_config({"TF_CONFIG": value})


# ------------------------------------------------------------------------------------ lock files
@pytest.mark.parametrize("record", [
    {"pid": -1, "host": "here", "since": "yesterday", "token": ["a"], "user": {"x": 1}, "command": 7},
    {"pid": True, "since": 1e300, "token": {}, "host": None},
    {"pid": 2 ** 80, "since": -5, "token": 3},
    {"pid": 0, "since": math.nan},
    [], "owner", 42, None,
])
def test_an_odd_owner_record_is_described_and_judged_without_error(record):
    holder = Holder.parse(json.dumps(record), age_s=3.0)
    assert "pid" in holder.describe() or "not written" in holder.describe()
    assert stale_reason(holder) is None  # no usable pid, host or age: it may still be working
    assert stale_reason(Holder.parse(json.dumps(record), age_s=1e6)).startswith("no heartbeat for")


def test_a_negative_pid_on_this_host_is_not_asked_about():
    """pid -1 would make the liveness check signal every process of the user (kill(-1, 0))."""
    holder = Holder.parse(json.dumps({"pid": -1, "host": HOST}), age_s=1.0)
    assert holder.pid is None and stale_reason(holder) is None


owner_records = st.fixed_dictionaries({}, optional={key: json_values for key in ("token", "pid", "host", "user",
                                                                                  "command", "since")})


@FAULT_SETTINGS
@given(text=st.one_of(st.text(max_size=80), json_values.map(json.dumps),
                      owner_records.map(lambda record: json.dumps({**record, "host": HOST})
                                        if "pid" in record else json.dumps(record))),
       age=st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)))
def test_any_owner_record_is_described_and_judged(text, age):
    holder = Holder.parse(text, age)
    message = holder.describe()
    assert isinstance(message, str) and "\x1b" not in message
    stale_reason(holder)


@pytest.fixture
def lock_folder(tmp_path, monkeypatch):
    folder = tmp_path / "locks"
    monkeypatch.setenv(locks.LOCK_DIR_VARIABLE, str(folder))
    return folder


@pytest.mark.parametrize("content", [b"\xff\xfe\x00binary", b'{"pid": "x", "since": "now", "host": [1]}',
                                     f'{{"pid": 1, "host": "{ESCAPE}", "since": 1e999}}'.encode()])
def test_a_busy_local_lock_with_odd_content_gives_a_clean_busy_message(lock_folder, content):
    path = locks.local_lock_path("local", "board")
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    with open(path, "a") as holder:
        import fcntl

        fcntl.flock(holder, fcntl.LOCK_EX)
        with pytest.raises(DeviceBusy, match="busy: the device is held by") as raised:
            LocalDeviceLock(path).acquire(WaitReporter("board", Deadline(0.3)))
    assert "\x1b" not in str(raised.value)


def test_a_busy_build_lock_with_odd_content_names_an_unknown_owner(tmp_path):
    path = tmp_path / "build" / ".edgekit" / "build.lock"
    path.parent.mkdir(parents=True)
    for content in (b"[]", b'{"pid": [], "started": "soon", "host": 5}', b"\xff\xfe", b'{"started": 1e300}'):
        path.write_bytes(content)
        with open(path, "a") as holder:
            import fcntl

            fcntl.flock(holder, fcntl.LOCK_EX)
            with pytest.raises(BuildLocked, match=r"is being built by another edgekit process \((owner unknown|pid "
                                                  r"\? on \?, started at an unknown time)\)"):
                BuildLock(path).acquire()


def device_lock_with(tmp_path, owner: bytes, age_s: float):
    """The host target's device lock folder, held by `owner`, last touched `age_s` ago."""
    from edgekit.config.target import load_target

    target = load_target("host").model_copy(update={"workdir": str(tmp_path / "device")})
    folder = tmp_path / "device" / device_lock.DEVICE_LOCK_NAME
    folder.mkdir(parents=True)
    (folder / "owner.json").write_bytes(owner)
    past = time.time() - age_s
    os.utime(folder / "owner.json", (past, past))
    return target


@pytest.mark.parametrize("owner", [
    b'{"pid": true, "host": [], "token": {"a": 1}, "since": "x"}',
    b'  \t{"pid": 1, "host": "elsewhere"}  \n\n',
    b"",
    json.dumps({"pid": 1, "host": "elsewhere", "pad": "x" * 5000}).encode(),
    b'{"pid": -1, "since": 1e400, "command": "\\u001b[2J"}',
    b"[]",
    b"\xff\xfe\xfa not text",
])
def test_an_abandoned_device_lock_with_an_odd_owner_is_taken_over(tmp_path, lock_folder, owner):
    from edgekit.adapters import ConnectionOptions

    target = device_lock_with(tmp_path, owner, age_s=3600)
    with locks.locked_device(target, ConnectionOptions(), lock_timeout_s=5) as session:
        assert session.adapter is not None
    assert not (tmp_path / "device" / device_lock.DEVICE_LOCK_NAME).exists()


def test_a_stale_lock_the_device_will_not_match_ends_with_a_message_not_a_loop(tmp_path, lock_folder, monkeypatch):
    """When the device keeps answering that the stale record changed although it reads the same (a transport that
    alters it), the waiter asks once more, then stops with a clean DeviceError asking for removal by hand."""
    from edgekit.adapters import ConnectionOptions

    target = device_lock_with(tmp_path, b'{"pid": 1, "host": "elsewhere"}', age_s=3600)
    real = device_lock.DeviceLock._device
    breaks = []

    def altered(self, action, text):
        if action == "break":
            breaks.append(text)
            return "changed"
        return real(self, action, text)

    monkeypatch.setattr(device_lock.DeviceLock, "_device", altered)
    with pytest.raises(DeviceError, match=r"cannot remove the stale lock .* remove it by hand \(rm -r "):
        with locks.locked_device(target, ConnectionOptions(), lock_timeout_s=5):
            pass
    assert len(breaks) == 1


# ------------------------------------------------------------------------------------ manifests given to report
def report_build(folder: Path, document) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.json").write_text(json.dumps(document))
    return folder


@pytest.mark.parametrize("path, value, message", [
    (("device",), [], "device is [], expected an object"),
    (("gate",), "passed", "gate is \"passed\", expected an object"),
    (("artifacts", 2, "accuracy"), "0.9", "artifacts[2].accuracy is \"0.9\", expected a number from 0 to 1"),
    (("artifacts", 2, "latency", "samples_ms", 7), math.inf,
     "artifacts[2].latency.samples_ms[7] is Infinity, expected a latency in milliseconds"),
    (("artifacts", 3, "bytes"), -5, "artifacts[3].bytes is -5, expected a whole number, 0 or more"),
    (("sparsity", "layers", "conv1"), "half", "sparsity.layers['conv1'] is \"half\", expected a number from 0 to 1"),
    (("history", "train", "loss", 0), None, "history.train.loss[0] is null, expected a number"),
    (("artifacts", 0), "keras-dense", "artifacts[0] is \"keras-dense\", expected an artifact object"),
    (("name",), "\ud800", "name is \"\\ud800\", expected text (it holds a lone UTF-16 surrogate)"),
])
def test_a_type_confused_manifest_is_refused_by_report_naming_the_field(tmp_path, path, value, message):
    from tests.unit.report_manifest import sample_manifest

    build = report_build(tmp_path / "build", replace_at(sample_manifest(), path, value))
    assert_clean_exit_2(cli("report", build), message)
    assert not (build / "report.html").exists()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(data=st.data())
def test_any_mangled_manifest_is_reported_or_refused(tmp_path_factory, data):
    from edgekit.report import write_report
    from tests.unit.report_manifest import REGRESS_ROWS, sample_manifest

    folder = tmp_path_factory.mktemp("report")
    report_build(folder, data.draw(mangled(sample_manifest())))
    (folder / "regress.json").write_text(json.dumps(data.draw(mangled({"passed": False, "artifacts": REGRESS_ROWS}))))
    try:
        page = write_report(folder).read_text(encoding="utf-8")
    except InputFileError:
        return
    assert page.startswith("<!DOCTYPE html>")


def test_names_with_dollars_and_escapes_are_drawn_not_parsed_as_math(tmp_path):
    from edgekit.report import write_report
    from tests.unit.report_manifest import sample_manifest

    document = sample_manifest()
    document["artifacts"][2]["name"] = "tflite-$\\frac$"
    document["sparsity"]["layers"] = {f"conv{ESCAPE}": 0.5, "$\\x$": 0.4}
    page = write_report(report_build(tmp_path / "build", document)).read_text()
    assert "tflite-$\\frac$" in page


# ------------------------------------------------------------------------------------ output hygiene
def hostile_manifests(tmp_path):
    names = {HOSTILE_NAME: latency_samples(0.3, seed=1), "tflite-float32": latency_samples(1.0, seed=2)}
    documents = [manifest(names, target=f"host{ESCAPE}")]
    names[HOSTILE_NAME] = latency_samples(0.45, seed=3)
    documents.append(manifest(names, target=f"host{ESCAPE}"))
    for document in documents:
        document["artifacts"][0]["path"] = "export/hostile.tflite"
    return (write(tmp_path / "main" / "manifest.json", documents[0]),
            write(tmp_path / "pr" / "manifest.json", documents[1]))


def test_escape_sequences_in_names_never_reach_the_terminal(tmp_path):
    baseline, current = hostile_manifests(tmp_path)
    result = cli("regress", baseline, current, "--timing", "recorded", "--junit", tmp_path / "junit.xml")
    assert result.exit_code == 1, result.output  # a real regression, reported in full
    assert "\x1b" not in result.output and "\u202e" not in result.output and "\x00" not in result.output
    assert "tflite-int8\\x1b[2J\\x1b]0;pwned\\x07\\u202e[/bold]\\x00" in result.output.replace("\n", "")
    store = tmp_path / "store"
    for args in (("baseline", "save", current, "--store", store), ("baseline", "show", "--store", store),
                 ("baseline", "show", "--store", store, "--artifact", HOSTILE_NAME)):
        shown = cli(*args)
        assert shown.exit_code == 0, shown.output
        assert "\x1b" not in shown.output and "\u202e" not in shown.output, args


def test_control_characters_in_names_give_valid_junit_xml(tmp_path):
    baseline, current = hostile_manifests(tmp_path)
    cli("regress", baseline, current, "--timing", "recorded", "--junit", tmp_path / "junit.xml")
    suites = ElementTree.parse(tmp_path / "junit.xml").getroot()
    names = [case.get("name") for case in suites.iter("testcase")]
    assert names == ["tflite-int8\\x1b[2J\\x1b]0;pwned\\x07\\u202e[/bold]\\x00", "tflite-float32"]
    assert suites.find("testsuite").get("failures") == "1"


@given(text=st.text())
def test_every_string_is_made_printable_and_xml_safe(text):
    shown = printable(text)
    assert not any(ord(char) < 0x20 or 0x7f <= ord(char) < 0xa0 or 0xd800 <= ord(char) < 0xe000 for char in shown)
    shown.encode("utf-8")
    element = ElementTree.Element("case", {"name": xml_text(text)})
    element.text = xml_text(text)
    parsed = ElementTree.fromstring(ElementTree.tostring(element, encoding="utf-8"))
    assert parsed.get("name") == (parsed.text or "") == xml_text(text)


def test_inspect_json_is_valid_json_with_nan_and_infinity_as_strings(tmp_path):
    from tests.unit.inspect_models import Graph, Op, T, synthetic_model

    graph = Graph(tensors=[T(f"input{ESCAPE}", [1, 4], scale=math.nan), T("output", [1, 4], scale=math.inf)],
                  ops=[Op("RELU", [0], [1])], inputs=[0], outputs=[1])
    model = synthetic_model(tmp_path / "odd.tflite", graph)
    result = cli("inspect", model, "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.output, parse_constant=lambda name: pytest.fail(f"bare {name} in the JSON"))
    assert record["inputs"][0]["quantization"]["scale"] == ["NaN"]
    assert record["outputs"][0]["quantization"]["scale"] == ["Infinity"]
    table = cli("inspect", model)
    assert table.exit_code == 0 and "\x1b" not in table.output and "input\\x1b[2J" in table.output


def test_a_markup_like_name_in_an_error_is_shown_as_written(tmp_path):
    document = manifest({"[/bold]tflite": latency_samples(0.3)})
    document["artifacts"][0]["format"] = "tflite"  # the name alone is markup-like; the manifest stays valid
    document["artifacts"][0]["path"] = "/abs/[red]x.tflite"
    current = write(tmp_path / "b" / "manifest.json", document)
    assert_clean_exit_2(cli("regress", current, current), "artifact '[/bold]tflite' has the path '/abs/[red]x.tflite'")
