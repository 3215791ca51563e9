"""The reference solution, checked independently of the hand-written numbers in the suites.

leaky_relu_backward must be the derivative of leaky_relu_forward (a central finite
difference on random inputs, away from the kink), follow the Z == 0 convention, keep dtype
and shape, and leave its arguments alone. The assignment's own suites must pass against it.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from grader import api
from grader.suite import import_file

REPO = Path(__file__).resolve().parents[2]
ASSIGNMENT = "leaky_relu_backward"


@pytest.fixture(scope="module")
def reference() -> ModuleType:
    return import_file(REPO / "reference" / f"{ASSIGNMENT}.py", "test_reference_leaky_relu")


@pytest.mark.parametrize("seed", range(5))
def test_matches_central_finite_difference_of_forward(reference: ModuleType, seed: int) -> None:
    """dL/dZ for L = sum(dA * A(Z)) is dA * A'(Z); estimate A' by (A(Z+h) - A(Z-h)) / 2h."""
    rng = np.random.default_rng(seed)
    shape = tuple(int(n) for n in rng.integers(2, 7, size=rng.integers(1, 4)))
    Z = rng.standard_normal(shape) * 3
    Z[np.abs(Z) < 1e-3] = 0.5  # away from the kink, where the derivative is not defined
    Z.flat[0], Z.flat[-1] = -abs(Z.flat[0]), abs(Z.flat[-1])  # both slopes, every seed
    dA = rng.uniform(-3.0, 3.0, shape)
    h = 1e-6

    def loss(z: np.ndarray) -> float:
        return float(np.sum(dA * reference.leaky_relu_forward(z)))

    numeric = np.empty_like(Z)
    for index in np.ndindex(*shape):
        step = np.zeros_like(Z)
        step[index] = h
        numeric[index] = (loss(Z + step) - loss(Z - step)) / (2 * h)
    analytic = reference.leaky_relu_backward(dA.copy(), Z.copy())
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)


def test_finite_difference_sees_both_slopes(reference: ModuleType) -> None:
    """The gradient check above would be vacuous if the slopes were equal."""
    Z = np.array([-2.0, 2.0])
    h = 1e-6
    slopes = (reference.leaky_relu_forward(Z + h) - reference.leaky_relu_forward(Z - h)) / (2 * h)
    np.testing.assert_allclose(slopes, [0.01, 1.0], rtol=1e-6)


def test_exact_zero_uses_the_negative_slope(reference: ModuleType) -> None:
    Z = np.array([0.0, -0.0, 1e-300, -1e-300])
    dA = np.array([2.0, 3.0, 4.0, 5.0])
    np.testing.assert_array_equal(reference.leaky_relu_backward(dA, Z), [0.02, 0.03, 4.0, 0.05])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 1), (7,), (3, 4, 2), (0, 5)])
def test_keeps_dtype_and_shape_and_leaves_arguments_alone(
    reference: ModuleType, dtype: type[np.floating], shape: tuple[int, ...]
) -> None:
    rng = np.random.default_rng(1)
    Z = rng.standard_normal(shape).astype(dtype)
    dA = rng.standard_normal(shape).astype(dtype)
    before = (Z.copy(), dA.copy())
    dZ = reference.leaky_relu_backward(dA, Z)
    assert isinstance(dZ, np.ndarray)
    assert (dZ.shape, dZ.dtype) == (shape, np.dtype(dtype))
    np.testing.assert_array_equal(Z, before[0])
    np.testing.assert_array_equal(dA, before[1])
    assert not np.shares_memory(dZ, dA)


def test_forward_pass(reference: ModuleType) -> None:
    Z = np.array([-2.0, 0.0, 3.0])
    np.testing.assert_array_equal(reference.leaky_relu_forward(Z), [-0.02, 0.0, 3.0])


def test_assignment_suites_pass_against_the_reference_with_plain_pytest() -> None:
    """What an instructor runs; every visible and hidden test must pass."""
    prepared = api.prepare_assignment(ASSIGNMENT)
    expected = len(prepared.visible) + len(prepared.hidden)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            f"assignments/{ASSIGNMENT}",
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    summary = proc.stdout.strip().splitlines()[-1]
    assert re.match(rf"{expected} passed in ", summary), summary
