"""The profiler's command line and its timing loop: load and warm each model, then time them (interleaved in
blocks when there are several, so slow drift of the machine - heat, frequency, other load - hits every model
equally), and print one JSON line.

Memory: the resident set of this process (VmRSS and its high-water mark VmHWM from /proc/self/status,
or getrusage's ru_maxrss where there is no /proc) is read before each model is loaded, after loading,
and after its first inference and warmup. Models are loaded and warmed one after the other, so each
model's growth is its own; the peak is the whole process's (runtime libraries included).
"""

import argparse
import json
import os
import sys
import time

from .facts import device_info, memory_reading, memory_record
from .runners import OnnxRunner, open_model
from .runtimes import EXIT_BAD_INPUT, ProfilerError, Runtimes, is_onnx
from .stats import summarize

PROFILER_VERSION = 2  # 2: .onnx models, per-model "runtime" and "memory"
#: runs of onnxruntime's op-profiling session: per-node averages settle within a few dozen runs
OP_PROFILE_RUNS = 30


def profile(paths, runs=100, warmup=10, min_seconds=1.0, threads=None, delegate=None, delegate_options=None,
            block=10, cooldown=0.0, seed=0, runtime=None, op_profile=False):
    """Profile one or more .tflite/.onnx models; returns the JSON-ready result (see the package docstring)."""
    start_memory = memory_reading()
    runtimes = Runtimes(runtime, delegate, delegate_options)
    # Runtimes first (their libraries are not any one model's memory), then each model loaded and warmed alone.
    if any(not is_onnx(path) for path in paths):
        runtimes.tflite()
        runtimes.delegates()
    if any(is_onnx(path) for path in paths):
        runtimes.onnx()
    runtime_memory = memory_reading()
    runners = [_loaded_and_warmed(path, runtimes, threads, seed, warmup) for path in paths]
    block = 1 if len(runners) == 1 else max(1, block)
    _time(runners, runs, min_seconds, block, cooldown)
    results = [_entry(runner, warmup, runs, op_profile) for runner in runners]
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


def _loaded_and_warmed(path, runtimes, threads, seed, warmup):
    before_load = memory_reading()
    runner = open_model(path, runtimes, threads, seed)
    after_load = memory_reading()
    runner.first_ms = runner.invoke_timed()
    for _ in range(warmup):
        runner.invoke()
    runner.memory = memory_record(before_load, after_load, memory_reading())
    return runner


def _time(runners, runs, min_seconds, block, cooldown):
    """One model: check after every run. Several: alternate blocks until each has its runs and time."""
    started = time.perf_counter()
    while True:
        for runner in runners:
            for _ in range(block):
                runner.samples_ms.append(runner.invoke_timed())
            if cooldown and len(runners) > 1:
                time.sleep(cooldown)
        if min(len(runner.samples_ms) for runner in runners) >= runs and time.perf_counter() - started >= min_seconds:
            return


def _entry(runner, warmup, runs, op_profile):
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
    return entry


def _parse_options(pairs):
    options = {}
    for pair in pairs or []:
        key, separator, value = pair.partition("=")
        if not separator:
            raise ProfilerError("bad_arguments", "delegate option must be key=value, got {!r}".format(pair),
                                EXIT_BAD_INPUT)
        options[key] = value
    return options


def _parser():
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
    return parser


def main(argv=None):
    """Profile the models named on the command line; prints one JSON line; returns the exit code."""
    args = _parser().parse_args(argv)
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
