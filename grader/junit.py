"""Render a results document as JUnit XML, the test-report format CI systems display.

One ``<testsuite>`` per grading run, one ``<testcase>`` per graded test; a failed test gets
a ``<failure>`` whose text is the same feedback the student reads in ``grader check``.
Points travel as ``<properties>`` so nothing is lost, but CI only needs the counts.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from grader.results import GradingResult
from grader.safetext import clean_text


def _xml_text(text: str) -> str:
    # XML 1.0 forbids most control characters, and UTF-8 lone surrogates; student output can
    # contain any of them (an ANSI colour escape is enough), and one makes the report unparseable.
    return clean_text(text)


def _first_line(text: str) -> str:
    """The line CI shows next to the test's name: the verdict, not the "Checks: ..." preamble."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    verdicts = [line for line in lines if not line.startswith("Checks:")]
    return (verdicts or lines or ["failed"])[0][:500]


def render_junit(result: GradingResult) -> str:
    """The result as a JUnit XML document (UTF-8 text with an XML declaration)."""
    suite_name = result.assignment or "grader"
    failures = sum(1 for t in result.tests if t.status == "failed")
    time = f"{result.execution_time:.3f}"
    counts = {"tests": str(len(result.tests)), "failures": str(failures), "errors": "0"}
    root = ET.Element("testsuites", {"name": "grader", **counts, "time": time})
    suite = ET.SubElement(
        root, "testsuite", {"name": suite_name, **counts, "skipped": "0", "time": time}
    )
    properties = ET.SubElement(suite, "properties")
    for key, value in (
        ("score", f"{result.score:g}"),
        ("max_score", f"{result.max_score:g}"),
        ("submission", result.submission),
        ("sandbox", result.sandbox),
        ("misconceptions", ",".join(result.misconceptions)),
    ):
        ET.SubElement(properties, "property", {"name": key, "value": _xml_text(value)})
    for test in result.tests:
        case = ET.SubElement(
            suite,
            "testcase",
            {
                "classname": f"{suite_name}.{test.suite}",
                "name": _xml_text(test.name),
                "time": "0",
            },
        )
        if test.status == "failed":
            failure = ET.SubElement(
                case,
                "failure",
                {
                    "message": _xml_text(_first_line(test.output)),
                    "type": ",".join(test.misconceptions) or "failed",
                },
            )
            failure.text = _xml_text(test.output)
        else:
            ET.SubElement(case, "system-out").text = _xml_text(test.output)
    summary = [result.output, *(f"warning: {w}" for w in result.warnings)]
    ET.SubElement(suite, "system-out").text = _xml_text("\n".join(summary))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
