"""Visible tests for linear_backward: small examples you can check by hand.

Run them with `grader check your_notebook.ipynb`. The graded (hidden) tests check the same
ideas on more inputs: one example, one unit, wide layers, large batches and float32.
"""

import numpy as np
import pytest

from grader.authoring import MismatchError, assert_close, assert_unchanged, require_array

# One unit (n = 1) fed two inputs (n_prev = 2), a batch of m = 2 examples.
A_PREV = np.array([[1.0, 2.0], [3.0, -1.0]])
W = np.array([[2.0, -1.0]])
B = np.array([[0.5]])
DZ = np.array([[1.0, 3.0]])


def outputs(result):
    if not isinstance(result, (tuple, list)) or len(result) != 3:
        raise MismatchError("type", "linear_backward should return the tuple (dA_prev, dW, db).")
    shapes = ("(n_prev, m)", "(n, n_prev)", "(n, 1)")  # of A_prev, W and b
    return tuple(
        require_array(v, n, shape=s)
        for v, n, s in zip(result, ("dA_prev", "dW", "db"), shapes, strict=True)
    )


def call(linear_backward):
    return outputs(linear_backward(DZ.copy(), (A_PREV.copy(), W.copy(), B.copy())))


@pytest.mark.points(1)
@pytest.mark.tags("dA_prev")
def test_dA_prev_by_hand(linear_backward):
    """dA_prev = Wᵀ · dZ = [[2], [-1]] · [[1, 3]] = [[2, 6], [-1, -3]] (no 1/m)."""
    dA_prev, _, _ = call(linear_backward)
    assert_close(dA_prev, np.array([[2.0, 6.0], [-1.0, -3.0]]), name="dA_prev")


@pytest.mark.points(1)
@pytest.mark.tags("dW", "average")
def test_dW_by_hand(linear_backward):
    """dW = dZ · A_prevᵀ / m = [[1·1 + 3·2, 1·3 + 3·(−1)]] / 2 = [[3.5, 0]]."""
    _, dW, _ = call(linear_backward)
    assert_close(dW, np.array([[3.5, 0.0]]), name="dW")


@pytest.mark.points(1)
@pytest.mark.tags("db", "average")
def test_db_by_hand(linear_backward):
    """db = (1 + 3) / m = [[2]]: the sum over the examples, divided by m = 2."""
    _, _, db = call(linear_backward)
    assert_close(db, np.array([[2.0]]), name="db")


@pytest.mark.points(1)
@pytest.mark.tags("shape", "return-type")
def test_output_shapes(linear_backward):
    """Each gradient has the shape of its variable: A_prev (3, 4), W (2, 3), b (2, 1)."""
    rng = np.random.default_rng(0)
    dZ = rng.standard_normal((2, 4))
    cache = (rng.standard_normal((3, 4)), rng.standard_normal((2, 3)), np.zeros((2, 1)))
    dA_prev, dW, db = outputs(linear_backward(dZ, cache))
    got = (dA_prev.shape, dW.shape, db.shape)
    assert got == ((3, 4), (2, 3), (2, 1)), (
        f"(dA_prev, dW, db) have shapes {got}, expected ((3, 4), (2, 3), (2, 1)); "
        "db needs keepdims=True."
    )


@pytest.mark.points(1)
@pytest.mark.tags("dA_prev", "dW", "db", "average")
def test_against_numpy_formulas(linear_backward):
    """A 2-unit layer, 3 inputs, 4 examples, against the three formulas."""
    rng = np.random.default_rng(1)
    dZ, A_prev = rng.standard_normal((2, 4)), rng.standard_normal((3, 4))
    W_ = rng.standard_normal((2, 3))
    cache = (A_prev.copy(), W_.copy(), np.zeros((2, 1)))
    dA_prev, dW, db = outputs(linear_backward(dZ.copy(), cache))
    assert_close(dA_prev, W_.T @ dZ, name="dA_prev")
    assert_close(dW, dZ @ A_prev.T / 4, name="dW")
    assert_close(db, dZ.sum(axis=1, keepdims=True) / 4, name="db")


@pytest.mark.points(1)
@pytest.mark.tags("no-mutation", "cache-intact")
def test_inputs_unchanged(linear_backward):
    """Neither dZ nor the cache (A_prev, W, b) is modified by the call."""
    dZ, cache = DZ.copy(), (A_PREV.copy(), W.copy(), B.copy())
    outputs(linear_backward(dZ, cache))
    assert_unchanged(dZ, DZ, name="dZ", advice="Compute into new arrays (no /= on dZ).")
    for name, after, before in zip(("A_prev", "W", "b"), cache, (A_PREV, W, B), strict=True):
        assert_unchanged(after, before, name=f"the cache's {name}", advice="Read the cache only.")
