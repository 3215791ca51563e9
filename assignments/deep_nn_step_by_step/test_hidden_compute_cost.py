"""Hidden tests for compute_cost(AL, Y): 7 points.

The cross-entropy J = -(1/m) Σ (y log a + (1 - y) log(1 - a)). A float, a numpy scalar and a
0-d array are all accepted; an array of shape (1, 1) or (1,) with the right value passes with
a note (np.squeeze), not a deduction.
"""

import numpy as np
import pytest

from grader.authoring import MismatchError, assert_close, note


def make_inputs(seed, m, low=0.05, high=0.95):
    rng = np.random.default_rng(seed)
    AL = rng.uniform(low, high, (1, m))
    Y = (rng.random((1, m)) > 0.5).astype(np.float64)
    Y[0, 0], Y[0, -1] = 1.0, 0.0  # both classes in every batch
    return AL, Y


def cost_of(result):
    """The cost as a 0-d array, or a failure saying what came back."""
    if isinstance(result, bool) or result is None:
        raise MismatchError(
            "type",
            "compute_cost should return the cost, a number; it returned "
            + ("None (did you forget `return`?)." if result is None else "a bool."),
        )
    if isinstance(result, (int, float, np.number)):
        return np.asarray(float(result))
    if not isinstance(result, np.ndarray):
        kind = getattr(result, "type_name", type(result).__name__)
        raise MismatchError("type", f"compute_cost should return a number, not {kind}.")
    if result.size != 1:
        raise MismatchError(
            "shape",
            f"the cost has shape {result.shape}: sum over the m examples into one number "
            "(np.sum(...) without an axis).",
        )
    if result.shape != ():
        note(
            f"The cost is not squeezed: an array of shape {result.shape}. Its value was graded "
            "and no points are lost; np.squeeze(cost) makes it a plain number, as the course "
            "asks."
        )
    return result.reshape(()).astype(np.float64)


def check(compute_cost, reference, AL, Y):
    expected = np.asarray(reference.compute_cost(AL, Y), dtype=np.float64)
    assert_close(cost_of(compute_cost(AL, Y)), expected, name="the cost")


@pytest.mark.points(3)
@pytest.mark.tags("cost")
def test_cost(compute_cost, reference):
    """The cost of m = 5 predictions."""
    check(compute_cost, reference, *make_inputs(131, 5))


@pytest.mark.points(2)
@pytest.mark.tags("cost", "average")
def test_cost_large_batch(compute_cost, reference):
    """The cost of m = 50 predictions (1/m matters)."""
    check(compute_cost, reference, *make_inputs(132, 50))


@pytest.mark.points(2)
@pytest.mark.tags("cost", "confident")
def test_cost_confident_predictions(compute_cost, reference):
    """Predictions close to 0 and 1, m = 8: both terms of the cross-entropy count."""
    check(compute_cost, reference, *make_inputs(133, 8, low=0.001, high=0.999))
