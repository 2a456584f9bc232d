"""Distributed training on tf.distribute: MirroredStrategy on one machine, MultiWorkerMirroredStrategy across several.

Train, prune and QAT run inside the strategy's scope; `train.batch_size` is the global batch.
With several workers, every worker trains and only the chief writes artifacts.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
from dataclasses import dataclass
from typing import Any, Optional

from edgekit._native import captured_stderr
from edgekit._tf import LOGICAL_CPUS_VARIABLE, tf
from edgekit.config.schema import Distribute
from edgekit.errors import ConfigError

TF_CONFIG = "TF_CONFIG"


@dataclass
class Distribution:
    """The strategy a build trains under, and this process's role in it."""

    strategy: Any  # a tf.distribute.Strategy, or None for plain single-device training
    name: str
    replicas: int
    is_chief: bool = True
    worker_index: int = 0
    workers: int = 1
    reason: str = ""

    def scope(self):
        """The strategy's scope (models and optimizers made inside it are distributed)."""
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()

    @property
    def multi_worker(self) -> bool:
        return self.workers > 1

    def record(self) -> dict[str, Any]:
        """For the manifest."""
        return {"strategy": self.name, "replicas": self.replicas, "workers": self.workers, "reason": self.reason}


def choose_distribution(requested: Distribute) -> Distribution:
    """The strategy for `train.distribute`.

    auto: MirroredStrategy when more than one GPU is visible, else none. mirrored: all GPUs, or the
    logical CPUs made by EDGEKIT_LOGICAL_CPUS. multi_worker: MultiWorkerMirroredStrategy from TF_CONFIG.

    Raises:
        ConfigError: multi_worker without a usable TF_CONFIG.
    """
    if requested is Distribute.MULTI_WORKER:
        return _multi_worker()
    with captured_stderr():  # "failed call to cuInit" on machines without a GPU driver
        gpus = tf().config.list_physical_devices("GPU")
    if requested is Distribute.NONE or (requested is Distribute.AUTO and len(gpus) < 2):
        reason = "set in train.distribute" if requested is Distribute.NONE else f"auto: {len(gpus)} GPU(s) visible"
        return Distribution(strategy=None, name="none", replicas=1, reason=reason)
    devices = [device.name for device in tf().config.list_logical_devices("GPU")] or \
        [device.name for device in tf().config.list_logical_devices("CPU")]
    strategy = tf().distribute.MirroredStrategy(devices=devices)
    reason = "auto: several GPUs" if requested is Distribute.AUTO else "set in train.distribute"
    return Distribution(strategy=strategy, name="MirroredStrategy", replicas=strategy.num_replicas_in_sync,
                        reason=f"{reason}; devices {', '.join(devices)}")


def _multi_worker() -> Distribution:
    cluster = read_tf_config()
    strategy = tf().distribute.MultiWorkerMirroredStrategy()
    task = cluster["task"]
    chief_is_separate = bool(cluster["cluster"].get("chief"))
    is_chief = task["type"] == "chief" or (not chief_is_separate and task["type"] == "worker" and task["index"] == 0)
    workers = len(cluster["cluster"].get("worker", [])) + len(cluster["cluster"].get("chief", []))
    return Distribution(strategy=strategy, name="MultiWorkerMirroredStrategy",
                        replicas=strategy.num_replicas_in_sync, is_chief=is_chief, worker_index=task["index"],
                        workers=workers, reason=f"TF_CONFIG: {task['type']} {task['index']} of {workers}")


def accelerator_fingerprint() -> dict[str, Any]:
    """What decides `auto` precision and distribution, read without importing TensorFlow.

    A cached rebuild must not pay TensorFlow's import just to learn that nothing changed; the GPUs
    the NVIDIA driver lists and the variables that select devices stand in for TensorFlow's view.
    """
    gpus = []
    for information in sorted(glob.glob("/proc/driver/nvidia/gpus/*/information")):
        with open(information, errors="replace") as handle:
            gpus.append(next((line.split(":", 1)[1].strip() for line in handle if line.startswith("Model:")), "?"))
    variables = ("CUDA_VISIBLE_DEVICES", LOGICAL_CPUS_VARIABLE)
    return {"nvidia_gpus": gpus, **{name: os.environ.get(name) for name in variables}}


def read_tf_config(environ: Optional[dict[str, str]] = None) -> dict[str, Any]:
    """TF_CONFIG, checked: {"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", "index": 0}}.

    Raises:
        ConfigError: missing, not JSON, or inconsistent.
    """
    raw = (environ if environ is not None else os.environ).get(TF_CONFIG)
    example = '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}'
    if not raw:
        raise ConfigError(f"train.distribute is multi_worker but {TF_CONFIG} is not set; set it on every worker, "
                          f"e.g. {TF_CONFIG}='{example}' (index 0 on the first worker, 1 on the second, ...)")
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{TF_CONFIG} is not valid JSON ({error}); expected e.g. {example}") from None
    cluster, task = (config.get("cluster"), config.get("task")) if isinstance(config, dict) else (None, None)
    if not isinstance(cluster, dict) or not isinstance(task, dict):
        raise ConfigError(f"{TF_CONFIG} needs a \"cluster\" and a \"task\" object; expected e.g. {example}")
    role, index = task.get("type"), task.get("index")
    members = cluster.get(role) if isinstance(role, str) else None
    if not isinstance(members, list) or not isinstance(index, int) or not 0 <= index < len(members):
        raise ConfigError(f"{TF_CONFIG}: task {role!r} index {index!r} is not in the cluster "
                          f"({', '.join(f'{k}: {len(v)}' for k, v in cluster.items())})")
    return config
