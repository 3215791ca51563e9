"""GitHub Classroom's autograding format: one runner's result, as the grading reporter reads it.

Classroom's autograding workflow runs "grader" actions (command, io, python) that each set a
step output ``result``: base64 of a JSON document, one per runner. The reporter action
(``autograding-grading-reporter``) reads each runner's document from the environment variable
``<STEP-ID>_RESULTS``, prints every test, and reports ``sum(tests[].score)`` out of
``max_score`` to Classroom. The shape is the one the command grader writes::

    {"version": 1, "status": "pass" | "fail" | "error", "max_score": <number>,
     "tests": [{"name": str, "status": "pass" | "fail" | "error", "score": <number>,
                "message": str, "test_code": str, "filename": str, "line_no": int,
                "duration": <number, ms>}]}

One ``grader check --format classroom`` step thus reports every visible test with its own
points, instead of the one pass/fail per command that the command grader gives.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from grader.errors import OutputPathError
from grader.results import GradingResult
from grader.safetext import clean_tree

OUTPUT_NAME = "result"  #: the step output the reporter's workflow passes on
# A step's outputs share GitHub's 1 MB per job; a notebook printing in a loop must not eat it.
MESSAGE_LIMIT = 4000

ClassroomStatus = Literal["pass", "fail", "error"]


def _message(text: str) -> str:
    if len(text) <= MESSAGE_LIMIT:
        return text
    return text[: MESSAGE_LIMIT - 1] + "…"


def classroom_document(result: GradingResult) -> dict[str, Any]:
    """The runner result the reporter decodes (see the module docstring for the shape).

    A result without tests (nothing could be graded) is an ``error`` runner with one test
    carrying the reason: the reporter divides by the number of tests, so none would read NaN.
    """
    tests: list[dict[str, Any]] = [
        {
            "name": t.name,
            "status": "pass" if t.status == "passed" else "fail",
            "score": t.score,
            "message": _message(t.output),
            "test_code": "",
            "filename": result.submission,
            "line_no": 0,  # the reporter prints " - line N" unless this is 0
            "duration": 0,
        }
        for t in result.tests
    ]
    status: ClassroomStatus = "pass" if result.all_passed else "fail"
    if not tests:
        status = "error"
        tests = [
            {
                "name": result.assignment or "grader",
                "status": "error",
                "score": 0,
                "message": _message(result.output or "nothing could be graded"),
                "test_code": "",
                "filename": result.submission,
                "line_no": 0,
                "duration": 0,
            }
        ]
    return {"version": 1, "status": status, "max_score": result.max_score, "tests": tests}


def render_classroom(result: GradingResult) -> str:
    """The base64 payload (one line, no newline), as the command grader's ``btoa``."""
    document = clean_tree(classroom_document(result))  # UTF-8 whatever the submission raised
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def github_output(environ: Mapping[str, str]) -> Path | None:
    """``$GITHUB_OUTPUT`` when running as a GitHub Actions step, else None."""
    path = environ.get("GITHUB_OUTPUT", "")
    if environ.get("GITHUB_ACTIONS") == "true" and path:
        return Path(path)
    return None


def write_step_output(payload: str, path: Path) -> None:
    """Append ``result=<payload>`` to the step's output file (base64 holds no newline)."""
    try:
        with path.open("a", encoding="utf-8") as handle:
            handle.write(f"{OUTPUT_NAME}={payload}\n")
    except OSError as exc:
        raise OutputPathError(
            f"cannot append the Classroom result to $GITHUB_OUTPUT ({path}): {exc.strerror or exc}",
            "run this inside a GitHub Actions step, or unset GITHUB_ACTIONS to print it",
        ) from exc


def emit(result: GradingResult, environ: Mapping[str, str] | None = None) -> str | None:
    """Deliver the payload: to ``$GITHUB_OUTPUT`` in Actions (returns None), else returned."""
    env = os.environ if environ is None else environ
    payload = render_classroom(result)
    target = github_output(env)
    if target is None:
        return payload
    write_step_output(payload, target)
    return None
