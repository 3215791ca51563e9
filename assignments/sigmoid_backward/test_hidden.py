"""Hidden tests for sigmoid_backward: the graded suite, 100 points.

Value tests carry 75 points. Property tests (return type, shape, no mutation) carry 25 and
each needs a call that returned an array, so a stub scores 0. Large |Z| (up to 1000) must
give finite values close to 0: exp overflows there unless the sigmoid is computed stably.
Inputs come from fixed seeds: the same submission always gets the same score.
"""

import numpy as np
import pytest

from grader.authoring import assert_close, assert_unchanged, require_array


def make_inputs(seed, shape, *, scale=1.0, dtype=np.float64, sign=0):
    """(dA, Z) from a fixed seed. dA is never all ones, so the chain rule is visible."""
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal(shape) * scale
    if sign:
        Z = sign * np.abs(Z)
    dA = rng.uniform(-3.0, 3.0, shape)
    dA[np.abs(dA) < 0.05] = 0.7
    return dA.astype(dtype), Z.astype(dtype)


def regions(Z):
    return {
        "where |Z| <= 5": np.abs(Z) <= 5,
        "where 5 < |Z| <= 700": (np.abs(Z) > 5) & (np.abs(Z) <= 700),
        "where |Z| > 700, beyond where exp(|Z|) overflows": np.abs(Z) > 700,
    }


def check_values(student_fn, reference, dA, Z):
    expected = reference.sigmoid_backward(dA.copy(), Z.copy())
    got = student_fn(dA, Z)
    assert_close(got, expected, name="dZ", inputs={"Z": Z, "dA": dA}, regions=regions(Z))


# --- values: 75 points -----------------------------------------------------------------------


@pytest.mark.points(5)
@pytest.mark.tags("zero", "chain-rule")
def test_zero_input(sigmoid_backward, reference):
    """At Z == 0, s = 1/2 and the slope is 1/4: dZ = dA / 4."""
    dA, Z = make_inputs(51, (3, 4))
    check_values(sigmoid_backward, reference, dA, np.zeros_like(Z))


@pytest.mark.points(10)
@pytest.mark.tags("small", "chain-rule")
def test_small_inputs(sigmoid_backward, reference):
    """|Z| below about 2, where the slope is between 0.1 and 0.25, on a 4x5 batch."""
    check_values(sigmoid_backward, reference, *make_inputs(52, (4, 5), scale=0.7))


@pytest.mark.points(10)
@pytest.mark.tags("positive", "negative")
def test_moderate_inputs(sigmoid_backward, reference):
    """Z of both signs up to about 10, on a 5x6 batch."""
    check_values(sigmoid_backward, reference, *make_inputs(53, (5, 6), scale=3.0))


@pytest.mark.points(10)
@pytest.mark.tags("chain-rule")
def test_chain_rule(sigmoid_backward, reference):
    """dA (of varied sign and size) is multiplied by the local slope s·(1 − s)."""
    dA, Z = make_inputs(54, (5, 8), scale=2.0)
    dA = dA * np.random.default_rng(540).uniform(0.1, 10.0, dA.shape)
    check_values(sigmoid_backward, reference, dA, Z)


@pytest.mark.points(5)
@pytest.mark.tags("shape")
@pytest.mark.parametrize(
    "shape", [(1, 1), (7,), (3, 4, 2), (0, 5)], ids=["1x1", "vector", "3d", "empty"]
)
def test_shapes(sigmoid_backward, reference, shape):
    """Works for any shape: (1,1), (n,), (a,b,c) and an empty (0,m) batch."""
    seed = 55 + len(shape) + (shape[0] == 0)
    check_values(sigmoid_backward, reference, *make_inputs(seed, shape, scale=2.0))


@pytest.mark.points(10)
@pytest.mark.tags("stability", "positive", "negative")
def test_large_inputs(sigmoid_backward, reference):
    """|Z| from 20 to 1000 of both signs: finite and close to 0, no NaN from overflow."""
    dA, _ = make_inputs(56, (4, 6))
    # half below and half above 709.8, where exp(|Z|) overflows float64
    magnitudes = np.concatenate([np.geomspace(20.0, 700.0, 12), np.linspace(710.0, 1000.0, 12)])
    magnitudes = magnitudes.reshape(dA.shape)
    signs = np.where(np.arange(dA.size).reshape(dA.shape) % 2 == 0, 1.0, -1.0)
    check_values(sigmoid_backward, reference, dA, magnitudes * signs)


@pytest.mark.points(5)
@pytest.mark.tags("positive", "negative")
def test_float32_inputs(sigmoid_backward, reference):
    """float32 inputs, compared with a float32 tolerance (a float64 result is only a note)."""
    check_values(sigmoid_backward, reference, *make_inputs(57, (8, 3), scale=2.0, dtype=np.float32))


@pytest.mark.points(5)
@pytest.mark.tags("positive", "negative", "chain-rule")
def test_mixed_batch(sigmoid_backward, reference):
    """A 32x16 float64 batch with small and moderate Z mixed in."""
    check_values(sigmoid_backward, reference, *make_inputs(58, (32, 16), scale=4.0))


# --- properties: 25 points, each only for a call that returned an array ---------------------


@pytest.mark.points(4)
@pytest.mark.tags("return-type")
def test_returns_ndarray(sigmoid_backward):
    """Returns a numpy.ndarray."""
    dA, Z = make_inputs(61, (3, 4))
    require_array(sigmoid_backward(dA, Z), "dZ")


@pytest.mark.points(8)
@pytest.mark.tags("shape")
def test_shape_preserved(sigmoid_backward):
    """dZ has exactly the shape of dA (not flattened, transposed or squeezed)."""
    dA, Z = make_inputs(62, (3, 5))
    dZ = require_array(sigmoid_backward(dA, Z), "dZ")
    assert dZ.shape == dA.shape, (
        f"dZ has shape {dZ.shape}, expected {dA.shape}: the gradient has the shape of Z."
    )


@pytest.mark.points(6)
@pytest.mark.tags("no-mutation")
def test_dA_unchanged(sigmoid_backward):
    """dA is not modified by the call."""
    dA, Z = make_inputs(63, (4, 4))
    before = dA.copy()
    require_array(sigmoid_backward(dA, Z), "dZ")
    assert_unchanged(
        dA, before, name="dA", advice="Compute dZ = dA * s * (1 - s) into a new array."
    )


@pytest.mark.points(7)
@pytest.mark.tags("cache-intact")
def test_cache_unchanged(sigmoid_backward):
    """The cache (Z) is not modified by the call."""
    dA, Z = make_inputs(64, (4, 4))
    before = Z.copy()
    require_array(sigmoid_backward(dA, Z), "dZ")
    assert_unchanged(
        Z, before, name="cache (Z)", advice="Read Z, never assign into it: compute s separately."
    )
