"""Visible tests for linear_activation_forward: both activations on one small layer."""

import numpy as np
import pytest

from grader.authoring import assert_close

A_PREV = np.array([[1.0, -2.0], [0.5, 1.0]])
W = np.array([[1.0, 1.0], [-1.0, 2.0]])
B = np.array([[0.0], [-1.0]])
Z = np.array([[1.5, -1.0], [-1.0, 3.0]])


@pytest.mark.points(1)
@pytest.mark.tags("relu", "cache")
def test_relu_by_hand(linear_activation_forward):
    """relu: Z = [[1.5, -1], [-1, 3]], so A = [[1.5, 0], [0, 3]]; cache = ((A_prev, W, b), Z)."""
    A, cache = linear_activation_forward(A_PREV.copy(), W.copy(), B.copy(), "relu")
    assert_close(A, np.array([[1.5, 0.0], [0.0, 3.0]]), name="A")
    assert len(cache) == 2, "cache is (linear_cache, activation_cache)"
    assert_close(cache[1], Z, name="the activation cache (Z)")


@pytest.mark.points(1)
@pytest.mark.tags("sigmoid")
def test_sigmoid_by_hand(linear_activation_forward):
    """sigmoid: A = 1 / (1 + exp(-Z)) for the same Z."""
    A, _ = linear_activation_forward(A_PREV.copy(), W.copy(), B.copy(), "sigmoid")
    assert_close(A, 1 / (1 + np.exp(-Z)), name="A")
