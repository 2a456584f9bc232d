"""The gate's statistics on seeded samples: significance and size must both hold for a verdict."""

import numpy as np
import scipy.stats  # noqa: F401  (imported at collection, so no test pays its second-long import)
import pytest

from edgekit.regress.stats import GateThresholds, Verdict, bootstrap_medians, compare_samples
from tests.regress_documents import latency_samples


def test_identical_distributions_are_unchanged():
    result = compare_samples(latency_samples(seed=1), latency_samples(seed=2))
    assert result.verdict is Verdict.UNCHANGED
    assert result.p_value > 0.01
    assert result.ratio_low < 1.0 < result.ratio_high


def test_the_same_samples_give_ratio_one_and_p_one():
    samples = latency_samples(seed=3)
    result = compare_samples(samples, samples)
    assert (result.ratio, result.p_value, result.verdict) == (1.0, 1.0, Verdict.UNCHANGED)


def test_all_tied_samples_are_no_evidence_of_a_difference():
    result = compare_samples([2.0] * 50, [2.0] * 60)
    assert (result.p_value, result.verdict) == (1.0, Verdict.UNCHANGED)


def test_a_clear_slowdown_is_a_regression_with_its_ratio_inside_the_ci():
    result = compare_samples(latency_samples(1.0, seed=4), latency_samples(1.2, seed=5))
    assert result.verdict is Verdict.REGRESSION
    assert result.p_value < 1e-10
    assert 1.05 < result.ratio_low < 1.2 < result.ratio_high < 1.3
    assert result.change == pytest.approx(result.ratio - 1.0)


def test_a_clear_speedup_is_an_improvement():
    result = compare_samples(latency_samples(1.0, seed=6), latency_samples(0.8, seed=7))
    assert result.verdict is Verdict.IMPROVEMENT
    assert result.ratio_high < 1.0


def test_a_significant_shift_below_max_slowdown_is_not_a_regression():
    baseline = latency_samples(1.0, count=5000, spread=0.01, seed=8)
    current = latency_samples(1.02, count=5000, spread=0.01, seed=9)
    result = compare_samples(baseline, current, GateThresholds(max_slowdown=0.05))
    assert result.p_value < 1e-10  # clearly significant...
    assert result.verdict is Verdict.UNCHANGED  # ...but 2% is below the 5% a team asked to be told about
    assert compare_samples(baseline, current, GateThresholds(max_slowdown=0.01)).verdict is Verdict.REGRESSION


def test_a_large_but_insignificant_shift_is_not_a_regression():
    result = compare_samples([1.0, 1.5, 0.7], [1.4, 0.9, 1.6])
    assert result.ratio == pytest.approx(1.4)
    assert result.p_value > 0.01
    assert result.verdict is Verdict.UNCHANGED


def test_the_ci_is_seeded_and_its_level_follows_alpha():
    baseline, current = latency_samples(seed=10), latency_samples(1.1, seed=11)
    first = compare_samples(baseline, current, GateThresholds(seed=3))
    assert compare_samples(baseline, current, GateThresholds(seed=3)) == first
    wider = compare_samples(baseline, current, GateThresholds(alpha=0.001, seed=3))
    assert wider.ratio_low < first.ratio_low and wider.ratio_high > first.ratio_high


def test_empty_samples_are_refused():
    with pytest.raises(ValueError, match="at least one sample"):
        compare_samples([], [1.0])


@pytest.mark.parametrize("count", [1, 2, 7, 8, 101])
def test_bootstrap_medians_have_the_distribution_of_brute_force_resampling(count):
    sorted_samples = np.sort(np.random.default_rng(count).lognormal(0.0, 0.3, count))
    fast = bootstrap_medians(sorted_samples, 40_000, np.random.default_rng(1))
    draws = np.random.default_rng(2).integers(0, count, size=(40_000, count))
    brute = np.median(sorted_samples[draws], axis=1)
    for value in np.unique(brute)[:: max(1, count // 5)]:
        assert (fast <= value).mean() == pytest.approx((brute <= value).mean(), abs=0.01)
