"""Visible tests for update_parameters: one step by hand."""

import numpy as np
import pytest

from grader.authoring import assert_close


@pytest.mark.points(1)
@pytest.mark.tags("W", "b")
def test_one_step_by_hand(update_parameters):
    """W1 = [[1, 2]], dW1 = [[10, -10]], learning_rate 0.1: W1 becomes [[0, 3]] (and so on)."""
    parameters = {
        "W1": np.array([[1.0, 2.0]]), "b1": np.array([[0.5]]),
        "W2": np.array([[-1.0]]), "b2": np.array([[0.0]]),
    }  # fmt: skip
    grads = {
        "dW1": np.array([[10.0, -10.0]]), "db1": np.array([[5.0]]),
        "dW2": np.array([[2.0]]), "db2": np.array([[-1.0]]),
    }  # fmt: skip
    updated = update_parameters(parameters, grads, 0.1)
    assert isinstance(updated, dict), "return the dict parameters"
    assert_close(updated["W1"], np.array([[0.0, 3.0]]), name='parameters["W1"]')
    assert_close(updated["b1"], np.array([[0.0]]), name='parameters["b1"]')
    assert_close(updated["W2"], np.array([[-1.2]]), name='parameters["W2"]')
    assert_close(updated["b2"], np.array([[0.1]]), name='parameters["b2"]')
