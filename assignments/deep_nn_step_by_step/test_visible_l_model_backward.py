"""Visible tests for L_model_backward: a 2-layer network, checked layer by layer."""

import numpy as np
import pytest

from grader.authoring import assert_close

X = np.array([[1.0, -1.0, 0.5], [2.0, 1.0, -1.0]])
Y = np.array([[1.0, 0.0, 1.0]])
W1 = np.array([[1.0, 0.5], [-0.5, 1.0], [0.3, -0.2]])
B1 = np.array([[0.1], [0.2], [0.3]])
W2 = np.array([[0.5, -1.0, 1.5]])
B2 = np.array([[0.1]])


def sigmoid(Z):
    return 1 / (1 + np.exp(-Z))


def forward():
    Z1 = W1 @ X + B1
    A1 = np.maximum(0, Z1)
    Z2 = W2 @ A1 + B2
    return A1, Z1, sigmoid(Z2), Z2


@pytest.mark.points(2)
@pytest.mark.tags("dW", "db")
def test_two_layers(L_model_backward):
    """dW2, db2 from dZ2 = AL - Y; dW1, db1 from dZ1 = W2ᵀ dZ2 where Z1 > 0 (m = 3)."""
    A1, Z1, AL, Z2 = forward()
    caches = [
        ((X.copy(), W1.copy(), B1.copy()), Z1.copy()),
        ((A1.copy(), W2.copy(), B2.copy()), Z2.copy()),
    ]
    grads = L_model_backward(AL.copy(), Y.copy(), caches)
    assert isinstance(grads, dict), "return the dict grads"
    dZ2 = AL - Y
    dZ1 = (W2.T @ dZ2) * (Z1 > 0)
    assert_close(grads["dW2"], dZ2 @ A1.T / 3, name='grads["dW2"]')
    assert_close(grads["db2"], dZ2.sum(axis=1, keepdims=True) / 3, name='grads["db2"]')
    assert_close(grads["dW1"], dZ1 @ X.T / 3, name='grads["dW1"]')
    assert_close(grads["db1"], dZ1.sum(axis=1, keepdims=True) / 3, name='grads["db1"]')


@pytest.mark.points(1)
@pytest.mark.tags("dW", "db", "narrow")
def test_one_unit_per_layer(L_model_backward):
    """layer_dims [1, 1, 1]: every dA has the same shape, so layer mix-ups show as values."""
    x = np.array([[0.5, 1.5, -1.0, 2.0]])
    y = np.array([[1.0, 0.0, 1.0, 0.0]])
    w1, b1, w2, b2 = np.array([[1.2]]), np.array([[0.1]]), np.array([[0.8]]), np.array([[-0.3]])
    z1 = w1 @ x + b1
    a1 = np.maximum(0, z1)
    z2 = w2 @ a1 + b2
    al = sigmoid(z2)
    caches = [
        ((x.copy(), w1.copy(), b1.copy()), z1.copy()),
        ((a1.copy(), w2.copy(), b2.copy()), z2.copy()),
    ]
    grads = L_model_backward(al.copy(), y.copy(), caches)
    assert isinstance(grads, dict), "return the dict grads"
    dz2 = al - y
    dz1 = (w2.T @ dz2) * (z1 > 0)
    assert_close(grads["dW2"], dz2 @ a1.T / 4, name='grads["dW2"]')
    assert_close(grads["dW1"], dz1 @ x.T / 4, name='grads["dW1"]')
    assert_close(grads["db1"], dz1.sum(axis=1, keepdims=True) / 4, name='grads["db1"]')
