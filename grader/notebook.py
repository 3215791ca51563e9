"""The self-check from inside a student's running notebook: ``check(leaky_relu_backward)``.

This runs the student's own code on their own machine, so it needs no sandbox: the live
function is called in-process by the same visible tests ``grader check`` runs. It never
imports the hidden tests or the reference. The correct answer for each call is the one the
visible test itself expects (``assert_close`` records what it is given), which is all the
diagnosis needs. Counterexamples are the smallest visible call that shows each mistake:
without the reference there is no correct answer for new inputs, so nothing is shrunk.

When the notebook is being graded, its last cell calls ``check`` inside the grader's
sandbox; there it only returns a one-line note (the sandbox sets ``SANDBOX_ENV``).
"""

from __future__ import annotations

import dataclasses
import html
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, overload

import numpy as np

from grader import api
from grader.assignments import Assignment, list_assignments, load_assignment
from grader.authoring import recording_expectations
from grader.counterexample import Counterexample, argument_names, arrays_in
from grader.diagnosis import CallRecord, diagnose, load_catalogue, shows
from grader.errors import AssignmentError, UnknownAssignmentError
from grader.report import (
    COUNTEREXAMPLE,
    VISIBLE_NOTE,
    diagnosis_entries,
    failure_detail,
    render_text,
    summary_lines,
)
from grader.results import GradingResult
from grader.sandbox import BackendChoice, CallOutcome, LoadReport, Raised, Returned
from grader.scoring import overall_message, score_tests
from grader.suite import SuiteRunner, collect_tests

SANDBOX_ENV = "GRADER_SANDBOX"  #: set in the grading sandbox's environment (sandbox/parent.py)
SANDBOX_NOTE = "grader.check skipped: this notebook is being graded (the graded run checks it)."
EVALUE_CAP = 500


class LiveFunctions:
    """The ``Sandbox`` protocol over functions of the running notebook: plain calls, no process."""

    def __init__(self, functions: Mapping[str, Callable[..., Any]]) -> None:
        self.functions = dict(functions)

    def load(self) -> LoadReport:
        """Nothing to run: the notebook's cells already ran."""
        return LoadReport(cells=(), functions=dict.fromkeys(self.functions, "callable"))

    def call(self, function: str, args: Sequence[Any]) -> CallOutcome:
        """Call the live function on the (already copied) arguments."""
        fn = self.functions.get(function)
        if fn is None:
            return Raised("NameError", f"name {function!r} is not defined in this notebook")
        sent = list(args)
        started = time.perf_counter()
        try:
            value = fn(*sent)
        except KeyboardInterrupt:
            raise  # the student pressed stop: stop, do not grade
        except BaseException as exc:
            return Raised(type(exc).__name__, str(exc)[:EVALUE_CAP])
        return Returned(value, tuple(sent), time.perf_counter() - started)

    @property
    def captured_output(self) -> str:
        """Output goes straight to the notebook."""
        return ""

    def close(self) -> None:
        """Nothing to stop."""


@dataclasses.dataclass(frozen=True)
class SandboxNote:
    """What ``check`` returns inside the grading sandbox: one line, nothing run."""

    text: str = SANDBOX_NOTE

    def __repr__(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        return f"<p>{html.escape(self.text)}</p>"


@dataclasses.dataclass(frozen=True)
class NotebookReport:
    """The self-check's result; Jupyter shows it as HTML, a terminal as text."""

    result: GradingResult

    @property
    def all_passed(self) -> bool:
        """True when every visible test passed."""
        return self.result.all_passed

    def __repr__(self) -> str:
        return render_text(self.result)

    def _repr_html_(self) -> str:
        return render_html(self.result)


def _assignment_for(function_name: str, course_dir: Path | None) -> Assignment:
    matches = []
    for name in list_assignments(course_dir):
        try:
            spec = load_assignment(name, course_dir)
        except AssignmentError:
            continue  # another assignment's broken folder is not this student's problem
        if function_name in spec.functions:
            matches.append(spec)
    if len(matches) > 1:
        # A notebook assignment that includes this function's own assignment grades it with
        # the same tests: the function's own assignment answers for it.
        own = [a for a in matches if not a.several and a.function == function_name]
        matches = own if len(own) == 1 else matches
    if len(matches) != 1:
        found = ", ".join(a.name for a in matches) or "none"
        raise UnknownAssignmentError(
            f"cannot tell which assignment {function_name!r} belongs to (matching: {found})",
            "pass it explicitly: check(your_function, assignment=NAME)",
        )
    return matches[0]


def _expected_for(value: Any, seen: Sequence[tuple[Any, np.ndarray]]) -> np.ndarray | None:
    return next((e for got, e in seen if value is not None and got is value), None)


def _with_expected(
    records: Sequence[CallRecord], seen: Sequence[tuple[Any, np.ndarray]]
) -> list[CallRecord]:
    """Give each call the answer its test expected: the array assert_close got it with.

    A function returning a tuple has each output checked on its own, and a test stops at
    its first wrong one: the outputs it never checked stay None (unknown, not wrong).
    """
    known: list[Any] = []
    for record in records:
        value = record.outcome.value if isinstance(record.outcome, Returned) else None
        expected: Any = _expected_for(value, seen)
        if expected is None and isinstance(value, tuple):
            expected = tuple(_expected_for(v, seen) for v in value)
        known.append(expected)
    # Calls with the same inputs have the same correct outputs: what one test checked, the
    # others know too (the by-hand tests each check one output of the same call).
    for i, record in enumerate(records):
        if not isinstance(known[i], tuple):
            continue
        merged = list(known[i])
        for j, other in enumerate(records):
            alike = isinstance(known[j], tuple) and len(known[j]) == len(merged)
            if alike and j != i and _same_inputs(record.args, other.args):
                merged = [m if m is not None else o for m, o in zip(merged, known[j], strict=True)]
        known[i] = tuple(merged) if any(m is not None for m in merged) else None
    return [dataclasses.replace(r, correct=c) for r, c in zip(records, known, strict=True)]


def _same_inputs(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.shape == b.shape
            and a.dtype == b.dtype
            and bool(np.array_equal(a, b, equal_nan=True))
        )
    if isinstance(a, (tuple, list)) or isinstance(b, (tuple, list)):
        return (
            type(a) is type(b)
            and len(a) == len(b)
            and all(_same_inputs(x, y) for x, y in zip(a, b, strict=True))
        )
    return type(a) is type(b) and bool(a == b)


def _input_size(record: CallRecord) -> int:
    """Elements in a call's arguments, tuples (``linear_backward``'s cache) included."""
    return sum(np.size(a) for a in arrays_in(record.args))


def _smallest_examples(
    records: Sequence[CallRecord],
    ids: Sequence[str],
    catalogue: Sequence[Any],
    names: tuple[str, ...],
) -> dict[str, Counterexample]:
    examples: dict[str, Counterexample] = {}
    for m in catalogue:
        if m.id not in ids:
            continue
        showing = [r for r in records if shows(m, r) and isinstance(r.outcome, Returned)]
        if not showing:
            continue
        best = min(showing, key=_input_size)
        outcome = best.outcome
        if not isinstance(outcome, Returned):
            continue
        examples[m.id] = Counterexample(
            misconception=m.id,
            kind=m.kind,
            names=names,
            args=best.args,
            expected=best.correct,
            got=outcome.value,
            args_after=outcome.args_after,
            argument=m.argument,
            # The student's own function on the visible tests' inputs: nothing hidden to leak.
            got_quotable=True,
        )
    return examples


def check_function(
    function: Callable[..., Any],
    *,
    assignment: str | None = None,
    course_dir: Path | None = None,
    namespace: Mapping[str, Any] | None = None,
) -> NotebookReport | SandboxNote:
    """Run the visible tests on a live function and return the report (no sandbox).

    Other functions the assignment wants are looked up in ``namespace`` (by default the
    function's own globals, i.e. the notebook). Raises ``GraderError`` for misuse only.
    """
    if os.environ.get(SANDBOX_ENV):
        return SandboxNote()
    started = time.monotonic()
    name = getattr(function, "__name__", "")
    spec = (
        load_assignment(assignment, course_dir) if assignment else _assignment_for(name, course_dir)
    )
    scope = dict(namespace if namespace is not None else getattr(function, "__globals__", {}))
    live = {f: scope[f] for f in spec.functions if callable(scope.get(f))}
    live[name if name in spec.functions else spec.function] = function
    # With several graded functions, the tests and catalogue of the one being checked.
    graded = next((g for g in spec.graded if g.function == name), spec.graded[0])
    cases = collect_tests(graded.visible_tests, "visible", "visible")
    if spec.several and graded.points is not None:
        hidden = collect_tests(graded.hidden_tests, "hidden", spec.hidden_visibility)
        scale = graded.points / sum(c.points for c in hidden)
        cases = [dataclasses.replace(c, points=round(c.points * scale, 6)) for c in cases]
    catalogue = load_catalogue(graded.misconceptions)
    # An empty module stands in for the reference, which never leaves the grader's side.
    runner = SuiteRunner(LiveFunctions(live), ModuleType("no_reference"), spec.functions)
    with recording_expectations() as seen:
        outcomes = [runner.run(case) for case in cases]
    records = _with_expected(runner.records, seen)
    diagnosis = diagnose(records, catalogue)
    ids = [i for o in outcomes if not o.passed for i in diagnosis.get(o.case.name, ())]
    found = [m for m in catalogue if m.id in ids]
    examples = _smallest_examples(records, ids, catalogue, argument_names(function))
    results = score_tests(outcomes, diagnosis, catalogue, examples)
    result = GradingResult(
        assignment=spec.name,
        tests=results,
        output=overall_message(
            assignment=spec.title,
            results=results,
            problem=None,
            report=None,
            notes=(),
            found=found,
            examples=examples,
        ),
        execution_time=time.monotonic() - started,
        misconceptions=tuple(m.id for m in found),
        sandbox="in-process",
        submission="this notebook",
        extra={
            "suite": "visible",
            "diagnosis": [
                {
                    "id": m.id,
                    "title": m.title,
                    "explanation": m.explanation,
                    "counterexample": examples[m.id].to_data() if m.id in examples else None,
                }
                for m in found
            ],
        },
    )
    return NotebookReport(result)


@overload
def check(
    target: Callable[..., Any],
    *,
    assignment: str | None = None,
    course_dir: Path | None = None,
) -> NotebookReport | SandboxNote: ...


@overload
def check(
    target: str | os.PathLike[str],
    *,
    assignment: str | None = None,
    sandbox: BackendChoice = "auto",
    course_dir: Path | None = None,
) -> GradingResult: ...


def check(
    target: Callable[..., Any] | str | os.PathLike[str],
    *,
    assignment: str | None = None,
    sandbox: BackendChoice = "auto",
    course_dir: Path | None = None,
) -> NotebookReport | SandboxNote | GradingResult:
    """Self-check: a notebook/.py path runs in the sandbox (``api.check``); a function runs live.

    ``check(leaky_relu_backward)`` in the student's notebook returns a report that Jupyter
    renders as HTML (and a terminal as text).
    """
    if isinstance(target, (str, os.PathLike)):
        return api.check(
            Path(target), assignment=assignment, sandbox=sandbox, course_dir=course_dir
        )
    return check_function(target, assignment=assignment, course_dir=course_dir)


# --- HTML ------------------------------------------------------------------------------------

_STYLE = (
    "<style>.grader-check{font-family:system-ui,sans-serif;font-size:14px;line-height:1.4}"
    ".grader-check table{border-collapse:collapse}"
    ".grader-check td{padding:2px 10px 2px 0;vertical-align:top;text-align:left}"
    ".grader-check .pass{color:#137333;font-weight:600}"
    ".grader-check .fail{color:#c5221f;font-weight:600}"
    ".grader-check .mistake{border-left:4px solid #e37400;padding:4px 10px;margin:8px 0}"
    ".grader-check pre{margin:4px 0;white-space:pre-wrap}"
    ".grader-check .score{font-weight:700}</style>"
)


def render_html(result: GradingResult) -> str:
    """The same report as ``render_text``, as an HTML fragment for Jupyter."""
    e = html.escape
    parts = [
        _STYLE,
        '<div class="grader-check">',
        f"<h4>{e(result.assignment)} — self-check</h4>",
        "<table>",
    ]
    for test in result.tests:
        passed = test.status == "passed"
        mark = '<span class="pass">✓ PASS</span>' if passed else '<span class="fail">✗ FAIL</span>'
        detail = "" if passed else "\n".join(failure_detail(test.output))
        ids = " ".join(f"[{i}]" for i in test.misconceptions)
        parts.append(
            f"<tr><td>{mark}</td><td><code>{e(test.name)}</code></td>"
            f"<td>{test.score:g}/{test.max_score:g}</td>"
            f"<td>{f'<pre>{e(detail)}</pre>' if detail else ''}{e(ids)}</td></tr>"
        )
    parts.append("</table>")
    entries = diagnosis_entries(result)
    if entries:
        parts.append("<h4>Mistakes found</h4>")
    for entry in entries:
        parts.append(
            f'<div class="mistake"><b>[{e(str(entry["id"]))}]</b> {e(str(entry["title"]))}'
            f"<p>{e(str(entry['explanation']))}</p>"
        )
        example = entry.get("counterexample")
        if isinstance(example, dict):
            body = "\n".join(
                [f"{COUNTEREXAMPLE} {example.get('inputs', '')}"]
                + [f"  {line}" for line in example.get("outcome", [])]
            )
            parts.append(f"<pre>{e(body)}</pre>")
        parts.append("</div>")
    summary = summary_lines(result.output)
    if summary:
        parts.append(f'<p class="score">{e(summary[0])}</p>')
        parts.extend(f"<p>{e(line)}</p>" for line in summary[1:])
    parts.append(f"<p><small>{e(VISIBLE_NOTE)}</small></p></div>")
    return "".join(parts)
