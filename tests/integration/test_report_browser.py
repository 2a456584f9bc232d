"""report.html in a real browser: headless Chromium (Debian's package) loads it from disk through the DevTools
protocol; the test collects console errors, exceptions and network requests, checks that every plot image decoded,
and takes a full-page screenshot (kept as report.png beside the report, for a person to look at).

Chromium is installed by scripts/test when it runs as root. Where it is missing the test is skipped and says why;
with CI=true a missing Chromium fails the test instead.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from edgekit.report import write_report
from edgekit.report.data import pareto_front
from tests.unit.report_manifest import PARETO, REGRESS_ROWS, write_build

pytestmark = pytest.mark.browser

CHROMIUM = Path(os.environ.get("EDGEKIT_CHROMIUM", "/usr/bin/chromium"))
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-quic", "--remote-debugging-port=0",
         "--remote-allow-origins=*", "--hide-scrollbars"]
STARTUP_S = 60  # how long Chromium may take to open its DevTools port (a cold start on a busy CI machine)
PLOTS = ["plot-tradeoff", "plot-latency", "plot-sparsity", "plot-training"]
# A real build also has per-op times (onnxruntime's profiler) and the int8 artifact's per-layer error.
BUILD_PLOTS = ["plot-tradeoff", "plot-latency", "plot-ops", "plot-sparsity", "plot-quant-error-tflite-int8",
               "plot-training"]


@pytest.fixture(scope="module")
def chromium() -> Path:
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    reason = (f"headless Chromium is not installed ({CHROMIUM} is missing): scripts/test installs Debian's chromium "
              f"package when it runs as root")
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; under CI=true the browser test must run")
    pytest.skip(reason)


class DevTools:
    """The smallest DevTools client the test needs: send a command, wait for its answer, keep every event."""

    def __init__(self, websocket_url: str):
        import websocket  # websocket-client, from the `test` extra

        self.socket = websocket.create_connection(websocket_url, timeout=STARTUP_S, suppress_origin=True)
        self.events: list[dict] = []
        self._next_id = 0

    def call(self, method: str, **params) -> dict:
        self._next_id += 1
        self.socket.send(json.dumps({"id": self._next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise AssertionError(f"DevTools {method} failed: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, event: str) -> dict:
        seen = next((message for message in self.events if message.get("method") == event), None)
        while seen is None:
            message = json.loads(self.socket.recv())
            self.events.append(message)
            seen = message if message.get("method") == event else None
        return seen

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")


@pytest.fixture()
def browser(chromium, tmp_path):
    profile = tmp_path / "chromium-profile"
    process = subprocess.Popen([str(chromium), *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port = _devtools_port(profile, process)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=STARTUP_S) as response:
            page = next(target for target in json.load(response) if target["type"] == "page")
        client = DevTools(page["webSocketDebuggerUrl"])
        yield client
        client.socket.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(profile, ignore_errors=True)


def _devtools_port(profile: Path, process: subprocess.Popen) -> int:
    """Chromium writes the port it chose into DevToolsActivePort once it listens."""
    deadline = time.monotonic() + STARTUP_S
    marker = profile / "DevToolsActivePort"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"chromium exited with code {process.returncode} before opening DevTools")
        if marker.is_file() and marker.read_text().strip():
            return int(marker.read_text().split()[0])
        time.sleep(0.1)
    raise AssertionError(f"chromium did not open its DevTools port within {STARTUP_S} s")


def test_report_renders_in_chromium_without_errors(browser, tmp_path):
    report = write_report(write_build(tmp_path / "build", regress=REGRESS_ROWS))
    plots = _open(browser, report)
    assert [plot["id"] for plot in plots] == PLOTS
    assert browser.evaluate("document.querySelectorAll('span.pareto').length") == len(PARETO)
    assert browser.evaluate("document.querySelectorAll('#verdicts ~ div span.badge.regression').length") == 1
    assert browser.evaluate("document.title") == "edgekit report: digits-cnn"
    _screenshot(browser, report)


def test_the_report_of_a_real_build_renders(browser, digits_build):
    """The page `edgekit build` itself wrote (the integration tests' shared tiny digits build)."""
    config, _, manifest = digits_build
    report = config.parent / "build" / "host" / "report.html"
    plots = _open(browser, report)
    assert [plot["id"] for plot in plots] == BUILD_PLOTS
    profiled = [a["name"] for a in manifest["artifacts"] if a["latency"]]
    assert sorted(profiled) == ["onnx-float32", "onnx-int8", "tflite-dynamic", "tflite-float16", "tflite-float32",
                                "tflite-int8"]
    front = pareto_front([(a["name"], (a["latency"] or {}).get("median_ms"), a["accuracy"])
                          for a in manifest["artifacts"]])
    assert browser.evaluate("document.querySelectorAll('span.pareto').length") == len(front) >= 1
    _screenshot(browser, report)


def _open(browser: DevTools, report: Path) -> list[dict]:
    """Load the report; assert no error and no network request; return its plots, each one decoded."""
    for domain in ("Page", "Runtime", "Log", "Network"):
        browser.call(f"{domain}.enable")
    browser.call("Emulation.setDeviceMetricsOverride", width=1280, height=900, deviceScaleFactor=1, mobile=False)
    browser.call("Page.navigate", url=report.as_uri())
    browser.wait_for("Page.loadEventFired")
    plots = json.loads(browser.evaluate(
        "JSON.stringify([...document.querySelectorAll('figure.plot img')].map(image => ("
        "{id: image.closest('figure').id, complete: image.complete, width: image.naturalWidth,"
        " height: image.naturalHeight})))"))
    assert all(plot["complete"] and plot["width"] > 300 and plot["height"] > 100 for plot in plots), plots
    assert [event for event in browser.events if _is_error(event)] == []
    requested = {event["params"]["request"]["url"].split(":")[0] for event in browser.events
                 if event.get("method") == "Network.requestWillBeSent"}
    assert requested <= {"file", "data"}, f"the page asked the network for something: {requested}"
    return plots


def _screenshot(browser: DevTools, report: Path) -> None:
    """The whole page as report.png beside the report, checked not to be blank."""
    height = browser.call("Page.getLayoutMetrics")["cssContentSize"]["height"]
    shot = browser.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                        clip={"x": 0, "y": 0, "width": 1280, "height": height, "scale": 1})
    png = base64.b64decode(shot["data"])
    screenshot = report.with_name("report.png")
    screenshot.write_bytes(png)
    print(f"screenshot of the report: {screenshot}")
    _assert_not_blank(png, height)


def _is_error(event: dict) -> bool:
    method, params = event.get("method"), event.get("params", {})
    if method == "Runtime.exceptionThrown":
        return True
    if method == "Runtime.consoleAPICalled":
        return params.get("type") in ("error", "assert")
    if method == "Log.entryAdded":
        return params.get("entry", {}).get("level") == "error"
    return False


def _assert_not_blank(png: bytes, height: float) -> None:
    """A full page of tables and plots: tall, and more than a handful of colours."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    assert image.width == 1280 and image.height == pytest.approx(height, abs=2) and image.height > 2000
    colours = image.resize((320, image.height // 4)).getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 50
