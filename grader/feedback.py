"""Per-student feedback pages of a batch: ``feedback/<name>.html`` and ``feedback/<name>.md``.

Each page is what the student would see on Gradescope once grades are published: the score,
the mistakes found (named, with their explanation and the smallest counterexample, from the
results document), and every test that Gradescope would show then, with its outcome and
feedback. Tests marked ``hidden`` (such as the instructor-only "Autograder exception") are
left out, as Gradescope leaves them out.

The HTML page is self-contained (inline CSS, no JavaScript, no external resource) and reads on
a phone; the Markdown page is for pasting into an LMS comment. Both are rendered from Jinja2
templates under ``grader/templates/feedback/``; the HTML environment autoescapes everything,
so text a submission printed is text, never markup. In Markdown, such text goes into code
spans and fenced blocks whose fences are longer than any backtick run inside.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from grader.batch_data import BatchEntry, BatchSummary

FEEDBACK_FOLDER = "feedback"
TEMPLATES = Path(__file__).parent / "templates" / "feedback"
SHOWN_AFTER_PUBLICATION = frozenset({"visible", "after_due_date", "after_published"})


def _fence(text: str, indent: int = 0) -> str:
    """A fenced code block that no backtick run in ``text`` can close early."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    pad = " " * indent
    lines = [fence, *text.splitlines(), fence]
    return "\n".join(pad + line if line else line for line in lines)


def _code(text: str) -> str:
    """An inline code span that no backtick in ``text`` can close early."""
    one_line = " ".join(text.splitlines())
    longest = max((len(run) for run in re.findall(r"`+", one_line)), default=0)
    ticks = "`" * (longest + 1)
    return f"{ticks} {one_line} {ticks}" if longest else f"`{one_line}`"


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["fenced"] = _fence
    env.filters["code"] = _code
    return env


def _points(value: float) -> str:
    return f"{value:g}"


def context(entry: BatchEntry, summary: BatchSummary) -> dict[str, Any]:
    """What both templates show, as plain values."""
    result = entry.result
    titles = dict(summary.misconceptions)
    student = entry.name
    if summary.roster is not None:
        matched = summary.roster.match.student_of(entry.name)
        if matched is not None:
            student = matched.name
    elif (identity := summary.identity(entry.name)).names:
        student = identity.names[0]
    tests = [
        {
            "name": t.name,
            "status": t.status,
            "score": _points(t.score),
            "max_score": _points(t.max_score),
            "output": t.output.strip(),
        }
        for t in result.tests
        if t.visibility in SHOWN_AFTER_PUBLICATION
    ]
    return {
        "assignment": summary.assignment,
        "name": entry.name,
        "student": student,
        "submission": result.submission or entry.name,
        "score": _points(result.score),
        "max_score": _points(result.max_score),
        "reason": entry.reason if entry.status != "graded" else "",
        "mistakes": [{"id": m, "title": titles.get(m, m)} for m in result.misconceptions],
        "overview": result.output.strip(),
        #: several graded functions: each one's subtotal, in the assignment's order
        "functions": [
            {"name": f, "score": _points(score), "max_score": _points(max_score)}
            for f, (score, max_score) in result.subtotals().items()
        ],
        "tests": tests,
        "passed": sum(1 for t in tests if t["status"] == "passed"),
    }


def render_feedback_html(entry: BatchEntry, summary: BatchSummary) -> str:
    """The student's feedback page (HTML, self-contained)."""
    return _environment().get_template("feedback.html").render(context(entry, summary))


def render_feedback_markdown(entry: BatchEntry, summary: BatchSummary) -> str:
    """The same feedback as Markdown, for an LMS comment."""
    return _environment().get_template("feedback.md").render(context(entry, summary))


def feedback_files(
    summary: BatchSummary, entries: Iterable[BatchEntry] | None = None
) -> dict[str, str]:
    """``feedback/<name>.html`` and ``feedback/<name>.md`` for every submission (or for
    ``entries``: a batch writes each submission's pages as its result comes in).

    Only the class-level facts of ``summary`` are used (the assignment, the mistakes'
    titles, who submitted what), never its other entries.
    """
    files: dict[str, str] = {}
    for entry in summary.entries if entries is None else entries:
        files[f"{FEEDBACK_FOLDER}/{entry.name}.html"] = render_feedback_html(entry, summary)
        files[f"{FEEDBACK_FOLDER}/{entry.name}.md"] = render_feedback_markdown(entry, summary)
    return files
