"""assert_close on numbers (0-d arrays, e.g. a cost): a wrong value is an ordinary mismatch."""

from __future__ import annotations

import numpy as np
import pytest

from grader.authoring import MismatchError, assert_close


def test_a_wrong_number_is_a_values_mismatch_quoting_both() -> None:
    with pytest.raises(MismatchError) as caught:
        assert_close(np.asarray(1.5), np.asarray(0.25), name="the cost")
    assert caught.value.kind == "values"
    assert caught.value.summary == "the cost is wrong at 1 of 1 elements."
    assert "expected 0.25" in caught.value.detail
    assert "got 1.5" in caught.value.detail


def test_a_right_number_passes_and_a_shape_is_still_a_shape() -> None:
    assert_close(np.asarray(0.25), np.asarray(0.25 + 1e-12), name="the cost")
    with pytest.raises(MismatchError) as caught:
        assert_close(np.asarray([[0.25]]), np.asarray(0.25), name="the cost")
    assert caught.value.kind == "shape"
