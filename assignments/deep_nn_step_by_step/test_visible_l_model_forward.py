"""Visible tests for L_model_forward: a 2-layer network small enough to follow by hand."""

import numpy as np
import pytest

from grader.authoring import assert_close

X = np.array([[1.0, -1.0], [2.0, 1.0]])
PARAMETERS = {
    "W1": np.array([[1.0, 0.0], [0.0, -1.0], [1.0, 1.0]]),
    "b1": np.array([[0.0], [0.5], [-1.0]]),
    "W2": np.array([[1.0, 2.0, -1.0]]),
    "b2": np.array([[0.5]]),
}


@pytest.mark.points(1)
@pytest.mark.tags("AL", "caches")
def test_two_layers_by_hand(L_model_forward):
    """A1 = relu(W1 X + b1) = [[1, 0], [0, 0], [2, 0]]; AL = σ(W2 A1 + b2) = σ([[-0.5, 0.5]])."""
    AL, caches = L_model_forward(X.copy(), {k: v.copy() for k, v in PARAMETERS.items()})
    assert_close(AL, 1 / (1 + np.exp(-np.array([[-0.5, 0.5]]))), name="AL")
    assert len(caches) == 2, f"caches should hold one cache per layer (2), not {len(caches)}"
