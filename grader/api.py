"""The library's entry points: load -> sandboxed run -> score -> result.

``grade()`` and ``check()`` always return a ``GradingResult`` for a submission that exists,
however broken it is; they raise ``GraderError`` only for misuse (no such file, unknown
assignment, unavailable sandbox) or a broken assignment folder.
"""

from __future__ import annotations

import contextlib
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from grader.assignments import Assignment, load_assignment, mismatch_note, resolve_assignment
from grader.counterexample import Counterexample, Prober, argument_names, find_counterexamples
from grader.diagnosis import CallRecord, Misconception, diagnose, load_catalogue
from grader.errors import AmbiguousAssignmentError, SandboxUnavailableError
from grader.results import GradingResult, TestResult
from grader.sandbox import BackendChoice, Limits, LoadReport, Sandbox, SandboxInfo, StudentProcess
from grader.sandbox import resolve_backend as _resolve_backend
from grader.sandbox.parent import bwrap_problem
from grader.sandbox.redact import RedactingSandbox, protected_lines, redact
from grader.sandbox.workers import Zygote, ZygoteStudentProcess
from grader.scoring import (
    cell_entry,
    fail_all,
    missing_function_message,
    overall_message,
    score_tests,
)
from grader.submission import Submission, read_submission
from grader.suite import SuiteName, SuiteRunner, TestCase, collect_tests, import_file

SandboxFactory = Callable[[Sequence[tuple[int, str]], Sequence[str], str, Limits], Sandbox]


def start_student_process(
    cells: Sequence[tuple[int, str]], functions: Sequence[str], backend: str, limits: Limits
) -> Sandbox:
    """The real sandbox: a zygote's fork under bwrap (its own zygote), or the fallback's child."""
    if backend == "bwrap":
        return ZygoteStudentProcess(cells, functions, limits=limits)
    return StudentProcess(cells, functions, backend="none", limits=limits)


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
    ) -> Sandbox:
        if backend != "bwrap":
            return start_student_process(cells, functions, backend, limits)
        if self.processes and self.processes[-1].zygote is not None:
            self.zygote = self.processes[-1].zygote  # it may have replaced one that broke
        process = ZygoteStudentProcess(cells, functions, limits=limits, zygote=self.zygote)
        self.processes.append(process)
        return process

    def __enter__(self) -> ZygoteSandboxes:
        return self

    def __exit__(self, *exc_info: object) -> None:
        zygotes = [self.zygote, *(p.zygote for p in self.processes if p.zygote is not None)]
        for zygote in {id(z): z for z in zygotes}.values():
            zygote.stop()


@dataclass(frozen=True)
class PreparedAssignment:
    """An assignment with its tests collected and its reference imported, ready to grade many."""

    assignment: Assignment
    reference: ModuleType
    visible: tuple[TestCase, ...]
    hidden: tuple[TestCase, ...]
    catalogue: tuple[Misconception, ...]
    #: lines of the hidden tests and the reference, kept out of feedback (read once, not per run)
    protected: tuple[str, ...] = ()

    def tests(self, suite: SuiteName) -> tuple[TestCase, ...]:
        """The collected tests of one suite."""
        return self.visible if suite == "visible" else self.hidden


def prepare_assignment(
    name: str | None = None, course_dir: Path | None = None
) -> PreparedAssignment:
    """Read the spec, import the reference, collect both suites and the misconception catalogue."""
    assignment = load_assignment(name, course_dir)
    reference = import_file(assignment.reference, f"grader_reference_{assignment.name}")
    return PreparedAssignment(
        assignment=assignment,
        reference=reference,
        visible=tuple(collect_tests(assignment.visible_tests, "visible", "visible")),
        hidden=tuple(
            collect_tests(assignment.hidden_tests, "hidden", assignment.hidden_visibility)
        ),
        catalogue=load_catalogue(assignment.misconceptions),
        protected=protected_lines([assignment.hidden_tests, assignment.reference]),
    )


def resolve_sandbox(choice: BackendChoice) -> SandboxInfo:
    """The isolation that will run, or SandboxUnavailableError when ``bwrap`` was demanded."""
    try:
        return _resolve_backend(choice)
    except ValueError as exc:
        raise SandboxUnavailableError(
            str(exc), "install bubblewrap, or use --sandbox auto to fall back"
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
    if problem:
        results = fail_all(cases, problem)
    else:
        cells = [(cell.index, cell.source) for cell in submission.cells]
        process = start_sandbox(cells, assignment.functions, sandbox.backend, assignment.limits)
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
                runner = SuiteRunner(process, prepared.reference, assignment.functions)
                outcomes = [runner.run(case) for case in cases]
                # Only failed tests carry a diagnosis: most of a class passes everything.
                failed = any(not o.passed for o in outcomes)
                diagnosis = diagnose(runner.records, prepared.catalogue) if failed else {}
                ids = {i for o in outcomes if not o.passed for i in diagnosis.get(o.case.name, ())}
                found = [m for m in prepared.catalogue if m.id in ids]
                # Before the finally below closes the process: probing calls it again.
                examples = _counterexamples(prepared, process, runner.records, found)
                results = score_tests(outcomes, diagnosis, prepared.catalogue, examples)
        finally:
            process.close()
        # Under the fallback a submission can read (and print) the hidden tests and reference.
        output_excerpt = redact(process.captured_output, protected)
    extra: dict[str, object] = {"suite": suite}
    if report is not None:
        extra["cells"] = [cell_entry(c) for c in report.cells]
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
        ),
        execution_time=time.monotonic() - started,
        misconceptions=tuple(m.id for m in found),
        sandbox=sandbox.backend,
        warnings=sandbox.warnings,
        submission=submission.name,
        extra=extra,
    )


def _notes(submission: Submission, assignment: Assignment) -> tuple[str, ...]:
    mismatch = mismatch_note(submission.assignment, assignment.name)
    return (mismatch, *submission.notes) if mismatch else submission.notes


def _counterexamples(
    prepared: PreparedAssignment,
    process: Sandbox,
    records: Sequence[CallRecord],
    found: Sequence[Misconception],
) -> dict[str, Counterexample]:
    """Shrink each mistake found to the smallest input that still shows it (bounded probing)."""
    if not found:
        return {}
    references = {
        name: fn
        for name in prepared.assignment.functions
        if callable(fn := getattr(prepared.reference, name, None))
    }
    return find_counterexamples(
        records,
        [m.id for m in found],
        prepared.catalogue,
        Prober(process.call),
        references,
        {name: argument_names(fn) for name, fn in references.items()},
        prepared.assignment.function,
    )


def _load_problem(assignment: Assignment, report: LoadReport) -> str | None:
    if report.failure:
        return f"Your notebook could not be run to the end: {report.failure}."
    for function in assignment.functions:
        message = missing_function_message(function, report)
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
        submission=submission.name,
    )
