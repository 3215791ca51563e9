"""Mutation cannot be hidden: the state of the arguments after a call is the trusted side's.

The arrays of a call's arguments live in shared memory the trusted side reads back itself;
shapes, dtypes and list items are reported by the child and checked against what was sent.
Each hostile fixture is graded on both backends (``backend`` fixture in conftest.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hostile_support import grade_fixture, points, result_of

from grader.api import PreparedAssignment
from grader.sandbox import Returned, SandboxInfo
from grader.sandbox.limits import Limits
from grader.sandbox.parent import StudentProcess, bwrap_problem
from grader.sandbox.workers import ZygoteStudentProcess

pytestmark = pytest.mark.sandbox

NO_MUTATION = ("test_dA_unchanged", "test_cache_unchanged")


def failed(result: object) -> set[str]:
    return {t.name for t in result.tests if t.status == "failed"}  # type: ignore[attr-defined]


def test_mutating_then_reshaping_in_place_fails_the_no_mutation_tests(
    prepared: PreparedAssignment, backend: SandboxInfo, tmp_path: Path
) -> None:
    result = grade_fixture(prepared, backend, "hides_mutation_by_reshaping.py", tmp_path)
    assert set(NO_MUTATION) <= failed(result)
    assert result.score <= 100 - points(prepared, *NO_MUTATION)
    dA = result_of(result, "test_dA_unchanged").output
    assert "dA was modified in place" in dA
    cache = result_of(result, "test_cache_unchanged").output
    assert "cache (Z) was modified in place" in cache


def test_a_reshape_or_new_dtype_alone_is_a_mutation(
    prepared: PreparedAssignment, backend: SandboxInfo, tmp_path: Path
) -> None:
    result = grade_fixture(prepared, backend, "reshapes_arguments_in_place.py", tmp_path)
    assert failed(result) == set(NO_MUTATION)
    assert result.score == 100 - points(prepared, *NO_MUTATION)
    assert "its shape changed from (4, 4) to (16,)" in result_of(result, "test_dA_unchanged").output
    cache = result_of(result, "test_cache_unchanged").output
    assert "its dtype changed from <f8 to <i8" in cache


def test_a_reply_listing_fewer_arguments_is_a_protocol_error(
    prepared: PreparedAssignment, backend: SandboxInfo, tmp_path: Path
) -> None:
    result = grade_fixture(prepared, backend, "forges_argument_state.py", tmp_path, MODE="fewer")
    assert result.score == 0
    first = result.tests[0].output
    assert "broke the grading protocol (the reply does not describe every argument sent)" in first


def test_a_reply_describing_pristine_copies_cannot_hide_the_mutation(
    prepared: PreparedAssignment, backend: SandboxInfo, tmp_path: Path
) -> None:
    result = grade_fixture(prepared, backend, "forges_argument_state.py", tmp_path, MODE="copies")
    assert "test_dA_unchanged" in failed(result)
    assert "dA was modified in place" in result_of(result, "test_dA_unchanged").output
    assert "test_cache_unchanged" not in failed(result)


SOURCE = """
import numpy as np
def scale(x, xs):
    x *= 2.0
    return 0
def grow(x, xs):
    xs.append(1)
    return 0
def rebind(x, xs):
    x.__setstate__((1, x.shape, x.dtype, False, (x * 2).tobytes()))
    return 0
"""


FUNCTIONS = ["scale", "grow", "rebind"]


@pytest.mark.parametrize("kind", ["bwrap", "none"])
def test_the_values_after_a_call_are_read_from_shared_memory(kind: str) -> None:
    """The child's report carries no values: what comes back is what the memory holds."""
    process: StudentProcess
    if kind == "bwrap":
        if bwrap_problem():
            pytest.skip("bwrap not available")
        process = ZygoteStudentProcess([(1, SOURCE)], FUNCTIONS, limits=Limits())
    else:
        process = StudentProcess([(1, SOURCE)], FUNCTIONS, backend="none", limits=Limits())
    with process:
        assert process.load().failure is None
        x, xs = np.arange(6.0).reshape(2, 3), [np.ones(2)]
        outcome = process.call("scale", [x, xs])
        assert isinstance(outcome, Returned)
        np.testing.assert_array_equal(outcome.args_after[0], x * 2)
        assert outcome.changes == ()
        outcome = process.call("grow", [x, xs])
        assert isinstance(outcome, Returned)
        assert outcome.changes == (((1,), "the list's items changed"),)
        # A view whose memory was replaced: the caller would see other values.
        outcome = process.call("rebind", [x, xs])
        assert isinstance(outcome, Returned)
        assert outcome.changes == (((0,), "it was made to refer to other memory"),)
