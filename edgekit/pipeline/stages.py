"""The stages of a build. Each takes its inputs from earlier stages' results and writes only into its own folder."""

from __future__ import annotations

import inspect
import time
from pathlib import Path
from typing import Any

from rich.markup import escape as markup_escape

from edgekit import console, fsutil
from edgekit.config.formats import FORMATS, Format, Profiler
from edgekit.config.schema import DataSource, ExportFormat, Quantization, Task
from edgekit.data.base import Splits
from edgekit.data.imagecheck import describe_counts
from edgekit.data.loading import create_splits, open_splits
from edgekit.data.sources import source_fingerprint
from edgekit.errors import RuntimeMissing
from edgekit.pipeline.cache import StageResult
from edgekit.pipeline.context import BuildContext
from edgekit.pipeline.evaluate import constant_mae, keras_runner, majority_accuracy

# Bumped when what the evaluate stage records changes, so cached evaluations are made again.
EVALUATION_RECORD = 2


# ------------------------------------------------------------------------------------------------ data
def data_stage(ctx: BuildContext):
    config = ctx.config.data
    material = {"data": config, "source": _data_source_fingerprint(ctx), "tools": {"numpy": ctx.tools["numpy"]},
                "task": ctx.config.task}

    def produce(work: Path) -> dict[str, Any]:
        splits, how = create_splits(config, ctx.loaded.resolve, work, ctx.config.task)
        ctx.memo["dataset"] = splits
        return {**how, "summary": splits.summary(), "preprocessing": splits.preprocessing.to_dict(),
                "fingerprint": splits.fingerprint()}

    result = ctx.cache.run("data", material, produce, folder=".edgekit/data")
    if "dataset" not in ctx.memo:
        ctx.memo["dataset"] = open_splits(config, result.meta, result.folder)
    summary = result.meta["summary"]
    labels = (f"{summary['targets']} float target(s) (regression)" if "targets" in summary
              else f"{summary['num_classes']} classes")
    console.info(f"data: {summary['source']}, {summary['train']} train / {summary['val']} val / "
                 f"{summary['test']} test, input {tuple(summary['input_shape'])}, {labels}")
    issues = describe_counts(summary)
    if issues:
        console.warn(f"data: {issues}")
    return result


def build_task(ctx: BuildContext) -> Task:
    """The task the data stage resolved (classification or regression, never auto)."""
    return Task(ctx.results["data"].meta["summary"].get("task", Task.CLASSIFICATION.value))


def _data_source_fingerprint(ctx: BuildContext) -> str | None:
    config = ctx.config.data
    if config.source is DataSource.DIGITS:
        return None
    path = ctx.loaded.resolve(config.path)
    return source_fingerprint(path) if path.exists() else None  # a missing path fails in produce, with a message


def dataset(ctx: BuildContext) -> Splits:
    return ctx.memo["dataset"]


# ------------------------------------------------------------------------------------------------ train
def train_stage(ctx: BuildContext):
    from edgekit.models import outputs_probabilities
    from edgekit.models.loading import IntakePath
    from edgekit.models.task import build_task_model
    from edgekit.pipeline.intake import check_samples, converter_allowed, take_as_given
    from edgekit.pipeline.precision import choose_precision, make_optimizer, with_policy
    from edgekit.pipeline.prune import measure_sparsity
    from edgekit.pipeline.training import compile_classifier, fit

    config = ctx.config
    material = {"model": config.model, "model_source": _model_source_fingerprint(ctx), "train": config.train,
                "hardware": ctx.hardware, "data": ctx.results["data"].digest, "seed": ctx.seed,
                "tools": ctx.tools, "name": config.name}
    file_name = f"{config.name}-dense.keras"

    def produce(work: Path) -> dict[str, Any]:
        from edgekit._tf import keras

        precision = choose_precision(config.train.precision)
        distribution = ctx.distribution
        if distribution.strategy is not None:
            console.info(f"distribute: {distribution.name}, {distribution.replicas} replicas "
                         f"({distribution.reason}); batch_size {config.train.batch_size} is the global batch")
        data = dataset(ctx)
        keras().utils.set_random_seed(ctx.seed)
        task = build_task(ctx)
        # A Keras 3 model is rebuilt in tf_keras and checked on validation samples here, before any training.
        intake = build_task_model(config.model, ctx.loaded, data.input_shape, task, data.num_outputs, config.task,
                                  check_samples=check_samples(data, ctx.seed), converter_allowed=converter_allowed(ctx))
        if intake.path is IntakePath.CONVERTER:
            return take_as_given(ctx, intake, work / file_name)
        model = intake.model
        from_logits = task is Task.CLASSIFICATION and not outputs_probabilities(model)
        momentum = _builtin_batchnorm_momentum(config, model, data)
        console.info(f"train: {model.name}, {model.count_params():,} parameters, precision {precision.policy} "
                     f"({precision.reason})")
        training_model = model if precision.policy == "float32" else with_policy(model, precision.policy)
        compile_classifier(training_model, make_optimizer(config.train.learning_rate, precision.policy),
                           from_logits=from_logits, task=task)
        history = fit(training_model, data, epochs=config.train.epochs, batch_size=config.train.batch_size,
                      label="train", seed=ctx.seed)
        # Exported and fine-tuned in float32: the mixed policy only speeds up training.
        dense = training_model if precision.policy == "float32" else with_policy(training_model, "float32")
        reestimated = _reestimate_batchnorm(ctx, dense, data, "train")
        save_model(dense, work / file_name)
        ctx.memo["dense"] = dense
        return {"history": history, "precision": precision.policy, "precision_reason": precision.reason,
                "distribute": distribution.record(), "kernel_sparsity": measure_sparsity(dense)["overall"],
                "parameters": int(dense.count_params()), "from_logits": from_logits, "model_name": dense.name,
                "task": task.value, "file": file_name, "model_source": intake.record,
                "batchnorm_momentum": momentum, "batchnorm_reestimated_on": reestimated}

    result = ctx.cache.run("train", material, distributed(ctx, produce))
    source = result.meta.get("model_source") or {}
    if source.get("path") == IntakePath.CONVERTER.value and not converter_allowed(ctx):
        # Cached from a build with prune and QAT off: this one needs the tf_keras rebuild it cannot have.
        from edgekit.models.keras3 import Untranslatable

        raise Untranslatable(f"the model is a Keras 3 model that edgekit cannot bring into tf_keras (which pruning "
                             f"and QAT need): {source.get('reason')}. Build it with tf_keras (`import tf_keras as "
                             f"keras`), or set prune.enabled and qat.enabled to false")
    return result


def _builtin_batchnorm_momentum(config, model, data: Splits):
    """A built-in's BN momentum, chosen from the number of training steps (a user's model keeps its own)."""
    from edgekit.models.batchnorm import set_batchnorm_momentum
    from edgekit.pipeline.training import steps_per_epoch

    if config.model.builtin is None:
        return None
    steps = steps_per_epoch(data.size("train"), config.train.batch_size) * config.train.epochs
    momentum = set_batchnorm_momentum(model, steps)
    if momentum is not None:
        console.info(f"  BatchNormalization momentum {momentum} for {steps} training steps")
    return momentum


def _reestimate_batchnorm(ctx: BuildContext, model, data: Splits, label: str) -> int:
    """Precise BN after a training stage: the moving statistics of the weights the stage ended with."""
    from edgekit.models.batchnorm import REESTIMATE_SAMPLES, reestimate_batchnorm

    if ctx.distribution.strategy is not None:
        return 0  # the moving averages are per-replica variables there; Keras' own averages stay
    count = reestimate_batchnorm(model, data.representative_samples(REESTIMATE_SAMPLES, ctx.seed))
    if count:
        console.info(f"  {label}: BatchNormalization statistics re-estimated on {count} training samples")
    return count


def distributed(ctx: BuildContext, produce):
    """`produce` run inside the distribution strategy's scope, so the models it makes are replicated."""

    def produce_in_scope(work: Path) -> dict[str, Any]:
        with ctx.distribution.scope():
            return produce(work)

    return produce_in_scope


def _model_source_fingerprint(ctx: BuildContext) -> str | None:
    """A changed model file or factory module must invalidate the cached training."""
    config = ctx.config.model
    if config.file is not None:
        path = ctx.loaded.resolve(config.file)
        return fsutil.sha256_file(path) if path.exists() else None
    if config.factory is not None:
        module_name = config.factory.split(":")[0]
        module_path = module_name.replace(".", "/")
        candidates = [ctx.loaded.directory / (module_path + suffix) for suffix in (".py", "/__init__.py")]
        for candidate in candidates:
            if candidate.is_file():
                return fsutil.sha256_file(candidate)
        try:
            import importlib

            source = inspect.getsourcefile(importlib.import_module(module_name))
            return fsutil.sha256_file(source) if source else None
        except Exception:  # fails again, with a message, when the model is built
            return None
    return None


def save_model(model, path: Path) -> None:
    """Save a Keras artifact without optimizer state: it is for inference and conversion, and a compiled
    model's .keras file carries the Adam moments (three times the weights' size)."""
    from edgekit.pipeline.prune import copy_model

    copy_model(model).save(path)


def load_keras(ctx: BuildContext, stage: str, memo_key: str):
    """A stage's Keras model: the one still in memory, or loaded from the stage's file."""
    if memo_key not in ctx.memo:
        _register_factory_layers(ctx)
        result = ctx.results[stage]
        path = result.path(result.meta["file"])
        if stage == "qat":
            from edgekit.pipeline.qat import load_qat_model

            ctx.memo[memo_key] = load_qat_model(path)
        elif (result.meta.get("model_source") or {}).get("path") == "converter":  # IntakePath.CONVERTER
            from edgekit.models.loading import load_converter_model

            ctx.memo[memo_key] = load_converter_model(path, ctx.config.model, ctx.loaded)
        else:
            from edgekit._tf import keras

            ctx.memo[memo_key] = keras().models.load_model(path, compile=False)
    return ctx.memo[memo_key]


def _register_factory_layers(ctx: BuildContext) -> None:
    """Import the model factory's module before a stage's model is loaded again (the training was cached, so
    the factory did not run): the custom layers it registers with Keras must be known to load the files."""
    spec = ctx.config.model.factory
    if spec is None:
        return
    import importlib
    import sys

    if str(ctx.loaded.directory) not in sys.path:
        sys.path.insert(0, str(ctx.loaded.directory))
    try:
        importlib.import_module(spec.split(":")[0])
    except Exception:  # a module that no longer imports fails with a message when the model is built again
        pass


# ------------------------------------------------------------------------------------------------ prune
def prune_stage(ctx: BuildContext):
    from edgekit.pipeline.prune import prune_model

    config = ctx.config
    material = {"prune": config.prune, "batch_size": config.train.batch_size,
                "learning_rate": config.train.learning_rate, "upstream": ctx.results["train"].digest,
                "hardware": ctx.hardware,
                "data": ctx.results["data"].digest, "seed": ctx.seed, "tools": ctx.tools}
    file_name = f"{config.name}-pruned.keras"

    def produce(work: Path) -> dict[str, Any]:
        dense = load_keras(ctx, "train", "dense")
        pruned, info = prune_model(dense, dataset(ctx), config.prune, batch_size=config.train.batch_size,
                                   learning_rate=config.train.learning_rate,
                                   from_logits=ctx.results["train"].meta["from_logits"], seed=ctx.seed,
                                   task=build_task(ctx))
        info["batchnorm_reestimated_on"] = _reestimate_batchnorm(ctx, pruned, dataset(ctx), "prune")
        save_model(pruned, work / file_name)
        ctx.memo["pruned"] = pruned
        from edgekit.pipeline.prune import measure_sparsity

        return {**info, "file": file_name, "kernel_sparsity": measure_sparsity(pruned)["overall"]}

    return ctx.cache.run("prune", material, distributed(ctx, produce))


# ------------------------------------------------------------------------------------------------ qat
def qat_stage(ctx: BuildContext):
    from edgekit.pipeline.qat import save_qat_model, train_quantization_aware

    config = ctx.config
    upstream = "prune" if "prune" in ctx.results else "train"
    material = {"qat": config.qat, "batch_size": config.train.batch_size, "learning_rate": config.train.learning_rate,
                "upstream": ctx.results[upstream].digest, "data": ctx.results["data"].digest, "seed": ctx.seed,
                "hardware": ctx.hardware, "tools": ctx.tools}
    # HDF5: tf_keras' .keras format cannot reload tfmot's QuantizeLayer (it expects 5 variables, finds 3).
    file_name = f"{config.name}-qat.h5"

    def produce(work: Path) -> dict[str, Any]:
        source = load_keras(ctx, upstream, "pruned" if upstream == "prune" else "dense")
        pruned_layers = list(ctx.results["prune"].meta["sparsity"]["layers"]) if upstream == "prune" else []
        model, info = train_quantization_aware(
            source, dataset(ctx), config.qat, pruned_layers=pruned_layers, batch_size=config.train.batch_size,
            learning_rate=config.train.learning_rate, from_logits=ctx.results["train"].meta["from_logits"],
            seed=ctx.seed, task=build_task(ctx))
        save_qat_model(model, work / file_name)
        ctx.memo["qat"] = model
        return {**info, "file": file_name}

    return ctx.cache.run("qat", material, distributed(ctx, produce))


# ------------------------------------------------------------------------------------------------ export
def float_source(ctx: BuildContext) -> tuple[str, str]:
    """(stage, memo key) of the float model that is exported: the pruned one when there is one."""
    return ("prune", "pruned") if "prune" in ctx.results else ("train", "dense")


def export_stage(ctx: BuildContext):
    from edgekit.export.exporter import Exporter

    config = ctx.config
    float_stage, float_key = float_source(ctx)
    has_qat = "qat" in ctx.results
    combinations, derived = export_combinations(ctx)
    # int8_recovery shapes the diagnose stage only: changing it must not export again.
    material = {"export": config.export.model_dump(mode="json", exclude={"int8_recovery"}), "name": config.name,
                "float": ctx.results[float_stage].digest,
                "qat": ctx.results["qat"].digest if has_qat else None, "data": ctx.results["data"].digest,
                "seed": ctx.seed, "tools": ctx.tools}
    if derived:  # made because of the target or a tool on PATH, not the configuration (edgetpu)
        material["derived"] = [f"{fmt.value}-{quantization.value}" for fmt, quantization in derived]

    def produce(work: Path) -> dict[str, Any]:
        data = dataset(ctx)
        representative = data.representative_samples(config.export.representative_samples, ctx.seed)
        if len(representative) < config.export.representative_samples:
            console.warn(f"export.representative_samples is {config.export.representative_samples}, but the "
                         f"training split has {len(representative)} samples: calibrating int8 on all of them")
        exporter = Exporter(float_model=load_keras(ctx, float_stage, float_key), float_stage=float_stage,
                            qat_model=load_keras(ctx, "qat", "qat") if has_qat else None,
                            representative=representative, data=data, opset=config.export.onnx_opset,
                            task=build_task(ctx), project=config.name)
        artifacts = []
        with console.steps("export", len(combinations)) as progress:
            for fmt, quantization in combinations:
                artifacts.append(exporter.write(work, fmt, quantization))
                progress.advance(description=f"export: {fmt.value}-{quantization.value}")
        return {"artifacts": artifacts, "representative_samples": int(len(representative))}

    return ctx.cache.run("export", material, produce)


def export_combinations(ctx: BuildContext) -> tuple[list[tuple[ExportFormat, Quantization]],
                                                    list[tuple[ExportFormat, Quantization]]]:
    """(every artifact to make, in an order where an artifact comes after the one it is made from; the derived
    ones among them that the configuration did not ask for: edgetpu from tflite int8 when the target needs it
    or edgetpu_compiler is on PATH).

    Raises:
        ToolError: the target needs a derived artifact and its tool is missing (exit 3, with how to install it).
    """
    import shutil

    from edgekit.export.exporter import derived_formats

    wanted = ctx.config.export.combinations()
    added, notes = derived_formats(wanted, list(ctx.target.accepts.formats),
                                   lambda tool: shutil.which(tool) is not None)
    for note in notes:
        console.warn(f"export: {note}")
    every = wanted + added
    return sorted(every, key=lambda pair: FORMATS[pair[0]].parent is not None), added


# ------------------------------------------------------------------------------------------------ evaluate
def evaluate_stage(ctx: BuildContext):
    from edgekit.pipeline.evaluate import artifact_runners, score_all

    keras_stages = [stage for stage in ("train", "prune") if stage in ctx.results]
    material = {"export": ctx.results["export"].digest, "keras": [ctx.results[s].digest for s in keras_stages],
                "data": ctx.results["data"].digest, "tools": ctx.tools, "record": EVALUATION_RECORD}
    task = build_task(ctx)

    def produce(work: Path) -> dict[str, Any]:
        data = dataset(ctx)
        export = ctx.results["export"]
        runners = {"keras-dense": lambda: keras_runner(load_keras(ctx, "train", "dense"))}
        if "prune" in keras_stages:
            runners["keras-pruned"] = lambda: keras_runner(load_keras(ctx, "prune", "pruned"))
        # Each artifact by the runner of its format (FORMATS[format].evaluator); one the host cannot run is
        # scored as the artifact it was made from, and the reason is recorded.
        exported, scored_as = artifact_runners(export.meta["artifacts"], export.path)
        runners.update(exported)
        with console.steps("evaluate", len(runners)) as progress:
            scores, labels = score_all(runners, data, task, progress)
        for name, how in scored_as.items():
            scores[name] = dict(scores[how["as"]])
        # What a model that ignores its input scores: the float model must do clearly better for the gate's
        # comparisons with it to mean anything.
        chance = ({"constant_mae": constant_mae(labels)} if task is Task.REGRESSION
                  else {"majority_accuracy": majority_accuracy(labels)})
        return {"scores": scores, "scored_as": scored_as, "test_samples": data.size("test"), "task": task.value,
                **chance}

    return ctx.cache.run("evaluate", material, produce)


# ------------------------------------------------------------------------------------------------ profile
def profile_stage(ctx: BuildContext):
    from edgekit.fleet import DevicePool, profile_pool
    from edgekit.profiling.profile import ProfileSettings

    config = ctx.config
    export = ctx.results["export"]
    pool = ctx.pool or DevicePool(ctx.target, [ctx.connection])
    chosen = [artifact for artifact in export.meta["artifacts"]
              if refusal_of(ctx.target, artifact) is None]
    skipped = {artifact["name"]: refusal_of(ctx.target, artifact)
               for artifact in export.meta["artifacts"] if artifact not in chosen}
    material = {"profile": config.profile, "target": ctx.target.model_dump(mode="json"),
                "device": ctx.connection.address, "remote_python": ctx.connection.remote_python,
                "artifacts": {a["name"]: export.files[a["file"]] for a in chosen}, "tools": ctx.tools}
    if pool.is_fleet:
        material["devices"] = [[member.address, member.remote_python] for member in pool.members]

    def produce(work: Path) -> dict[str, Any]:
        settings = ProfileSettings(runs=config.profile.runs, warmup=config.profile.warmup,
                                   min_seconds=config.profile.min_seconds, threads=config.profile.threads,
                                   op_profile=config.profile.op_profile)
        by_device: dict[str, dict[str, Any]] = {}
        fleets = []
        runtime_missing = False
        # LiteRT first, then ONNX Runtime: a board without onnxruntime still gets its .tflite profiles, and the
        # .onnx artifacts are skipped with the reason (not cached, so installing onnxruntime is enough).
        for group in _runtime_groups(chosen):
            paths = [export.path(artifact["file"]) for artifact in group]
            try:
                fleet = profile_pool(paths, pool, settings)
            except RuntimeMissing as error:
                if not FORMATS[Format(group[0]["format"])].optional_on_device:
                    raise
                console.warn(f"profile: {', '.join(a['name'] for a in group)} not profiled: {error}")
                skipped.update({artifact["name"]: f"not profiled: {error}" for artifact in group})
                runtime_missing = True
                continue
            fleets.append(fleet)
            for run in fleet.succeeded:
                for profile in run.profiles:
                    # Paths in the manifest are relative to the build folder, so the folder can move.
                    profile["model"]["path"] = str(Path(profile["model"]["path"]).relative_to(ctx.build_dir))
                by_device.setdefault(run.address, {}).update(
                    {artifact["name"]: profile for artifact, profile in zip(group, run.profiles)})
        if not fleets:
            meta = {"profiles": {}, "skipped": skipped}
            if runtime_missing:
                raise _ProfiledInPart(meta)
            return meta
        # A device that failed either runtime's models is dropped whole, as a device that fails mid-run is.
        failures = {failure["address"]: failure for fleet in fleets for failure in fleet.failures()}
        by_device = {address: profiles for address, profiles in by_device.items() if address not in failures}
        meta = {"profiles": next(iter(by_device.values()), {}), "skipped": skipped}
        failed = list(failures.values())
        if pool.is_fleet:
            meta["devices"] = [run.profiles[0]["device"] for run in fleets[0].succeeded if run.address in by_device]
            meta["devices_failed"] = failed
            meta["profiles_by_device"] = by_device
        if failed or runtime_missing:
            raise _ProfiledInPart(meta)
        return meta

    started = time.perf_counter()
    try:
        return ctx.cache.run("profile", material, produce)
    except _ProfiledInPart as partial:
        # Not recorded in the cache: the next build profiles again, on every device.
        return StageResult("profile", "", ctx.build_dir / "profile", {}, partial.meta, time.perf_counter() - started,
                           cached=False)


def profile_not_run(ctx: BuildContext, config_path: Path) -> StageResult:
    """The profile stage of a build for a device-reached target without a device: every artifact is built and
    checked, none is timed; the manifest says why and the console says how to profile later."""
    export = ctx.results["export"]
    reason = (f"no device given for target {ctx.target.name} (reached over {ctx.target.adapter}); "
              f"build with --device ADDR, or profile later")
    files = sorted({_shown_path(export.path(artifact["file"])) for artifact in export.meta["artifacts"]
                    if refusal_of(ctx.target, artifact) is None})
    later = f"edgekit profile {' '.join(files) or 'MODEL'} --target {ctx.target.name} --device ADDR"
    console.info(f"profile: skipped, no device for target {ctx.target.name}; to time these artifacts later: "
                 f"{markup_escape(later)}")
    skipped = {artifact["name"]: refusal_of(ctx.target, artifact) or reason
               for artifact in export.meta["artifacts"]}
    meta = {"profiles": {}, "skipped": skipped, "not_run": {"reason": reason, "command": later}}
    return StageResult("profile", "", ctx.build_dir / "profile", {}, meta, 0.0, cached=False)


def _shown_path(path: Path) -> str:
    """`path` relative to the current folder when it is below it (shorter to copy), else absolute."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _runtime_groups(artifacts: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The artifacts grouped by the runtime that times them (FORMATS[format].profiler), in Profiler's order:
    LiteRT first, then ONNX Runtime (empty groups left out)."""
    groups: dict[Profiler, list[dict[str, Any]]] = {profiler: [] for profiler in Profiler}
    for artifact in artifacts:
        groups[FORMATS[Format(artifact["format"])].profiler].append(artifact)
    return [group for group in groups.values() if group]


def refusal_of(target, artifact: dict[str, Any]) -> str | None:
    """Why `target` cannot run an exported artifact (its manifest entry), or None when it can."""
    return target.refuses(Format(artifact["format"]), Quantization(artifact["quantization"]))


class _ProfiledInPart(Exception):
    """Some devices of the pool failed: what the others measured goes into the manifest, never into the cache."""

    def __init__(self, meta: dict[str, Any]):
        super().__init__("profiled in part")
        self.meta = meta
