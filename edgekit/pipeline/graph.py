"""The stage graph: what each stage declares it reads, the run order and the cache keys derived from that.

Each stage declares (`StageSpec`) the edgekit.yaml sections or keys it reads, the stages whose results it reads,
the files it reads (data, model file, factory module) and what else of the build it depends on (tool versions,
the accelerator, the target, the device address). From these alone:

- the run order is a stable topological sort of the upstream (and `after`) edges;
- a stage's cache key is the values of its declared config keys, its upstream stages' digests (their files'
  hashes and metadata, so a retrained model invalidates what was made from it), the hashes of its declared
  files and of the build inputs it declares, and edgekit's version (added by `StageCache.run`);
- a stage that does not run (prune off, QAT off, no device to profile on) says so through `enabled`.

Nothing is assembled by hand, so a key cannot forget an input the stage declared; and a test runs every stage
with a configuration that records what it reads (`ConfigReads`), so a stage cannot read what it did not declare.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence

from edgekit.errors import EdgekitError

if TYPE_CHECKING:
    from edgekit.pipeline.cache import StageResult
    from edgekit.pipeline.context import BuildContext

# What a stage may depend on besides configuration, files and other stages, and how each is read.
BUILD_INPUTS: dict[str, Callable[["BuildContext"], Any]] = {
    "tools": lambda ctx: ctx.tools,  # TensorFlow, tfmot, converters, onnxruntime, numpy versions
    "numpy": lambda ctx: {"numpy": ctx.tools.get("numpy")},  # the data stage needs only numpy's
    "hardware": lambda ctx: ctx.hardware,  # what `auto` precision and distribution depend on
    "target": lambda ctx: ctx.target.model_dump(mode="json"),
    "device": lambda ctx: {"address": ctx.connection.address, "remote_python": ctx.connection.remote_python},
    "devices": lambda ctx: ([[member.address, member.remote_python] for member in ctx.pool.members]
                            if ctx.pool is not None and ctx.pool.is_fleet else None),
    # Artifacts made because the target needs them or their tool is on PATH (edgetpu), not because configured.
    "derived_formats": lambda ctx: _derived_formats(ctx),
}


def _derived_formats(ctx: "BuildContext") -> list[str]:
    from edgekit.pipeline.stages.export import derived_artifacts

    return derived_artifacts(ctx)


class StageGraphError(EdgekitError):
    """The stage declarations do not make a graph (a programming error, caught by the tests)."""

    exit_code = 2


def _always(ctx: "BuildContext") -> bool:
    return True


def _no_files(ctx: "BuildContext") -> dict[str, Optional[str]]:
    return {}


def _no_reads(ctx: "BuildContext") -> tuple[str, ...]:
    return ()


@dataclass(frozen=True)
class StageSpec:
    """What one stage reads, declared once; its order, key and whether it runs are derived from this.

    Attributes:
        name: the stage's name (its record is .edgekit/stages/<name>.json, its folder <name>/ unless `folder`).
        run: the stage itself: `run(ctx) -> StageResult`.
        reads: config sections ("prune") or keys ("train.batch_size") whose values shape the output; their values
            are in the key. `ignores` takes keys out of a section read whole.
        upstream: stages whose results it reads; the digest of each that ran is in the key.
        files: `files(ctx) -> {label: sha256 or None}`, the input files the stage reads (hashes in the key).
        inputs: names in BUILD_INPUTS the output depends on.
        reads_if: `reads_if(ctx)`: more config keys (or BUILD_INPUTS names, prefixed "input:") read only in some
            builds (the diagnose stage converts and profiles again only when int8 recovery runs).
        checks: config keys read only to refuse a cached result that no longer fits; not in the key (with
            the reason next to the declaration).
        after: stages that must run first although their results are not read (an order, not an input).
        enabled: whether the stage runs in this build; `skipped(ctx)` is its result when it does not (None: no
            result at all, as for prune and QAT when they are off).
        every_worker: every worker of a multi-worker build runs it (the training stages).
        output: the typed result (edgekit.pipeline.results) its metadata is read as.
        folder: the stage's folder inside the build folder, when not its name.
        record: bumped when what the stage records changes shape, so older records are made again.
    """

    name: str
    run: Callable[["BuildContext"], "StageResult"]
    reads: tuple[str, ...] = ()
    upstream: tuple[str, ...] = ()
    files: Callable[["BuildContext"], dict[str, Optional[str]]] = _no_files
    inputs: tuple[str, ...] = ()
    reads_if: Callable[["BuildContext"], tuple[str, ...]] = _no_reads
    checks: tuple[str, ...] = ()
    ignores: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    enabled: Callable[["BuildContext"], bool] = _always
    skipped: Optional[Callable[["BuildContext"], "StageResult"]] = None
    every_worker: bool = False
    output: Any = None
    folder: Optional[str] = None
    record: int = 1

    def config_reads(self, ctx: "BuildContext") -> tuple[str, ...]:
        """Every config key or section this stage reads in this build (those in its key, then `checks`)."""
        conditional = tuple(name for name in self.reads_if(ctx) if not name.startswith("input:"))
        return (*self.reads, *conditional, *self.checks)

    def key_material(self, ctx: "BuildContext") -> dict[str, Any]:
        """Everything the stage's output depends on, from its declaration (StageCache.run hashes it)."""
        conditional = self.reads_if(ctx)
        config_keys = [*self.reads, *(name for name in conditional if not name.startswith("input:"))]
        inputs = [*self.inputs, *(name[len("input:"):] for name in conditional if name.startswith("input:"))]
        return {
            "config": {name: config_value(ctx.loaded.config, name, self.ignores) for name in config_keys},
            "upstream": {name: ctx.results[name].digest for name in self.upstream if name in ctx.results},
            "files": self.files(ctx),
            "inputs": {name: BUILD_INPUTS[name](ctx) for name in inputs},
            "record": self.record,
        }


def config_value(config: Any, dotted: str, ignores: Sequence[str] = ()) -> Any:
    """The JSON value of a config section or key ("export", "train.batch_size"), without the `ignores` keys."""
    value = config
    for part in dotted.split("."):
        value = getattr(value, part)
    if hasattr(value, "model_dump"):
        prefix = dotted + "."
        excluded = {name[len(prefix):] for name in ignores if name.startswith(prefix) and "." not in name[len(prefix):]}
        return value.model_dump(mode="json", exclude=excluded or None)
    return value.value if hasattr(value, "value") else value


def stage_order(specs: Sequence[StageSpec]) -> tuple[StageSpec, ...]:
    """The specs in a stable topological order: each after its upstream and `after` stages; among stages that
    are ready together, the one declared first.

    Raises:
        StageGraphError: a duplicate name, an edge to an undeclared stage, or a cycle.
    """
    names = [spec.name for spec in specs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise StageGraphError(f"stage(s) declared twice: {', '.join(duplicates)}")
    waiting = {spec.name: set(spec.upstream) | set(spec.after) for spec in specs}
    for spec in specs:
        unknown = sorted(waiting[spec.name] - set(names))
        if unknown:
            raise StageGraphError(f"stage {spec.name} depends on undeclared stage(s): {', '.join(unknown)}; "
                                  f"declared: {', '.join(names)}")
    ordered: list[StageSpec] = []
    done: set[str] = set()
    while len(ordered) < len(specs):
        ready = next((spec for spec in specs if spec.name not in done and waiting[spec.name] <= done), None)
        if ready is None:
            cycle = sorted(name for name in names if name not in done)
            raise StageGraphError(f"the stages {', '.join(cycle)} depend on each other (a cycle)")
        ordered.append(ready)
        done.add(ready.name)
    return tuple(ordered)


# ------------------------------------------------------------------------------------------------ read checks
@dataclass
class ReadLog:
    """Which config keys each stage read while it ran (filled by `ConfigReads`)."""

    stage: Optional[str] = None  # the stage running now
    declared: tuple[str, ...] = ()  # what it declared (sections declared whole are handed out unwrapped)
    ignored: tuple[str, ...] = ()  # keys of those sections it declared it does not read (StageSpec.ignores)
    reads: dict[str, set[str]] = field(default_factory=dict)
    declarations: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = field(default_factory=dict)

    def start(self, stage: str, declared: tuple[str, ...], ignored: tuple[str, ...] = ()) -> None:
        self.stage, self.declared, self.ignored = stage, declared, ignored
        self.declarations[stage] = (declared, ignored)
        self.reads.setdefault(stage, set())

    def add(self, name: str) -> None:
        self.reads.setdefault(self.stage or "(outside a stage)", set()).add(name)

    def undeclared(self) -> dict[str, list[str]]:
        """{stage: the keys it read without declaring them}, for every stage that read one."""
        found = {stage: undeclared_reads(*self.declarations.get(stage, ((), ())), reads)
                 for stage, reads in self.reads.items()}
        return {stage: names for stage, names in found.items() if names}


def undeclared_reads(declared: Sequence[str], ignored: Sequence[str], reads: set[str]) -> list[str]:
    """The keys read that the declaration does not cover ("train.epochs" is covered by "train", unless the
    stage declared that it ignores it)."""
    return sorted(read for read in reads
                  if not any(_within(read, name) for name in declared) or any(_within(read, name) for name in ignored))


def _within(read: str, name: str) -> bool:
    return read == name or read.startswith(name + ".")


class ConfigReads:
    """A read-only view of the configuration that records which sections and keys are read.

    A section the running stage declared whole is handed out as it is (a stage may pass it on); a section it
    declared key by key, or one with a key it declared it ignores, is wrapped too, so the keys read from it
    are recorded one by one.
    """

    def __init__(self, config: Any, log: ReadLog, prefix: str = ""):
        object.__setattr__(self, "_config", config)
        object.__setattr__(self, "_log", log)
        object.__setattr__(self, "_prefix", prefix)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._config, name)
        if name.startswith("_"):
            return value
        if callable(value):
            # A method (model_dump, combinations) may read every key of its section: the section is read.
            if self._prefix:
                self._log.add(self._prefix[:-1])
            return value
        dotted = self._prefix + name
        whole = dotted in self._log.declared and not any(name.startswith(dotted + ".") for name in self._log.ignored)
        if hasattr(value, "model_dump") and not whole:
            return ConfigReads(value, self._log, dotted + ".")  # its keys are recorded one by one
        self._log.add(dotted)
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"the configuration is read-only in a stage (tried to set {self._prefix}{name})")
