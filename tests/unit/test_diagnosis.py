"""diagnose(): the catalogue matcher on recorded calls, for one output and for tuples."""

from __future__ import annotations

import runpy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from grader.diagnosis import (
    CallRecord,
    Misconception,
    diagnose,
    explained_mask,
    load_catalogue,
    shows,
)
from grader.sandbox.outcomes import Raised, Returned

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = load_catalogue(ROOT / "assignments/leaky_relu_backward/misconceptions.py")
FIXTURES = ROOT / "tests/fixtures/misconceptions"


def reference(da: np.ndarray, z: np.ndarray) -> np.ndarray:
    return np.where(z > 0, da, 0.01 * da)


def record(fn: Callable[..., Any], *args: Any, correct: Any = None, test: str = "t") -> CallRecord:
    """Call ``fn`` in-process the way the sandbox would, and record it."""
    before = tuple(np.array(a, copy=True) for a in args)
    sent = tuple(np.array(a, copy=True) for a in args)
    value = fn(*sent)
    if correct is None:
        correct = reference(*before)
    return CallRecord(test, before, Returned(value, sent, 0.0), correct)


def fixture_fn(name: str) -> Callable[..., Any]:
    fn: Callable[..., Any] = runpy.run_path(str(FIXTURES / f"{name}.py"))["leaky_relu_backward"]
    return fn


Z = np.array([[-1.5, 0.0, 2.0], [0.5, -0.25, -0.0]])
DA = np.array([[2.0, -3.0, 0.5], [-1.5, 4.0, 2.5]])


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("chain_rule_missing", ("missing-chain-rule",)),
        ("returns_local_derivative", ("returns-local-derivative",)),
        ("slope_one_at_zero", ("wrong-at-zero",)),
        ("relu_slope", ("relu-slope",)),
        ("slopes_swapped", ("slope-on-positive-side",)),
        ("returns_forward", ("returns-forward",)),
        ("wrong_slope_value", ("wrong-slope-value",)),
        ("mutates_dA", ("mutates-dA",)),
        ("mutates_cache", ("mutates-cache",)),
        ("shape_changed", ("shape-changed",)),
        ("returns_list", ("not-ndarray",)),
        ("correct_where", ()),
        ("correct_copy_multiply", ()),
        ("relu_slope_and_mutates_dA", ("relu-slope", "mutates-dA")),
        ("chain_rule_missing_and_slope_one_at_zero", ("missing-chain-rule", "wrong-at-zero")),
    ],
)
def test_each_fixture_gets_exactly_its_ids(fixture: str, expected: tuple[str, ...]) -> None:
    assert diagnose([record(fixture_fn(fixture), DA, Z)], CATALOGUE) == {"t": expected}


def test_catalogue_ids_are_the_issues() -> None:
    assert [m.id for m in CATALOGUE] == [
        "missing-chain-rule",
        "returns-local-derivative",
        "wrong-at-zero",
        "relu-slope",
        "slope-on-positive-side",
        "returns-forward",
        "wrong-slope-value",
        "mutates-dA",
        "mutates-cache",
        "shape-changed",
        "not-ndarray",
    ]


def test_seed_mistake_explanation_names_the_chain_rule() -> None:
    (m,) = [m for m in CATALOGUE if m.id == "missing-chain-rule"]
    assert "chain rule" in m.explanation
    assert "dL/dZ = dL/dA · dA/dZ" in m.explanation


def test_zero_convention_is_explained_as_a_convention() -> None:
    (m,) = [m for m in CATALOGUE if m.id == "wrong-at-zero"]
    for word in ("convention", "JAX", "PyTorch", "TensorFlow", "not a maths error"):
        assert word in m.explanation


def test_swapped_with_greater_equal_is_only_swapped() -> None:
    def swapped_ge(da: np.ndarray, z: np.ndarray) -> np.ndarray:
        return np.where(z >= 0, 0.01 * da, da)

    assert diagnose([record(swapped_ge, DA, Z)], CATALOGUE) == {"t": ("slope-on-positive-side",)}


def test_calls_that_did_not_return_show_nothing() -> None:
    raised = CallRecord("t", (DA, Z), Raised("NotImplementedError", ""), reference(DA, Z))
    assert diagnose([raised], CATALOGUE) == {"t": ()}


def test_ids_are_attached_to_the_test_whose_call_showed_them() -> None:
    records = [
        record(fixture_fn("correct_where"), DA, Z, test="ok"),
        record(fixture_fn("relu_slope"), DA, Z, test="bad"),
    ]
    assert diagnose(records, CATALOGUE) == {"ok": (), "bad": ("relu-slope",)}


def test_explained_mask_marks_the_elements() -> None:
    (m,) = [m for m in CATALOGUE if m.id == "relu-slope"]
    rec = record(fixture_fn("relu_slope"), DA, Z)
    (mask,) = explained_mask(m, rec)
    assert mask is not None
    assert mask.tolist() == (Z <= 0).tolist()
    assert shows(m, rec)


# --- several outputs: a linear_backward-like function returning (da_prev, dw, db) ----------


def linear_backward(dz: np.ndarray, a_prev: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, ...]:
    m = a_prev.shape[1]
    return w.T @ dz, dz @ a_prev.T / m, dz.sum(axis=1, keepdims=True) / m


TUPLE_CATALOGUE = (
    Misconception(
        id="dW-not-averaged",
        title="dW is not divided by m",
        explanation="divide by the batch size",
        predict=lambda args, correct, got: (None, correct[1] * args[1].shape[1], None),
    ),
    Misconception(
        id="db-not-averaged",
        title="db is not divided by m",
        explanation="divide by the batch size",
        predict=lambda args, correct, got: (None, None, correct[2] * args[1].shape[1]),
    ),
    Misconception(
        id="everything-doubled",
        title="a predictor that is wrong on outputs the student got right",
        explanation="never chosen for the students above",
        predict=lambda args, correct, got: tuple(2 * c for c in correct),
    ),
    Misconception(id="dW-shape", title="dW shape", explanation="x", kind="shape", output=1),
    Misconception(id="db-shape", title="db shape", explanation="x", kind="shape", output=2),
    Misconception(id="not-a-tuple", title="not a tuple", explanation="x", kind="type"),
    Misconception(id="mutates-W", title="W mutated", explanation="x", kind="mutation", argument=2),
)

RNG = np.random.default_rng(0)
DZ, A_PREV, W = RNG.normal(size=(3, 4)), RNG.normal(size=(5, 4)), RNG.normal(size=(3, 5))


def tuple_record(fn: Callable[..., Any]) -> CallRecord:
    return record(fn, DZ, A_PREV, W, correct=linear_backward(DZ, A_PREV, W))


def test_tuple_outputs_are_compared_one_by_one() -> None:
    def no_mean(dz: np.ndarray, a_prev: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, ...]:
        da_prev, dw, db = linear_backward(dz, a_prev, w)
        return da_prev, dw * a_prev.shape[1], db * a_prev.shape[1]

    assert diagnose([tuple_record(no_mean)], TUPLE_CATALOGUE) == {
        "t": ("dW-not-averaged", "db-not-averaged")
    }


def test_tuple_shape_mistakes_name_their_output() -> None:
    def db_flat(dz: np.ndarray, a_prev: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, ...]:
        da_prev, dw, db = linear_backward(dz, a_prev, w)
        return da_prev, dw, db.ravel()

    assert diagnose([tuple_record(db_flat)], TUPLE_CATALOGUE) == {"t": ("db-shape",)}


def test_tuple_of_the_wrong_length_is_a_type_mistake() -> None:
    def two(dz: np.ndarray, a_prev: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, ...]:
        return linear_backward(dz, a_prev, w)[:2]

    assert diagnose([tuple_record(two)], TUPLE_CATALOGUE) == {"t": ("not-a-tuple",)}


def test_tuple_mutation_and_correct() -> None:
    def scales_w(dz: np.ndarray, a_prev: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, ...]:
        out = linear_backward(dz, a_prev, w)
        w *= 0.5
        return out

    assert diagnose([tuple_record(scales_w)], TUPLE_CATALOGUE) == {"t": ("mutates-W",)}
    assert diagnose([tuple_record(linear_backward)], TUPLE_CATALOGUE) == {"t": ()}


# --- outputs beside a cache, dicts with other keys, mistakes that raise ------------------------


def _bias_missing(args: tuple[Any, ...], correct: Any, got: Any) -> Any:
    A, W, _ = args
    return W @ A, None  # the value; nothing about the cache


def test_an_array_beside_a_cache_is_diagnosed_on_the_array() -> None:
    """(Z, (A, W, b)): the cache is not an output to compare, Z still is."""
    A, W, b = np.ones((2, 3)), np.array([[1.0, 2.0]]), np.array([[0.5]])
    correct = (W @ A + b, (A, W, b))
    got = (W @ A, (A, W, b))
    call = CallRecord("t", (A, W, b), Returned(got, (A, W, b), 0.0), correct)
    m = Misconception("bias-missing", "b missing", "Z = W A + b.", predict=_bias_missing)
    assert diagnose([call], [m]) == {"t": ("bias-missing",)}


def test_a_dict_with_other_keys_is_diagnosed_on_the_keys_it_shares() -> None:
    """grads with the older dA keys: dW and db are still matched, the missing dA0 is not a type
    mistake for an entry that names the output it concerns."""
    correct = {"dA0": np.ones((2, 2)), "dW1": np.ones((1, 2)), "db1": np.ones((1, 1))}
    got = {"dA1": np.ones((2, 2)), "dW1": -np.ones((1, 2)), "db1": -np.ones((1, 1))}
    call = CallRecord("t", (), Returned(got, (), 0.0), correct)

    def negated(args: Any, correct: Any, got: Any) -> Any:
        return {"dW1": -correct["dW1"], "db1": -correct["db1"]}

    sign = Misconception("sign", "sign flipped", "minus.", predict=negated)
    not_a_dict = Misconception("not-a-dict", "not a dict", "a dict.", kind="type", output=1)
    assert diagnose([call], [sign, not_a_dict]) == {"t": ("sign",)}
    as_list = CallRecord("u", (), Returned(list(got.values()), (), 0.0), correct)
    assert diagnose([as_list], [not_a_dict]) == {"u": ("not-a-dict",)}


def test_an_error_entry_matches_the_exception_the_call_raised() -> None:
    swapped = Misconception(
        "cache-swapped", "cache read backwards", "(linear, activation).", kind="error",
        error=r"^TypeError: relu_backward expects the activation cache",
    )  # fmt: skip
    hit = Raised("TypeError", "relu_backward expects the activation cache Z, got a tuple")
    other = Raised("TypeError", "unsupported operand")
    calls = [
        CallRecord("hit", (), hit, None),
        CallRecord("other", (), other, None),
        CallRecord("returned", (), Returned(np.zeros(1), (), 0.0), np.zeros(1)),
    ]
    assert diagnose(calls, [swapped]) == {"hit": ("cache-swapped",), "other": (), "returned": ()}
