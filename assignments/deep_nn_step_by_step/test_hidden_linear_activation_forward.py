"""Hidden tests for linear_activation_forward(A_prev, W, b, activation) -> (A, cache): 8 points.

A = g(W · A_prev + b) with g the ReLU or the sigmoid; cache = ((A_prev, W, b), Z).
No layer is square; Z takes both signs, so the two activations differ everywhere.
"""

import numpy as np
import pytest

from grader.authoring import MismatchError, assert_close


def make_inputs(seed, n, n_prev, m):
    rng = np.random.default_rng(seed)
    return (
        rng.standard_normal((n_prev, m)),
        rng.standard_normal((n, n_prev)) * 0.8,
        rng.standard_normal((n, 1)) * 0.3,
    )


def unpack(result):
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        what = "None (did you forget `return`?)" if result is None else type(result).__name__
        raise MismatchError(
            "type", f"linear_activation_forward should return (A, cache), not {what}."
        )
    return result


def check_A(student, reference, activation, seed, n=3, n_prev=4, m=5):
    A_prev, W, b = make_inputs(seed, n, n_prev, m)
    expected, _ = reference.linear_activation_forward(A_prev, W, b, activation)
    A, _ = unpack(student(A_prev, W, b, activation))
    assert_close(A, expected, name="A")


@pytest.mark.points(3)
@pytest.mark.tags("relu")
def test_relu(linear_activation_forward, reference):
    """activation="relu": A = max(0, W · A_prev + b), n = 3, n_prev = 4, m = 5."""
    check_A(linear_activation_forward, reference, "relu", 111)


@pytest.mark.points(3)
@pytest.mark.tags("sigmoid")
def test_sigmoid(linear_activation_forward, reference):
    """activation="sigmoid": A = sigmoid(W · A_prev + b), n = 2, n_prev = 5, m = 6."""
    check_A(linear_activation_forward, reference, "sigmoid", 112, 2, 5, 6)


@pytest.mark.points(2)
@pytest.mark.tags("cache")
def test_cache(linear_activation_forward, reference):
    """cache = ((A_prev, W, b), Z): the linear cache first, then the activation cache."""
    A_prev, W, b = make_inputs(113, 3, 4, 5)
    _, ((_, _, _), Z) = reference.linear_activation_forward(A_prev, W, b, "relu")
    _, cache = unpack(linear_activation_forward(A_prev, W, b, "relu"))
    if not isinstance(cache, (tuple, list)) or len(cache) != 2:
        raise MismatchError("type", "cache should be the tuple (linear_cache, activation_cache).")
    linear_part, activation_part = cache
    if not isinstance(linear_part, (tuple, list)) or len(linear_part) != 3:
        raise MismatchError(
            "type",
            "cache[0] should be linear_forward's cache (A_prev, W, b), and cache[1] the "
            "activation's cache, Z.",
        )
    for got, expected, name in zip(linear_part, (A_prev, W, b), ("A_prev", "W", "b"), strict=True):
        assert_close(got, expected, name=f"the linear cache's {name}")
    assert_close(activation_part, Z, name="the activation cache (Z)")
