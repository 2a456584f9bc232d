"""Latency statistics, the same on the device and in edgekit (which imports this module): numpy's definitions,
without numpy."""

import math


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
