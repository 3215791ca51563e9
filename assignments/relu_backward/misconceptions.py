"""Known wrong behaviours of relu_backward, matched on what a submission returns.

Each "value" entry predicts what the mistaken code returns for the same (dA, Z); the grader
names it when the prediction reproduces the student's wrong values. ``correct`` is the
reference's answer, so no entry spells out the solution itself. Where two entries explain
the same elements equally well, the earlier one wins, so the narrower mistake comes first.
"""

import numpy as np

from grader.diagnosis import Misconception

CHAIN_RULE = "dL/dZ = dL/dA · dA/dZ"


def _small_slope(args, correct, got):
    """Fit the one constant c with dZ = c·dA where Z <= 0; applies only if it is consistent."""
    dA, Z = args
    side = (Z <= 0) & (np.abs(dA) > 1e-12)
    if not side.any():
        return None
    ratios = got[side] / dA[side]
    c = float(np.median(ratios))
    if not np.allclose(ratios, c, rtol=1e-6, atol=1e-12) or any(
        np.isclose(c, known, rtol=1e-6, atol=1e-12) for known in (0.0, 1.0)
    ):
        return None
    return np.where(Z > 0, correct, c * dA)


CATALOGUE = [
    Misconception(
        id="returns-local-derivative",
        title="Returns the local derivative dA/dZ and ignores dA",
        explanation=(
            "Your dZ is 1 where Z > 0 and 0 elsewhere whatever dA is: that is dA/dZ, the "
            f"activation's own slope. The chain rule ({CHAIN_RULE}) multiplies it by the "
            "upstream gradient dA, elementwise: dZ = dA where Z > 0."
        ),
        predict=lambda args, correct, got: np.where(args[1] > 0, 1.0, 0.0),
    ),
    Misconception(
        id="relu-of-dA",
        title="The mask is taken from dA instead of Z (ReLU applied to the gradient)",
        explanation=(
            "Your dZ keeps dA where dA > 0, as `np.maximum(dA, 0)` or `dZ[dA < 0] = 0` would. "
            "Which elements pass the gradient is decided by the forward pass's input Z (the "
            "cache): dZ = dA where Z > 0 and 0 where Z <= 0, whatever the sign of dA."
        ),
        predict=lambda args, correct, got: np.maximum(args[0], 0.0),
    ),
    Misconception(
        id="slope-one-at-zero",
        title="Slope 1 at Z == 0 (a different convention at the kink)",
        explanation=(
            "At Z == 0 exactly your dZ passes dA through (as `Z >= 0` or `dZ[Z < 0] = 0` "
            "would). ReLU has no derivative at 0, so a convention is needed; this assignment "
            "follows PyTorch and TensorFlow, slope 0 there: use `Z > 0` to pass dA, so "
            "dZ = 0 at Z == 0 (including -0.0)."
        ),
        predict=lambda args, correct, got: np.where(args[1] == 0, args[0], correct),
    ),
    Misconception(
        id="mask-inverted",
        title="The mask is inverted: dA passes where Z <= 0 and is zeroed where Z > 0",
        explanation=(
            "Your dZ is dA where Z <= 0 and 0 where Z > 0. ReLU is A = Z for Z > 0 (slope 1, "
            "so dZ = dA there) and A = 0 otherwise (slope 0, so dZ = 0 there)."
        ),
        predict=lambda args, correct, got: np.where(args[1] > 0, 0.0, args[0]),
    ),
    Misconception(
        id="returns-dA",
        title="dA is returned unchanged (the mask is never applied)",
        explanation=(
            "Your dZ equals dA everywhere, including where Z < 0. The local slope of ReLU is 0 "
            f"there, so by the chain rule ({CHAIN_RULE}) dZ = 0 where Z <= 0."
        ),
        predict=lambda args, correct, got: np.array(args[0], copy=True),
    ),
    Misconception(
        id="leaky-slope",
        title="A small nonzero slope where Z <= 0 (that is leaky ReLU, not ReLU)",
        explanation=(
            "Where Z <= 0 your dZ is dA times a nonzero constant, as leaky ReLU's 0.01 would "
            "be. ReLU is flat there (A = 0), so its slope, and dZ, are exactly 0."
        ),
        predict=_small_slope,
    ),
    Misconception(
        id="returns-forward",
        title="Returns the activation A instead of the gradient dZ",
        explanation=(
            "Your function returns max(Z, 0): the forward pass A. The backward pass returns "
            f"dZ = dA · dA/dZ ({CHAIN_RULE}): it uses Z only to decide where dA passes."
        ),
        predict=lambda args, correct, got: np.maximum(args[1], 0.0),
    ),
    Misconception(
        id="mutates-dA",
        title="dA is modified in place",
        explanation=(
            "After the call, the caller's dA has changed. `dZ = dA` does not copy: it is a "
            "second name for the same array, so `dZ[Z <= 0] = 0` also zeroes dA. Other layers "
            "may still need dA; start from a copy (dZ = np.array(dA, copy=True)) or use "
            "np.where(Z > 0, dA, 0)."
        ),
        kind="mutation",
        argument=0,
    ),
    Misconception(
        id="mutates-cache",
        title="The cache Z is modified in place",
        explanation=(
            "After the call, the cache Z has changed. The cache belongs to the forward pass "
            "and may be reused; read it to build the mask (Z > 0), never assign into it."
        ),
        kind="mutation",
        argument=1,
    ),
    Misconception(
        id="shape-changed",
        title="dZ does not have the shape of dA",
        explanation=(
            "dZ must have exactly the shape of Z and dA (the gradient of the loss with "
            "respect to each element of Z). Avoid flatten/ravel, .T, squeeze or building a "
            "new array of another shape."
        ),
        kind="shape",
    ),
    Misconception(
        id="not-ndarray",
        title="The result is not a numpy array",
        explanation=(
            "Return a numpy.ndarray (e.g. np.where(Z > 0, dA, 0)), not a list, a scalar, or None."
        ),
        kind="type",
    ),
]
