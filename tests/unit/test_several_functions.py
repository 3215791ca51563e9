"""The pieces behind assignments with several graded functions, in-process and fast.

Dicts through the wire format (no pickle), ``assert_close`` on dicts key by key, mutation
checks on nested caches, diagnosis of dict outputs, inherited failures, per-function
subtotals, and the results document's ``function`` key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from grader.authoring import MismatchError, assert_close, assert_unchanged
from grader.diagnosis import CallRecord, Misconception, diagnose, value_at
from grader.inheritance import find_inherited, same_result
from grader.results import GradingResult, TestResult
from grader.sandbox.outcomes import CallOutcome, Raised, Returned
from grader.sandbox.protocol import Opaque, ProtocolError, decode_value, encode_value
from grader.scoring import (
    function_subtotals,
    inherited_root,
    missing_module_note,
    overall_message,
)

# --- the wire format -------------------------------------------------------------------------


def round_trip(value: Any) -> Any:
    blobs: list[bytes] = []
    tree = encode_value(value, blobs)
    return decode_value(tree, blobs)


def test_dicts_and_nested_caches_cross_as_data() -> None:
    grads = {"dA_prev": np.ones((2, 3)), "dW": np.arange(4.0).reshape(2, 2), "db": None}
    cache = ((np.zeros((2, 3)), np.eye(2), np.ones((2, 1))), np.full((2, 3), 2.0))
    back = round_trip({"grads": grads, "cache": cache, "activation": "relu"})
    assert list(back) == ["grads", "cache", "activation"]  # key order kept
    assert list(back["grads"]) == ["dA_prev", "dW", "db"]
    assert np.array_equal(back["grads"]["dW"], grads["dW"])
    assert back["grads"]["db"] is None
    assert isinstance(back["cache"][0], tuple)
    assert np.array_equal(back["cache"][0][1], np.eye(2))
    assert back["activation"] == "relu"


@pytest.mark.parametrize(
    "value",
    [{1: np.ones(2)}, {("a",): 1}],
    ids=["int-key", "tuple-key"],
)
def test_dicts_with_other_keys_stay_opaque(value: dict[Any, Any]) -> None:
    assert isinstance(round_trip(value), Opaque)


def test_dict_subclasses_stay_opaque() -> None:
    class Sneaky(dict[str, Any]):
        pass

    assert isinstance(round_trip(Sneaky(a=1)), Opaque)


@pytest.mark.parametrize(
    "tree",
    [
        {"kind": "dict", "keys": ["a"], "items": []},
        {"kind": "dict", "keys": [1], "items": [{"kind": "none"}]},
        {"kind": "dict", "keys": ["a", "a"], "items": [{"kind": "none"}, {"kind": "none"}]},
        {"kind": "dict", "keys": "ab", "items": [{"kind": "none"}] * 2},
        {"kind": "dict", "keys": ["k"] * 100, "items": [{"kind": "none"}] * 100},
    ],
    ids=["lengths-differ", "int-key", "duplicate-key", "keys-not-list", "too-many"],
)
def test_malformed_dicts_are_refused(tree: dict[str, Any]) -> None:
    with pytest.raises(ProtocolError, match="dict"):
        decode_value(tree, [])


# --- authoring helpers -----------------------------------------------------------------------

EXPECTED = {"dA_prev": np.ones((2, 2)), "dW": np.eye(2), "db": np.zeros((2, 1))}


def test_assert_close_on_dicts_names_each_wrong_key() -> None:
    got = {"dA_prev": np.ones((2, 2)), "dW": np.eye(2) * 3, "db": np.zeros(2)}
    with pytest.raises(MismatchError) as info:
        assert_close(got, EXPECTED, name="grads")
    summary = info.value.summary
    assert "grads['dW'] is wrong at 2 of 4 elements" in summary
    assert "grads['db'] has shape (2,), expected (2, 1)" in summary
    assert "dA_prev" not in summary


def test_assert_close_on_dicts_passes_and_checks_type_and_keys() -> None:
    assert_close({k: v.copy() for k, v in EXPECTED.items()}, EXPECTED, name="grads")
    with pytest.raises(MismatchError, match="grads should be a dict with keys dA_prev, dW, db"):
        assert_close((1, 2, 3), EXPECTED, name="grads")
    with pytest.raises(MismatchError, match="grads has no key 'db'"):
        assert_close({"dA_prev": 1, "dW": 2}, EXPECTED, name="grads")


def test_assert_unchanged_names_the_array_inside_a_nested_cache() -> None:
    cache = ((np.ones((2, 2)), np.eye(2), np.zeros((2, 1))), np.ones((2, 2)))
    before = ((cache[0][0].copy(), cache[0][1].copy(), cache[0][2].copy()), cache[1].copy())
    assert_unchanged(cache, before, name="cache", advice="Copy first.")
    cache[0][1][0, 0] = 5.0
    with pytest.raises(MismatchError, match=r"cache\[0\]\[1\] \(1 element\(s\)\) was modified"):
        assert_unchanged(cache, before, name="cache", advice="Copy first.")
    params = {"W1": np.ones(3)}
    saved = {"W1": np.ones(3)}
    params["W1"] += 1
    with pytest.raises(MismatchError, match=r"parameters\['W1'\] \(3 element\(s\)\)"):
        assert_unchanged(params, saved, name="parameters", advice="Copy first.")


# --- diagnosis of dict outputs ---------------------------------------------------------------


def _doubled_db(args: tuple[Any, ...], correct: dict[str, Any], got: Any) -> dict[str, Any]:
    return {"dA_prev": None, "dW": None, "db": correct["db"] * 2}


DOUBLED = Misconception("db-doubled", "db doubled", "...", predict=_doubled_db)


def test_dict_outputs_are_diagnosed_by_key() -> None:
    correct = {"dA_prev": np.ones((2, 2)), "dW": np.eye(2), "db": np.array([[1.0], [2.0]])}
    got = {**correct, "db": correct["db"] * 2}
    record = CallRecord("t", (), Returned(got, (), 0.0), correct, "f")
    assert diagnose([record], [DOUBLED]) == {"t": ("db-doubled",)}
    wrong_dW = {**correct, "dW": np.eye(2) * 7}
    other = CallRecord("u", (), Returned(wrong_dW, (), 0.0), correct, "f")
    assert diagnose([other], [DOUBLED]) == {"u": ()}


def test_value_at_walks_dicts_and_tuples() -> None:
    value = ({"W1": (1, 2)},)
    assert value_at(value, (0, "W1", 1)) == 2
    assert value_at(value, (0, "b1")) is None


# --- inherited failures ------------------------------------------------------------------


def ref_helper(x: np.ndarray) -> np.ndarray:
    return x * 2


def ref_outer(x: np.ndarray) -> dict[str, np.ndarray]:
    return {"y": ref_helper(x) + 1}


class StudentHelper:
    """Calls of the student's helper, answered by a wrong (or right) implementation."""

    def __init__(self, factor: float) -> None:
        self.factor = factor
        self.calls: list[str] = []

    def __call__(self, function: str, args: Sequence[Any]) -> CallOutcome:
        self.calls.append(function)
        return Returned(np.asarray(args[0]) * self.factor, tuple(args), 0.0)


def outer_record(got: Any) -> CallRecord:
    x = np.array([1.0, 2.0])
    return CallRecord("t", (x,), Returned(got, (x,), 0.0), ref_outer(x), "ref_outer")


def test_failure_from_a_wrong_helper_is_inherited() -> None:
    # The student's outer is right given their helper (x * 3 + 1); their helper is wrong.
    record = outer_record({"y": np.array([4.0, 7.0])})
    call = StudentHelper(3.0)
    found = find_inherited([record], {"t"}, "ref_outer", ref_outer, ["ref_helper"], call)
    assert found == {"t": "ref_helper"}
    assert call.calls == ["ref_helper"]  # the helper ran in the "sandbox", never the reference


def test_own_mistake_with_a_wrong_helper_is_not_inherited() -> None:
    record = outer_record({"y": np.array([40.0, 70.0])})
    assert (
        find_inherited([record], {"t"}, "ref_outer", ref_outer, ["ref_helper"], StudentHelper(3.0))
        == {}
    )


def test_own_mistake_with_a_right_helper_is_not_inherited() -> None:
    record = outer_record({"y": np.array([3.0, 5.0])})  # helper right (x * 2), outer forgot + 1
    assert (
        find_inherited([record], {"t"}, "ref_outer", ref_outer, ["ref_helper"], StudentHelper(2.0))
        == {}
    )


def test_both_raising_because_the_helper_raised_is_inherited() -> None:
    x = np.array([1.0])
    record = CallRecord("t", (x,), Raised("ValueError", "bad", ()), ref_outer(x), "ref_outer")

    def raising(function: str, args: Sequence[Any]) -> CallOutcome:
        return Raised("ValueError", "shapes", ())

    assert find_inherited([record], {"t"}, "ref_outer", ref_outer, ["ref_helper"], raising) == {
        "t": "ref_helper"
    }


def test_same_result_compares_containers_with_tolerance() -> None:
    assert same_result({"a": (np.ones(2),)}, {"a": (np.ones(2) + 1e-12,)})
    assert not same_result({"a": np.ones(2)}, {"a": np.ones(3)})
    assert not same_result((np.ones(2),), [np.ones(2), np.ones(2)])


# --- per-function results ----------------------------------------------------------------


def result(name: str, function: str, score: float, max_score: float) -> TestResult:
    status = "passed" if score == max_score else "failed"
    return TestResult(name, score, max_score, status, "", (), function=function)


def test_subtotals_per_function_in_the_overall_message() -> None:
    tests = (
        result("f: a", "f", 10, 10),
        result("g: a", "g", 0, 30),
        result("g: b", "g", 5, 5),
    )
    assert function_subtotals(tests, {"g": "f"}) == [
        "  f: 10/10",
        "  g: 5/35 (failures come from your f: fix that first)",
    ]
    text = overall_message(
        assignment="A", results=tests, problem=None, report=None, notes=(), found=()
    )
    assert text.splitlines()[:3] == ["A: 15/45 points.", "  f: 10/10", "  g: 5/35"]
    graded = GradingResult("a", tests, text, 0.0)
    assert graded.subtotals() == {"f": (10.0, 10.0), "g": (5.0, 35.0)}


def test_one_function_has_no_subtotals_and_no_function_key() -> None:
    tests = (TestResult("a", 1, 1, "passed", "", ()),)
    text = overall_message(
        assignment="A", results=tests, problem=None, report=None, notes=(), found=()
    )
    assert text == "A: 1/1 points."
    document = GradingResult("a", tests, text, 0.0).to_gradescope()
    assert "function" not in document["tests"][0]["extra_data"]


def test_function_key_round_trips() -> None:
    graded = GradingResult("a", (result("g: a", "g", 1, 1),), "", 0.0)
    document = graded.to_gradescope()
    assert document["tests"][0]["extra_data"]["function"] == "g"
    assert GradingResult.from_gradescope(document) == graded


# --- failed imports: a course file or a package ------------------------------------------


@pytest.mark.parametrize(
    ("module", "kind"),
    [
        ("h5py", "not installed"),
        ("torch", "not installed"),
        ("PIL", "not installed"),
        ("scipy.special", "not installed"),
        ("testCases_v4a", "course file"),
        ("dnn_utils_v2", "course file"),
        ("public_tests", "course file"),
        ("lr_utils", "course file"),
    ],
)
def test_failed_imports_say_what_was_missing(module: str, kind: str) -> None:
    note = missing_module_note(f"No module named '{module}'")
    name = module.split(".")[0]
    if kind == "course file":
        assert note.startswith(f" ({name} is a course file this assignment does not provide;")
    else:
        assert note.startswith(f" ({name} is not installed where your notebook is graded;")
    assert note.endswith("this costs no points unless your function needs it)")


def test_declared_course_files_and_passing_submissions() -> None:
    assert "course file" in missing_module_note("No module named 'mycourse'", ["mycourse"])
    assert missing_module_note("No module named 'h5py'", needed=False) == (
        " (h5py is not installed where your notebook is graded; it is not needed for the "
        "graded functions)"
    )


def test_check_report_groups_tests_by_function() -> None:
    from grader.report import render_text

    tests = (
        result("linear_backward: test_a", "linear_backward", 1, 1),
        result("layer_backward: test_b", "layer_backward", 0, 2),
    )
    text = render_text(GradingResult("layers", tests, "layers: 1/3 points.", 0.0))
    lines = text.splitlines()
    assert lines[1:5] == [
        "  linear_backward  1/1",
        "    PASS  test_a  1/1",
        "  layer_backward  0/2",
        "    FAIL  test_b  0/2",
    ]
    assert "✗ layer_backward: test_b" in lines


# --- the in-notebook self-check ----------------------------------------------------------


def test_notebook_check_of_one_of_several_functions() -> None:
    import runpy
    from pathlib import Path

    from grader.notebook import NotebookReport, check_function

    course = Path(__file__).resolve().parents[1] / "fixtures" / "courses" / "layers"
    reference = runpy.run_path(str(course / "reference" / "layer_backward.py"))

    def layer_backward(dA: Any, cache: Any, activation: str) -> Any:  # noqa: N803 -- the course's name
        return reference["layer_backward"](dA, cache, activation)

    report = check_function(
        layer_backward,
        course_dir=course,
        namespace={"linear_backward": reference["linear_backward"]},
    )
    assert isinstance(report, NotebookReport)
    result = report.result
    assert result.assignment == "layer_backward"  # found by the function's name
    assert [t.name for t in result.tests] == ["test_relu_by_hand", "test_returns_dict"]
    assert (result.score, result.max_score) == (1.8, 1.8)  # 3 points scaled as grading does
    # linear_backward is in both assignments of that course: its own assignment answers.
    own = check_function(reference["linear_backward"], course_dir=course)
    assert isinstance(own, NotebookReport)
    assert own.result.assignment == "linear_backward"


def test_a_chain_of_inherited_failures_names_where_it_starts() -> None:
    chain = {"L_model_backward": "linear_activation_backward", "linear_activation_backward": "f"}
    assert inherited_root("linear_activation_backward", chain) == "f"
    assert inherited_root("f", chain) == "f"
    assert inherited_root("a", {"a": "b", "b": "a"}) == "b"  # a cycle ends, never loops
    tests = (result("L: t", "L_model_backward", 0, 20),)
    assert function_subtotals(tests, chain) == [
        "  L_model_backward: 0/20 (failures come from your linear_activation_backward, whose "
        "failures come from your f: fix that first)"
    ]
