"""Visible tests for linear_forward: one example you can check by hand."""

import numpy as np
import pytest

from grader.authoring import assert_close

A = np.array([[1.0, -1.0], [2.0, 0.5]])
W = np.array([[1.0, 2.0]])
B = np.array([[0.5]])


@pytest.mark.points(1)
@pytest.mark.tags("Z", "cache")
def test_by_hand(linear_forward):
    """W = [[1, 2]], A = [[1, -1], [2, 0.5]], b = [[0.5]]: Z = [[5.5, 0.5]]."""
    Z, cache = linear_forward(A.copy(), W.copy(), B.copy())
    assert_close(Z, np.array([[5.5, 0.5]]), name="Z")
    assert len(cache) == 3, "cache is the tuple (A, W, b)"
    for got, expected, name in zip(cache, (A, W, B), ("A", "W", "b"), strict=True):
        assert_close(got, expected, name=f"cache's {name}")
