"""Hidden tests for linear_backward: the graded suite, 100 points.

Value tests carry 75 points: dA_prev, dW and db alone (15, 15, 10), then all three on a
single example, a single unit, a wide layer, a large batch and float32 inputs. Property
tests (a tuple of three arrays, each output's shape, no mutation) carry 25 and each needs a
call that returned three arrays, so a stub scores 0.

No layer here is square (n != n_prev, and m differs from both where m > 1), so swapped
transposes show as wrong shapes, never as values that happen to fit. db's values are graded
even when its shape is (n,) (keepdims forgotten): that costs only the db shape test.
Inputs come from fixed seeds: the same submission always gets the same score.
"""

import numpy as np
import pytest

from grader.authoring import MismatchError, assert_close, assert_unchanged, note, require_array

OUTPUTS = ("dA_prev", "dW", "db")
SHAPES = ("(n_prev, m)", "(n, n_prev)", "(n, 1)")  # of A_prev, W and b


def make_inputs(seed, n, n_prev, m, *, dtype=np.float64):
    """(dZ, (A_prev, W, b)) from a fixed seed, for a layer of n units fed n_prev inputs."""
    rng = np.random.default_rng(seed)
    A_prev = rng.standard_normal((n_prev, m))
    W = rng.standard_normal((n, n_prev)) * 0.5
    b = rng.standard_normal((n, 1)) * 0.1
    dZ = rng.standard_normal((n, m))
    return dZ.astype(dtype), (A_prev.astype(dtype), W.astype(dtype), b.astype(dtype))


def copy_inputs(dZ, cache):
    return dZ.copy(), tuple(a.copy() for a in cache)


def unpack(result):
    """The three outputs, or a type failure naming what came back instead."""
    if not isinstance(result, (tuple, list)) or len(result) != 3:
        what = f"{len(result)} values" if isinstance(result, (tuple, list)) else "one value"
        if result is None:
            what = "None (did you forget `return`?)"
        raise MismatchError(
            "type",
            f"linear_backward should return the tuple (dA_prev, dW, db), but it returned {what}.",
        )
    return tuple(
        require_array(value, name, shape=shape)
        for value, name, shape in zip(result, OUTPUTS, SHAPES, strict=True)
    )


def db_values(db, expected):
    """db compared on its values: a (n,) db is reshaped to (n, 1) here, with a note."""
    if db.shape != expected.shape and db.shape == expected.shape[:1]:
        note(
            f"db has shape {db.shape}; b, and so db, has shape {expected.shape}. Its values "
            "were graded here; the shape has its own test (np.sum(..., keepdims=True))."
        )
        return db.reshape(expected.shape)
    return db


def check_outputs(student_fn, reference, dZ, cache, which=OUTPUTS):
    expected = dict(zip(OUTPUTS, reference.linear_backward(*copy_inputs(dZ, cache)), strict=True))
    got = dict(zip(OUTPUTS, unpack(student_fn(dZ, cache)), strict=True))
    got["db"] = db_values(got["db"], expected["db"])
    for name in which:
        assert_close(got[name], expected[name], name=name)


# --- values: 75 points -----------------------------------------------------------------------


@pytest.mark.points(15)
@pytest.mark.tags("dA_prev")
def test_dA_prev(linear_backward, reference):
    """dA_prev = Wᵀ · dZ (not averaged), for n = 3 units, n_prev = 4 inputs, m = 5 examples."""
    check_outputs(linear_backward, reference, *make_inputs(71, 3, 4, 5), which=["dA_prev"])


@pytest.mark.points(15)
@pytest.mark.tags("dW", "average")
def test_dW(linear_backward, reference):
    """dW = dZ · A_prevᵀ / m, for n = 3, n_prev = 4, m = 5."""
    check_outputs(linear_backward, reference, *make_inputs(72, 3, 4, 5), which=["dW"])


@pytest.mark.points(10)
@pytest.mark.tags("db", "average")
def test_db(linear_backward, reference):
    """db = the sum of dZ over the m examples / m, for n = 3, n_prev = 4, m = 5."""
    check_outputs(linear_backward, reference, *make_inputs(73, 3, 4, 5), which=["db"])


@pytest.mark.points(5)
@pytest.mark.tags("dA_prev", "dW", "db")
def test_single_example(linear_backward, reference):
    """All three outputs for a batch of one example (m = 1), n = 3, n_prev = 4."""
    check_outputs(linear_backward, reference, *make_inputs(74, 3, 4, 1))


@pytest.mark.points(5)
@pytest.mark.tags("dA_prev", "dW", "db", "average")
def test_single_unit(linear_backward, reference):
    """All three outputs for a layer of one unit (n = 1), n_prev = 4, m = 5."""
    check_outputs(linear_backward, reference, *make_inputs(75, 1, 4, 5))


@pytest.mark.points(10)
@pytest.mark.tags("dA_prev", "dW", "db", "average")
def test_wide_layer(linear_backward, reference):
    """All three outputs for n = 8 units fed n_prev = 2 inputs, m = 3."""
    check_outputs(linear_backward, reference, *make_inputs(76, 8, 2, 3))


@pytest.mark.points(10)
@pytest.mark.tags("dA_prev", "dW", "db", "average")
def test_large_batch(linear_backward, reference):
    """All three outputs for n = 5, n_prev = 7 and a batch of m = 64."""
    check_outputs(linear_backward, reference, *make_inputs(77, 5, 7, 64))


@pytest.mark.points(5)
@pytest.mark.tags("dA_prev", "dW", "db", "average")
def test_float32_inputs(linear_backward, reference):
    """float32 inputs, compared with a float32 tolerance (a float64 result is only a note)."""
    check_outputs(linear_backward, reference, *make_inputs(78, 4, 6, 8, dtype=np.float32))


# --- properties: 25 points, each only for a call that returned three arrays ------------------


@pytest.mark.points(4)
@pytest.mark.tags("return-type")
def test_returns_three_arrays(linear_backward):
    """Returns the tuple (dA_prev, dW, db) of three numpy arrays."""
    unpack(linear_backward(*make_inputs(81, 2, 3, 4)))


@pytest.mark.points(4)
@pytest.mark.tags("shape", "dA_prev")
def test_dA_prev_shape(linear_backward):
    """dA_prev has the shape of A_prev, (n_prev, m)."""
    dZ, cache = make_inputs(82, 2, 3, 4)
    dA_prev, _, _ = unpack(linear_backward(dZ, cache))
    assert dA_prev.shape == (3, 4), (
        f"dA_prev has shape {dA_prev.shape}, expected {(3, 4)}: the shape of A_prev (n_prev, m)."
    )


@pytest.mark.points(4)
@pytest.mark.tags("shape", "dW")
def test_dW_shape(linear_backward):
    """dW has the shape of W, (n, n_prev)."""
    dZ, cache = make_inputs(83, 2, 3, 4)
    _, dW, _ = unpack(linear_backward(dZ, cache))
    assert dW.shape == (2, 3), (
        f"dW has shape {dW.shape}, expected {(2, 3)}: the shape of W (n, n_prev)."
    )


@pytest.mark.points(4)
@pytest.mark.tags("shape", "db", "keepdims")
def test_db_shape(linear_backward):
    """db has the shape of b, (n, 1): a column, not a 1-d array."""
    dZ, cache = make_inputs(84, 2, 3, 4)
    _, _, db = unpack(linear_backward(dZ, cache))
    assert db.shape == (2, 1), f"db has shape {db.shape}, expected {(2, 1)}: the shape of b (n, 1)."


@pytest.mark.points(4)
@pytest.mark.tags("no-mutation")
def test_dZ_unchanged(linear_backward):
    """dZ is not modified by the call."""
    dZ, cache = make_inputs(85, 2, 3, 4)
    before = dZ.copy()
    unpack(linear_backward(dZ, cache))
    assert_unchanged(
        dZ, before, name="dZ", advice="Compute dW = dZ @ A_prev.T / m into a new array."
    )


@pytest.mark.points(5)
@pytest.mark.tags("cache-intact")
def test_cache_unchanged(linear_backward):
    """The cache (A_prev, W, b) is not modified by the call."""
    dZ, cache = make_inputs(86, 2, 3, 4)
    before = tuple(a.copy() for a in cache)
    unpack(linear_backward(dZ, cache))
    for name, after, original in zip(("A_prev", "W", "b"), cache, before, strict=True):
        assert_unchanged(
            after,
            original,
            name=f"the cache's {name}",
            advice="Read the cache, never assign into it; updating W and b comes later.",
        )
