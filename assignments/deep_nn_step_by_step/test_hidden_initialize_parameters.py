"""Hidden tests for initialize_parameters(n_x, n_h, n_y): 5 points.

Graded on what the course asks, never on one random stream (students seed numpy in different
places): the four keys with their shapes, zero biases, and weights drawn at random on the
course's scale (standard normal * 0.01: about 0.01 across, centred on 0, not all equal).
"""

import numpy as np
import pytest

from grader.authoring import MismatchError

SIZES = (7, 5, 3)  # n_x, n_h, n_y: no two equal, so a transposed W shows as a shape


def parameters_of(result):
    if not isinstance(result, dict):
        what = "None (did you forget `return`?)" if result is None else type(result).__name__
        raise MismatchError(
            "type", f"initialize_parameters should return the dict parameters, not {what}."
        )
    missing = [k for k in ("W1", "b1", "W2", "b2") if k not in result]
    if missing:
        raise MismatchError("type", f"parameters has no key {', '.join(missing)}.")
    for key in ("W1", "b1", "W2", "b2"):
        if not isinstance(result[key], np.ndarray):
            raise MismatchError("type", f'parameters["{key}"] should be a numpy array.')
    return result


def check_small_random(W, name):
    """Standard normal * 0.01: spread about 0.01, about half negative, not all equal."""
    spread, negative = float(np.std(W)), float(np.mean(W < 0))
    if not spread:
        raise MismatchError(
            "values",
            f"{name} has all its elements equal ({float(W.flat[0]):.3g}): weights must be "
            "random (np.random.randn(...) * 0.01) so that the units of a layer differ.",
        )
    if spread > 0.1:
        raise MismatchError(
            "values",
            f"{name}'s values spread over about {spread:.2g}, a hundred times the course's "
            "scale: multiply np.random.randn(...) by 0.01.",
        )
    if spread < 0.002 or not 0.3 < negative < 0.7:
        raise MismatchError(
            "values",
            f"{name} does not look like np.random.randn(...) * 0.01 ({negative:.0%} "
            f"negative, spread {spread:.2g}): use randn, the standard normal, not rand.",
        )


@pytest.mark.points(2)
@pytest.mark.tags("shape")
def test_shapes(initialize_parameters):
    """W1 (n_h, n_x), b1 (n_h, 1), W2 (n_y, n_h), b2 (n_y, 1) for n_x = 7, n_h = 5, n_y = 3."""
    n_x, n_h, n_y = SIZES
    parameters = parameters_of(initialize_parameters(n_x, n_h, n_y))
    expected = {"W1": (n_h, n_x), "b1": (n_h, 1), "W2": (n_y, n_h), "b2": (n_y, 1)}
    for key, shape in expected.items():
        assert parameters[key].shape == shape, (
            f'parameters["{key}"] has shape {parameters[key].shape}, expected {shape}.'
        )


@pytest.mark.points(1)
@pytest.mark.tags("bias")
def test_biases_are_zero(initialize_parameters):
    """b1 and b2 are zeros."""
    parameters = parameters_of(initialize_parameters(*SIZES))
    for key in ("b1", "b2"):
        if np.any(parameters[key] != 0):
            raise MismatchError("values", f'parameters["{key}"] should be zeros (np.zeros).')


@pytest.mark.points(2)
@pytest.mark.tags("weights", "scale")
def test_weights_small_random(initialize_parameters):
    """W1 and W2 are random, on the course's scale (np.random.randn(...) * 0.01)."""
    parameters = parameters_of(initialize_parameters(40, 30, 20))
    for key in ("W1", "W2"):
        check_small_random(parameters[key], f'parameters["{key}"]')
