"""report.html rendered by a real browser (headless Chromium): the charts and rows are there.

Skips where Chromium is missing, except under CI (``CI`` set), where `.ci/run` installs it
and a skip would hide a broken report.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from grader.batch_data import BatchEntry, BatchSummary
from grader.html_report import render_report
from grader.results import GradingResult, TestResult

pytestmark = [pytest.mark.browser]

TESTS = (("test_positive", 60.0), ("test_negative", 40.0))
# name -> (points per test, status, reason, misconceptions)
CLASS = {
    "ada": ((60.0, 40.0), "graded", "", ()),
    "bob": ((60.0, 0.0), "graded", "", ("missing-chain-rule",)),
    "cy": ((60.0, 0.0), "graded", "", ("missing-chain-rule",)),
    "dee": ((0.0, 0.0), "timeout", "f timed out after 5 s (3 call(s))", ()),
    "eve": ((0.0, 0.0), "error", "eve.ipynb is not valid notebook JSON", ()),
}


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI"):
        pytest.fail("chromium is missing in CI: .ci/run should have installed it")
    pytest.skip("chromium is not installed (apt-get install chromium); .ci/run installs it")


def make_summary(out: Path) -> BatchSummary:
    entries = []
    for name, (points, status, reason, found) in CLASS.items():
        tests = tuple(
            TestResult(test, got, full, "passed" if got == full else "failed", "", ())
            for (test, full), got in zip(TESTS, points, strict=True)
        )
        result = GradingResult("a", tests, "", 0.1, misconceptions=found)
        entries.append(BatchEntry(name, result, status, reason))  # type: ignore[arg-type]
    return BatchSummary(
        assignment="Leaky ReLU",
        entries=tuple(entries),
        test_names=tuple(t for t, _ in TESTS),
        test_points=tuple(p for _, p in TESTS),
        misconceptions=(("missing-chain-rule", "Chain rule missing"), ("relu-slope", "ReLU")),
        seconds=1.0,
        jobs=2,
        out=out,
    )


def test_chromium_renders_charts_and_rows(tmp_path: Path) -> None:
    browser = chromium()
    page = tmp_path / "report.html"
    page.write_text(render_report(make_summary(tmp_path)))
    run = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    dom = run.stdout
    assert run.returncode == 0, run.stderr[-2000:]
    # The three charts, as the browser parsed them (ids from the page).
    for chart in ("score-distribution", "pass-rates", "misconception-counts"):
        assert re.search(rf'<svg[^>]*id="{chart}"', dom), chart
    assert dom.count("<svg") == 3
    assert dom.count('class="bar"') == 10 + 2 + 1  # histogram bins, tests, one misconception
    # The histogram's bars carry their counts: 100, 60, 60, 0, 0 out of 100.
    assert "1 submission scored 90–100" in dom
    assert "2 submissions scored 60–70" in dom
    assert "2 submissions scored 0–10" in dom
    # Each name links to the student's feedback page, next to the report.
    problems = re.findall(
        r'<tr class="problem-row"><td><a href="feedback/(\w+).html">(\w+)</a>', dom
    )
    assert problems == [("dee", "dee"), ("eve", "eve")]
    assert "not valid notebook JSON" in dom
    assert len(re.findall(r'<tr class="submission-row">', dom)) == len(CLASS)
    assert "2 (40%)" in dom  # missing-chain-rule: 2 of 5 submissions
