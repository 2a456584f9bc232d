"""edgekit's on-device profiler: times TFLite and ONNX models where they run and prints the profile JSON.

This folder is pushed to boards as it is (every file, each one's SHA-256 checked on the device) and run there as
`python3 <folder>` (see __main__.py); it must stay standalone: Python >= 3.7, numpy, and for .tflite one of
ai_edge_litert, tflite_runtime or tensorflow.lite (tried in that order); for .onnx, onnxruntime. Each runtime is
imported only when a model needs it, so a board without onnxruntime still profiles .tflite files, and an .onnx
file there fails with the "runtime_missing" error naming what to install. It imports nothing from edgekit (only
its own modules, relatively); edgekit imports `stats` from it so host and device compute statistics the same way.
It works with numpy 1 (tflite-runtime 2.14 needs numpy<2) and numpy 2.

Timing wraps `invoke()` (LiteRT) or `run()` (ONNX Runtime) only (time.perf_counter_ns), on the device:
never the transport.

    python3 edgekit_device_profiler model.tflite [model2.onnx ...] --runs 100 --warmup 10 --min-seconds 1
        [--threads N] [--delegate libedgetpu.so.1] [--delegate-option key=value] [--block 10] [--cooldown 0]

Modules, by role: profiler (the command line and the timing loop), runners (one loaded model, LiteRT or ONNX
Runtime), runtimes (finding the runtimes and the delegate), facts (what the device is, its memory readings),
stats (latency statistics). Exit codes: 0 profiles printed; 2 bad arguments or model file; 4 no runtime;
5 delegate failed; 1 other. On failure the JSON on stdout has "error" (a code) and "message".
"""
