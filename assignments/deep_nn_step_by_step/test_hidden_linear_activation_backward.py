"""Hidden tests for linear_activation_backward(dA, cache, activation): 15 points.

cache = ((A_prev, W, b), Z) as linear_activation_forward stores it; returns (dA_prev, dW, db).
Z takes both signs, so relu_backward and sigmoid_backward differ everywhere; no layer is
square. A student whose own linear_backward is wrong fails here too: the grader then says
the mistake comes from linear_backward.
"""

import numpy as np
import pytest

from grader.authoring import MismatchError, assert_close, assert_unchanged

OUTPUTS = ("dA_prev", "dW", "db")


def make_inputs(seed, n, n_prev, m):
    """(dA, ((A_prev, W, b), Z)) with Z computed from the linear cache."""
    rng = np.random.default_rng(seed)
    A_prev = rng.standard_normal((n_prev, m))
    W = rng.standard_normal((n, n_prev)) * 0.8
    b = rng.standard_normal((n, 1)) * 0.3
    return rng.standard_normal((n, m)), ((A_prev, W, b), W @ A_prev + b)


def unpack(result):
    if not isinstance(result, (tuple, list)) or len(result) != 3:
        what = "None (did you forget `return`?)" if result is None else type(result).__name__
        raise MismatchError(
            "type", f"linear_activation_backward should return (dA_prev, dW, db), not {what}."
        )
    return result


def check(student, reference, activation, seed, n=3, n_prev=4, m=5):
    dA, cache = make_inputs(seed, n, n_prev, m)
    expected = reference.linear_activation_backward(dA, cache, activation)
    got = unpack(student(dA, cache, activation))
    for value, want, name in zip(got, expected, OUTPUTS, strict=True):
        assert_close(value, want, name=name)


@pytest.mark.points(5)
@pytest.mark.tags("relu")
def test_relu(linear_activation_backward, reference):
    """activation="relu": (dA_prev, dW, db) for n = 3 units fed n_prev = 4, m = 5."""
    check(linear_activation_backward, reference, "relu", 141)


@pytest.mark.points(5)
@pytest.mark.tags("sigmoid")
def test_sigmoid(linear_activation_backward, reference):
    """activation="sigmoid": (dA_prev, dW, db) for n = 2 units fed n_prev = 5, m = 6."""
    check(linear_activation_backward, reference, "sigmoid", 142, 2, 5, 6)


@pytest.mark.points(3)
@pytest.mark.tags("relu", "sigmoid", "wide")
def test_wide_layers(linear_activation_backward, reference):
    """Both activations on a wide layer (n = 8 units fed n_prev = 2, m = 9)."""
    check(linear_activation_backward, reference, "relu", 143, 8, 2, 9)
    check(linear_activation_backward, reference, "sigmoid", 144, 8, 2, 9)


@pytest.mark.points(2)
@pytest.mark.tags("no-mutation")
def test_inputs_unchanged(linear_activation_backward):
    """dA and every array of the cache ((A_prev, W, b), Z) are left as they were."""
    dA, cache = make_inputs(145, 3, 4, 5)
    (A_prev, W, b), Z = cache
    before = (dA.copy(), ((A_prev.copy(), W.copy(), b.copy()), Z.copy()))
    unpack(linear_activation_backward(dA, cache, "relu"))
    assert_unchanged((dA, cache), before, name="(dA, cache)", advice="Compute into new arrays.")
