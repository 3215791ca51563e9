"""grader.api orchestration with a FakeSandbox: no child process, so every path is fast.

The fake implements the ``grader.sandbox.Sandbox`` protocol in-process (STYLE 2.6, like
httpx's MockTransport): trusted test code plays the submission, and can also play a
submission whose calls time out, crash or raise, or whose cells failed to load.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from grader import api
from grader.results import GradingResult
from grader.sandbox import (
    CallOutcome,
    CellError,
    CellRun,
    Crashed,
    Frame,
    Limits,
    LoadReport,
    Raised,
    Returned,
    Sandbox,
    SandboxInfo,
    TimedOut,
)
from grader.scoring import SHARED_FAILURE, SHARED_HIDDEN_FAILURE
from grader.submission import Cell, Submission
from grader.suite import MAX_CONSECUTIVE_TIMEOUTS, SKIPPED_AFTER_TIMEOUTS

ASSIGNMENT = "leaky_relu_backward"
FUNCTION = "leaky_relu_backward"
FAKE = SandboxInfo("fake")

Behaviour = Callable[..., Any] | CallOutcome | Iterator[Any]


class FakeSandbox:
    """A submission "loaded" in-process: ``behaviour`` is what calling the function does.

    ``behaviour`` is a Python function (called on copies, like the real child does), a
    fixed ``CallOutcome`` (every call times out, say), or an iterator of either, one per call.
    """

    def __init__(
        self,
        behaviour: Behaviour | None,
        *,
        cells: Sequence[CellRun] = (CellRun(1, "ok"),),
        failure: str | None = None,
        defined: Sequence[str] = (),
        output: str = "",
    ) -> None:
        self.behaviour = behaviour
        self.report = LoadReport(
            cells=tuple(cells),
            functions={FUNCTION: self._state(behaviour)},
            defined_callables=tuple(defined),
            failure=failure,
        )
        self.output = output
        self.calls = 0
        self.closed = False

    @staticmethod
    def _state(behaviour: object) -> str:
        if behaviour is None:
            return "missing"
        if isinstance(behaviour, int):
            return "not callable: int"
        return "callable"

    def load(self) -> LoadReport:
        return self.report

    def call(self, function: str, args: Sequence[Any]) -> CallOutcome:
        assert function == FUNCTION
        assert not self.closed, "called after close()"
        self.calls += 1
        behaviour = self.behaviour
        if isinstance(behaviour, Iterator):
            behaviour = next(behaviour)
        if isinstance(behaviour, (Returned, Raised, TimedOut, Crashed)):
            return behaviour
        assert callable(behaviour)
        copies = [np.array(a, copy=True) if isinstance(a, np.ndarray) else a for a in args]
        try:
            value = behaviour(*copies)
        except Exception as exc:
            return Raised(type(exc).__name__, str(exc))
        return Returned(value, tuple(copies), 0.0)

    @property
    def captured_output(self) -> str:
        return self.output

    def close(self) -> None:
        self.closed = True


@pytest.fixture(scope="module")
def prepared() -> api.PreparedAssignment:
    return api.prepare_assignment(ASSIGNMENT)


def grade_with(
    prepared: api.PreparedAssignment,
    fake: FakeSandbox,
    *,
    submission: Submission | None = None,
    suite: api.SuiteName = "hidden",
) -> GradingResult:
    def start(
        cells: Sequence[tuple[int, str]], functions: Sequence[str], backend: str, limits: Limits
    ) -> Sandbox:
        assert list(functions) == [FUNCTION]
        assert backend == "fake"
        assert cells == [(1, "def leaky_relu_backward(dA, cache): ...")]
        return fake

    submission = submission or Submission(
        "fake.py", (Cell(1, "def leaky_relu_backward(dA, cache): ..."),)
    )
    result = api.grade_submission(
        prepared, submission, sandbox=FAKE, suite=suite, start_sandbox=start
    )
    assert fake.closed or fake.calls == 0
    return result


def failing(result: GradingResult) -> set[str]:
    return {t.name for t in result.tests if t.status == "failed"}


def correct(da: np.ndarray, z: np.ndarray) -> np.ndarray:
    return np.where(z > 0, da, 0.01 * da)


def mutates(da: np.ndarray, z: np.ndarray) -> np.ndarray:
    da[z <= 0] *= 0.01
    return da


NEGATIVE_SIDE = {
    "test_negative_inputs",
    "test_exact_zeros",
    "test_chain_rule",
    "test_shapes[1x1]",
    "test_shapes[vector]",
    "test_shapes[3d]",
    "test_large_magnitudes",
    "test_float32_inputs",
    "test_mixed_batch",
}
PROPERTIES = {
    "test_returns_ndarray",
    "test_shape_preserved",
    "test_dA_unchanged",
    "test_cache_unchanged",
}


def test_correct_function_scores_100(
    prepared: api.PreparedAssignment, validate_results: Callable[[Any], dict[str, Any]]
) -> None:
    fake = FakeSandbox(correct)
    result = grade_with(prepared, fake)
    document = validate_results(result)
    assert (result.score, result.max_score) == (100.0, 100.0)
    assert document["extra_data"]["sandbox"] == "fake"
    assert document["extra_data"]["cells"] == [{"cell": 1, "status": "ok", "error": ""}]
    assert fake.closed


@pytest.mark.parametrize(
    ("behaviour", "score", "mistake"),
    [
        (lambda da, z: np.where(z > 0, da, 0.01), 40.0, "missing-chain-rule"),
        (lambda da, z: np.where(z > 0, da, 0.0), 40.0, "relu-slope"),
        (lambda da, z: np.where(z >= 0, da, 0.01 * da), 80.0, "wrong-at-zero"),
        (mutates, 94.0, "mutates-dA"),
        (lambda da, z: correct(da, z).ravel(), 22.0, "shape-changed"),
        (lambda da, z: np.where(z > 0, z, 0.01 * z), 30.0, "returns-forward"),
        (lambda da, z: correct(da, z).tolist(), 0.0, "not-ndarray"),
        (lambda da, z: None, 0.0, "not-ndarray"),
    ],
    ids=["chain-rule", "relu", "at-zero", "mutates", "ravel", "forward", "list", "none"],
)
def test_classic_mistakes_score_the_same_as_in_the_sandbox(
    prepared: api.PreparedAssignment,
    validate_results: Callable[[Any], dict[str, Any]],
    behaviour: Callable[..., Any],
    score: float,
    mistake: str,
) -> None:
    """The e2e fixtures' scores, reproduced without a child: scoring does not depend on it."""
    result = grade_with(prepared, FakeSandbox(behaviour))
    validate_results(result)
    assert result.score == score
    assert mistake in result.misconceptions


def test_returning_a_list_fails_every_test_as_a_type_problem(
    prepared: api.PreparedAssignment,
) -> None:
    result = grade_with(prepared, FakeSandbox(lambda da, z: correct(da, z).tolist()))
    test = next(t for t in result.tests if t.name == "test_returns_ndarray")
    assert "dZ is a list, expected a numpy.ndarray." in test.output


def test_timeouts_fail_with_the_limit_named(prepared: api.PreparedAssignment) -> None:
    """A function that always hangs costs MAX_CONSECUTIVE_TIMEOUTS calls, not one per test."""
    fake = FakeSandbox(TimedOut(5.0))
    result = grade_with(prepared, fake)
    assert result.score == 0.0
    assert fake.calls == MAX_CONSECUTIVE_TIMEOUTS
    timed_out = result.tests[:MAX_CONSECUTIVE_TIMEOUTS]
    for test in timed_out:
        assert "leaky_relu_backward timed out after 5 s" in test.output
    skipped = SKIPPED_AFTER_TIMEOUTS.format(function=FUNCTION)
    for test in result.tests[MAX_CONSECUTIVE_TIMEOUTS:]:
        assert skipped in test.output


def test_hanging_on_some_inputs_only_keeps_the_other_points(
    prepared: api.PreparedAssignment,
) -> None:
    """Timeouts that are not consecutive never trip the breaker: every test is still called."""

    def calls() -> Iterator[Any]:
        while True:
            yield TimedOut(5.0)
            yield correct

    fake = FakeSandbox(calls())
    result = grade_with(prepared, fake)
    assert fake.calls == len(result.tests)
    failed = failing(result)
    assert failed == {t.name for t in result.tests[::2]}
    assert result.score == sum(t.max_score for t in result.tests[1::2])


def test_a_crash_fails_only_the_test_it_happened_in(prepared: api.PreparedAssignment) -> None:
    """The first call (test_positive_inputs, 10 points) crashes; the rest are still graded."""

    def calls() -> Iterator[Any]:
        yield Crashed("the process crashed (signal 11)")
        while True:
            yield correct

    result = grade_with(prepared, FakeSandbox(calls()))
    assert result.score == 90.0
    assert failing(result) == {"test_positive_inputs"}
    test = result.tests[0]
    assert "calling leaky_relu_backward failed: the process crashed (signal 11)" in test.output


def test_a_raise_names_the_cell_and_line(prepared: api.PreparedAssignment) -> None:
    frame = Frame(cell=3, line=7, function=FUNCTION, code="dZ = dA / 0")
    result = grade_with(prepared, FakeSandbox(Raised("ZeroDivisionError", "division", (frame,))))
    assert result.score == 0.0
    assert (
        "leaky_relu_backward raised ZeroDivisionError: division (cell 3, line 7: `dZ = dA / 0`)"
        in result.tests[0].output
    )


def test_stub_gets_the_replace_the_stub_advice(prepared: api.PreparedAssignment) -> None:
    result = grade_with(
        prepared, FakeSandbox(Raised("NotImplementedError", "not yet")), suite="visible"
    )
    assert result.score == 0.0
    assert all("Replace the `raise NotImplementedError` stub" in t.output for t in result.tests)
    # Said once in the overall message, since every (visible) test failed the same way.
    summary = result.output.splitlines()[1]
    assert summary.startswith("Every test failed the same way: leaky_relu_backward raised")
    assert "NotImplementedError: not yet" in summary


def test_a_failure_shared_by_hidden_tests_is_named_not_quoted(
    prepared: api.PreparedAssignment,
) -> None:
    """The overall message is shown at once: what hidden calls raised stays in their tests."""
    result = grade_with(prepared, FakeSandbox(Raised("ValueError", "dA = [0.7, -2.9]")))
    assert {t.visibility for t in result.tests} == {"after_published"}
    assert all("ValueError: dA = [0.7, -2.9]" in t.output for t in result.tests)
    assert result.output.splitlines()[1] == SHARED_FAILURE + f"{FUNCTION} raised ValueError"
    assert "dA = [" not in result.output
    # A class the submission named can spell anything: not even its name goes up top.
    named = grade_with(prepared, FakeSandbox(Raised("dA_0_7_m2_9", "")))
    assert named.output.splitlines()[1] == SHARED_HIDDEN_FAILURE
    assert "dA_0_7" not in named.output


def test_different_failures_are_not_summarised_as_one(prepared: api.PreparedAssignment) -> None:
    result = grade_with(prepared, FakeSandbox(lambda da, z: np.where(z > 0, da, 0.01)))
    assert result.score == 40.0  # the classic chain-rule mistake
    assert "Every test failed the same way" not in result.output


def test_load_failure_grades_nothing_and_says_why(prepared: api.PreparedAssignment) -> None:
    fake = FakeSandbox(correct, failure="cell 4 ran longer than 30 s")
    result = grade_with(prepared, fake)
    assert result.score == 0.0
    assert fake.calls == 0
    assert "Your notebook could not be run to the end: cell 4 ran longer than 30 s." in (
        result.output
    )


def test_missing_function_names_a_failed_cell(prepared: api.PreparedAssignment) -> None:
    cells = [CellRun(1, "error", "SyntaxError", "invalid syntax", (Frame(1, 2, "<module>", ""),))]
    result = grade_with(prepared, FakeSandbox(None, cells=cells))
    assert result.score == 0.0
    assert "leaky_relu_backward is not defined in your submission." in result.output
    assert "cell 1: SyntaxError at line 2: invalid syntax" in result.output


def test_renamed_function_is_suggested(prepared: api.PreparedAssignment) -> None:
    result = grade_with(prepared, FakeSandbox(None, defined=["leaky_relu_backwrd", "helper"]))
    assert "Did you rename it? Your notebook defines 'leaky_relu_backwrd'." in result.output


def test_name_bound_to_a_non_function(prepared: api.PreparedAssignment) -> None:
    result = grade_with(prepared, FakeSandbox(3))
    assert "leaky_relu_backward is defined but is not a function (int)." in result.output


def test_unreadable_submission_never_starts_a_sandbox(prepared: api.PreparedAssignment) -> None:
    def start(*args: object) -> Sandbox:
        raise AssertionError("a sandbox was started for a submission with a problem")

    broken = Submission("x.ipynb", (), problem="x.ipynb is empty.")
    result = api.grade_submission(prepared, broken, sandbox=FAKE, start_sandbox=start)
    assert result.score == 0.0
    assert all(t.output.endswith("Not graded: x.ipynb is empty.") for t in result.tests)
    assert "cells" not in result.to_gradescope()["extra_data"]


def test_student_output_is_kept_and_capped(prepared: api.PreparedAssignment) -> None:
    result = grade_with(prepared, FakeSandbox(correct, output="debug line\n" * 1000))
    kept = result.to_gradescope()["extra_data"]["student_output"]
    assert kept.startswith("debug line\n")
    assert len(kept) == 4000


def test_visible_suite(prepared: api.PreparedAssignment) -> None:
    result = grade_with(prepared, FakeSandbox(mutates), suite="visible")
    assert (result.score, result.max_score) == (5.0, 6.0)
    assert failing(result) == {"test_inputs_unchanged"}
    assert {t.visibility for t in result.tests} == {"visible"}


def test_same_submission_same_result(prepared: api.PreparedAssignment) -> None:
    first = grade_with(prepared, FakeSandbox(lambda da, z: np.where(z > 0, da, 0.01)))
    second = grade_with(prepared, FakeSandbox(lambda da, z: np.where(z > 0, da, 0.01)))
    assert first.tests == second.tests
    assert first.output == second.output


def test_chain_rule_failures_are_exactly_the_negative_side(
    prepared: api.PreparedAssignment,
) -> None:
    result = grade_with(prepared, FakeSandbox(lambda da, z: np.where(z > 0, da, 0.01)))
    assert failing(result) == NEGATIVE_SIDE
    assert not failing(result) & PROPERTIES


def test_a_function_lost_with_its_cell_names_that_cell(prepared: api.PreparedAssignment) -> None:
    """The cell that defines it did not compile: that cell, not a guess among all errors."""
    error = CellError(3, "SyntaxError", "'(' was never closed", (Frame(3, 4, "<module>", ""),))
    cells = [
        CellRun(1, "error", "ModuleNotFoundError", "No module named 'torch'", errors=()),
        CellRun(
            3,
            "error",
            error.ename,
            error.evalue,
            error.frames,
            errors=(replace(error, binds=("leaky_relu_backward", "helper")),),
        ),
    ]
    result = grade_with(prepared, FakeSandbox(None, cells=cells))
    assert result.output.splitlines()[1] == (
        "leaky_relu_backward is not defined: the cell that defines it did not run (cell 3: "
        "SyntaxError at line 4: '(' was never closed). Fix that line and resubmit."
    )


def test_an_unfinished_notebook_is_not_called_another_notebook(
    prepared: api.PreparedAssignment,
) -> None:
    """Nothing defined at all is an unfinished notebook; the usual message stays."""
    result = grade_with(prepared, FakeSandbox(None, cells=[CellRun(1, "ok")]))
    assert "leaky_relu_backward is not defined in your submission." in result.output
    assert "does not look like" not in result.output


def test_other_functions_and_no_trace_of_the_assignment_is_another_notebook(
    prepared: api.PreparedAssignment,
) -> None:
    fake = FakeSandbox(None, defined=["softmax", "image2vector", "Model"])
    result = grade_with(prepared, fake)
    assert result.output.splitlines()[1] == (
        f"This does not look like the {prepared.assignment.title} notebook: it defines none "
        "of the functions this assignment grades (leaky_relu_backward). It defines softmax, "
        "image2vector. Check that you submitted the right file, with the function names from "
        "the template."
    )
