"""Property-based: on random inputs, each wrong implementation is named by exactly its id."""

from __future__ import annotations

import functools
import runpy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from grader.diagnosis import CallRecord, diagnose, load_catalogue
from grader.sandbox.outcomes import Returned

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = load_catalogue(ROOT / "assignments/leaky_relu_backward/misconceptions.py")
FIXTURES = ROOT / "tests/fixtures/misconceptions"

# The same wrong implementations the end-to-end tests grade, so both check one thing.
MISTAKES = {
    "missing-chain-rule": "chain_rule_missing",
    "returns-local-derivative": "returns_local_derivative",
    "wrong-at-zero": "slope_one_at_zero",
    "relu-slope": "relu_slope",
    "slope-on-positive-side": "slopes_swapped",
    "returns-forward": "returns_forward",
    "wrong-slope-value": "wrong_slope_value",
    "mutates-dA": "mutates_dA",
    "mutates-cache": "mutates_cache",
    "shape-changed": "shape_changed",
    "not-ndarray": "returns_list",
}

PROPERTY_SETTINGS = settings(max_examples=20, deadline=None, derandomize=True)

shapes = st.tuples(st.integers(2, 4), st.integers(2, 5))
# Magnitudes away from 0 and 1: a gradient of exactly 1 makes "dA * slope" and "slope"
# the same number, and no matcher could (or should) tell them apart there.
magnitudes = st.floats(0.1, 50.0).filter(lambda x: abs(x - 1.0) > 0.05)
signed = st.tuples(magnitudes, st.sampled_from([-1.0, 1.0])).map(lambda t: t[0] * t[1])
z_values = st.one_of(st.just(0.0), st.just(-0.0), signed)


@st.composite
def leaky_inputs(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """(dA, Z) with at least one Z > 0, one Z < 0 and one Z == 0, so every case is visible."""
    shape = draw(shapes)
    dA = draw(arrays(np.float64, shape, elements=signed))
    Z = draw(arrays(np.float64, shape, elements=z_values))
    flat = Z.reshape(-1)
    flat[0], flat[1], flat[2] = abs(flat[0]) or 1.5, -(abs(flat[1]) or 1.5), 0.0
    Z = flat.reshape(shape)
    order = draw(st.permutations(range(Z.size)))
    return dA, Z.reshape(-1)[list(order)].reshape(shape)


@functools.cache
def load(name: str) -> Callable[..., Any]:
    fn: Callable[..., Any] = runpy.run_path(str(FIXTURES / f"{name}.py"))["leaky_relu_backward"]
    return fn


def run(fn: Callable[..., Any], da: np.ndarray, z: np.ndarray) -> dict[str, tuple[str, ...]]:
    before = (da.copy(), z.copy())
    sent = (da.copy(), z.copy())
    value = fn(*sent)
    correct = np.where(z > 0, da, 0.01 * da)
    return diagnose([CallRecord("t", before, Returned(value, sent, 0.0), correct)], CATALOGUE)


@pytest.mark.parametrize(("mid", "fixture"), sorted(MISTAKES.items()))
@PROPERTY_SETTINGS
@given(inputs=leaky_inputs())
def test_matcher_names_exactly_the_mistake(
    mid: str, fixture: str, inputs: tuple[np.ndarray, np.ndarray]
) -> None:
    assert run(load(fixture), *inputs) == {"t": (mid,)}


@PROPERTY_SETTINGS
@given(inputs=leaky_inputs(), slope=st.floats(-2.0, 2.0).filter(lambda c: abs(c - 0.01) > 1e-3))
def test_any_wrong_constant_is_a_wrong_slope(
    inputs: tuple[np.ndarray, np.ndarray], slope: float
) -> None:
    def with_slope(da: np.ndarray, z: np.ndarray) -> np.ndarray:
        return np.where(z > 0, da, slope * da)

    expected = ("relu-slope",) if abs(slope) < 1e-9 else ("wrong-slope-value",)
    assert run(with_slope, *inputs) == {"t": expected}


@PROPERTY_SETTINGS
@given(inputs=leaky_inputs())
def test_correct_code_shows_nothing(inputs: tuple[np.ndarray, np.ndarray]) -> None:
    assert run(load("correct_copy_multiply"), *inputs) == {"t": ()}
    assert run(load("correct_where"), *inputs) == {"t": ()}


@PROPERTY_SETTINGS
@given(inputs=leaky_inputs())
def test_two_mistakes_get_both_names(inputs: tuple[np.ndarray, np.ndarray]) -> None:
    assert run(load("chain_rule_missing_and_slope_one_at_zero"), *inputs) == {
        "t": ("missing-chain-rule", "wrong-at-zero")
    }
    assert run(load("relu_slope_and_mutates_dA"), *inputs) == {"t": ("relu-slope", "mutates-dA")}
