"""The library's entry points: load -> sandboxed run -> score -> result.

``grade()`` and ``check()`` always return a ``GradingResult`` for a submission that exists,
however broken it is; they raise ``GraderError`` only for misuse (no such file, unknown
assignment, unavailable sandbox) or a broken assignment folder.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Protocol

from grader.assignments import (
    Assignment,
    GradedFunction,
    load_assignment,
    mismatch_note,
    resolve_assignment,
)
from grader.counterexample import Counterexample, Prober, argument_names, find_counterexamples
from grader.diagnosis import CallRecord, Misconception, diagnose, load_catalogue
from grader.errors import AmbiguousAssignmentError, SandboxUnavailableError
from grader.inheritance import find_inherited
from grader.results import GradingResult, TestResult
from grader.safetext import readable_name
from grader.sandbox import BackendChoice, Limits, LoadReport, Sandbox, SandboxInfo, StudentProcess
from grader.sandbox import resolve_backend as _resolve_backend
from grader.sandbox.outcomes import CellRun
from grader.sandbox.parent import bwrap_problem
from grader.sandbox.redact import RedactingSandbox, protected_lines, redact
from grader.sandbox.workers import Zygote, ZygoteStudentProcess
from grader.scoring import (
    cell_entry,
    fail_all,
    missing_function_message,
    overall_message,
    score_tests,
    wrong_notebook_message,
)
from grader.submission import Submission, read_submission
from grader.suite import SuiteName, SuiteRunner, TestCase, collect_tests, import_file

# Cells listed in a results document (errors first past this; a count for the rest): with a
# message of at most ~650 bytes each, the list stays far below the document's 1 MB.
CELLS_LISTED = 200


class SandboxFactory(Protocol):
    """Starts the sandbox of one submission (``provided``: the course files of its run).

    ``provided`` is passed only when the assignment has provided files, so a factory for
    assignments without any may leave it out.
    """

    def __call__(
        self,
        cells: Sequence[tuple[int, str]],
        functions: Sequence[str],
        backend: str,
        limits: Limits,
        /,
        *,
        provided: Mapping[str, Path] | None = ...,
    ) -> Sandbox: ...


def start_student_process(
    cells: Sequence[tuple[int, str]],
    functions: Sequence[str],
    backend: str,
    limits: Limits,
    /,
    *,
    provided: Mapping[str, Path] | None = None,
) -> Sandbox:
    """The real sandbox: a zygote's fork under bwrap (its own zygote), else a fresh child
    (confined by Landlock and seccomp under ``landlock``)."""
    if backend == "bwrap":
        return ZygoteStudentProcess(cells, functions, limits=limits, provided=provided)
    return StudentProcess(
        cells,
        functions,
        backend="landlock" if backend == "landlock" else "none",
        limits=limits,
        provided=provided,
    )


class ZygoteSandboxes:
    """A sandbox factory whose bwrap sandboxes are forks of one zygote, started ahead of time.

    Use as a context manager: leaving it stops the zygote (and any replacement of it).
    """

    def __init__(self) -> None:
        self.zygote = Zygote()
        self.processes: list[ZygoteStudentProcess] = []

    def __call__(
        self,
        cells: Sequence[tuple[int, str]],
        functions: Sequence[str],
        backend: str,
        limits: Limits,
        /,
        *,
        provided: Mapping[str, Path] | None = None,
    ) -> Sandbox:
        if backend != "bwrap":
            return start_student_process(cells, functions, backend, limits, provided=provided)
        if self.processes and self.processes[-1].zygote is not None:
            self.zygote = self.processes[-1].zygote  # it may have replaced one that broke
        process = ZygoteStudentProcess(
            cells, functions, limits=limits, zygote=self.zygote, provided=provided
        )
        self.processes.append(process)
        return process

    def __enter__(self) -> ZygoteSandboxes:
        return self

    def __exit__(self, *exc_info: object) -> None:
        zygotes = [self.zygote, *(p.zygote for p in self.processes if p.zygote is not None)]
        for zygote in {id(z): z for z in zygotes}.values():
            zygote.stop()


@dataclass(frozen=True)
class PreparedFunction:
    """One graded function ready to grade: its tests, catalogue and reference module."""

    function: str
    reference: ModuleType
    visible: tuple[TestCase, ...]
    hidden: tuple[TestCase, ...]
    catalogue: tuple[Misconception, ...]
    requires: tuple[str, ...] = ()

    def tests(self, suite: SuiteName) -> tuple[TestCase, ...]:
        """The collected tests of one suite."""
        return self.visible if suite == "visible" else self.hidden


@dataclass(frozen=True)
class PreparedAssignment:
    """An assignment with its tests collected and its reference imported, ready to grade many.

    ``visible``, ``hidden`` and ``catalogue`` cover every graded function, in the spec's
    order; ``parts`` holds them per function (empty: one function, these fields).
    """

    assignment: Assignment
    reference: ModuleType
    visible: tuple[TestCase, ...]
    hidden: tuple[TestCase, ...]
    catalogue: tuple[Misconception, ...]
    #: lines of the hidden tests and the reference, kept out of feedback (read once, not per run)
    protected: tuple[str, ...] = ()
    parts: tuple[PreparedFunction, ...] = ()

    def tests(self, suite: SuiteName) -> tuple[TestCase, ...]:
        """The collected tests of one suite."""
        return self.visible if suite == "visible" else self.hidden

    def functions(self) -> tuple[PreparedFunction, ...]:
        """The graded functions, each with its own tests and catalogue."""
        if self.parts:
            return self.parts
        return (
            PreparedFunction(
                self.assignment.function,
                self.reference,
                self.visible,
                self.hidden,
                self.catalogue,
                self.assignment.functions[1:],
            ),
        )


def _prepare_function(
    assignment: Assignment, graded: GradedFunction, reference: ModuleType
) -> PreparedFunction:
    grades = graded.function if assignment.several else ""
    visible = collect_tests(graded.visible_tests, "visible", "visible", grades=grades)
    hidden = collect_tests(
        graded.hidden_tests, "hidden", assignment.hidden_visibility, grades=grades
    )
    if graded.points is not None:
        # The spec's points for the function: its hidden tests scaled to that total, the
        # visible ones by the same factor.
        scale = graded.points / sum(c.points for c in hidden)
        visible = [dataclasses.replace(c, points=round(c.points * scale, 6)) for c in visible]
        hidden = [dataclasses.replace(c, points=round(c.points * scale, 6)) for c in hidden]
    return PreparedFunction(
        graded.function,
        reference,
        tuple(visible),
        tuple(hidden),
        load_catalogue(graded.misconceptions),
        graded.requires,
    )


def prepare_assignment(
    name: str | None = None, course_dir: Path | None = None
) -> PreparedAssignment:
    """Read the spec, import the reference, collect both suites and the misconception catalogue."""
    assignment = load_assignment(name, course_dir)
    modules: dict[Path, ModuleType] = {}
    for graded in assignment.graded:
        if graded.reference not in modules:
            suffix = f"_{len(modules)}" if modules else ""
            modules[graded.reference] = import_file(
                graded.reference, f"grader_reference_{assignment.name}{suffix}"
            )
    parts = tuple(_prepare_function(assignment, g, modules[g.reference]) for g in assignment.graded)
    catalogue: dict[str, Misconception] = {}
    for part in parts:
        for m in part.catalogue:
            catalogue.setdefault(m.id, m)
    return PreparedAssignment(
        assignment=assignment,
        reference=parts[0].reference,
        visible=tuple(c for p in parts for c in p.visible),
        hidden=tuple(c for p in parts for c in p.hidden),
        catalogue=tuple(catalogue.values()),
        protected=protected_lines([*(g.hidden_tests for g in assignment.graded), *modules]),
        parts=parts if assignment.several else (),
    )


def resolve_sandbox(choice: BackendChoice) -> SandboxInfo:
    """The isolation that will run, or SandboxUnavailableError when the one demanded cannot."""
    try:
        return _resolve_backend(choice)
    except ValueError as exc:
        fix = (
            "install bubblewrap (sudo apt-get install bubblewrap)"
            if choice == "bwrap"
            else "grade on Linux 5.13+ with Landlock enabled (see `grader doctor`)"
        )
        raise SandboxUnavailableError(
            str(exc), f"{fix}, or use --sandbox auto for the strongest one available"
        ) from exc


def grade_submission(
    prepared: PreparedAssignment,
    submission: Submission,
    *,
    sandbox: SandboxInfo,
    suite: SuiteName = "hidden",
    start_sandbox: SandboxFactory = start_student_process,
) -> GradingResult:
    """Grade an already-read submission. Never raises for anything the submission does."""
    started = time.monotonic()
    assignment = prepared.assignment
    cases = prepared.tests(suite)
    report: LoadReport | None = None
    problem = submission.problem
    results: tuple[TestResult, ...]
    found: list[Misconception] = []
    examples: dict[str, Counterexample] = {}
    output_excerpt = ""
    inherited: dict[str, str] = {}  #: graded function -> the helper its failures come from
    if problem:
        results = fail_all(cases, problem)
    else:
        cells = [(cell.index, cell.source) for cell in submission.cells]
        files = assignment.provided.files()
        options = {"provided": files} if files else {}
        process = start_sandbox(
            cells, assignment.functions, sandbox.backend, assignment.limits, **options
        )
        # Under bwrap the hidden tests and reference cannot be read at all; elsewhere a
        # submission could quote them in its exception messages, so those are redacted.
        protected = prepared.protected
        if sandbox.backend != "bwrap":
            process = RedactingSandbox(process, protected)
        try:
            report = process.load()
            problem = _load_problem(assignment, report)
            if problem:
                results = fail_all(cases, problem)
            else:
                graded = _grade_functions(prepared, process, report, suite)
                results, found, examples, inherited = graded
        finally:
            process.close()
        # Under the fallback a submission can read (and print) the hidden tests and reference.
        output_excerpt = redact(process.captured_output, protected)
    extra: dict[str, object] = {"suite": suite}
    if report is not None:
        extra.update(list_cells(report.cells))
    if output_excerpt:
        extra["student_output"] = output_excerpt[:4000]
    if found:
        extra["diagnosis"] = [
            {
                "id": m.id,
                "title": m.title,
                "explanation": m.explanation,
                "counterexample": examples[m.id].to_data() if m.id in examples else None,
            }
            for m in found
        ]
    return GradingResult(
        assignment=assignment.name,
        tests=results,
        output=overall_message(
            assignment=assignment.title,
            results=results,
            problem=problem,
            report=report,
            notes=_notes(submission, assignment),
            found=found,
            examples=examples,
            inherited=inherited,
            not_provided=assignment.provided.not_provided,
        ),
        execution_time=time.monotonic() - started,
        misconceptions=tuple(m.id for m in found),
        sandbox=sandbox.backend,
        warnings=sandbox.warnings,
        submission=submission.name,
        extra=extra,
    )


GradedParts = tuple[
    tuple[TestResult, ...], list[Misconception], dict[str, Counterexample], dict[str, str]
]


def _grade_functions(
    prepared: PreparedAssignment, process: Sandbox, report: LoadReport, suite: SuiteName
) -> GradedParts:
    """Run each graded function's tests, diagnose its failures, and score them.

    A function whose failures come from another graded function it calls (see
    ``grader.inheritance``) is not diagnosed for them: its tests say which helper to fix.
    """
    assignment = prepared.assignment
    results: list[TestResult] = []
    found: dict[str, Misconception] = {}
    examples: dict[str, Counterexample] = {}
    inherited_from: dict[str, str] = {}
    for part in prepared.functions():
        cases = part.tests(suite)
        # Never offered as a rename: the other graded functions and the course's own.
        others = [p.function for p in prepared.functions() if p is not part]
        others += assignment.provided.defined_names()
        missing = (
            _missing_problem(part, report, others, assignment.provided.not_provided)
            if assignment.several
            else None
        )
        if missing:
            results.extend(fail_all(cases, missing))
            continue
        runner = SuiteRunner(process, part.reference, assignment.functions)
        outcomes = [runner.run(case) for case in cases]
        failed = {o.case.name for o in outcomes if not o.passed}
        inherited: dict[str, str] = {}
        if failed and assignment.several:
            reference = getattr(part.reference, part.function, None)
            if callable(reference):
                inherited = find_inherited(
                    runner.records,
                    failed,
                    part.function,
                    reference,
                    [p.function for p in prepared.functions()],
                    process.call,
                )
        if inherited:
            inherited_from[part.function] = next(iter(inherited.values()))
        # Only failed tests carry a diagnosis: most of a class passes everything. Inherited
        # failures are not the function's own mistakes.
        own = [r for r in runner.records if r.test not in inherited]
        diagnosis = diagnose(own, part.catalogue) if failed - set(inherited) else {}
        ids = {i for o in outcomes if not o.passed for i in diagnosis.get(o.case.name, ())}
        part_found = [m for m in part.catalogue if m.id in ids]
        # Before the caller closes the process: probing calls it again.
        part_examples = _counterexamples(part, process, own, part_found)
        results.extend(
            score_tests(
                outcomes, diagnosis, part.catalogue, part_examples, inherited, inherited_from
            )
        )
        for m in part_found:
            found.setdefault(m.id, m)
        examples.update(part_examples)
    return tuple(results), list(found.values()), examples, inherited_from


def _missing_problem(
    part: PreparedFunction, report: LoadReport, others: Sequence[str], not_provided: Sequence[str]
) -> str | None:
    """Why one graded function cannot be called (it, or a name it requires, is missing)."""
    for function in (part.function, *part.requires):
        message = missing_function_message(function, report, others, not_provided)
        if message:
            return message
    return None


def list_cells(cells: Sequence[CellRun], cap: int = CELLS_LISTED) -> dict[str, object]:
    """``extra_data.cells``: every cell, or past ``cap`` the errors first and a count of the rest.

    A submission decides how many cells it has: 60,000 raising cells must not make a
    document of 40 MB. Listed cells stay in document order.
    """
    listed = list(cells)
    extra: dict[str, object] = {}
    if len(listed) > cap:
        errors = [c for c in listed if c.status == "error"]
        others = [c for c in listed if c.status != "error"]
        kept = errors[:cap] + others[: max(0, cap - len(errors))]
        extra["cells_not_listed"] = {
            "error": len(errors) - min(len(errors), cap),
            "ok": len(others) - max(0, len(kept) - len(errors)),
        }
        listed = sorted(kept, key=lambda c: c.index)
    return {"cells": [cell_entry(c) for c in listed], **extra}


def _notes(submission: Submission, assignment: Assignment) -> tuple[str, ...]:
    mismatch = mismatch_note(submission.assignment, assignment.name)
    return (mismatch, *submission.notes) if mismatch else submission.notes


def _counterexamples(
    part: PreparedFunction,
    process: Sandbox,
    records: Sequence[CallRecord],
    found: Sequence[Misconception],
) -> dict[str, Counterexample]:
    """Shrink each mistake found to the smallest input that still shows it (bounded probing)."""
    if not found:
        return {}
    references = {
        name: fn
        for name in (part.function, *part.requires)
        if callable(fn := getattr(part.reference, name, None))
    }
    return find_counterexamples(
        records,
        [m.id for m in found],
        part.catalogue,
        Prober(process.call),
        references,
        {name: argument_names(fn) for name, fn in references.items()},
        part.function,
    )


def _load_problem(assignment: Assignment, report: LoadReport) -> str | None:
    """A problem that stops every test: the run failed, or (one function) it is missing.

    With several graded functions, a missing one fails only its own tests.
    """
    if report.failure:
        return f"Your notebook could not be run to the end: {report.failure}."
    wrong = wrong_notebook_message(assignment.title, assignment.functions, report)
    if wrong:
        return wrong
    if assignment.several:
        return None
    for function in assignment.functions:
        message = missing_function_message(
            function, report, not_provided=assignment.provided.not_provided
        )
        if message:
            return message
    return None


def grade(
    submission: Path,
    *,
    assignment: str | None = None,
    sandbox: BackendChoice = "auto",
    suite: SuiteName = "hidden",
    course_dir: Path | None = None,
) -> GradingResult:
    """Grade one .ipynb/.py file with the hidden suite (the score that counts).

    ``assignment`` may be omitted when the file names its own (see ``resolve_assignment``)
    or only one assignment exists.
    """
    # The sandbox imports numpy while this process reads the notebook and the tests.
    warm = sandbox != "none" and bwrap_problem() is None
    with ZygoteSandboxes() if warm else contextlib.nullcontext() as sandboxes:
        read = read_submission(submission)
        try:
            name = resolve_assignment(assignment, read.assignment, course_dir, submission=read.name)
        except AmbiguousAssignmentError as exc:
            if read.problem is None:
                raise  # a readable file and no way to choose: misuse
            # An unreadable file cannot name its assignment; it still gets its document.
            return unassigned_result(read, exc.hint)
        prepared = prepare_assignment(name, course_dir)
        info = resolve_sandbox(sandbox)
        start = sandboxes if sandboxes is not None else start_student_process
        return grade_submission(prepared, read, sandbox=info, suite=suite, start_sandbox=start)


def unassigned_result(submission: Submission, hint: str) -> GradingResult:
    """Score 0 for an unreadable submission whose assignment nobody named: no test ran."""
    return GradingResult(
        assignment="",
        tests=(),
        output=f"0 points: {submission.problem}",
        execution_time=0.0,
        warnings=(
            f"{submission.name} is unreadable, so it cannot name its assignment and no tests "
            f"ran (max_score 0). For a score out of the assignment's points, {hint}",
        ),
        submission=submission.name,
    )


def check(
    submission: Path,
    *,
    assignment: str | None = None,
    sandbox: BackendChoice = "auto",
    course_dir: Path | None = None,
) -> GradingResult:
    """Run only the visible tests: what students use to self-check."""
    return grade(
        submission, assignment=assignment, sandbox=sandbox, suite="visible", course_dir=course_dir
    )


def internal_failure(submission: Path, assignment: str | None, exc: BaseException) -> GradingResult:
    """The last-ditch document when the grader itself failed: a visible apology, a hidden trace."""
    return GradingResult(
        assignment=assignment or "",
        tests=(
            TestResult(
                name="Autograder failed",
                score=0.0,
                max_score=0.0,
                status="failed",
                output="The autograder itself failed on this submission; this is not your fault. "
                "Your instructor has been given the details.",
                tags=("internal-error",),
                visibility="visible",
            ),
            TestResult(
                name="Autograder exception",
                score=0.0,
                max_score=0.0,
                status="failed",
                output="".join(traceback.format_exception(exc))[-4000:],
                tags=("internal-error",),
                visibility="hidden",
            ),
        ),
        output="The autograder failed internally; the score is not final.",
        execution_time=0.0,
        submission=readable_name(submission.name),
    )
