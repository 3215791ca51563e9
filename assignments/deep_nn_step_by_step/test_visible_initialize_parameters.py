"""Visible tests for initialize_parameters: shapes, zero biases, small random weights."""

import numpy as np
import pytest


@pytest.mark.points(1)
@pytest.mark.tags("shape", "bias", "weights")
def test_two_layer_parameters(initialize_parameters):
    """n_x = 3, n_h = 2, n_y = 1: W1 (2, 3), b1 (2, 1) zeros, W2 (1, 2), b2 (1, 1) zeros."""
    parameters = initialize_parameters(3, 2, 1)
    assert isinstance(parameters, dict), "return the dict parameters"
    shapes = {k: np.shape(parameters.get(k)) for k in ("W1", "b1", "W2", "b2")}
    assert shapes == {"W1": (2, 3), "b1": (2, 1), "W2": (1, 2), "b2": (1, 1)}, (
        f"shapes {shapes}; expected W1 (2, 3), b1 (2, 1), W2 (1, 2), b2 (1, 1)"
    )
    assert not np.any(parameters["b1"]), "b1: np.zeros"
    assert not np.any(parameters["b2"]), "b2: np.zeros"
    for key in ("W1", "W2"):
        W = parameters[key]
        assert 0 < np.abs(W).max() < 0.1, f"{key}: np.random.randn(...) * 0.01"
