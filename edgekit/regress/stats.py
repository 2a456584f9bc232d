"""The statistics of the latency gate: a two-sided Mann–Whitney U test and a bootstrap CI of the median ratio.

A regression needs both a slowdown of the median larger than `max_slowdown` (the size a team cares about)
and a significant difference of the two sample sets (two-sided Mann–Whitney U at `alpha`, as Google
Benchmark's compare.py and asv use). Significance alone would flag a 0.3% shift measured over 20,000 runs;
size alone would flag noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import Sequence

import numpy as np

from edgekit.profiling.device.stats import percentile

DEFAULT_MAX_SLOWDOWN = 0.05
DEFAULT_ALPHA = 0.01
DEFAULT_RESAMPLES = 2000
DEFAULT_SEED = 0


class Verdict(str, Enum):
    """What the gate concluded for one artifact."""

    REGRESSION = "regression"
    IMPROVEMENT = "improvement"
    UNCHANGED = "unchanged"
    MISSING = "missing"


@dataclass(frozen=True)
class GateThresholds:
    """When a difference counts: its size (`max_slowdown`, a fraction of the baseline median) and its
    significance (`alpha`). The bootstrap CI is drawn at confidence 1 - alpha from `resamples`, seeded."""

    max_slowdown: float = DEFAULT_MAX_SLOWDOWN
    alpha: float = DEFAULT_ALPHA
    resamples: int = DEFAULT_RESAMPLES
    seed: int = DEFAULT_SEED

    @property
    def confidence(self) -> float:
        return 1.0 - self.alpha


@dataclass(frozen=True)
class SampleComparison:
    """Baseline and current latency samples compared: medians, their ratio with a CI, the p-value, the verdict."""

    baseline_median_ms: float
    current_median_ms: float
    ratio: float
    ratio_low: float
    ratio_high: float
    p_value: float
    baseline_runs: int
    current_runs: int
    verdict: Verdict

    @property
    def change(self) -> float:
        """Relative change of the median: +0.12 is 12% slower."""
        return self.ratio - 1.0


def compare_samples(baseline_ms: Sequence[float], current_ms: Sequence[float],
                    thresholds: GateThresholds = GateThresholds()) -> SampleComparison:
    """Compare two sets of latency samples.

    Regression: the current median is more than `max_slowdown` slower and the two-sided Mann–Whitney U
    p-value is below `alpha`. Improvement: more than `max_slowdown` faster, also significant.

    Raises:
        ValueError: a sample set is empty (callers check inputs first and raise a typed error).
    """
    baseline = np.sort(np.asarray(baseline_ms, dtype=float))
    current = np.sort(np.asarray(current_ms, dtype=float))
    if baseline.size == 0 or current.size == 0:
        raise ValueError("both sample sets need at least one sample")
    baseline_median = percentile(baseline, 50.0)
    current_median = percentile(current, 50.0)
    ratio = current_median / baseline_median
    p_value = mann_whitney_p(baseline, current)
    low, high = bootstrap_ratio_interval(baseline, current, thresholds)
    significant = p_value < thresholds.alpha
    if significant and ratio - 1.0 > thresholds.max_slowdown:
        verdict = Verdict.REGRESSION
    elif significant and 1.0 - ratio > thresholds.max_slowdown:
        verdict = Verdict.IMPROVEMENT
    else:
        verdict = Verdict.UNCHANGED
    return SampleComparison(baseline_median_ms=baseline_median, current_median_ms=current_median, ratio=ratio,
                            ratio_low=low, ratio_high=high, p_value=p_value, baseline_runs=int(baseline.size),
                            current_runs=int(current.size), verdict=verdict)


def mann_whitney_p(baseline: np.ndarray, current: np.ndarray) -> float:
    """Two-sided Mann–Whitney U p-value (scipy picks the exact or the tie-corrected normal method)."""
    from scipy.stats import mannwhitneyu

    p_value = float(mannwhitneyu(current, baseline, alternative="two-sided").pvalue)
    # All samples tied gives 0/0 in the normal approximation: no evidence of a difference.
    return p_value if math.isfinite(p_value) else 1.0


def bootstrap_ratio_interval(baseline_sorted: np.ndarray, current_sorted: np.ndarray,
                             thresholds: GateThresholds) -> tuple[float, float]:
    """Percentile bootstrap CI of median(current) / median(baseline), at confidence 1 - alpha, seeded."""
    rng = np.random.default_rng(thresholds.seed)
    ratios = (bootstrap_medians(current_sorted, thresholds.resamples, rng)
              / bootstrap_medians(baseline_sorted, thresholds.resamples, rng))
    tail = 100.0 * thresholds.alpha / 2.0
    low, high = np.percentile(ratios, [tail, 100.0 - tail])
    return float(low), float(high)


def bootstrap_medians(sorted_samples: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Medians of `resamples` bootstrap resamples (n draws with replacement) of already sorted samples.

    Drawing n indices per resample costs O(n) each, which is slow for the 20,000-run profiles of fast
    models. The median of a resample only needs its middle order statistics, whose distribution is
    known exactly: a draw from the sample is sorted_samples[floor(n * U)] with U uniform, a monotone map,
    so the k-th smallest draw is sorted_samples[floor(n * U_(k))] where U_(k) ~ Beta(k, n + 1 - k) is the
    k-th smallest of n uniforms; for even n, the next one is U_(k+1) = U_(k) + (1 - U_(k)) * Beta(1, n - k).
    The result has the same distribution as brute-force resampling, at O(1) per resample.
    """
    count = sorted_samples.size
    middle = (count + 1) // 2  # 1-based rank of the (lower) middle draw
    lower = rng.beta(middle, count + 1 - middle, size=resamples)
    lower_values = _values_at(sorted_samples, lower)
    if count % 2:
        return lower_values
    upper = lower + (1.0 - lower) * rng.beta(1, count - middle, size=resamples)
    return (lower_values + _values_at(sorted_samples, upper)) / 2.0


def _values_at(sorted_samples: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
    indices = np.minimum((uniforms * sorted_samples.size).astype(np.int64), sorted_samples.size - 1)
    return sorted_samples[indices]
