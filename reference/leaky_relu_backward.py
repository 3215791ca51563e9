"""Reference solution for leaky_relu_backward: never shown to students or sent to the sandbox."""

from __future__ import annotations

import numpy as np

NEGATIVE_SLOPE = 0.01


def leaky_relu_forward(Z: np.ndarray) -> np.ndarray:
    """A = Z where Z > 0, else 0.01 * Z."""
    return np.where(Z > 0, Z, Z * np.asarray(NEGATIVE_SLOPE, dtype=Z.dtype))


def leaky_relu_backward(dA: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """dZ = dA * dA/dZ, with slope 1 where Z > 0 and 0.01 elsewhere (Z == 0 included, as PyTorch).

    Keeps dA's dtype and shape and modifies neither argument.
    """
    Z = cache
    return np.where(Z > 0, dA, dA * np.asarray(NEGATIVE_SLOPE, dtype=dA.dtype))
