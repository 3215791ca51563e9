"""Reference solution for relu_backward: never shown to students or sent to the sandbox."""

from __future__ import annotations

import numpy as np


def relu_forward(Z: np.ndarray) -> np.ndarray:
    """A = Z where Z > 0, else 0."""
    return np.where(Z > 0, Z, np.zeros((), dtype=Z.dtype))


def relu_backward(dA: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """dZ = dA * dA/dZ, with slope 1 where Z > 0 and 0 elsewhere (Z == 0 included, as PyTorch).

    Keeps dA's dtype and shape and modifies neither argument.
    """
    Z = cache
    return np.where(Z > 0, dA, np.zeros((), dtype=dA.dtype))
