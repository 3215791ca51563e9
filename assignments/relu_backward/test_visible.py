"""Visible tests for relu_backward: small examples you can check by hand.

Run them with `grader check your_notebook.ipynb`. The graded (hidden) tests check the same
ideas on more inputs: shapes, dtypes, large values and exact zeros.
"""

import numpy as np
import pytest

from grader.authoring import assert_close, assert_unchanged, require_array


def expected_dZ(dA, Z):
    """Written out by hand for the small inputs below."""
    return np.where(Z > 0, 1.0, 0.0) * dA


@pytest.mark.points(1)
@pytest.mark.tags("positive", "chain-rule")
def test_positive_values(relu_backward):
    """Where Z > 0 the slope is 1, so dZ equals dA."""
    Z = np.array([[1.0, 2.5, 0.3]])
    dA = np.array([[0.5, -2.0, 3.0]])
    got = relu_backward(dA, Z)
    assert_close(got, np.array([[0.5, -2.0, 3.0]]), name="dZ", inputs={"Z": Z, "dA": dA})


@pytest.mark.points(1)
@pytest.mark.tags("negative")
def test_negative_values(relu_backward):
    """Where Z < 0 the slope is 0, so dZ is 0 whatever dA is."""
    Z = np.array([[-1.0, -0.5, -4.0]])
    dA = np.array([[2.0, -3.0, 0.5]])
    got = relu_backward(dA, Z)
    assert_close(got, np.array([[0.0, 0.0, 0.0]]), name="dZ", inputs={"Z": Z, "dA": dA})


@pytest.mark.points(1)
@pytest.mark.tags("zero")
def test_zero_uses_slope_zero(relu_backward):
    """At Z == 0 exactly the slope is 0 (PyTorch's convention)."""
    Z = np.array([0.0, 1.0, -1.0])
    dA = np.array([2.0, 2.0, 2.0])
    got = relu_backward(dA, Z)
    assert_close(got, np.array([0.0, 2.0, 0.0]), name="dZ", inputs={"Z": Z, "dA": dA})


@pytest.mark.points(1)
@pytest.mark.tags("chain-rule", "positive", "negative")
def test_mask_comes_from_Z(relu_backward):
    """Z decides where dA passes: a negative dA still passes where Z > 0."""
    Z = np.array([[-2.0, 3.0], [0.5, -0.1]])
    dA = np.array([[4.0, -1.5], [2.0, 10.0]])
    got = relu_backward(dA, Z)
    assert_close(got, expected_dZ(dA, Z), name="dZ", inputs={"Z": Z, "dA": dA})


@pytest.mark.points(1)
@pytest.mark.tags("shape", "return-type")
def test_keeps_shape(relu_backward):
    """dZ is a numpy array with the same shape as dA (here 2x3)."""
    Z = np.array([[1.0, -1.0, 0.5], [-0.5, 2.0, -2.0]])
    dA = np.ones((2, 3)) * 0.5
    dZ = require_array(relu_backward(dA, Z), "dZ")
    assert dZ.shape == (2, 3), f"dZ has shape {dZ.shape}, expected (2, 3) like dA."


@pytest.mark.points(1)
@pytest.mark.tags("no-mutation", "cache-intact")
def test_inputs_unchanged(relu_backward):
    """Neither dA nor the cache Z is modified by the call."""
    Z = np.array([-1.0, 0.0, 2.0])
    dA = np.array([3.0, -1.0, 0.5])
    dA_before, Z_before = dA.copy(), Z.copy()
    require_array(relu_backward(dA, Z), "dZ")
    assert_unchanged(dA, dA_before, name="dA", advice="`dZ = dA` does not copy: copy it first.")
    assert_unchanged(Z, Z_before, name="cache (Z)", advice="Read Z, never assign into it.")
