"""find_counterexamples(): bounded probing that shrinks a mistake to its smallest input."""

from __future__ import annotations

import dataclasses
import runpy
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from grader.counterexample import NONZERO_VALUES, Prober, find_counterexamples
from grader.diagnosis import CallRecord, Misconception, diagnose, load_catalogue
from grader.sandbox.outcomes import CallOutcome, Raised, Returned, TimedOut

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = load_catalogue(ROOT / "assignments/leaky_relu_backward/misconceptions.py")
FIXTURES = ROOT / "tests/fixtures/misconceptions"
NAME = "leaky_relu_backward"


def reference(da: np.ndarray, z: np.ndarray) -> np.ndarray:
    return np.where(z > 0, da, 0.01 * da)


class InProcess:
    """A stand-in for the sandbox: calls a trusted fixture function and counts the calls."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.calls = 0

    def __call__(self, function: str, args: Sequence[Any]) -> CallOutcome:
        self.calls += 1
        sent = [np.array(a, copy=True) for a in args]
        try:
            value = self.fn(*sent)
        except Exception as exc:
            return Raised(type(exc).__name__, str(exc))
        return Returned(value, tuple(sent), 0.0)


def load(name: str) -> Callable[..., Any]:
    fn: Callable[..., Any] = runpy.run_path(str(FIXTURES / f"{name}.py"))[NAME]
    return fn


HIDDEN_Z = np.array([[-1.7, 0.0, 2.3, -0.4], [0.9, -2.2, -0.0, 1.1], [-0.6, 0.3, -3.1, 0.0]])
HIDDEN_DA = np.array([[0.7, -2.9, 1.3, 2.2], [-0.8, 1.9, -1.4, 2.6], [0.45, -1.15, 2.05, -0.35]])


def examples_for(fixture: str, prober: Prober | None = None) -> tuple[dict[str, Any], InProcess]:
    sandbox = InProcess(load(fixture))
    outcome = sandbox(NAME, [HIDDEN_DA, HIDDEN_Z])
    records = [CallRecord("t", (HIDDEN_DA, HIDDEN_Z), outcome, reference(HIDDEN_DA, HIDDEN_Z))]
    ids = diagnose(records, CATALOGUE)["t"]
    found = find_counterexamples(
        records,
        ids,
        CATALOGUE,
        prober or Prober(sandbox),
        {NAME: reference},
        {NAME: ("dA", "cache")},
        NAME,
    )
    return found, sandbox


def test_seed_mistake_shrinks_to_one_element_with_da_not_one() -> None:
    found, _ = examples_for("chain_rule_missing")
    example = found["missing-chain-rule"]
    dA, Z = example.args
    assert dA.size == 1
    assert Z.size == 1
    assert float(dA.flat[0]) != 1.0
    assert float(Z.flat[0]) <= 0
    assert example.got.tolist() == np.full(dA.shape, 0.01).tolist()
    assert example.expected.tolist() == (0.01 * dA).tolist()
    assert example.text().splitlines()[0].startswith("Smallest input that shows it: dA = [")
    assert "expected" in example.text()
    assert "got" in example.text()


@pytest.mark.parametrize(
    ("fixture", "mid", "max_elements"),
    [
        ("returns_local_derivative", "returns-local-derivative", 1),
        ("slope_one_at_zero", "wrong-at-zero", 1),
        ("relu_slope", "relu-slope", 1),
        ("slopes_swapped", "slope-on-positive-side", 1),
        ("returns_forward", "returns-forward", 1),
        ("wrong_slope_value", "wrong-slope-value", 1),
        ("mutates_dA", "mutates-dA", 1),
        ("mutates_cache", "mutates-cache", 1),
        ("shape_changed", "shape-changed", 1),
        ("returns_list", "not-ndarray", 1),
    ],
)
def test_every_mistake_gets_a_tiny_counterexample(
    fixture: str, mid: str, max_elements: int
) -> None:
    found, sandbox = examples_for(fixture)
    assert list(found) == [mid]
    example = found[mid]
    assert all(a.size <= max_elements for a in example.args)
    # Fresh values from the grader's own pool: nothing of the (hidden) test inputs leaks.
    values = {float(v) for a in example.args for v in a.ravel()}
    assert values <= {*NONZERO_VALUES, 0.0}
    # The example really shows the mistake: the matcher names it on that call alone.
    outcome = sandbox(NAME, list(example.args))
    record = CallRecord("x", example.args, outcome, reference(*example.args))
    assert mid in diagnose([record], CATALOGUE)["x"]


def test_two_mistakes_get_two_counterexamples() -> None:
    found, _ = examples_for("chain_rule_missing_and_slope_one_at_zero")
    assert list(found) == ["missing-chain-rule", "wrong-at-zero"]
    assert float(found["wrong-at-zero"].args[1].flat[0]) == 0.0
    assert float(found["missing-chain-rule"].args[1].flat[0]) < 0.0


def test_mutation_example_shows_before_and_after() -> None:
    found, _ = examples_for("mutates_dA")
    lines = found["mutates-dA"].outcome_lines()
    assert lines[0].startswith("dA before the call")
    assert lines[1].startswith("dA after the call")


def test_probe_calls_are_capped() -> None:
    sandbox = InProcess(load("relu_slope"))
    prober = Prober(sandbox, max_calls=2)
    found, _ = examples_for("relu_slope", prober)
    assert prober.calls == 2
    assert prober.stopped
    # The start (3x4) and one shrink (the axis of 4 cut to 1): stopped early, still shown.
    assert found["relu-slope"].args[0].shape == (3, 1)


def test_probing_respects_its_time_budget() -> None:
    def slow(function: str, args: Sequence[Any]) -> CallOutcome:
        outcome = InProcess(load("relu_slope"))(function, args)
        assert isinstance(outcome, Returned)
        return dataclasses.replace(outcome, seconds=4.0)  # each call took 4 s of its own time

    prober = Prober(slow, seconds=10.0)
    examples_for("relu_slope", prober)
    assert prober.calls == 3  # 0 s, 4 s, 8 s used before: the call after 12 s is refused


def test_a_timeout_stops_probing_at_once() -> None:
    calls = []

    def hangs(function: str, args: Sequence[Any]) -> CallOutcome:
        calls.append(function)
        return TimedOut(5.0)

    found, _ = examples_for("relu_slope", Prober(hangs))
    assert found == {}
    assert len(calls) == 1


def test_a_submission_that_hung_is_not_probed() -> None:
    sandbox = InProcess(load("relu_slope"))
    records = [
        CallRecord("t", (HIDDEN_DA, HIDDEN_Z), TimedOut(5.0), reference(HIDDEN_DA, HIDDEN_Z)),
        CallRecord(
            "u",
            (HIDDEN_DA, HIDDEN_Z),
            sandbox(NAME, [HIDDEN_DA, HIDDEN_Z]),
            reference(HIDDEN_DA, HIDDEN_Z),
        ),
    ]
    sandbox.calls = 0
    found = find_counterexamples(
        records, ["relu-slope"], CATALOGUE, Prober(sandbox), {NAME: reference}, {}, NAME
    )
    assert found == {}
    assert sandbox.calls == 0


# --- several outputs and coupled shapes -------------------------------------------------------


def linear_backward(dz: np.ndarray, cache: tuple[np.ndarray, np.ndarray]) -> tuple[Any, ...]:
    a_prev, w = cache
    m = a_prev.shape[1]
    return w.T @ dz, dz @ a_prev.T / m, dz.sum(axis=1, keepdims=True) / m


def no_mean(dz: np.ndarray, cache: tuple[np.ndarray, np.ndarray]) -> tuple[Any, ...]:
    a_prev, w = cache
    return w.T @ dz, dz @ a_prev.T, dz.sum(axis=1, keepdims=True)


def test_tuple_outputs_shrink_coupled_shapes_together() -> None:
    dw_mean = Misconception(
        id="dW-not-averaged",
        title="dW is not divided by m",
        explanation="divide by the batch size",
        predict=lambda args, correct, got: (None, correct[1] * args[1][0].shape[1], None),
    )
    rng = np.random.default_rng(3)
    dz, a_prev, w = rng.normal(size=(3, 5)), rng.normal(size=(4, 5)), rng.normal(size=(3, 4))

    def call(function: str, args: Sequence[Any]) -> CallOutcome:
        return Returned(no_mean(*args), tuple(args), 0.0)

    args = (dz, (a_prev, w))
    records = [CallRecord("t", args, call("f", args), linear_backward(*args))]
    assert diagnose(records, [dw_mean])["t"] == ("dW-not-averaged",)
    found = find_counterexamples(
        records, ["dW-not-averaged"], [dw_mean], Prober(call), {"f": linear_backward}, {}, "f"
    )
    example = found["dW-not-averaged"]
    small_dz, (small_a, small_w) = example.args
    # m must stay at 2 (with m = 1 "not divided by m" is invisible); the other sizes go to 1.
    assert small_dz.shape == (1, 2)
    assert small_a.shape == (1, 2)
    assert small_w.shape == (1, 1)
