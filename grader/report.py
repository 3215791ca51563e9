"""Render results for people and machines: JSON documents and the terminal report."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TextIO

from grader.results import GradingResult

GREEN, RED, YELLOW, BOLD, DIM, RESET = (
    "\033[32m",
    "\033[31m",
    "\033[33m",
    "\033[1m",
    "\033[2m",
    "\033[0m",
)


def render_json(result: GradingResult) -> str:
    """The results document as pretty JSON text."""
    return json.dumps(result.to_gradescope(), indent=2, allow_nan=False) + "\n"


def write_json_atomically(result: GradingResult, path: Path) -> None:
    """Write the document via a temp file + rename, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(render_json(result))
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def wants_colour(stream: TextIO) -> bool:
    """Colour only for a terminal, and never when NO_COLOR is set (no-color.org)."""
    return stream.isatty() and "NO_COLOR" not in os.environ


def render_text(result: GradingResult, *, colour: bool = False) -> str:
    """A short report: one line per test, then the details of failures and the total."""

    def paint(text: str, code: str) -> str:
        return f"{code}{text}{RESET}" if colour else text

    lines = [paint(f"{result.assignment} — {result.submission}", BOLD)]
    for test in result.tests:
        mark = paint("PASS", GREEN) if test.status == "passed" else paint("FAIL", RED)
        points = f"{test.score:g}/{test.max_score:g}"
        lines.append(f"  {mark}  {test.name}  {paint(points, DIM)}")
    failed = [t for t in result.tests if t.status == "failed"]
    if failed:
        lines.append("")
        for test in failed:
            lines.append(paint(f"✗ {test.name}", RED))
            lines.extend(f"    {line}" for line in test.output.splitlines())
    lines.append("")
    summary_lines = result.output.splitlines()
    lines.append(paint(summary_lines[0], BOLD) if summary_lines else "")
    lines.extend(summary_lines[1:])
    for warning in result.warnings:
        lines.append(paint(f"warning: {warning}", YELLOW))
    return "\n".join(lines) + "\n"
