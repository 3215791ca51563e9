"""Per-student feedback pages: what Gradescope shows after publication, escaped, in two formats."""

from __future__ import annotations

import re
from pathlib import Path

from grader.batch_data import BatchEntry, BatchSummary
from grader.feedback import feedback_files, render_feedback_html, render_feedback_markdown
from grader.results import GradingResult, TestResult

HOSTILE = 'printed <script>alert(1)</script><img id="pwn" src=x> and ``` then `x` & "q"'


def summary_of(*entries: BatchEntry, out: Path = Path("out")) -> BatchSummary:
    return BatchSummary(
        assignment="Leaky <ReLU>",
        entries=entries,
        test_names=("test_a", "test_b"),
        test_points=(6.0, 4.0),
        misconceptions=(("missing-chain-rule", "The chain rule is missing"),),
        seconds=1.0,
        jobs=1,
        out=out,
    )


def buggy_entry() -> BatchEntry:
    result = GradingResult(
        assignment="leaky",
        tests=(
            TestResult("test_a", 6.0, 6.0, "passed", "Passed.", ("x",), "after_published"),
            TestResult(
                "test_b",
                0.0,
                4.0,
                "failed",
                "dZ is wrong\nSmallest input that shows it: dA = [0.5]\n" + HOSTILE,
                ("x",),
                "visible",
                misconceptions=("missing-chain-rule",),
            ),
            TestResult("instructor_only", 0.0, 0.0, "failed", "SECRET TRACE", (), "hidden"),
        ),
        output="Mistakes found:\n  [missing-chain-rule] expected [0.005] got [0.01]",
        execution_time=0.2,
        misconceptions=("missing-chain-rule",),
        submission="lovelaceada_101_9001_hw.ipynb",
    )
    return BatchEntry("lovelaceada_101_9001_hw", result, "graded")


def test_html_shows_score_mistakes_and_visible_tests_only() -> None:
    entry = buggy_entry()
    html = render_feedback_html(entry, summary_of(entry))
    assert re.search(r'id="score"><span class="value">6</span><span class="of">/ 10 points', html)
    assert "The chain rule is missing" in html  # the mistake named by its title
    assert "expected [0.005] got [0.01]" in html  # the counterexample, from the document
    assert "Smallest input that shows it" in html
    assert html.count('class="test ') == 2
    assert "instructor_only" not in html
    assert "SECRET TRACE" not in html
    assert "Tests (1 of 2 passed)" in html
    # Without a roster, the Canvas download name says who it is.
    assert 'id="student">lovelaceada<' in html


def test_html_escapes_everything_and_has_no_script_or_external_resource() -> None:
    entry = buggy_entry()
    html = render_feedback_html(entry, summary_of(entry))
    assert "<script" not in html
    assert "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Leaky &lt;ReLU&gt;" in html
    assert not re.search(r"(src|href)=\"?(https?:)?//", html)
    assert "@import" not in html
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html


def test_markdown_fences_cannot_be_closed_by_the_submission() -> None:
    entry = buggy_entry()
    md = render_feedback_markdown(entry, summary_of(entry))
    assert md.startswith("# Leaky <ReLU>: feedback for lovelaceada\n")
    assert "**Score: 6 / 10 points**" in md
    assert "- PASS **test_a** (6 / 6)" in md
    assert "- FAIL **test_b** (0 / 4)" in md
    assert "instructor_only" not in md
    # The failed test's feedback holds ``` itself: its fence must be longer.
    block = re.search(r"\n  (`{4,})\n(.*?)\n  \1\n", md, re.DOTALL)
    assert block is not None
    assert "```" in block.group(2)
    assert "`lovelaceada_101_9001_hw.ipynb`" in md


def test_an_ungraded_submission_says_why(tmp_path: Path) -> None:
    result = GradingResult("leaky", (), "", 0.0, submission="two.ipynb")
    entry = BatchEntry("two", result, "error", "the folder two/ holds 2 candidate files")
    summary = summary_of(entry, out=tmp_path)
    html = render_feedback_html(entry, summary)
    assert "could not be graded normally" in html
    assert "2 candidate files" in html
    assert "No test could run" in html
    files = feedback_files(summary)
    assert set(files) == {"feedback/two.html", "feedback/two.md"}
    assert "2 candidate files" in files["feedback/two.md"]
