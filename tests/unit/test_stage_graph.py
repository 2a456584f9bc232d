"""The stage graph: the order and every cache key come from the stages' declarations (edgekit.pipeline.graph)."""

import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

from edgekit.adapters import ConnectionOptions
from edgekit.config.loader import load_config
from edgekit.config.target import load_target
from edgekit.pipeline.cache import StageCache, StageResult, cache_key
from edgekit.pipeline.context import BuildContext
from edgekit.pipeline.graph import ConfigReads, ReadLog, StageGraphError, StageSpec, stage_order, undeclared_reads
from edgekit.pipeline.results import DataOutput, EvaluateOutput, ExportOutput
from edgekit.pipeline.stages import BY_NAME, DECLARED, ORDER, STAGES

# The order README.md's "What a build does" and DESIGN.md document.
DOCUMENTED_ORDER = ("data", "train", "prune", "qat", "export", "evaluate", "diagnose", "profile")

CONFIG = """
name: tiny
data: {source: digits, seed: 0}
model: {builtin: mlp}
train: {epochs: 1, batch_size: 64}
prune: {enabled: true, target_sparsity: 0.5, epochs: 1}
qat: {enabled: true, epochs: 1}
export: {formats: [tflite], quantization: [float32, int8], representative_samples: 50}
profile: {runs: 5, warmup: 1, min_seconds: 0}
"""


def test_the_run_order_is_derived_and_is_the_documented_one():
    assert STAGES == DOCUMENTED_ORDER
    # The edges fix the order, not the list's order: reversed or rotated declarations give the same graph.
    assert tuple(spec.name for spec in stage_order(tuple(reversed(DECLARED)))) == DOCUMENTED_ORDER
    assert tuple(spec.name for spec in stage_order(DECLARED[3:] + DECLARED[:3])) == DOCUMENTED_ORDER
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert " ──> ".join(DOCUMENTED_ORDER).replace("qat", "QAT (PQAT)") in readme


def test_the_readme_table_lists_what_each_stage_declares():
    import re

    from edgekit.pipeline.stages.diagnose import RECOVERY_READS

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    rows = {line.split("|")[1].split()[0]: line.split("|")[2:4] for line in readme.splitlines()
            if line.startswith("| ") and line.split("|")[1].split() and line.split("|")[1].split()[0] in STAGES}
    assert set(rows) == set(STAGES)
    for spec in ORDER:
        config, upstream = rows[spec.name]
        listed = re.findall(r"`([a-z0-9_.]+)`", re.sub(r"\([^)]*\)", "", config))  # "(not `int8_recovery`)" aside
        conditional = RECOVERY_READS if spec.name == "diagnose" else ()
        assert sorted(listed) == sorted((*spec.reads, *conditional)), spec.name
        assert [name.strip() for name in upstream.split("(")[0].split(",") if name.strip()] == list(spec.upstream)


def test_every_stage_comes_after_what_it_reads():
    position = {spec.name: index for index, spec in enumerate(ORDER)}
    for spec in ORDER:
        for upstream in (*spec.upstream, *spec.after):
            assert position[upstream] < position[spec.name], (spec.name, upstream)


def _spec(name, *upstream):
    return StageSpec(name=name, run=lambda ctx: None, upstream=upstream)


def test_a_graph_that_is_not_one_is_refused_with_the_stages_named():
    with pytest.raises(StageGraphError, match="the stages a, b depend on each other"):
        stage_order([_spec("a", "b"), _spec("b", "a"), _spec("c")])
    with pytest.raises(StageGraphError, match="stage b depends on undeclared stage\\(s\\): zz; declared: a, b"):
        stage_order([_spec("a"), _spec("b", "zz")])
    with pytest.raises(StageGraphError, match="declared twice: a"):
        stage_order([_spec("a"), _spec("a")])


def test_stable_order_keeps_the_declaration_order_among_independent_stages():
    assert [s.name for s in stage_order([_spec("x"), _spec("b", "x"), _spec("a", "x"), _spec("c", "a")])] == \
        ["x", "b", "a", "c"]


# ------------------------------------------------------------------------------------------------ derived keys
@pytest.fixture()
def context(tmp_path):
    def make(text=CONFIG, address=None, target="host"):
        path = tmp_path / "edgekit.yaml"
        path.write_text(textwrap.dedent(text))
        (tmp_path / "data.npz").write_bytes(b"first")
        return BuildContext(loaded=load_config(path), target=load_target(target), build_dir=tmp_path / "build",
                            cache=StageCache(tmp_path / "build"), connection=ConnectionOptions(address=address),
                            tools={"numpy": "2.0", "tensorflow": "2.21"})

    return make


def _with_upstream(ctx, digests=None, int8_accuracy=0.9):
    """Stand-in results of every stage (only their digests and the outputs the declarations read matter)."""
    digests = digests or {}
    export = ExportOutput(artifacts=[{"name": "tflite-int8", "format": "tflite", "quantization": "int8",
                                      "file": "m.tflite", "source": "qat", "method": "tflite-converter+qat"}],
                          representative_samples=50)
    evaluate = EvaluateOutput(scores={"keras-dense": {"accuracy": 0.9, "agreement": 1.0},
                                      "tflite-int8": {"accuracy": int8_accuracy, "agreement": 1.0}},
                              test_samples=10, majority_accuracy=0.1)
    data = DataOutput(kind="memory", summary={"task": "classification"}, preprocessing={}, fingerprint="f")
    outputs = {"data": data, "export": export, "evaluate": evaluate}
    for name in STAGES:
        ctx.results[name] = StageResult(name, "", Path(), {}, {}, 0.0, cached=False,
                                        digest=digests.get(name, name + "-digest"), output=outputs.get(name))
    return ctx


def key(ctx, stage):
    return cache_key(BY_NAME[stage].key_material(ctx))


def keys(ctx):
    return {name: key(ctx, name) for name in STAGES}


def test_a_declared_config_key_changes_only_the_stages_that_read_it(context):
    before = keys(_with_upstream(context()))
    after = keys(_with_upstream(context(CONFIG.replace("runs: 5", "runs: 6"))))
    assert [name for name in STAGES if before[name] != after[name]] == ["profile"]
    after = keys(_with_upstream(context(CONFIG.replace("batch_size: 64", "batch_size: 32"))))
    assert [name for name in STAGES if before[name] != after[name]] == ["train", "prune", "qat"]
    after = keys(_with_upstream(context(CONFIG.replace("epochs: 1}\nqat", "epochs: 2}\nqat"))))
    assert [name for name in STAGES if before[name] != after[name]] == ["prune"]


def test_export_ignores_int8_recovery_which_only_the_diagnose_stage_reads(context):
    before = keys(_with_upstream(context()))
    after = keys(_with_upstream(context(CONFIG.replace("representative_samples: 50}",
                                                       "representative_samples: 50, int8_recovery: off}"))))
    assert [name for name in STAGES if before[name] != after[name]] == ["diagnose"]


def test_an_upstream_digest_changes_the_stage_and_not_the_ones_before(context):
    before = keys(_with_upstream(context()))
    after = keys(_with_upstream(context(), {"train": "retrained"}))
    assert [name for name in STAGES if before[name] != after[name]] == ["prune", "qat", "export", "evaluate",
                                                                         "diagnose"]
    # profile reads the exported files only: a retrained model reaches it through export's digest
    after = keys(_with_upstream(context(), {"export": "other files"}))
    assert [name for name in STAGES if before[name] != after[name]] == ["evaluate", "diagnose", "profile"]


def test_declared_files_and_build_inputs_are_in_the_keys(context, tmp_path):
    npz = CONFIG.replace("source: digits", "source: npz, path: data.npz")
    ctx = _with_upstream(context(npz))
    before = key(ctx, "data")
    (tmp_path / "data.npz").write_bytes(b"second")
    assert key(ctx, "data") != before
    assert list(BY_NAME["data"].key_material(ctx)["files"]) == ["data.path"]
    other_tools = replace(ctx, tools={"numpy": "2.0", "tensorflow": "2.22"})
    assert key(other_tools, "train") != key(ctx, "train") and key(other_tools, "data") == key(ctx, "data")
    on_a_device = replace(ctx, connection=ConnectionOptions(address="pi@board"))
    assert key(on_a_device, "profile") != key(ctx, "profile") and key(on_a_device, "export") == key(ctx, "export")


def test_diagnose_depends_on_profile_settings_only_when_int8_recovery_runs(context):
    passing = {name: value for name, value in keys(_with_upstream(context())).items()}
    passing_more_runs = keys(_with_upstream(context(CONFIG.replace("runs: 5", "runs: 6"))))
    assert passing["diagnose"] == passing_more_runs["diagnose"]  # int8 passes the gate: no recovery
    failing = keys(_with_upstream(context(), int8_accuracy=0.5))
    failing_more_runs = keys(_with_upstream(context(CONFIG.replace("runs: 5", "runs: 6")), int8_accuracy=0.5))
    assert failing["diagnose"] != failing_more_runs["diagnose"]


def test_skipped_stages_come_from_the_declarations(context):
    ctx = context(CONFIG.replace("prune: {enabled: true", "prune: {enabled: false"))
    assert [spec.name for spec in ORDER if not spec.enabled(ctx)] == ["prune"]
    board = context(target="rpi4")
    assert [spec.name for spec in ORDER if not spec.enabled(board)] == ["profile"]
    assert BY_NAME["profile"].skipped is not None and BY_NAME["prune"].skipped is None
    assert [spec.name for spec in ORDER if not spec.enabled(context(target="rpi4", address="pi@board"))] == []


# ------------------------------------------------------------------------------------------------ read checks
def test_config_reads_records_keys_and_hands_out_sections_declared_whole(context):
    config = context().loaded.config
    log = ReadLog()
    log.start("prune", ("prune", "train.batch_size"))
    view = ConfigReads(config, log)
    assert view.prune is config.prune  # declared whole: the real section, passed on as it is
    assert view.train.batch_size == 64 and view.data.seed == 0 and view.name == "tiny"
    assert log.reads["prune"] == {"prune", "train.batch_size", "data.seed", "name"}
    view.export.model_dump()  # a method of a section: the whole section is read
    assert "export" in log.reads["prune"]
    with pytest.raises(AttributeError, match="read-only in a stage \\(tried to set name\\)"):
        view.name = "other"


def test_a_read_the_stage_did_not_declare_is_found(context):
    ctx = context()
    spec = StageSpec(name="prune", run=lambda ctx: None, reads=("prune", "train.batch_size"))
    log = ReadLog()
    log.start("prune", spec.config_reads(ctx))
    view = ConfigReads(ctx.loaded.config, log)
    _ = view.prune.target_sparsity, view.train.batch_size, view.train.epochs, view.qat.epochs
    assert undeclared_reads(log.declared, (), log.reads["prune"]) == ["qat.epochs", "train.epochs"]
    assert log.undeclared() == {"prune": ["qat.epochs", "train.epochs"]}


def test_a_key_the_stage_says_it_ignores_is_an_undeclared_read(context):
    ctx = context()
    export = BY_NAME["export"]
    log = ReadLog()
    log.start("export", export.config_reads(ctx), export.ignores)
    view = ConfigReads(ctx.loaded.config, log)
    assert view.export.representative_samples == 50 and view.export.combinations()  # declared: fine
    assert log.undeclared() == {}
    _ = view.export.int8_recovery  # int8_recovery is not in export's key: reading it would go stale unseen
    assert log.undeclared() == {"export": ["export.int8_recovery"]}
