"""Reference solution for sigmoid_backward: never shown to students or sent to the sandbox."""

from __future__ import annotations

import numpy as np


def sigmoid(Z: np.ndarray) -> np.ndarray:
    """s = 1 / (1 + exp(-Z)), computed without overflow for any |Z|.

    exp is only ever taken of -|Z| <= 0, so it lies in (0, 1] and cannot overflow.
    """
    e = np.exp(-np.abs(Z))
    return np.where(Z >= 0, 1 / (1 + e), e / (1 + e))


def sigmoid_backward(dA: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """dZ = dA * s * (1 - s) with s = sigmoid(Z).

    s * (1 - s) equals e / (1 + e)² with e = exp(-|Z|) (the slope is symmetric in Z), which
    neither overflows nor loses digits to the cancellation in 1 - s for large Z. Keeps dA's
    dtype and shape and modifies neither argument.
    """
    Z = cache
    e = np.exp(-np.abs(Z))
    return dA * (e / ((1 + e) * (1 + e)))
