"""Visible tests for compute_cost: three predictions by hand."""

import numpy as np
import pytest

from grader.authoring import assert_close


@pytest.mark.points(1)
@pytest.mark.tags("cost")
def test_by_hand(compute_cost):
    """AL = [[0.8, 0.9, 0.4]], Y = [[1, 1, 0]]: J = -(log 0.8 + log 0.9 + log 0.6) / 3 ≈ 0.2797."""
    cost = compute_cost(np.array([[0.8, 0.9, 0.4]]), np.array([[1.0, 1.0, 0.0]]))
    expected = -(np.log(0.8) + np.log(0.9) + np.log(0.6)) / 3
    assert np.size(cost) == 1, f"the cost should be one number, not shape {np.shape(cost)}"
    assert_close(np.asarray(cost, dtype=float).reshape(()), np.asarray(expected), name="the cost")
