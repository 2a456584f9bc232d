#!/usr/bin/env python3
"""edgekit's on-device profiler: times TFLite models where they run and prints the profile JSON.

This file is pushed to boards as it is and must stay standalone: Python >= 3.7, numpy, and one of
ai_edge_litert, tflite_runtime or tensorflow.lite (tried in that order). It imports nothing from
edgekit; edgekit imports `summarize` from it so host and device compute statistics the same way.

Timing wraps `invoke()` only (time.perf_counter_ns), on the device: never the transport.

    python3 device_profiler.py model.tflite [model2.tflite ...] --runs 100 --warmup 10 --min-seconds 1
        [--threads N] [--delegate libedgetpu.so.1] [--delegate-option key=value] [--block 10] [--cooldown 0]

With several models the runs are interleaved in blocks (A-block, B-block, A-block, ...), so slow drift
of the machine (heat, frequency, other load) hits every model equally.

Exit codes: 0 profiles printed; 2 bad arguments or model file; 4 no runtime; 5 delegate failed; 1 other.
On failure the JSON on stdout has "error" (a code) and "message".
"""

import argparse
import json
import math
import os
import platform
import resource
import sys
import time

PROFILER_VERSION = 1
EXIT_BAD_INPUT = 2
EXIT_NO_RUNTIME = 4
EXIT_DELEGATE = 5

INSTALL_HINT = (
    "install one on the device, into the Python that runs the profiler ({python}): "
    "`{python} -m pip install ai-edge-litert` (Python 3.9+ on aarch64 or x86_64), "
    "or `{python} -m pip install tflite-runtime` on older boards (it needs numpy<2)"
)


class ProfilerError(Exception):
    def __init__(self, code, message, exit_code):
        Exception.__init__(self, message)
        self.code = code
        self.message = message
        self.exit_code = exit_code


def load_runtime(preferred=None):
    """Return (name, version, Interpreter class, load_delegate function) of the first runtime found."""
    candidates = ["ai_edge_litert", "tflite_runtime", "tensorflow"]
    if preferred:
        candidates = [preferred]
    reasons = []
    for name in candidates:
        try:
            if name == "ai_edge_litert":
                from ai_edge_litert import interpreter as module

                version = _distribution_version("ai-edge-litert")
                return name, version, module.Interpreter, module.load_delegate
            if name == "tflite_runtime":
                from tflite_runtime import interpreter as module

                import tflite_runtime

                version = getattr(tflite_runtime, "__version__", None) or _distribution_version("tflite-runtime")
                return name, version, module.Interpreter, module.load_delegate
            if name == "tensorflow":
                # Last resort, for boards that carry full TensorFlow only: tf.lite.Interpreter is deprecated
                # in favour of ai_edge_litert, which is tried first.
                import tensorflow as tf

                return name, tf.__version__, tf.lite.Interpreter, tf.lite.experimental.load_delegate
        except ImportError as error:
            reasons.append("{}: {}".format(name, error))
    raise ProfilerError(
        "runtime_missing",
        "no TFLite runtime found (tried {}): {}".format(
            ", ".join(candidates), INSTALL_HINT.format(python=sys.executable or "python3")
        ),
        EXIT_NO_RUNTIME,
    )


def _distribution_version(name):
    try:
        from importlib import metadata
    except ImportError:  # Python 3.7
        return None
    try:
        return metadata.version(name)
    except Exception:
        return None


def device_info(runtime_name, runtime_version):
    """What the device is: machine, OS, CPU, runtime."""
    return {
        "machine": platform.machine(),
        "os": _os_name(),
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "runtime": runtime_name,
        "runtime_version": runtime_version,
        "hostname": platform.node(),
    }


def _os_name():
    try:
        with open("/etc/os-release") as handle:
            for line in handle:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.platform()


def _cpu_name():
    try:
        with open("/proc/device-tree/model", "rb") as handle:  # Raspberry Pi and most boards
            model = handle.read().rstrip(b"\0").decode("utf-8", "replace").strip()
            if model:
                return model
    except OSError:
        pass
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Hardware", "Model", "cpu model"):
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def summarize(samples_ms):
    """Statistics of latency samples in milliseconds: min, median, mean, p90, p99, max, std.

    Percentiles interpolate linearly between order statistics (numpy's default), so the
    median of an even count is the mean of the middle two.
    """
    if not samples_ms:
        raise ValueError("no samples to summarize")
    ordered = sorted(samples_ms)
    count = len(ordered)
    mean = sum(ordered) / count
    variance = sum((value - mean) ** 2 for value in ordered) / (count - 1) if count > 1 else 0.0
    return {
        "min_ms": ordered[0],
        "median_ms": percentile(ordered, 50.0),
        "mean_ms": mean,
        "p90_ms": percentile(ordered, 90.0),
        "p99_ms": percentile(ordered, 99.0),
        "max_ms": ordered[-1],
        "std_ms": math.sqrt(variance),
    }


def percentile(ordered, q):
    """The q-th percentile of already sorted values, interpolated linearly."""
    position = (len(ordered) - 1) * q / 100.0
    low = int(math.floor(position))
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class ModelRunner:
    """One loaded model with fixed random inputs, ready to be invoked."""

    def __init__(self, path, interpreter_class, delegates, threads, seed):
        import numpy as np

        self.path = path
        if not os.path.isfile(path):
            raise ProfilerError("model_missing", "no such model file: {}".format(path), EXIT_BAD_INPUT)
        kwargs = {"model_path": path}
        if threads:
            kwargs["num_threads"] = threads
        if delegates:
            kwargs["experimental_delegates"] = delegates
        started = time.perf_counter_ns()
        try:
            self.interpreter = interpreter_class(**kwargs)
            self.interpreter.allocate_tensors()
        except ValueError as error:
            raise ProfilerError("bad_model", "{} is not a model the runtime can load: {}".format(path, error),
                                EXIT_BAD_INPUT)
        self.init_ms = (time.perf_counter_ns() - started) / 1e6
        rng = np.random.RandomState(seed)
        self.inputs = []
        for detail in self.interpreter.get_input_details():
            data = _random_input(np, rng, detail["dtype"], detail["shape"])
            self.interpreter.set_tensor(detail["index"], data)
            self.inputs.append({"name": detail["name"], "dtype": np.dtype(detail["dtype"]).name,
                                "shape": [int(dim) for dim in detail["shape"]]})
        self.samples_ms = []
        self.first_ms = None

    def invoke_timed(self):
        started = time.perf_counter_ns()
        self.interpreter.invoke()
        elapsed_ns = time.perf_counter_ns() - started
        return round(elapsed_ns / 1e6, 6)  # whole nanoseconds; keeps the JSON short


def _random_input(np, rng, dtype, shape):
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return rng.uniform(0.0, 1.0, size=shape).astype(dtype)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return rng.randint(max(info.min, -(2 ** 31)), min(info.max, 2 ** 31 - 1), size=shape).astype(dtype)
    if dtype.kind == "b":
        return rng.randint(0, 2, size=shape).astype(dtype)
    raise ProfilerError("bad_model", "cannot make an input of dtype {}".format(dtype.name), EXIT_BAD_INPUT)


def profile(paths, runs=100, warmup=10, min_seconds=1.0, threads=None, delegate=None, delegate_options=None,
            block=10, cooldown=0.0, seed=0, runtime=None):
    """Profile one or more .tflite models; returns the JSON-ready result (see the module docstring)."""
    runtime_name, runtime_version, interpreter_class, load_delegate = load_runtime(runtime)
    delegates = []
    if delegate:
        try:
            delegates = [load_delegate(delegate, delegate_options or {})]
        except (ValueError, OSError, RuntimeError) as error:
            raise ProfilerError("delegate_failed", "cannot load delegate {}: {}".format(delegate, error), EXIT_DELEGATE)
    runners = [ModelRunner(path, interpreter_class, delegates, threads, seed) for path in paths]
    for runner in runners:
        runner.first_ms = runner.invoke_timed()
        for _ in range(warmup):
            runner.interpreter.invoke()
    # One model: check after every run. Several: alternate blocks until each has its runs and time.
    block = 1 if len(runners) == 1 else max(1, block)
    started = time.perf_counter()
    while True:
        for runner in runners:
            for _ in range(block):
                runner.samples_ms.append(runner.invoke_timed())
            if cooldown and len(runners) > 1:
                time.sleep(cooldown)
        if min(len(runner.samples_ms) for runner in runners) >= runs and time.perf_counter() - started >= min_seconds:
            break
    results = []
    for runner in runners:
        entry = {
            "path": runner.path,
            "bytes": os.path.getsize(runner.path),
            "inputs": runner.inputs,
            "runs": len(runner.samples_ms),
            "warmup": warmup,
            "init_ms": runner.init_ms,
            "first_ms": runner.first_ms,
            "samples_ms": runner.samples_ms,
        }
        entry.update(summarize(runner.samples_ms))
        results.append(entry)
    return {
        "edgekit_profiler": PROFILER_VERSION,
        "device": device_info(runtime_name, runtime_version),
        "threads": threads,
        "delegate": delegate,
        "interleaved": len(runners) > 1,
        "block": block if len(runners) > 1 else None,
        "cooldown_s": cooldown if len(runners) > 1 else None,
        "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "profiles": results,
    }


def _parse_options(pairs):
    options = {}
    for pair in pairs or []:
        key, separator, value = pair.partition("=")
        if not separator:
            raise ProfilerError("bad_arguments", "delegate option must be key=value, got {!r}".format(pair),
                                EXIT_BAD_INPUT)
        options[key] = value
    return options


def main(argv=None):
    parser = argparse.ArgumentParser(description="Time TFLite models on this device; prints JSON.")
    parser.add_argument("models", nargs="+")
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--min-seconds", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--delegate", default=None, help="delegate library, e.g. libedgetpu.so.1")
    parser.add_argument("--delegate-option", action="append", default=[])
    parser.add_argument("--block", type=int, default=10, help="runs per block when interleaving models")
    parser.add_argument("--cooldown", type=float, default=0.0, help="seconds of rest after each block")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runtime", choices=["ai_edge_litert", "tflite_runtime", "tensorflow"], default=None)
    args = parser.parse_args(argv)
    try:
        if args.runs < 1 or args.warmup < 0 or args.min_seconds < 0:
            raise ProfilerError("bad_arguments", "runs must be >= 1, warmup and min-seconds >= 0", EXIT_BAD_INPUT)
        result = profile(args.models, runs=args.runs, warmup=args.warmup, min_seconds=args.min_seconds,
                         threads=args.threads, delegate=args.delegate,
                         delegate_options=_parse_options(args.delegate_option), block=args.block,
                         cooldown=args.cooldown, seed=args.seed, runtime=args.runtime)
    except ProfilerError as error:
        sys.stdout.write(json.dumps({"edgekit_profiler": PROFILER_VERSION, "error": error.code,
                                     "message": error.message}) + "\n")
        sys.stdout.flush()
        return error.exit_code
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
