"""tune/report.html in the real browser the build report's test uses (headless Chromium through DevTools): no
console error, no network request, every plot decoded at a real size, and a screenshot that is not blank."""

from __future__ import annotations

import pytest

from edgekit.tune.report import write_tune_report
# The build report's browser harness: the Chromium and DevTools fixtures, opening a page, the screenshot check.
from tests.integration.test_report_browser import _open, _screenshot, browser, chromium  # noqa: F401
from tests.unit.tune_fixtures import write_tune_dir

pytestmark = pytest.mark.browser


def test_a_finished_tune_run_renders_with_both_plots(browser, tmp_path):  # noqa: F811
    report = write_tune_report(write_tune_dir(tmp_path / "tune"))
    plots = _open(browser, report)
    assert [plot["id"] for plot in plots] == ["plot-tune-latency", "plot-tune-bytes"]
    assert browser.evaluate("document.title") == "edgekit tune: rpi4"
    assert browser.evaluate("document.querySelectorAll('#trials ~ div tr.chosen').length") == 1
    assert browser.evaluate("document.querySelector('#trials ~ div tr.chosen td').textContent") == "t0002 (chosen)"
    _screenshot(browser, report)


@pytest.mark.parametrize("scenario", ["nothing_fits", "budget"])
def test_nothing_fits_and_budget_stopped_pages_render(browser, tmp_path, scenario):  # noqa: F811
    report = write_tune_report(write_tune_dir(tmp_path / "tune", scenario))
    plots = _open(browser, report)
    assert [plot["id"] for plot in plots] == ["plot-tune-latency", "plot-tune-bytes"]
    badge = browser.evaluate("document.querySelector('h1 ~ p span.badge').textContent")
    assert badge == {"nothing_fits": "nothing fits the budget",
                     "budget": "stopped by --budget-minutes: the best so far"}[scenario]
