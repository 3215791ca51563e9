"""Pure functions: test outcomes + diagnosis -> scored TestResults and the overall message."""

from __future__ import annotations

import builtins
import difflib
import re
from collections import Counter
from collections.abc import Collection, Mapping, Sequence

from grader.counterexample import Counterexample
from grader.diagnosis import Misconception
from grader.results import TestResult
from grader.sandbox.outcomes import CellError, CellRun, LoadReport
from grader.suite import STUB_ADVICE, TestCase, TestOutcome

INHERITED = (
    "This comes from your {helper}: fix that first. ({function} returned what a correct "
    "{function} returns when it calls your {helper}, and your {helper} gave a wrong answer "
    "on the way.)"
)


INHERITED_ROOT = "Your {helper}'s own failures come from your {root}: start there."


def inherited_root(helper: str, inherited: Mapping[str, str]) -> str:
    """Where a chain of inherited failures starts (``inherited``: function -> its helper)."""
    seen = {helper}
    while helper in inherited and inherited[helper] not in seen:
        helper = inherited[helper]
        seen.add(helper)
    return helper


def misconception_text(m: Misconception) -> str:
    """How a diagnosis reads inside a test's feedback."""
    return f"Likely mistake [{m.id}]: {m.title}\n{m.explanation}"


def score_tests(
    outcomes: Sequence[TestOutcome],
    diagnosis: Mapping[str, tuple[str, ...]],
    catalogue: Sequence[Misconception],
    examples: Mapping[str, Counterexample] | None = None,
    inherited: Mapping[str, str] | None = None,
    inherited_from: Mapping[str, str] | None = None,
) -> tuple[TestResult, ...]:
    """Full points for a passed test, none for a failed one; failures carry their diagnosis.

    A visible test's feedback also shows each mistake's smallest counterexample; a hidden
    test's names the mistake only (its own inputs are never quoted, and the counterexample
    is in the overall message). A test in ``inherited`` (test name -> helper) failed because
    of another graded function: it names that helper instead of a mistake, and where the
    helper's failures come from further down (``inherited_from``: function -> helper), the
    function to start with.
    """
    by_id = {m.id: m for m in catalogue}
    examples = examples or {}
    inherited = inherited or {}
    results = []
    for outcome in outcomes:
        case = outcome.case
        ids = () if outcome.passed else diagnosis.get(case.name, ())
        parts = [f"Checks: {case.description}"]
        if outcome.passed:
            parts.append("Passed.")
        elif case.name in inherited:
            ids = ()
            parts.append(outcome.message)
            helper = inherited[case.name]
            parts.append(INHERITED.format(helper=helper, function=case.grades or "it"))
            root = inherited_root(helper, inherited_from or {})
            if root != helper:
                parts.append(INHERITED_ROOT.format(helper=helper, root=root))
        else:
            parts.append(outcome.message)
            for i in ids:
                if i in by_id:
                    parts.append(misconception_text(by_id[i]))
                if i in examples and case.visibility == "visible":
                    parts.append(examples[i].text())
        parts.extend(f"Note: {n}" for n in outcome.notes)
        results.append(
            TestResult(
                name=case.name,
                score=case.points if outcome.passed else 0.0,
                max_score=case.points,
                status="passed" if outcome.passed else "failed",
                output="\n".join(p for p in parts if p),
                tags=case.tags,
                visibility=case.visibility,
                misconceptions=ids,
                suite=case.suite,
                function=case.grades,
            )
        )
    return tuple(results)


def fail_all(cases: Sequence[TestCase], message: str) -> tuple[TestResult, ...]:
    """Every test failed for one reason (nothing could be called)."""
    return tuple(
        TestResult(
            name=case.name,
            score=0.0,
            max_score=case.points,
            status="failed",
            output=f"Checks: {case.description}\nNot graded: {message}",
            tags=case.tags,
            visibility=case.visibility,
            suite=case.suite,
            function=case.grades,
        )
        for case in cases
    )


# A module that looks like one of a course's own files (testCases_v4a, dnn_utils_v2,
# public_tests, lr_utils) rather than a package from PyPI (h5py, torch, scipy).
COURSE_FILE_NAME = re.compile(r"[A-Z]|(^|_)(utils?|tests?|testcases?|helpers?)(_|\d|$)")
PACKAGES_WITH_CAPITALS = frozenset({"PIL", "IPython", "Crypto", "OpenGL", "Bio"})


def missing_module_note(
    evalue: str, not_provided: Collection[str] = (), needed: bool = True
) -> str:
    """Why an import failed: a course file the assignment does not provide, or a package
    that is not installed where grading runs. ``needed=False`` once every test passed."""
    match = re.match(r"No module named '([^']+)'", evalue)
    name = match.group(1).split(".")[0] if match else ""
    tail = (
        "this costs no points unless your function needs it"
        if needed
        else "it is not needed for the graded functions"
    )
    if not name:
        return f" (a module is not available where your notebook is graded; {tail})"
    if name in not_provided or (
        name not in PACKAGES_WITH_CAPITALS and COURSE_FILE_NAME.search(name)
    ):
        return f" ({name} is a course file this assignment does not provide; {tail})"
    return f" ({name} is not installed where your notebook is graded; {tail})"


def describe_cell_error(
    cell: CellRun | CellError, not_provided: Collection[str] = (), needed: bool = True
) -> str:
    """'cell 7: SyntaxError at line 3: invalid syntax'."""
    index = cell.index if isinstance(cell, CellRun) else cell.cell
    where = f" at line {cell.line}" if cell.line else ""
    text = f"cell {index}: {cell.ename}{where}: {cell.evalue}".rstrip(": ")
    if cell.ename == "ModuleNotFoundError":
        text += missing_module_note(cell.evalue, not_provided, needed)
    return text


def describe_cell_errors(
    cell: CellRun, not_provided: Collection[str] = (), needed: bool = True
) -> list[str]:
    """One line per failed statement of the cell (its later statements still ran)."""
    lines = [describe_cell_error(e, not_provided, needed) for e in cell.errors] or [
        describe_cell_error(cell, not_provided, needed)
    ]
    if cell.dropped:
        lines.append(f"cell {cell.index}: {cell.dropped} more statement(s) failed")
    return lines


def missing_function_message(
    function: str,
    report: LoadReport,
    others: Collection[str] = (),
    not_provided: Collection[str] = (),
) -> str | None:
    """Why the wanted function cannot be called, naming the likely fix, or None if it can.

    ``others`` (the assignment's other graded functions) are never offered as a rename.
    """
    state = report.functions.get(function, "missing")
    if state == "callable":
        return None
    if state != "missing":
        return (
            f"{function} is defined but is not a function ({state.removeprefix('not callable: ')})."
        )
    failed = failed_definition(function, report)
    if failed is not None:
        return _lost_definition_message(function, failed)
    candidates = [name for name in report.defined_callables if name not in others]
    close = difflib.get_close_matches(function, candidates, n=1, cutoff=0.6)
    errors = [c for c in report.cells if c.status == "error"]
    hint = f" Did you rename it? Your notebook defines {close[0]!r}." if close else ""
    if errors and not close:
        hint = (
            " A cell that should define it may have failed: "
            + "; ".join(describe_cell_error(c, not_provided) for c in errors[:3])
            + "."
        )
    return (
        f"{function} is not defined in your submission.{hint} "
        "Keep the function name from the template."
    )


def function_subtotals(results: Sequence[TestResult], inherited: Mapping[str, str]) -> list[str]:
    """One line per graded function (assignments with several): its points, and where its
    failures come from when that is another of the student's functions."""
    totals: dict[str, list[float]] = {}
    for r in results:
        if r.function:
            total = totals.setdefault(r.function, [0.0, 0.0])
            total[0] += r.score
            total[1] += r.max_score
    lines = []
    for function, (score, max_score) in totals.items():
        line = f"  {function}: {round(score, 6):g}/{round(max_score, 6):g}"
        if function in inherited:
            helper = inherited[function]
            root = inherited_root(helper, inherited)
            through = f", whose failures come from your {root}" if root != helper else ""
            line += f" (failures come from your {helper}{through}: fix that first)"
        lines.append(line)
    return lines


def failed_definition(function: str, report: LoadReport) -> CellError | None:
    """The failed statement (or cell that did not compile) that would have defined it."""
    return next((e for c in report.cells for e in c.errors if function in e.binds), None)


def _lost_definition_message(function: str, error: CellError) -> str:
    where = f"cell {error.cell}: {error.ename}" + (f" at line {error.line}" if error.line else "")
    what = f"{where}: {error.evalue}".rstrip(": ")
    if error.ename in ("ModuleNotFoundError", "ImportError"):
        return (
            f"{function} is not defined: your notebook imports it, and that import failed "
            f"({what}). Define {function} in a cell of your notebook: the file it is "
            "imported from is not there when grading."
        )
    if error.ename in ("SyntaxError", "IndentationError", "TabError"):
        return (
            f"{function} is not defined: the cell that defines it did not run ({what}). "
            "Fix that line and resubmit."
        )
    return f"{function} is not defined: the statement that defines it failed ({what})."


def wrong_notebook_message(title: str, functions: Sequence[str], report: LoadReport) -> str | None:
    """When nothing of the assignment is there (no function defined, imported, failed to
    define, or named closely) but other functions are: most likely another notebook."""
    if report.failure or any(report.functions.get(f, "missing") != "missing" for f in functions):
        return None
    if any(failed_definition(f, report) is not None for f in functions):
        return None
    if any(difflib.get_close_matches(f, report.defined_callables, cutoff=0.6) for f in functions):
        return None
    defined = [name for name in report.defined_callables if not name[:1].isupper()][:6]
    if not defined:
        return None  # an unfinished notebook, not another one
    expected = ", ".join(functions)
    found = f" It defines {', '.join(defined)}."
    return (
        f"This does not look like the {title} notebook: it defines none of the functions "
        f"this assignment grades ({expected}).{found} Check that you submitted the right "
        "file, with the function names from the template."
    )


SHARED_FAILURE = "Every test failed the same way: "
#: the overall message is shown at once, whatever the tests' visibility: what a hidden test's
#: call gave back (an exception message can carry its inputs) stays in that test's feedback
SHARED_HIDDEN_FAILURE = (
    "Every test failed the same way; each test's feedback says how (it is shown with the "
    "tests' results). Run `grader check` to see the same failure on the visible tests."
)


def shared_failure(results: Sequence[TestResult]) -> str | None:
    """When every test failed with the same message (a stub, a crash), say it once up top.

    The message is quoted whole only when every test is visible: otherwise it came from calls
    with a hidden test's inputs, which the submission could have written into it, and only
    its grader-written part is said (``public_failure``).
    """
    if not results or any(r.status == "passed" for r in results):
        return None
    # Each output is "Checks: <what>" then the failure; compare the failures only.
    failures = {r.output.split("\n", 1)[-1] for r in results}
    if len(failures) != 1:
        return None
    failure = failures.pop()
    if all(r.visibility == "visible" for r in results):
        return SHARED_FAILURE + failure
    public = public_failure(failure.split("\n", 1)[0])
    if public is None:
        return SHARED_HIDDEN_FAILURE
    return SHARED_FAILURE + public + (STUB_ADVICE if public.endswith(STUB_RAISE) else "")


# "linear_backward raised ValueError: ... (cell 3, line 12: `...`)": the same raise on
# different inputs has different messages but the same function, exception and line.
RAISED = re.compile(r"^(\S+ raised \w+)\b(?:.*(\(cell \d+, line \d+))?")
STUB_RAISE = " raised NotImplementedError"
# "db is a float, expected a numpy.ndarray of shape (n, 1).": every word the grader's (a
# built-in type, the shape as the assignment writes it).
BUILTIN_KIND = re.compile(
    r"\w+ is (?:None \(did you forget `return`\?\)|an? (?:bool|float|int|list|tuple|dict|str)),"
    r" expected a numpy\.ndarray(?: of shape \([\w, ]*\))?\."
)


def public_failure(line: str) -> str | None:
    """What of a failed test's first line may be said whatever the test's visibility: the
    function and a built-in exception it raised (not the message, which the submission
    writes, nor a class it named), or a type failure in the grader's own words; else None."""
    match = RAISED.match(line)
    if match:
        exception = getattr(builtins, match.group(1).rsplit(" ", 1)[1], None)
        builtin = isinstance(exception, type) and issubclass(exception, BaseException)
        return match.group(1) if builtin else None
    return line if BUILTIN_KIND.fullmatch(line) else None


def main_failure(results: Sequence[TestResult]) -> str | None:
    """The reason most failed tests share ("13 of 14 tests failed: f raised ValueError
    ..."), or None when the failures have no common cause (or every one is the same text,
    which ``shared_failure`` says)."""
    failed = [r for r in results if r.status != "passed"]
    if len(failed) < 2 or shared_failure(results):
        return None
    firsts = [[*r.output.split("\n"), ""][1] for r in failed]
    keys = []
    for line in firsts:
        match = RAISED.match(line)
        keys.append(match.group(1) + (match.group(2) or "") if match else line)
    counts = Counter(keys)
    key, count = counts.most_common(1)[0]
    if count < 2 or 2 * count <= len(failed) or not key:
        return None
    reason = firsts[keys.index(key)]
    if any(r.visibility != "visible" for r in failed):  # see shared_failure
        public = public_failure(reason)
        reason = public if public is not None else "the same way (see those tests' feedback)"
    head = f"{len(failed)} of {len(results)} tests failed"
    if count == len(failed):
        return f"{head}: {reason}"
    return f"{head}; {count} of them: {reason}"


def overall_message(
    *,
    assignment: str,
    results: Sequence[TestResult],
    problem: str | None,
    report: LoadReport | None,
    notes: Sequence[str],
    found: Sequence[Misconception],
    examples: Mapping[str, Counterexample] | None = None,
    inherited: Mapping[str, str] | None = None,
    not_provided: Collection[str] = (),
) -> str:
    """The results document's top-level ``output``: the summary a student reads first.

    Gradescope shows it at once, whatever the tests' visibility, so nothing in it derives
    from a hidden test's call: counterexamples quote only the grader's own probes (see
    ``counterexample``), and a failure shared by hidden tests is named, not quoted.
    """
    score = sum(r.score for r in results)
    max_score = sum(r.max_score for r in results)
    lines = [f"{assignment}: {score:g}/{max_score:g} points."]
    lines.extend(function_subtotals(results, inherited or {}))
    problem = problem or shared_failure(results) or main_failure(results)
    if problem:
        lines.append(problem)
    if found:
        lines.append("Mistakes found:")
        for m in found:
            lines.append(f"  [{m.id}] {m.title}")
            example = (examples or {}).get(m.id)
            if example is not None:
                lines.extend(f"    {line}" for line in example.text().splitlines())
    if report is not None:
        errors = [c for c in report.cells if c.status == "error"]
        if errors:
            lines.append("Cells that raised an error (the following cells still ran):")
            needed = not results or any(r.status == "failed" for r in results)
            described = [
                line for c in errors for line in describe_cell_errors(c, not_provided, needed)
            ]
            lines.extend("  " + line for line in described[:10])
    if notes:
        lines.append("Notes:")
        lines.extend(f"  {n[:300]}" for n in notes[:20])
    return "\n".join(lines)


def cell_entry(cell: CellRun) -> dict[str, object]:
    """A cell's entry in ``extra_data.cells``: ``more_errors`` only where several statements
    failed (``"line 3: ModuleNotFoundError: ..."``), so the document stays small."""
    entry: dict[str, object] = {
        "cell": cell.index,
        "status": cell.status,
        "error": f"{cell.ename}: {cell.evalue}" if cell.ename else "",
    }
    more = [f"{f'line {e.line}: ' if e.line else ''}{e.ename}: {e.evalue}" for e in cell.errors[1:]]
    more += [f"{cell.dropped} more statement(s) failed"] if cell.dropped else []
    if more:
        entry["more_errors"] = more
    return entry
