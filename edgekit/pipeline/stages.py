"""The stages of a build. Each takes its inputs from earlier stages' results and writes only into its own folder."""

from __future__ import annotations

import inspect
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.markup import escape as markup_escape

from edgekit import console, fsutil
from edgekit.config.schema import DataSource, ExportFormat, Quantization, Task
from edgekit.data.base import Splits
from edgekit.data.imagecheck import describe_counts
from edgekit.data.loading import create_splits, open_splits
from edgekit.data.sources import source_fingerprint
from edgekit.errors import ExportError, RuntimeMissing
from edgekit.pipeline.cache import StageResult
from edgekit.pipeline.context import BuildContext
from edgekit.pipeline.evaluate import (TFLiteRunner, classify, constant_mae, keras_runner, majority_accuracy,
                                       max_abs_difference, predict, regression_scores, top1_scores)

# Float ONNX must reproduce the Keras outputs to this absolute difference (probabilities in [0, 1]); regression
# outputs are unbounded, so there it is relative to the largest output (float32 rounding grows with the value).
ONNX_TOLERANCE = 1e-4
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
    config = ctx.config
    float_stage, float_key = float_source(ctx)
    has_qat = "qat" in ctx.results
    # int8_recovery shapes the diagnose stage only: changing it must not export again.
    material = {"export": config.export.model_dump(mode="json", exclude={"int8_recovery"}), "name": config.name,
                "float": ctx.results[float_stage].digest,
                "qat": ctx.results["qat"].digest if has_qat else None, "data": ctx.results["data"].digest,
                "seed": ctx.seed, "tools": ctx.tools}

    def produce(work: Path) -> dict[str, Any]:
        data = dataset(ctx)
        representative = data.representative_samples(config.export.representative_samples, ctx.seed)
        if len(representative) < config.export.representative_samples:
            console.warn(f"export.representative_samples is {config.export.representative_samples}, but the "
                         f"training split has {len(representative)} samples: calibrating int8 on all of them")
        exporter = Exporter(float_model=load_keras(ctx, float_stage, float_key), float_stage=float_stage,
                            qat_model=load_keras(ctx, "qat", "qat") if has_qat else None,
                            representative=representative, data=data, opset=config.export.onnx_opset,
                            task=build_task(ctx))
        combinations = config.export.combinations()
        artifacts = []
        with console.steps("export", len(combinations)) as progress:
            for fmt, quantization in combinations:
                file_name = f"{config.name}-{quantization.value}.{fmt.value}"
                model_bytes, details = exporter.export(fmt, quantization)
                fsutil.write_bytes(work / file_name, model_bytes)
                artifacts.append({"name": f"{fmt.value}-{quantization.value}", "format": fmt.value,
                                  "quantization": quantization.value, "file": file_name, **details})
                progress.advance(description=f"export: {fmt.value}-{quantization.value}")
        return {"artifacts": artifacts, "representative_samples": int(len(representative))}

    return ctx.cache.run("export", material, produce)


class Exporter:
    """Turns the float and QAT models into each (format, quantization) artifact; returns bytes and details
    (which model it came from, how it was made, and what was checked)."""

    def __init__(self, *, float_model, float_stage: str, qat_model, representative: np.ndarray, data: Splits,
                 opset: int, task: Task = Task.CLASSIFICATION):
        self.float_model = float_model
        self.float_stage = float_stage
        self.qat_model = qat_model
        self.representative = representative
        self.data = data
        self.opset = opset
        self.task = task
        self._float_onnx: bytes | None = None
        self._onnx_difference: float | None = None

    def export(self, fmt: ExportFormat, quantization: Quantization) -> tuple[bytes, dict[str, Any]]:
        if fmt is ExportFormat.TFLITE:
            return self.tflite(quantization)
        if quantization is Quantization.FLOAT32:
            model_bytes = self.float_onnx()
            return model_bytes, {"source": self.float_stage, "method": "tf2onnx", "max_abs_diff": self._onnx_difference}
        return self.int8_onnx()

    def tflite(self, quantization: Quantization) -> tuple[bytes, dict[str, Any]]:
        from edgekit.export.tflite import convert_tflite

        # Full-integer int8 comes from the QAT model when there is one; everything else from the float model.
        use_qat = quantization is Quantization.INT8 and self.qat_model is not None
        model_bytes = convert_tflite(self.qat_model if use_qat else self.float_model, quantization,
                                     self.representative)
        return model_bytes, {"source": "qat" if use_qat else self.float_stage,
                             "method": "tflite-converter" + ("+qat" if use_qat else "")}

    def float_onnx(self) -> bytes:
        """tf2onnx of the float model, checked against Keras on the test split (made once, used twice)."""
        from edgekit.export.onnx import OnnxRunner, convert_onnx

        if self._float_onnx is None:
            model_bytes = convert_onnx(self.float_model, self.opset)
            difference, magnitude = max_abs_difference(OnnxRunner(model_bytes), keras_runner(self.float_model),
                                                       self.data, "test")
            tolerance = ONNX_TOLERANCE * (max(1.0, magnitude) if self.task is Task.REGRESSION else 1.0)
            if difference > tolerance:
                raise ExportError(f"the float ONNX export differs from the Keras model by up to {difference:.3g} "
                                  f"(tolerance {tolerance:.3g}); not writing an artifact that computes something else")
            self._float_onnx, self._onnx_difference = model_bytes, difference
        return self._float_onnx

    def int8_onnx(self) -> tuple[bytes, dict[str, Any]]:
        """int8 QDQ ONNX: tf2onnx of the QAT model, or onnxruntime's static quantization of the float model.

        Both are made when there is a QAT model, and the one more accurate on the validation split is
        kept (on a tie, the smaller file). tf2onnx keeps the ranges QAT learned, but writes the weights
        in float with QuantizeLinear/DequantizeLinear after them (a float-sized file); onnxruntime's
        post-training calibration stores int8 weights (a quarter of the size) but fits its ranges to the
        representative samples only. Which wins depends on the model, so we measure instead of assuming
        (a regression keeps the lower validation MAE);
        the test split is not used for the choice, so it stays an honest estimate.
        """
        from edgekit.export.onnx import OnnxRunner, convert_onnx, qdq_node_count, quantize_onnx_static

        candidates = {"ort-static": quantize_onnx_static(self.float_onnx(), self.representative)}
        if self.qat_model is not None:
            candidates["tf2onnx-qat"] = convert_onnx(self.qat_model, self.opset)
        details: dict[str, Any] = {}
        if len(candidates) == 1 or not self.data.size("val"):
            method = "tf2onnx-qat" if "tf2onnx-qat" in candidates else "ort-static"
        elif self.task is Task.REGRESSION:
            errors = {name: float(np.mean(np.abs(np.subtract(*predict(OnnxRunner(model_bytes), self.data, "val")))))
                      for name, model_bytes in candidates.items()}
            method = min(candidates, key=lambda name: (errors[name], len(candidates[name])))
            details["val_mae_by_method"] = errors
        else:
            scores = {name: float(np.mean(np.equal(*classify(OnnxRunner(model_bytes), self.data, "val"))))
                      for name, model_bytes in candidates.items()}
            method = max(candidates, key=lambda name: (scores[name], -len(candidates[name])))
            details["val_accuracy_by_method"] = scores
        model_bytes = candidates[method]
        source = "qat" if method == "tf2onnx-qat" else self.float_stage
        return model_bytes, {"source": source, "method": method, "qdq_nodes": qdq_node_count(model_bytes), **details}


# ------------------------------------------------------------------------------------------------ evaluate
def evaluate_stage(ctx: BuildContext):
    from edgekit.export.onnx import OnnxRunner

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
        for artifact in export.meta["artifacts"]:
            path = export.path(artifact["file"])
            if artifact["format"] == ExportFormat.TFLITE.value:
                runners[artifact["name"]] = lambda path=path: TFLiteRunner(path)
            else:
                runners[artifact["name"]] = lambda path=path: OnnxRunner(path.read_bytes())
        scores: dict[str, dict[str, float]] = {}
        reference = labels = None
        with console.steps("evaluate", len(runners)) as progress:
            for name, make_runner in runners.items():
                if task is Task.REGRESSION:
                    outputs, labels = predict(make_runner(), data, "test")
                    reference = outputs if reference is None else reference  # keras-dense comes first
                    scores[name] = regression_scores(outputs, labels, reference)
                else:
                    predicted, labels = classify(make_runner(), data, "test")
                    reference = predicted if reference is None else reference
                    scores[name] = dict(zip(("accuracy", "agreement"), top1_scores(predicted, labels, reference)))
                progress.advance(description=f"evaluate: {name}")
        # What a model that ignores its input scores: the float model must do clearly better for the gate's
        # comparisons with it to mean anything.
        chance = ({"constant_mae": constant_mae(labels)} if task is Task.REGRESSION
                  else {"majority_accuracy": majority_accuracy(labels)})
        return {"scores": scores, "test_samples": data.size("test"), "task": task.value, **chance}

    return ctx.cache.run("evaluate", material, produce)


# ------------------------------------------------------------------------------------------------ profile
def profile_stage(ctx: BuildContext):
    from edgekit.fleet import DevicePool, profile_pool
    from edgekit.profiling.profile import ProfileSettings

    config = ctx.config
    export = ctx.results["export"]
    pool = ctx.pool or DevicePool(ctx.target, [ctx.connection])
    chosen = [artifact for artifact in export.meta["artifacts"]
              if ctx.target.refuses(artifact["format"], artifact["quantization"]) is None]
    skipped = {artifact["name"]: ctx.target.refuses(artifact["format"], artifact["quantization"])
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
                if group[0]["format"] != ExportFormat.ONNX.value:
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
                    if ctx.target.refuses(artifact["format"], artifact["quantization"]) is None})
    later = f"edgekit profile {' '.join(files) or 'MODEL'} --target {ctx.target.name} --device ADDR"
    console.info(f"profile: skipped, no device for target {ctx.target.name}; to time these artifacts later: "
                 f"{markup_escape(later)}")
    skipped = {artifact["name"]: ctx.target.refuses(artifact["format"], artifact["quantization"]) or reason
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
    """The artifacts LiteRT runs, then those ONNX Runtime runs (empty groups left out)."""
    litert = [artifact for artifact in artifacts if artifact["format"] != ExportFormat.ONNX.value]
    onnx = [artifact for artifact in artifacts if artifact["format"] == ExportFormat.ONNX.value]
    return [group for group in (litert, onnx) if group]


class _ProfiledInPart(Exception):
    """Some devices of the pool failed: what the others measured goes into the manifest, never into the cache."""

    def __init__(self, meta: dict[str, Any]):
        super().__init__("profiled in part")
        self.meta = meta
