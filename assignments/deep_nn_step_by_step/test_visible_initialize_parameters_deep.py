"""Visible tests for initialize_parameters_deep: every layer's shapes, zero b, small W."""

import numpy as np
import pytest


@pytest.mark.points(1)
@pytest.mark.tags("shape", "bias", "weights")
def test_three_layer_parameters(initialize_parameters_deep):
    """layer_dims [5, 4, 3, 1]: W1 (4, 5), W2 (3, 4), W3 (1, 3), b{l} zeros (n_l, 1)."""
    parameters = initialize_parameters_deep([5, 4, 3, 1])
    assert isinstance(parameters, dict), "return the dict parameters"
    expected = {"W1": (4, 5), "b1": (4, 1), "W2": (3, 4), "b2": (3, 1), "W3": (1, 3), "b3": (1, 1)}
    shapes = {k: np.shape(parameters.get(k)) for k in expected}
    assert shapes == expected, f"shapes {shapes}; expected {expected}"
    for layer in (1, 2, 3):
        assert not np.any(parameters[f"b{layer}"]), f"b{layer}: np.zeros"
        assert 0 < np.abs(parameters[f"W{layer}"]).max() < 0.1, (
            f"W{layer}: np.random.randn(...) * 0.01"
        )
