"""Distributed training on CPU: MirroredStrategy over two logical CPUs, and two real workers on loopback."""

import json
import os
import socket
import subprocess
import sys

import pytest

from tests.integration.helpers import TINY_DIGITS, artifact, write_config

pytestmark = pytest.mark.slow

# Same model, data and schedule as the single-device digits build, so the accuracies are comparable.
ACCURACY_BAND = 0.05


def run_build(config, env, timeout=600):
    return subprocess.Popen([sys.executable, "-m", "edgekit.cli", "build", "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, **env})


def distributed_config(folder, strategy):
    return write_config(folder, TINY_DIGITS.replace("learning_rate: 0.003}",
                                                    f"learning_rate: 0.003, distribute: {strategy}}}"))


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def test_mirrored_over_two_logical_cpus(tmp_path, digits_build):
    _, _, single = digits_build
    config = distributed_config(tmp_path, "mirrored")
    process = run_build(config, {"EDGEKIT_LOGICAL_CPUS": "2"})
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output
    manifest = json.loads((tmp_path / "build" / "host" / "manifest.json").read_text())
    assert manifest["distribute"]["strategy"] == "MirroredStrategy"
    assert manifest["distribute"]["replicas"] == 2
    assert "distribute: MirroredStrategy, 2 replicas" in output
    dense, reference = artifact(manifest, "keras-dense")["accuracy"], artifact(single, "keras-dense")["accuracy"]
    assert abs(dense - reference) <= ACCURACY_BAND
    assert abs(manifest["sparsity"]["overall"] - 0.5) <= 0.01  # pruning inside the strategy's scope
    assert artifact(manifest, "tflite-int8")["accuracy"] >= dense - 0.02


def test_two_workers_on_loopback_and_only_the_chief_writes(tmp_path, digits_build):
    _, _, single = digits_build
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    chief_config = distributed_config(tmp_path / "chief", "multi_worker")
    worker_config = distributed_config(tmp_path / "worker", "multi_worker")
    processes = [run_build(config, {"TF_CONFIG": json.dumps({"cluster": cluster,
                                                             "task": {"type": "worker", "index": index}})})
                 for index, config in enumerate((chief_config, worker_config))]
    outputs = []
    for process in processes:
        try:
            outputs.append(process.communicate(timeout=900)[0])
        finally:
            process.kill()
    assert [p.returncode for p in processes] == [0, 0], outputs
    assert "worker 1: training done" in outputs[1]
    assert not (tmp_path / "worker" / "build").exists(), "a non-chief worker writes no artifacts"
    manifest = json.loads((tmp_path / "chief" / "build" / "host" / "manifest.json").read_text())
    assert manifest["distribute"] == {"strategy": "MultiWorkerMirroredStrategy", "replicas": 2, "workers": 2,
                                      "reason": "TF_CONFIG: worker 0 of 2"}
    assert abs(artifact(manifest, "keras-dense")["accuracy"] - artifact(single, "keras-dense")["accuracy"]) \
        <= ACCURACY_BAND
