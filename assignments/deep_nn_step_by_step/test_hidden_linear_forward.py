"""Hidden tests for linear_forward(A, W, b) -> (Z, cache): 5 points.

Z = W · A + b with b broadcast over the m columns; cache is (A, W, b). No layer is square.
"""

import numpy as np
import pytest

from grader.authoring import MismatchError, assert_close


def make_inputs(seed, n, n_prev, m):
    rng = np.random.default_rng(seed)
    return (
        rng.standard_normal((n_prev, m)),
        rng.standard_normal((n, n_prev)) * 0.5,
        rng.standard_normal((n, 1)),
    )


def unpack(result):
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        what = "None (did you forget `return`?)" if result is None else type(result).__name__
        raise MismatchError("type", f"linear_forward should return (Z, cache), not {what}.")
    return result


def check_Z(linear_forward, reference, seed, n, n_prev, m):
    A, W, b = make_inputs(seed, n, n_prev, m)
    expected, _ = reference.linear_forward(A, W, b)
    Z, _ = unpack(linear_forward(A, W, b))
    assert_close(Z, expected, name="Z")


@pytest.mark.points(2)
@pytest.mark.tags("Z")
def test_Z(linear_forward, reference):
    """Z = W · A + b for n = 3 units fed n_prev = 4 inputs, m = 5 examples."""
    check_Z(linear_forward, reference, 101, 3, 4, 5)


@pytest.mark.points(1)
@pytest.mark.tags("Z", "broadcast")
def test_Z_wide_batch(linear_forward, reference):
    """Z for n = 2, n_prev = 6 and a batch of m = 40 (b added to every column)."""
    check_Z(linear_forward, reference, 102, 2, 6, 40)


@pytest.mark.points(1)
@pytest.mark.tags("Z")
def test_Z_single_example(linear_forward, reference):
    """Z for one example (m = 1), n = 4, n_prev = 3."""
    check_Z(linear_forward, reference, 103, 4, 3, 1)


@pytest.mark.points(1)
@pytest.mark.tags("cache")
def test_cache(linear_forward):
    """cache is the tuple (A, W, b), in that order."""
    A, W, b = make_inputs(104, 3, 4, 5)
    _, cache = unpack(linear_forward(A, W, b))
    if not isinstance(cache, (tuple, list)) or len(cache) != 3:
        raise MismatchError("type", "cache should be the tuple (A, W, b).")
    for got, expected, name in zip(cache, (A, W, b), ("A", "W", "b"), strict=True):
        assert_close(got, expected, name=f"cache's {name}")
