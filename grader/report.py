"""Render results for people and machines: JSON documents and the terminal report.

The text report is what ``grader check`` prints (and what the in-notebook check shows
outside Jupyter): one line per test, each failure's own message, then every mistake found
once, with its explanation and smallest counterexample, then the score.
"""

from __future__ import annotations

import os
import tempfile
import textwrap
from pathlib import Path
from typing import Any, TextIO

from grader.errors import OutputPathError
from grader.results import GradingResult
from grader.safetext import clean_tree, dumps_clean

GREEN, RED, YELLOW, BOLD, DIM, RESET = (
    "\033[32m",
    "\033[31m",
    "\033[33m",
    "\033[1m",
    "\033[2m",
    "\033[0m",
)


def render_json(result: GradingResult) -> str:
    """The results document as pretty JSON text, valid for strict UTF-8 readers (e.g. jq)
    whatever text the submission raised or printed (``safetext.clean_text``)."""
    return dumps_clean(result.to_gradescope(), indent=2, allow_nan=False) + "\n"


def clean_result(result: GradingResult) -> GradingResult:
    """The same result with every text clean, for writers that render it field by field."""
    return GradingResult.from_gradescope(clean_tree(result.to_gradescope()))


def write_json_atomically(result: GradingResult, path: Path) -> None:
    """Write the document via a temp file + rename, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(render_json(result))
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def require_output_file(path: Path) -> None:
    """Fail before any grading when ``--out`` cannot become the file it names.

    Checks without side effects: ``path`` is not a folder, and its nearest existing
    ancestor is a folder this user may write into (missing folders are created later).

    Raises:
        OutputPathError: with a hint naming a path that would work.
    """
    if path.is_dir():
        raise OutputPathError(
            f"--out {path} is a folder, not a file",
            f"name the file to write, e.g. --out {path / 'results.json'}",
        )
    _require_writable_ancestor(path.parent, path)


def require_output_folder(path: Path) -> None:
    """Fail before any grading when ``--out`` cannot be (or become) a folder.

    Raises:
        OutputPathError: ``path`` is a file, or its ancestors cannot hold a new folder.
    """
    if path.exists() and not path.is_dir():
        raise OutputPathError(
            f"--out {path} exists and is not a folder",
            "choose a new or existing folder for the results",
        )
    _require_writable_ancestor(path if path.is_dir() else path.parent, path)


def _require_writable_ancestor(folder: Path, out: Path) -> None:
    existing = folder.absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise OutputPathError(
            f"cannot write --out {out}: {existing} is a file, not a folder",
            "choose a path whose parent folders are folders",
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputPathError(
            f"cannot write --out {out}: no permission to write in {existing}",
            "choose a path in a folder you can write",
        )


def wants_colour(stream: TextIO) -> bool:
    """Colour only for a terminal, and never when NO_COLOR is set (no-color.org)."""
    return stream.isatty() and "NO_COLOR" not in os.environ


LIKELY_MISTAKE = "Likely mistake ["  #: where scoring starts a diagnosis inside a test's output
COUNTEREXAMPLE = "Smallest input that shows it:"
VISIBLE_NOTE = "Visible tests only: the graded tests check the same ideas on more inputs."
SAME_AS_ABOVE = "(same as above)"  #: a failure whose message repeats the previous one


def failure_detail(output: str) -> list[str]:
    """A failed test's own message: its output without the diagnosis blocks scoring appended.

    The report shows each mistake once, in its own section, rather than under every test.
    """
    kept: list[str] = []
    skipping = False
    for line in output.splitlines():
        if line.startswith((LIKELY_MISTAKE, COUNTEREXAMPLE)):
            skipping = True
        elif line.startswith("Note: "):
            skipping = False
        if not skipping and not line.startswith("Checks: "):
            kept.append(line)
    return kept


def summary_lines(output: str) -> list[str]:
    """The overall message without its "Mistakes found:" block (the report has its own)."""
    kept: list[str] = []
    in_mistakes = False
    for line in output.splitlines():
        if line == "Mistakes found:":
            in_mistakes = True
            continue
        if in_mistakes and line.startswith(" "):
            continue
        in_mistakes = False
        kept.append(line)
    return kept


def diagnosis_entries(result: GradingResult) -> list[dict[str, Any]]:
    """The mistakes found, with explanation and counterexample, as ``api`` recorded them."""
    entries = result.extra.get("diagnosis")
    if not isinstance(entries, list):
        return [
            {"id": i, "title": "", "explanation": "", "counterexample": None}
            for i in result.misconceptions
        ]
    return [e for e in entries if isinstance(e, dict)]


def render_text(result: GradingResult, *, colour: bool = False, width: int = 88) -> str:
    """The self-check report: one line per test, the failures, each mistake once, the score."""

    def paint(text: str, code: str) -> str:
        return f"{code}{text}{RESET}" if colour else text

    result = clean_result(result)  # no escape sequence of the submission reaches the terminal
    title = result.assignment or "(assignment unknown)"
    lines = [paint(f"{title} — {result.submission}", BOLD)]
    subtotals = result.subtotals()
    function = ""
    for test in result.tests:
        name, indent = test.name, "  "
        if subtotals and test.function:
            # Several graded functions: a heading with its subtotal, then its own tests.
            if test.function != function:
                function = test.function
                score, max_score = subtotals[function]
                lines.append(f"  {paint(function, BOLD)}  {paint(f'{score:g}/{max_score:g}', DIM)}")
            name, indent = name.removeprefix(f"{function}: "), "    "
        mark = paint("PASS", GREEN) if test.status == "passed" else paint("FAIL", RED)
        points = f"{test.score:g}/{test.max_score:g}"
        lines.append(f"{indent}{mark}  {name}  {paint(points, DIM)}")
    failed = [t for t in result.tests if t.status == "failed"]
    if failed:
        lines.append("")
        previous: list[str] = []
        for test in failed:
            lines.append(paint(f"✗ {test.name}", RED))
            detail = failure_detail(test.output)
            # A submission-wide problem (a stub, a broken file) fails every test alike: say it once.
            shown = [SAME_AS_ABOVE] if detail and detail == previous else detail
            lines.extend(f"    {line}" for line in shown)
            previous = detail
            if test.misconceptions:
                ids = ", ".join(f"[{i}]" for i in test.misconceptions)
                lines.append(f"    {paint('→ likely mistake ' + ids + ' (below)', YELLOW)}")
    entries = diagnosis_entries(result)
    if entries:
        lines.append("")
        lines.append(paint("Mistakes found", BOLD))
        for entry in entries:
            lines.append(f"  {paint('[' + str(entry['id']) + ']', YELLOW)} {entry['title']}")
            for paragraph in str(entry["explanation"]).splitlines():
                lines.extend(
                    textwrap.wrap(paragraph, width, initial_indent="    ", subsequent_indent="    ")
                )
            example = entry.get("counterexample")
            if isinstance(example, dict):
                lines.append(f"    {COUNTEREXAMPLE} {example.get('inputs', '')}")
                lines.extend(f"      {line}" for line in example.get("outcome", []))
    lines.append("")
    summary = summary_lines(result.output)
    lines.append(paint(summary[0], BOLD) if summary else "")
    lines.extend(summary[1:])
    if any(t.suite == "visible" for t in result.tests):
        lines.append(paint(VISIBLE_NOTE, DIM))
    for warning in result.warnings:
        lines.append(paint(f"warning: {warning}", YELLOW))
    return "\n".join(lines) + "\n"
