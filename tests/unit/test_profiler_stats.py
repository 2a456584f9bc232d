"""The device profiler's statistics (shared by host and device) agree with numpy."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgekit.profiling.device.stats import percentile, summarize


@given(st.lists(st.floats(0.001, 1000.0), min_size=1, max_size=200))
def test_summary_matches_numpy(samples):
    summary = summarize(samples)
    assert summary["median_ms"] == pytest.approx(np.median(samples))
    assert summary["p90_ms"] == pytest.approx(np.percentile(samples, 90))
    assert summary["p99_ms"] == pytest.approx(np.percentile(samples, 99))
    assert summary["mean_ms"] == pytest.approx(np.mean(samples))
    assert summary["min_ms"] == min(samples) and summary["max_ms"] == max(samples)
    expected_std = np.std(samples, ddof=1) if len(samples) > 1 else 0.0
    assert summary["std_ms"] == pytest.approx(expected_std, rel=1e-6, abs=1e-9)


def test_percentile_of_even_count_interpolates():
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5


def test_no_samples_is_an_error():
    with pytest.raises(ValueError, match="no samples"):
        summarize([])
