"""Visible tests for linear_activation_backward: both activations on one small layer."""

import numpy as np
import pytest

from grader.authoring import assert_close

A_PREV = np.array([[1.0, 2.0], [3.0, -1.0]])
W = np.array([[2.0, -1.0]])
B = np.array([[0.5]])
Z = W @ A_PREV + B  # [[-0.5, 5.5]]
DA = np.array([[1.0, 3.0]])


def cache():
    return ((A_PREV.copy(), W.copy(), B.copy()), Z.copy())


@pytest.mark.points(1)
@pytest.mark.tags("relu")
def test_relu_by_hand(linear_activation_backward):
    """relu: dZ = [[0, 3]] (Z = [[-0.5, 5.5]]), so dW = [[3, -1.5]], db = [[1.5]]."""
    dA_prev, dW, db = linear_activation_backward(DA.copy(), cache(), "relu")
    assert_close(dA_prev, np.array([[0.0, 6.0], [0.0, -3.0]]), name="dA_prev")
    assert_close(dW, np.array([[3.0, -1.5]]), name="dW")
    assert_close(db, np.array([[1.5]]), name="db")


@pytest.mark.points(1)
@pytest.mark.tags("sigmoid")
def test_sigmoid_by_hand(linear_activation_backward):
    """sigmoid: dZ = dA * s * (1 - s) with s = sigmoid(Z), then the linear backward step."""
    s = 1 / (1 + np.exp(-Z))
    dZ = DA * s * (1 - s)
    dA_prev, dW, db = linear_activation_backward(DA.copy(), cache(), "sigmoid")
    assert_close(dA_prev, W.T @ dZ, name="dA_prev")
    assert_close(dW, dZ @ A_PREV.T / 2, name="dW")
    assert_close(db, dZ.sum(axis=1, keepdims=True) / 2, name="db")
