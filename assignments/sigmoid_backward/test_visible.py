"""Visible tests for sigmoid_backward: small examples you can check by hand.

Run them with `grader check your_notebook.ipynb`. The graded (hidden) tests check the same
ideas on more inputs: shapes, dtypes and very large |Z|.
"""

import numpy as np
import pytest

from grader.authoring import assert_close, assert_unchanged, require_array


def expected_dZ(dA, Z):
    """Written out by hand for the small inputs below (fine for small |Z|)."""
    s = 1 / (1 + np.exp(-Z))
    return dA * s * (1 - s)


@pytest.mark.points(1)
@pytest.mark.tags("zero", "chain-rule")
def test_slope_at_zero(sigmoid_backward):
    """At Z == 0, s = 0.5 and s·(1 − s) = 0.25, so dZ = dA / 4."""
    Z = np.array([[0.0, 0.0, 0.0]])
    dA = np.array([[1.0, -2.0, 4.0]])
    got = sigmoid_backward(dA, Z)
    assert_close(got, np.array([[0.25, -0.5, 1.0]]), name="dZ", inputs={"Z": Z, "dA": dA})


@pytest.mark.points(1)
@pytest.mark.tags("positive", "negative")
def test_slope_is_symmetric(sigmoid_backward):
    """s·(1 − s) is the same at Z and −Z: at ±2 it is about 0.105."""
    Z = np.array([-2.0, 2.0])
    dA = np.array([1.0, 1.0])
    got = sigmoid_backward(dA, Z)
    assert_close(got, expected_dZ(dA, Z), name="dZ", inputs={"Z": Z, "dA": dA})


@pytest.mark.points(1)
@pytest.mark.tags("chain-rule", "positive", "negative")
def test_chain_rule_multiplies_dA(sigmoid_backward):
    """dZ = dA · s · (1 − s): the upstream gradient dA is multiplied, not replaced."""
    Z = np.array([[-1.0, 0.5], [2.0, -3.0]])
    dA = np.array([[4.0, -1.5], [2.0, 10.0]])
    got = sigmoid_backward(dA, Z)
    assert_close(got, expected_dZ(dA, Z), name="dZ", inputs={"Z": Z, "dA": dA})


@pytest.mark.points(1)
@pytest.mark.tags("stability")
def test_large_inputs_finite(sigmoid_backward):
    """Z = ±1000: the slope is about 0, and dZ must be 0, not NaN (exp(1000) overflows)."""
    Z = np.array([-1000.0, 1000.0])
    dA = np.array([1.0, 1.0])
    got = sigmoid_backward(dA, Z)
    assert_close(got, np.array([0.0, 0.0]), name="dZ", inputs={"Z": Z, "dA": dA})


@pytest.mark.points(1)
@pytest.mark.tags("shape", "return-type")
def test_keeps_shape(sigmoid_backward):
    """dZ is a numpy array with the same shape as dA (here 2x3)."""
    Z = np.array([[1.0, -1.0, 0.5], [-0.5, 2.0, -2.0]])
    dA = np.ones((2, 3)) * 0.5
    dZ = require_array(sigmoid_backward(dA, Z), "dZ")
    assert dZ.shape == (2, 3), f"dZ has shape {dZ.shape}, expected (2, 3) like dA."


@pytest.mark.points(1)
@pytest.mark.tags("no-mutation", "cache-intact")
def test_inputs_unchanged(sigmoid_backward):
    """Neither dA nor the cache Z is modified by the call."""
    Z = np.array([-1.0, 0.0, 2.0])
    dA = np.array([3.0, -1.0, 0.5])
    dA_before, Z_before = dA.copy(), Z.copy()
    require_array(sigmoid_backward(dA, Z), "dZ")
    assert_unchanged(dA, dA_before, name="dA", advice="Compute dZ into a new array.")
    assert_unchanged(Z, Z_before, name="cache (Z)", advice="Read Z, never assign into it.")
