"""Hidden tests for update_parameters(parameters, grads, learning_rate): 10 points.

Every W{l} and b{l} becomes W{l} - learning_rate * dW{l} (b likewise). A new dict or the
same dict updated in place (the older course template) are both accepted; changing the
caller's dict is a note, not a deduction.
"""

import numpy as np
import pytest

from grader.authoring import MismatchError, assert_close, assert_unchanged, note


def make_inputs(seed, dims):
    rng = np.random.default_rng(seed)
    parameters, grads = {}, {}
    for layer in range(1, len(dims)):
        shapes = {"W": (dims[layer], dims[layer - 1]), "b": (dims[layer], 1)}
        for p, shape in shapes.items():
            parameters[f"{p}{layer}"] = rng.standard_normal(shape)
            grads[f"d{p}{layer}"] = rng.standard_normal(shape)
    for layer in range(len(dims) - 1):
        grads[f"dA{layer}"] = rng.standard_normal((dims[layer], 3))
    return parameters, grads


def copies(d):
    return {k: v.copy() for k, v in d.items()}


def check(update_parameters, reference, seed, dims, learning_rate):
    parameters, grads = make_inputs(seed, dims)
    expected = reference.update_parameters(copies(parameters), copies(grads), learning_rate)
    passed = copies(parameters)
    got = update_parameters(passed, grads, learning_rate)
    if not isinstance(got, dict):
        what = "None (did you forget `return`?)" if got is None else type(got).__name__
        raise MismatchError(
            "type", f"update_parameters should return the dict parameters, not {what}."
        )
    assert_close(got, expected, name="parameters")
    try:
        # Any change the caller could see: values, or entries of the dict rebound.
        assert_unchanged(passed, parameters, name="parameters", advice="")
    except MismatchError:
        note(
            "update_parameters changed the dict it was given (as the 2017 template does); "
            "accepted. The current course updates a copy (params.copy()) and returns that."
        )


@pytest.mark.points(4)
@pytest.mark.tags("W", "b")
def test_two_layers(update_parameters, reference):
    """One step with learning_rate 0.1 on a 2-layer network, layer_dims [4, 3, 1]."""
    check(update_parameters, reference, 161, [4, 3, 1], 0.1)


@pytest.mark.points(4)
@pytest.mark.tags("W", "b")
def test_three_layers(update_parameters, reference):
    """One step with learning_rate 0.5 on a 3-layer network, layer_dims [5, 4, 2, 1]."""
    check(update_parameters, reference, 162, [5, 4, 2, 1], 0.5)


@pytest.mark.points(2)
@pytest.mark.tags("W", "b", "learning-rate")
def test_small_learning_rate(update_parameters, reference):
    """A step of learning_rate 0.0075 (the course's) on layer_dims [3, 2, 2, 1]."""
    check(update_parameters, reference, 163, [3, 2, 2, 1], 0.0075)
