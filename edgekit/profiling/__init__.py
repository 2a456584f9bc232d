"""Latency profiling: the standalone device-side profiler, the profile JSON, parsers of other tools' output."""
