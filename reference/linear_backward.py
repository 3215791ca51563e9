"""Reference solution for linear_backward: never shown to students or sent to the sandbox."""

from __future__ import annotations

import numpy as np


def linear_forward(A_prev: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Z = W · A_prev + b, one column per example."""
    return W @ A_prev + b


def linear_backward(
    dZ: np.ndarray, cache: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dA_prev, dW, db) for Z = W · A_prev + b, from dZ of shape (n, m).

    dW and db are gradients of the cost averaged over the m examples (hence 1/m); dA_prev
    is passed on per example, unaveraged, to the previous layer. Each has the shape of what
    it is the gradient of: A_prev (n_prev, m), W (n, n_prev), b (n, 1). Modifies nothing.
    """
    A_prev, W, _ = cache
    m = dZ.shape[1]  # examples in the batch (A_prev.shape[1] too)
    dW = (dZ @ A_prev.T) / m
    db = np.sum(dZ, axis=1, keepdims=True) / m
    dA_prev = W.T @ dZ
    return dA_prev, dW, db
