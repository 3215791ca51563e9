"""Hidden tests for relu_backward: the graded suite, 100 points.

Value tests carry 75 points. Property tests (return type, shape, no mutation) carry 25 and
each needs a call that returned an array, so a stub scores 0. Every value test but the
empty-batch one has elements with Z <= 0 and with dA < 0, so no single mistake passes many.
Inputs come from fixed seeds: the same submission always gets the same score.
"""

import numpy as np
import pytest

from grader.authoring import assert_close, assert_unchanged, require_array


def make_inputs(seed, shape, *, scale=1.0, dtype=np.float64, sign=0, zeros=0.0):
    """(dA, Z) from a fixed seed. dA is never all ones, so the chain rule is visible."""
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal(shape) * scale
    if sign:
        Z = sign * (np.abs(Z) + 0.1 * scale)
    if zeros:
        hit = rng.random(shape) < zeros
        Z[hit] = 0.0
        Z[hit & (rng.random(shape) < 0.5)] = -0.0
    dA = rng.uniform(-3.0, 3.0, shape)
    dA[np.abs(dA) < 0.05] = 0.7
    return dA.astype(dtype), Z.astype(dtype)


def regions(Z):
    return {"where Z > 0": Z > 0, "where Z < 0": Z < 0, "where Z == 0": Z == 0}


def check_values(student_fn, reference, dA, Z):
    expected = reference.relu_backward(dA.copy(), Z.copy())
    got = student_fn(dA, Z)
    assert_close(got, expected, name="dZ", inputs={"Z": Z, "dA": dA}, regions=regions(Z))


# --- values: 75 points -----------------------------------------------------------------------


@pytest.mark.points(10)
@pytest.mark.tags("positive", "chain-rule")
def test_positive_inputs(relu_backward, reference):
    """dZ = dA where Z > 0 (slope 1), on a 4x5 batch."""
    check_values(relu_backward, reference, *make_inputs(31, (4, 5), sign=+1))


@pytest.mark.points(10)
@pytest.mark.tags("negative")
def test_negative_inputs(relu_backward, reference):
    """dZ = 0 where Z < 0 (slope 0), on a 4x5 batch."""
    check_values(relu_backward, reference, *make_inputs(32, (4, 5), sign=-1))


@pytest.mark.points(10)
@pytest.mark.tags("zero")
def test_exact_zeros(relu_backward, reference):
    """Z == 0 exactly (and -0.0) gets slope 0: dZ = 0 there."""
    check_values(relu_backward, reference, *make_inputs(33, (6, 7), zeros=0.35))


@pytest.mark.points(10)
@pytest.mark.tags("chain-rule", "positive", "negative")
def test_chain_rule(relu_backward, reference):
    """dA (of varied sign and size) passes where Z > 0 and is stopped elsewhere."""
    dA, Z = make_inputs(34, (5, 8))
    dA = dA * np.random.default_rng(340).uniform(0.1, 10.0, dA.shape)
    check_values(relu_backward, reference, dA, Z)


@pytest.mark.points(5)
@pytest.mark.tags("shape", "positive", "negative")
@pytest.mark.parametrize(
    "shape", [(1, 1), (7,), (3, 4, 2), (0, 5)], ids=["1x1", "vector", "3d", "empty"]
)
def test_shapes(relu_backward, reference, shape):
    """Works for any shape: (1,1), (n,), (a,b,c) and an empty (0,m) batch."""
    seed = 35 + len(shape) + (shape[0] == 0)
    dA, Z = make_inputs(seed, shape)
    if Z.size == 1:
        dA[...], Z[...] = 1.5, -0.8  # one element: make it the interesting side
    check_values(relu_backward, reference, dA, Z)


@pytest.mark.points(5)
@pytest.mark.tags("positive", "negative")
def test_large_magnitudes(relu_backward, reference):
    """Large |Z| and |dA| (around 1e6) keep the same slopes."""
    dA, Z = make_inputs(36, (4, 6), scale=1e6)
    check_values(relu_backward, reference, dA * 1e5, Z)


@pytest.mark.points(5)
@pytest.mark.tags("positive", "negative", "zero")
def test_float32_inputs(relu_backward, reference):
    """float32 inputs, compared with a float32 tolerance (a float64 result is only a note)."""
    check_values(relu_backward, reference, *make_inputs(37, (8, 3), dtype=np.float32, zeros=0.2))


@pytest.mark.points(5)
@pytest.mark.tags("positive", "negative", "zero", "chain-rule")
def test_mixed_batch(relu_backward, reference):
    """A 32x16 float64 batch with every case mixed in."""
    check_values(relu_backward, reference, *make_inputs(38, (32, 16), zeros=0.1))


# --- properties: 25 points, each only for a call that returned an array ---------------------


@pytest.mark.points(4)
@pytest.mark.tags("return-type")
def test_returns_ndarray(relu_backward):
    """Returns a numpy.ndarray."""
    dA, Z = make_inputs(41, (3, 4))
    require_array(relu_backward(dA, Z), "dZ")


@pytest.mark.points(8)
@pytest.mark.tags("shape")
def test_shape_preserved(relu_backward):
    """dZ has exactly the shape of dA (not flattened, transposed or squeezed)."""
    dA, Z = make_inputs(42, (3, 5))
    dZ = require_array(relu_backward(dA, Z), "dZ")
    assert dZ.shape == dA.shape, (
        f"dZ has shape {dZ.shape}, expected {dA.shape}: the gradient has the shape of Z."
    )


@pytest.mark.points(6)
@pytest.mark.tags("no-mutation")
def test_dA_unchanged(relu_backward):
    """dA is not modified by the call."""
    dA, Z = make_inputs(43, (4, 4))
    before = dA.copy()
    require_array(relu_backward(dA, Z), "dZ")
    assert_unchanged(
        dA,
        before,
        name="dA",
        advice="`dZ = dA` does not copy: start from dZ = np.array(dA, copy=True).",
    )


@pytest.mark.points(7)
@pytest.mark.tags("cache-intact")
def test_cache_unchanged(relu_backward):
    """The cache (Z) is not modified by the call."""
    dA, Z = make_inputs(44, (4, 4), zeros=0.2)
    before = Z.copy()
    require_array(relu_backward(dA, Z), "dZ")
    assert_unchanged(
        Z,
        before,
        name="cache (Z)",
        advice="Read Z, never assign into it: build the mask with Z > 0.",
    )
