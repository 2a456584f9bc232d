"""JUnit XML of a gate report, so CI systems show each artifact as a test case.

Names and sources come from files; XML 1.0 cannot hold most control characters (a CI system refuses the whole
report), so every text and attribute goes through edgekit.safetext.xml_text, which writes them as `\x1b`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from pathlib import Path

from edgekit import fsutil
from edgekit.regress.compare import GateReport, GateRow, describe_row
from edgekit.regress.stats import Verdict
from edgekit.safetext import xml_text

SUITE_NAME = "edgekit regress"


def junit_xml(report: GateReport) -> bytes:
    """One <testsuite> with a <testcase> per artifact: a regression is a <failure>, a missing artifact is
    <skipped> (a <failure> under fail_on_missing); every case carries its numbers in <system-out>."""
    failures = report.failures
    suites = ElementTree.Element("testsuites")
    suite = ElementTree.SubElement(suites, "testsuite", {
        "name": SUITE_NAME,
        "tests": str(len(report.rows)),
        "failures": str(len(failures)),
        "errors": "0",
        "skipped": str(sum(1 for row in report.rows if row.verdict is Verdict.MISSING and row not in failures)),
    })
    properties = ElementTree.SubElement(suite, "properties")
    for name, value in (("baseline", report.baseline), ("current", report.current), ("target", report.target),
                        ("max_slowdown", report.thresholds.max_slowdown), ("alpha", report.thresholds.alpha)):
        ElementTree.SubElement(properties, "property", {"name": name, "value": xml_text(value)})
    classname = xml_text(f"latency.{report.target or 'unknown'}")
    for row in report.rows:
        case = ElementTree.SubElement(suite, "testcase", {"classname": classname, "name": xml_text(row.artifact),
                                                          "time": "0"})
        _add_outcome(case, row, failing=row in failures)
        ElementTree.SubElement(case, "system-out").text = xml_text(f"{row.verdict.value}: {describe_row(row)}"
                                                                   f"{_ci(row)}")
    ElementTree.indent(suites)
    return ElementTree.tostring(suites, encoding="utf-8", xml_declaration=True) + b"\n"


def write_junit(path: Path, report: GateReport) -> None:
    """Write the JUnit XML atomically."""
    fsutil.write_bytes(path, junit_xml(report))


def _add_outcome(case: ElementTree.Element, row: GateRow, *, failing: bool) -> None:
    if failing:
        kind = "LatencyRegression" if row.verdict is Verdict.REGRESSION else "MissingArtifact"
        ElementTree.SubElement(case, "failure", {"type": kind,
                                                 "message": xml_text(f"{row.verdict.value}: {describe_row(row)}")})
    elif row.verdict is Verdict.MISSING:
        ElementTree.SubElement(case, "skipped", {"message": xml_text(describe_row(row))})


def _ci(row: GateRow) -> str:
    result = row.comparison
    return "" if result is None else f", median ratio {result.ratio:.4f} CI [{result.ratio_low:.4f}, {result.ratio_high:.4f}]"
