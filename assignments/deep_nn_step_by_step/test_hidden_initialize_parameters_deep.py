"""Hidden tests for initialize_parameters_deep(layer_dims): 5 points.

As for initialize_parameters: keys and shapes for every layer, zero biases, and weights
drawn at random on the course's scale (standard normal * 0.01), whatever the random stream.
"""

import numpy as np
import pytest

from grader.authoring import MismatchError

DIMS = [6, 5, 4, 3, 1]  # four layers, no two sizes equal: transposes show as shapes


def parameters_of(result, L):
    if not isinstance(result, dict):
        what = "None (did you forget `return`?)" if result is None else type(result).__name__
        raise MismatchError(
            "type", f"initialize_parameters_deep should return the dict parameters, not {what}."
        )
    keys = [f"{p}{layer}" for layer in range(1, L + 1) for p in ("W", "b")]
    missing = [k for k in keys if k not in result]
    if missing:
        raise MismatchError(
            "type",
            f"parameters has no key {', '.join(missing)} for layer_dims of {L + 1} entries "
            f"({L} layers: W1, b1 .. W{L}, b{L}); check the loop's range.",
        )
    for key in keys:
        if not isinstance(result[key], np.ndarray):
            raise MismatchError("type", f'parameters["{key}"] should be a numpy array.')
    return result


@pytest.mark.points(2)
@pytest.mark.tags("shape")
def test_shapes(initialize_parameters_deep):
    """W{l} (n_l, n_{l-1}) and b{l} (n_l, 1) for layer_dims = [6, 5, 4, 3, 1]."""
    L = len(DIMS) - 1
    parameters = parameters_of(initialize_parameters_deep(list(DIMS)), L)
    for layer in range(1, L + 1):
        for key, shape in (
            (f"W{layer}", (DIMS[layer], DIMS[layer - 1])),
            (f"b{layer}", (DIMS[layer], 1)),
        ):
            assert parameters[key].shape == shape, (
                f'parameters["{key}"] has shape {parameters[key].shape}, expected {shape} '
                "(W{l}: (layer_dims[l], layer_dims[l-1]), b{l}: (layer_dims[l], 1))."
            )


@pytest.mark.points(1)
@pytest.mark.tags("bias")
def test_biases_are_zero(initialize_parameters_deep):
    """Every b{l} is zeros."""
    L = len(DIMS) - 1
    parameters = parameters_of(initialize_parameters_deep(list(DIMS)), L)
    for layer in range(1, L + 1):
        if np.any(parameters[f"b{layer}"] != 0):
            raise MismatchError("values", f'parameters["b{layer}"] should be zeros (np.zeros).')


@pytest.mark.points(2)
@pytest.mark.tags("weights", "scale")
def test_weights_small_random(initialize_parameters_deep):
    """Every W{l} is random, on the course's scale (np.random.randn(...) * 0.01)."""
    dims = [50, 40, 30]
    parameters = parameters_of(initialize_parameters_deep(list(dims)), 2)
    for layer in (1, 2):
        W = parameters[f"W{layer}"]
        spread, negative = float(np.std(W)), float(np.mean(W < 0))
        name = f'parameters["W{layer}"]'
        if not spread:
            raise MismatchError(
                "values",
                f"{name} has all its elements equal: weights must be random "
                "(np.random.randn(...) * 0.01) so that the units of a layer differ.",
            )
        if spread > 0.1:
            raise MismatchError(
                "values",
                f"{name}'s values spread over about {spread:.2g}, a hundred times the "
                "course's scale: multiply np.random.randn(...) by 0.01.",
            )
        if spread < 0.002 or not 0.3 < negative < 0.7:
            raise MismatchError(
                "values",
                f"{name} does not look like np.random.randn(...) * 0.01 ({negative:.0%} "
                f"negative, spread {spread:.2g}): use randn, the standard normal, not rand.",
            )
