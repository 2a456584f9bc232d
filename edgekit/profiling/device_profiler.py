#!/usr/bin/env python3
"""edgekit's on-device profiler: times TFLite and ONNX models where they run and prints the profile JSON.

This file is pushed to boards as it is and must stay standalone: Python >= 3.7, numpy, and for .tflite
one of ai_edge_litert, tflite_runtime or tensorflow.lite (tried in that order); for .onnx, onnxruntime.
Each runtime is imported only when a model needs it, so a board without onnxruntime still profiles
.tflite files, and an .onnx file there fails with the "runtime_missing" error naming what to install.
It imports nothing from edgekit; edgekit imports `summarize` from it so host and device compute
statistics the same way. It works with numpy 1 (tflite-runtime 2.14 needs numpy<2) and numpy 2.

Timing wraps `invoke()` (LiteRT) or `run()` (ONNX Runtime) only (time.perf_counter_ns), on the device:
never the transport.

    python3 device_profiler.py model.tflite [model2.onnx ...] --runs 100 --warmup 10 --min-seconds 1
        [--threads N] [--delegate libedgetpu.so.1] [--delegate-option key=value] [--block 10] [--cooldown 0]

With several models the runs are interleaved in blocks (A-block, B-block, A-block, ...), so slow drift
of the machine (heat, frequency, other load) hits every model equally.

Memory: the resident set of this process (VmRSS and its high-water mark VmHWM from /proc/self/status,
or getrusage's ru_maxrss where there is no /proc) is read before each model is loaded, after loading,
and after its first inference and warmup. Models are loaded and warmed one after the other, so each
model's growth is its own; the peak is the whole process's (runtime libraries included).

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

PROFILER_VERSION = 2  # 2: .onnx models, per-model "runtime" and "memory"
EXIT_BAD_INPUT = 2
EXIT_NO_RUNTIME = 4
EXIT_DELEGATE = 5

INSTALL_HINT = (
    "install one on the device, into the Python that runs the profiler ({python}): "
    "`{python} -m pip install ai-edge-litert` (Python 3.9+ on aarch64 or x86_64), "
    "or `{python} -m pip install tflite-runtime` on older boards (it needs numpy<2)"
)

ONNX_INSTALL_HINT = (
    "install it on the device, into the Python that runs the profiler ({python}): "
    "`{python} -m pip install onnxruntime` (wheels for aarch64 and x86_64 Linux)"
)
ONNX_SUFFIX = ".onnx"
# ONNX element types (TensorProto.DataType) as onnxruntime names them in NodeArg.type.
ONNX_DTYPES = {
    "tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
    "tensor(int8)": "int8", "tensor(uint8)": "uint8", "tensor(int16)": "int16", "tensor(uint16)": "uint16",
    "tensor(int32)": "int32", "tensor(uint32)": "uint32", "tensor(int64)": "int64", "tensor(uint64)": "uint64",
    "tensor(bool)": "bool",
}


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


def load_onnxruntime():
    """Return (name, version, module) of onnxruntime.

    Raises:
        ProfilerError: runtime_missing, naming the package and the Python to install it into.
    """
    try:
        import onnxruntime
    except ImportError as error:
        raise ProfilerError(
            "runtime_missing",
            "onnxruntime is not importable here ({}), so .onnx models cannot be profiled: {}".format(
                error, ONNX_INSTALL_HINT.format(python=sys.executable or "python3")),
            EXIT_NO_RUNTIME,
        )
    return "onnxruntime", getattr(onnxruntime, "__version__", None), onnxruntime


def is_onnx(path):
    return path.lower().endswith(ONNX_SUFFIX)


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


def memory_reading():
    """The process's resident set now and its peak so far, in KiB: {"rss_kb", "hwm_kb", "source"}.

    Linux: VmRSS and VmHWM of /proc/self/status. Elsewhere getrusage's ru_maxrss (a peak only, so it stands
    in for both; KiB on Linux, bytes on macOS).
    """
    try:
        with open("/proc/self/status") as handle:
            fields = {}
            for line in handle:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    fields[key] = int(value.split()[0])  # "VmRSS:	  123456 kB"
        if "VmRSS" in fields and "VmHWM" in fields:
            return {"rss_kb": fields["VmRSS"], "hwm_kb": fields["VmHWM"], "source": "proc_status"}
    except (OSError, ValueError, IndexError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if sys.platform == "darwin":
        peak //= 1024
    return {"rss_kb": peak, "hwm_kb": peak, "source": "getrusage"}


def memory_record(before_load, after_load, after_runs):
    """One model's memory: its resident-set growth across loading and across its first runs, and the peak.

    The growth runs to the highest resident set seen while this model loaded and ran: the high-water mark when it
    rose in that window (a peak between readings), else the highest reading (an earlier model's peak is not it).
    """
    if after_runs["hwm_kb"] > before_load["hwm_kb"]:
        highest = after_runs["hwm_kb"]
    else:
        highest = max(after_load["rss_kb"], after_runs["rss_kb"])
    return {
        "rss_before_load_kb": before_load["rss_kb"],
        "rss_after_load_kb": after_load["rss_kb"],
        "rss_after_invoke_kb": after_runs["rss_kb"],
        "load_growth_kb": after_load["rss_kb"] - before_load["rss_kb"],
        "invoke_growth_kb": after_runs["rss_kb"] - after_load["rss_kb"],
        "rss_growth_kb": highest - before_load["rss_kb"],
        "peak_rss_kb": after_runs["hwm_kb"],
        "source": after_runs["source"],
    }


class TFLiteRunner:
    """One loaded .tflite model with fixed random inputs, ready to be invoked."""

    def __init__(self, path, runtime, delegates, threads, seed):
        import numpy as np

        self.path = path
        self.runtime, self.runtime_version, interpreter_class = runtime[0], runtime[1], runtime[2]
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

    def invoke(self):
        self.interpreter.invoke()

    def invoke_timed(self):
        started = time.perf_counter_ns()
        self.interpreter.invoke()
        elapsed_ns = time.perf_counter_ns() - started
        return round(elapsed_ns / 1e6, 6)  # whole nanoseconds; keeps the JSON short


class OnnxRunner:
    """One .onnx model in an onnxruntime InferenceSession (CPU) with fixed random inputs, ready to be run.

    intra_op_num_threads is the thread count (as num_threads is for LiteRT); inter_op is 1 and execution
    sequential, the CPU provider's defaults for a single-input graph; full graph optimisation, as deployed.
    """

    def __init__(self, path, runtime, threads, seed):
        import numpy as np

        self.path = path
        self.runtime, self.runtime_version, onnxruntime = runtime
        self.threads = threads
        self.onnxruntime = onnxruntime
        started = time.perf_counter_ns()
        try:
            self.session = self.new_session()
        except Exception as error:  # onnxruntime raises its own Fail/InvalidGraph/... types
            raise ProfilerError("bad_model", "{} is not a model onnxruntime can load: {}".format(path, error),
                                EXIT_BAD_INPUT)
        self.init_ms = (time.perf_counter_ns() - started) / 1e6
        rng = np.random.RandomState(seed)
        self.feeds = {}
        self.inputs = []
        for node in self.session.get_inputs():
            dtype = ONNX_DTYPES.get(node.type)
            if dtype is None:
                raise ProfilerError("bad_model", "{}: input {} has type {}, which the profiler cannot fill".format(
                    path, node.name, node.type), EXIT_BAD_INPUT)
            # A dynamic dimension (None or a name such as "unk__12") is the batch: one sample.
            shape = [dim if isinstance(dim, int) and dim > 0 else 1 for dim in node.shape]
            self.feeds[node.name] = _random_input(np, rng, dtype, shape)
            self.inputs.append({"name": node.name, "dtype": dtype, "shape": shape})
        self.samples_ms = []
        self.first_ms = None

    def new_session(self, profile_prefix=None):
        onnxruntime = self.onnxruntime
        options = onnxruntime.SessionOptions()
        if self.threads:
            options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only: its warnings would land in the profile's output
        if profile_prefix:
            options.enable_profiling = True
            options.profile_file_prefix = profile_prefix
        return onnxruntime.InferenceSession(self.path, sess_options=options, providers=["CPUExecutionProvider"])

    def invoke(self):
        self.session.run(None, self.feeds)

    def invoke_timed(self):
        started = time.perf_counter_ns()
        self.session.run(None, self.feeds)
        elapsed_ns = time.perf_counter_ns() - started
        return round(elapsed_ns / 1e6, 6)

    def op_profile(self, runs):
        """Per-node times from onnxruntime's own profiler, in a session of its own after the timed runs (profiling
        every node slows each run): one row per node in run order, as benchmark_model's op profile has them."""
        import shutil
        import tempfile

        folder = tempfile.mkdtemp(prefix="edgekit-ort-profile-")
        try:
            session = self.new_session(os.path.join(folder, "ort"))
            for _ in range(runs):
                session.run(None, self.feeds)
            with open(session.end_profiling()) as handle:
                events = json.load(handle)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return onnx_op_rows(events)


KERNEL_TIME = "_kernel_time"


def onnx_op_rows(events):
    """Rows {node_type, name, first_ms, avg_ms, percent, times_called} from onnxruntime's profile events
    (Chrome trace: "cat": "Node" events named `<node>_kernel_time`, "dur" in microseconds, args.op_name)."""
    durations = {}
    types = {}
    for event in events:
        name = event.get("name", "")
        if event.get("cat") != "Node" or not name.endswith(KERNEL_TIME):
            continue
        node = name[:-len(KERNEL_TIME)]
        durations.setdefault(node, []).append(float(event.get("dur", 0)) / 1000.0)
        types[node] = (event.get("args") or {}).get("op_name") or "?"
    averages = {node: sum(values) / len(values) for node, values in durations.items()}
    total = sum(averages.values())
    return [{"node_type": types[node], "name": node, "first_ms": round(values[0], 6),
             "avg_ms": round(averages[node], 6),
             "percent": round(100.0 * averages[node] / total, 3) if total > 0 else 0.0, "times_called": 1}
            for node, values in durations.items()]


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


class Runtimes:
    """The runtimes the models need, each imported on first use (so a missing one fails only its models)."""

    def __init__(self, preferred=None, delegate=None, delegate_options=None):
        self.preferred = preferred
        self.delegate = delegate
        self.delegate_options = delegate_options or {}
        self._tflite = None
        self._delegates = None
        self._onnx = None

    def tflite(self):
        if self._tflite is None:
            self._tflite = load_runtime(self.preferred)
        return self._tflite

    def delegates(self):
        if self._delegates is None:
            self._delegates = []
            if self.delegate:
                load_delegate = self.tflite()[3]
                try:
                    self._delegates = [load_delegate(self.delegate, self.delegate_options)]
                except (ValueError, OSError, RuntimeError) as error:
                    raise ProfilerError("delegate_failed", "cannot load delegate {}: {}".format(self.delegate, error),
                                        EXIT_DELEGATE)
        return self._delegates

    def onnx(self):
        if self._onnx is None:
            self._onnx = load_onnxruntime()
        return self._onnx

    def loaded(self):
        """(name, version) of the first runtime loaded: the device record's runtime."""
        first = self._tflite or self._onnx
        return (first[0], first[1]) if first else (None, None)


def open_model(path, runtimes, threads, seed):
    """A runner for `path`: ONNX Runtime for .onnx, LiteRT for anything else."""
    if not os.path.isfile(path):
        raise ProfilerError("model_missing", "no such model file: {}".format(path), EXIT_BAD_INPUT)
    if is_onnx(path):
        return OnnxRunner(path, runtimes.onnx(), threads, seed)
    return TFLiteRunner(path, runtimes.tflite(), runtimes.delegates(), threads, seed)


#: runs of onnxruntime's op-profiling session: per-node averages settle within a few dozen runs
OP_PROFILE_RUNS = 30


def profile(paths, runs=100, warmup=10, min_seconds=1.0, threads=None, delegate=None, delegate_options=None,
            block=10, cooldown=0.0, seed=0, runtime=None, op_profile=False):
    """Profile one or more .tflite/.onnx models; returns the JSON-ready result (see the module docstring)."""
    start_memory = memory_reading()
    runtimes = Runtimes(runtime, delegate, delegate_options)
    # Runtimes first (their libraries are not any one model's memory), then each model loaded and warmed alone.
    if any(not is_onnx(path) for path in paths):
        runtimes.tflite()
        runtimes.delegates()
    if any(is_onnx(path) for path in paths):
        runtimes.onnx()
    runtime_memory = memory_reading()
    runners = []
    for path in paths:
        before_load = memory_reading()
        runner = open_model(path, runtimes, threads, seed)
        after_load = memory_reading()
        runner.first_ms = runner.invoke_timed()
        for _ in range(warmup):
            runner.invoke()
        runner.memory = memory_record(before_load, after_load, memory_reading())
        runners.append(runner)
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
            "runtime": runner.runtime,
            "runtime_version": runner.runtime_version,
            "inputs": runner.inputs,
            "runs": len(runner.samples_ms),
            "warmup": warmup,
            "init_ms": runner.init_ms,
            "first_ms": runner.first_ms,
            "samples_ms": runner.samples_ms,
            "memory": runner.memory,
        }
        if op_profile and isinstance(runner, OnnxRunner):
            op_runs = max(1, min(runs, OP_PROFILE_RUNS))
            entry["op_profile"] = runner.op_profile(op_runs)
            entry["op_profile_source"] = ("onnxruntime's profiler (enable_profiling), a separate session of {} runs "
                                          "after the timed ones".format(op_runs))
        entry.update(summarize(runner.samples_ms))
        results.append(entry)
    end_memory = memory_reading()
    runtime_name, runtime_version = runtimes.loaded()
    return {
        "edgekit_profiler": PROFILER_VERSION,
        "device": device_info(runtime_name, runtime_version),
        "threads": threads,
        "delegate": delegate,
        "interleaved": len(runners) > 1,
        "block": block if len(runners) > 1 else None,
        "cooldown_s": cooldown if len(runners) > 1 else None,
        "peak_rss_kb": end_memory["hwm_kb"],
        "memory": {"rss_start_kb": start_memory["rss_kb"], "rss_runtimes_kb": runtime_memory["rss_kb"],
                   "rss_end_kb": end_memory["rss_kb"], "peak_rss_kb": end_memory["hwm_kb"],
                   "source": end_memory["source"]},
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
    parser = argparse.ArgumentParser(description="Time TFLite and ONNX models on this device; prints JSON.")
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
    parser.add_argument("--op-profile", action="store_true",
                        help=".onnx: per-node times from onnxruntime's profiler, in a separate session")
    args = parser.parse_args(argv)
    try:
        if args.runs < 1 or args.warmup < 0 or args.min_seconds < 0:
            raise ProfilerError("bad_arguments", "runs must be >= 1, warmup and min-seconds >= 0", EXIT_BAD_INPUT)
        result = profile(args.models, runs=args.runs, warmup=args.warmup, min_seconds=args.min_seconds,
                         threads=args.threads, delegate=args.delegate,
                         delegate_options=_parse_options(args.delegate_option), block=args.block,
                         cooldown=args.cooldown, seed=args.seed, runtime=args.runtime,
                         op_profile=args.op_profile)
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
