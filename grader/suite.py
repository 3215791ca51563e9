"""Collect an assignment's pytest-style test functions and run them against a sandboxed submission.

Tests are ordinary pytest functions (``@pytest.mark.points``, ``@pytest.mark.tags``,
``@pytest.mark.visibility``, ``@pytest.mark.parametrize``) so instructors can also run them
with pytest itself (see the assignment's ``conftest.py``). The grader runs them with this
small runner instead of ``pytest.main``: collection happens once per assignment, each run
costs microseconds rather than a pytest session, and no pytest state leaks between
submissions in a batch (pytest's docs advise against repeated ``pytest.main`` calls).

Fixtures the grader provides, by parameter name:
  <function name>  the student's function, called through the sandbox
  student          every wanted function as an attribute (``student.leaky_relu_backward``)
  reference        the reference module (trusted; never crosses to the child)
  rng              a ``numpy.random.Generator`` seeded from the test's name
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import traceback
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Literal, cast

import numpy as np

from grader.authoring import (
    MismatchError,
    collecting_argument_changes,
    collecting_notes,
    record_argument_change,
)
from grader.diagnosis import CallRecord
from grader.errors import AssignmentError
from grader.results import VISIBILITIES, Visibility
from grader.sandbox import Crashed, Raised, Returned, Sandbox, TimedOut
from grader.sandbox.outcomes import Frame

SuiteName = Literal["visible", "hidden"]

STUB_ADVICE = ". Replace the `raise NotImplementedError` stub with your implementation."
# A function that hangs on this many calls in a row hangs on all of them: the remaining
# calls fail at once, so one hanging submission costs seconds, not tests x timeout.
MAX_CONSECUTIVE_TIMEOUTS = 3
SKIPPED_AFTER_TIMEOUTS = (
    "not run: {function} timed out on "
    + str(MAX_CONSECUTIVE_TIMEOUTS)
    + " calls in a row, so the remaining calls were skipped (look for an infinite loop)"
)


@dataclass(frozen=True)
class TestCase:
    """One collected test (one parametrized case counts as one test)."""

    __test__ = False

    name: str
    function: Callable[..., Any]
    params: dict[str, Any]
    points: float
    tags: tuple[str, ...]
    visibility: Visibility
    description: str  #: first line of the docstring: what the test checks
    suite: SuiteName
    grades: str = ""  #: the graded function it belongs to (assignments with several)


@dataclass
class TestOutcome:
    """What happened when one test ran."""

    __test__ = False

    case: TestCase
    passed: bool
    message: str = ""  #: student-facing, already safe for the test's visibility
    notes: list[str] = field(default_factory=list)
    instructor_detail: str = ""  #: tracebacks of the test itself; never shown to students


# --- errors raised into test code by the student proxy ------------------------------------


class StudentCallError(Exception):
    """The student's function did not return (raised, timed out or crashed)."""

    def __init__(self, function: str, message: str) -> None:
        super().__init__(message)
        self.function = function
        self.message = message


def _where(frames: tuple[Frame, ...]) -> str:
    if not frames:
        return ""
    last = frames[-1]
    code = f": `{last.code}`" if last.code else ""
    return f" (cell {last.cell}, line {last.line}{code})"


def _call_failure(function: str, outcome: Raised | TimedOut | Crashed) -> StudentCallError:
    if isinstance(outcome, Raised):
        text = f"{function} raised {outcome.ename}: {outcome.evalue}{_where(outcome.frames)}"
        if outcome.ename == "NotImplementedError":
            text += STUB_ADVICE
        return StudentCallError(function, text)
    if isinstance(outcome, TimedOut):
        return StudentCallError(
            function,
            f"{function} timed out after {outcome.seconds:g} s (an infinite loop, or a "
            "Python loop over every element: use vectorised numpy operations).",
        )
    return StudentCallError(function, f"calling {function} failed: {outcome.reason}")


# --- the proxy -----------------------------------------------------------------------------


def _copy(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return np.array(value, copy=True)
    if isinstance(value, tuple):
        return tuple(_copy(v) for v in value)
    if isinstance(value, list):
        return [_copy(v) for v in value]
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    return value


def _write_back(arg: Any, after: Any) -> None:
    """Give the test in-process semantics: arrays the child mutated are mutated here too."""
    if isinstance(arg, np.ndarray) and isinstance(after, np.ndarray):
        if arg.shape == after.shape and arg.flags.writeable:
            np.copyto(arg, after, casting="unsafe")
    elif isinstance(arg, (tuple, list)) and isinstance(after, (tuple, list)):
        for a, b in zip(arg, after, strict=False):
            _write_back(a, b)
    elif isinstance(arg, dict) and isinstance(after, dict):
        for key, value in arg.items():
            if key in after:
                _write_back(value, after[key])


def _item_at(value: Any, path: tuple[int | str, ...]) -> Any:
    """The object at ``path`` in nested tuples, lists and dicts (the last one reachable)."""
    for place in path:
        found = (isinstance(value, dict) and place in value) or (
            isinstance(value, (tuple, list)) and isinstance(place, int) and place < len(value)
        )
        if not found:
            break
        value = value[place]
    return value


class StudentFunction:
    """Calls the student's function in the sandbox; looks like a normal function to tests."""

    def __init__(self, name: str, runner: SuiteRunner) -> None:
        self.name = name
        self.runner = runner

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs:
            args = args + tuple(kwargs.values())
        if self.runner.consecutive_timeouts >= MAX_CONSECUTIVE_TIMEOUTS:
            raise StudentCallError(self.name, SKIPPED_AFTER_TIMEOUTS.format(function=self.name))
        outcome = self.runner.sandbox.call(self.name, [_copy(a) for a in args])
        self.runner.consecutive_timeouts = (
            self.runner.consecutive_timeouts + 1 if isinstance(outcome, TimedOut) else 0
        )
        self.runner.record(self.name, args, outcome)
        if isinstance(outcome, Returned):
            for arg, after in zip(args, outcome.args_after, strict=False):
                _write_back(arg, after)
            for path, how in outcome.changes:
                record_argument_change(_item_at(args, path), how)
            return outcome.value
        raise _call_failure(self.name, outcome)


class StudentNamespace:
    """The ``student`` fixture: ``student.fn(...)`` for any function the assignment wants."""

    def __init__(self, runner: SuiteRunner) -> None:
        self._runner = runner

    def __getattr__(self, name: str) -> StudentFunction:
        if name.startswith("_"):
            raise AttributeError(name)
        return StudentFunction(name, self._runner)


# --- collection ----------------------------------------------------------------------------


def import_file(path: Path, module_name: str) -> ModuleType:
    """Import a trusted file (test suite, reference) under a private module name."""
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise AssignmentError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise AssignmentError(
            f"{path} failed to import: {type(exc).__name__}: {exc}",
            "run `pytest` on the assignment folder to see the full error",
        ) from exc
    return module


def _marks(function: Callable[..., Any]) -> list[Any]:
    return list(getattr(function, "pytestmark", []))


def _expand_parametrize(marks: list[Any]) -> list[tuple[str, dict[str, Any]]]:
    cases: list[tuple[str, dict[str, Any]]] = [("", {})]
    for mark in reversed([m for m in marks if m.name == "parametrize"]):
        names, values = mark.args[0], mark.args[1]
        names = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
        ids = mark.kwargs.get("ids")
        expanded = []
        for suffix, params in cases:
            for i, value in enumerate(values):
                row = value if len(names) > 1 else (value,)
                label = str(ids[i]) if ids else "-".join(str(v) for v in row)
                label = f"{suffix}-{label}" if suffix else label
                expanded.append((label, {**params, **dict(zip(names, row, strict=True))}))
        cases = expanded
    return cases


def collect_tests(
    path: Path,
    suite: SuiteName,
    default_visibility: Visibility,
    *,
    grades: str = "",
    scale: float = 1.0,
) -> list[TestCase]:
    """Import a test file and list its ``test_*`` functions in file order, with their markers.

    For an assignment with several graded functions, ``grades`` names the function the file
    tests: each test's name then starts with it (``layer_backward: test_relu``) and its points
    are multiplied by ``scale`` (the spec's ``points`` over the file's own total).
    """
    module = import_file(path, f"grader_tests_{path.parent.name}_{grades}_{path.stem}_{suite}")
    cases: list[TestCase] = []
    functions = [
        (name, obj)
        for name, obj in vars(module).items()
        if name.startswith("test") and inspect.isfunction(obj)
    ]
    functions.sort(key=lambda item: item[1].__code__.co_firstlineno)
    for name, function in functions:
        marks = _marks(function)
        by_name = {m.name: m for m in marks}
        if "points" not in by_name or "tags" not in by_name:
            raise AssignmentError(
                f"{path.name}::{name} needs @pytest.mark.points(N) and @pytest.mark.tags(...)"
            )
        visibility = (
            by_name["visibility"].args[0] if "visibility" in by_name else default_visibility
        )
        if visibility not in VISIBILITIES:
            raise AssignmentError(f"{path.name}::{name}: unknown visibility {visibility!r}")
        doc = inspect.getdoc(function) or name.replace("_", " ")
        for label, params in _expand_parametrize(marks):
            test_name = f"{name}[{label}]" if label else name
            cases.append(
                TestCase(
                    name=f"{grades}: {test_name}" if grades else test_name,
                    function=function,
                    params=params,
                    points=round(float(by_name["points"].args[0]) * scale, 6),
                    tags=tuple(by_name["tags"].args),
                    visibility=cast(Visibility, visibility),
                    description=doc.splitlines()[0],
                    suite=suite,
                    grades=grades,
                )
            )
    if not cases:
        raise AssignmentError(f"{path} defines no test functions")
    return cases


# --- running -------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def _parameters(function: Callable[..., Any]) -> tuple[str, ...]:
    """A test function's parameter names (cached: a batch asks once per test per submission)."""
    return tuple(inspect.signature(function).parameters)


class SuiteRunner:
    """Runs collected tests against one loaded submission, recording every call."""

    def __init__(
        self,
        sandbox: Sandbox,
        reference: ModuleType,
        function_names: Sequence[str],
    ) -> None:
        self.sandbox = sandbox
        self.reference = reference
        self.function_names = list(function_names)
        self.records: list[CallRecord] = []
        self.consecutive_timeouts = 0
        self._current_test = ""

    def record(self, function: str, args: tuple[Any, ...], outcome: Any) -> None:
        """Keep a call for diagnosis, with the reference's answer to the same arguments."""
        correct: Any = None
        reference_function = getattr(self.reference, function, None)
        if callable(reference_function):
            try:
                correct = reference_function(*[_copy(a) for a in args])
            except Exception:
                correct = None
        self.records.append(
            CallRecord(self._current_test, tuple(_copy(args)), outcome, correct, function)
        )

    def _fixtures(self, case: TestCase) -> dict[str, Any]:
        available: dict[str, Callable[[], Any]] = {
            "student": lambda: StudentNamespace(self),
            "reference": lambda: self.reference,
            # Seeded from the name the test has in its own file: an included suite draws the
            # same inputs as in its own assignment.
            "rng": lambda: np.random.default_rng(
                zlib.crc32(case.name.removeprefix(f"{case.grades}: ").encode())
            ),
        }
        for name in self.function_names:
            available[name] = functools.partial(StudentFunction, name, self)
        kwargs: dict[str, Any] = {}
        for parameter in _parameters(case.function):
            if parameter in case.params:
                kwargs[parameter] = case.params[parameter]
            elif parameter in available:
                kwargs[parameter] = available[parameter]()
            else:
                raise AssignmentError(
                    f"test {case.name} asks for fixture {parameter!r}, which the grader does "
                    f"not provide (available: {', '.join(sorted(available))})"
                )
        return kwargs

    @contextmanager
    def _test(self, name: str) -> Iterator[None]:
        self._current_test = name
        try:
            yield
        finally:
            self._current_test = ""

    def run(self, case: TestCase) -> TestOutcome:
        """Run one test; every way it can end becomes a TestOutcome."""
        visible = case.visibility == "visible"
        kwargs = self._fixtures(case)
        with self._test(case.name), collecting_notes() as notes, collecting_argument_changes():
            try:
                case.function(**kwargs)
            except MismatchError as exc:
                return TestOutcome(case, False, exc.describe(visible), notes)
            except StudentCallError as exc:
                return TestOutcome(case, False, exc.message, notes)
            except AssertionError as exc:
                message = str(exc) or "an assertion in this test failed"
                return TestOutcome(case, False, message, notes)
            except Exception as exc:
                # A test that crashed on what came back (e.g. `.shape` of a list): say so,
                # without the exception text, which could quote hidden inputs.
                return TestOutcome(
                    case,
                    False,
                    f"the test could not check your result ({type(exc).__name__}); "
                    "make sure the function returns a numpy array like the one described",
                    notes,
                    instructor_detail="".join(traceback.format_exception(exc))[-2000:],
                )
        return TestOutcome(case, True, "", notes)
