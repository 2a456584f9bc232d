"""One loaded model with fixed random inputs, ready to be invoked and timed: LiteRT for .tflite, ONNX Runtime
for .onnx. Timing wraps the invoke (or run) call alone, with time.perf_counter_ns."""

import json
import os
import shutil
import tempfile
import time

from .runtimes import EXIT_BAD_INPUT, ProfilerError, is_onnx

# ONNX element types (TensorProto.DataType) as onnxruntime names them in NodeArg.type.
ONNX_DTYPES = {
    "tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
    "tensor(int8)": "int8", "tensor(uint8)": "uint8", "tensor(int16)": "int16", "tensor(uint16)": "uint16",
    "tensor(int32)": "int32", "tensor(uint32)": "uint32", "tensor(int64)": "int64", "tensor(uint64)": "uint64",
    "tensor(bool)": "bool",
}
KERNEL_TIME = "_kernel_time"


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
            data = random_input(np, rng, detail["dtype"], detail["shape"])
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
            self.feeds[node.name] = random_input(np, rng, dtype, shape)
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


def random_input(np, rng, dtype, shape):
    """Uniform random data of `dtype` and `shape` (floats in [0, 1), integers over their range)."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return rng.uniform(0.0, 1.0, size=shape).astype(dtype)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return rng.randint(max(info.min, -(2 ** 31)), min(info.max, 2 ** 31 - 1), size=shape).astype(dtype)
    if dtype.kind == "b":
        return rng.randint(0, 2, size=shape).astype(dtype)
    raise ProfilerError("bad_model", "cannot make an input of dtype {}".format(dtype.name), EXIT_BAD_INPUT)


def open_model(path, runtimes, threads, seed):
    """A runner for `path`: ONNX Runtime for .onnx, LiteRT for anything else."""
    if not os.path.isfile(path):
        raise ProfilerError("model_missing", "no such model file: {}".format(path), EXIT_BAD_INPUT)
    if is_onnx(path):
        return OnnxRunner(path, runtimes.onnx(), threads, seed)
    return TFLiteRunner(path, runtimes.tflite(), runtimes.delegates(), threads, seed)
