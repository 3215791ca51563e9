"""Known wrong behaviours of leaky_relu_backward, matched on what a submission returns.

Each "value" entry predicts what the mistaken code returns for the same (dA, Z); the grader
names it when the prediction reproduces the student's wrong values. ``correct`` is the
reference's answer, so no entry spells out the solution itself. Order matters for ties
(equal evidence goes to the entry listed first): entries with a fitted constant come after
the fixed ones they could imitate on a single element.
"""

import numpy as np

from grader.diagnosis import Misconception

CHAIN_RULE = "dL/dZ = dL/dA · dA/dZ"


def _wrong_slope(args, correct, got):
    """Fit the one constant c with dZ = c·dA where Z < 0 (Z == 0 if there is no Z < 0).

    Applies only if c fits every element there and is not 0.01 (right) or 0 (relu-slope).
    Z == 0 is predicted as c·dA too, so using `Z < 0` as well also earns `wrong-at-zero`.
    """
    dA, Z = args
    side = Z < 0 if (Z < 0).any() else Z == 0
    side &= np.abs(dA) > 1e-12
    if not side.any():
        return None
    ratios = got[side] / dA[side]
    c = float(np.median(ratios))
    if not np.allclose(ratios, c, rtol=1e-5, atol=1e-12) or any(
        np.isclose(c, known, rtol=1e-5, atol=1e-9) for known in (0.01, 0.0)
    ):
        return None
    return np.where(Z > 0, correct, c * dA)


def _swapped(args, correct, got):
    """0.01·dA where Z > 0 and dA where Z < 0; at Z == 0 either (both swaps are common)."""
    dA, Z = args
    at_zero = np.where(np.isclose(got, dA), dA, 0.01 * dA)
    return np.where(Z > 0, 0.01 * dA, np.where(Z < 0, dA, at_zero))


CATALOGUE = [
    Misconception(
        id="missing-chain-rule",
        title="The local slope replaces dA instead of multiplying it (chain rule missing)",
        explanation=(
            "Where Z <= 0 your dZ is the slope 0.01 itself, as if you wrote "
            "`dZ[Z <= 0] = 0.01`. Backpropagation uses the chain rule: "
            f"{CHAIN_RULE}, so every element of dA must be multiplied by the local slope: "
            "dZ = dA * 0.01 where Z <= 0, and dZ = dA * 1 where Z > 0."
        ),
        predict=lambda args, correct, got: np.where(args[1] > 0, args[0], 0.01),
    ),
    Misconception(
        id="returns-local-derivative",
        title="Returns the local derivative dA/dZ and ignores dA",
        explanation=(
            "Your dZ is 1 where Z > 0 and 0.01 elsewhere whatever dA is: that is dA/dZ, the "
            f"activation's own slope. The chain rule ({CHAIN_RULE}) multiplies it by the "
            "upstream gradient dA, elementwise."
        ),
        predict=lambda args, correct, got: np.where(args[1] > 0, 1.0, 0.01),
    ),
    Misconception(
        id="wrong-at-zero",
        title="Slope 1 at Z == 0 (a different convention at the kink)",
        explanation=(
            "At Z == 0 exactly your dZ uses slope 1 (as `Z >= 0` or `Z < 0` would). That is "
            "not a maths error: leaky ReLU has no derivative at 0, so every framework picks a "
            "convention. JAX uses slope 1 there; PyTorch and TensorFlow use the negative slope. "
            "This assignment follows PyTorch and TensorFlow: test `Z > 0` for slope 1, so "
            "dZ = 0.01 * dA at Z == 0 (including -0.0)."
        ),
        predict=lambda args, correct, got: np.where(args[1] == 0, args[0], correct),
    ),
    Misconception(
        id="relu-slope",
        title="Slope 0 for negative inputs (that is ReLU, not leaky ReLU)",
        explanation=(
            "Where Z <= 0 your dZ is 0, the ReLU derivative. Leaky ReLU keeps a small slope "
            "of 0.01 there, so dZ = 0.01 * dA for Z <= 0."
        ),
        predict=lambda args, correct, got: np.where(args[1] > 0, correct, 0.0),
    ),
    Misconception(
        id="slope-on-positive-side",
        title="The slopes are swapped: 0.01 applied where Z > 0",
        explanation=(
            "Your dZ is 0.01 * dA where Z > 0 and dA where Z < 0. The small slope belongs to "
            "the negative side: A = Z for Z > 0 (slope 1) and A = 0.01·Z otherwise."
        ),
        predict=_swapped,
    ),
    Misconception(
        id="returns-forward",
        title="Returns the activation A instead of the gradient dZ",
        explanation=(
            "Your function returns Z where Z > 0 and 0.01·Z elsewhere: the forward pass A. "
            f"The backward pass returns dZ = dA · dA/dZ ({CHAIN_RULE}): it uses Z only to "
            "pick the slope."
        ),
        predict=lambda args, correct, got: np.where(args[1] > 0, args[1], 0.01 * args[1]),
    ),
    Misconception(
        id="wrong-slope-value",
        title="A negative-side slope other than 0.01",
        explanation=(
            "Where Z <= 0 your dZ is dA times a constant that is not 0.01. The forward pass "
            "is A = 0.01·Z there, so the local slope is exactly 0.01."
        ),
        predict=_wrong_slope,
    ),
    Misconception(
        id="mutates-dA",
        title="dA is modified in place",
        explanation=(
            "After the call, the caller's dA has changed (e.g. `dA[Z <= 0] *= 0.01`). Other "
            "layers may still need dA; compute dZ into a new array: dZ = dA * slope."
        ),
        kind="mutation",
        argument=0,
    ),
    Misconception(
        id="mutates-cache",
        title="The cache Z is modified in place",
        explanation=(
            "After the call, the cache Z has changed. The cache belongs to the forward pass "
            "and may be reused; read it to pick slopes (np.where(Z > 0, ...)), never assign "
            "into it."
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
            "Return a numpy.ndarray (e.g. the result of dA * slope), not a list, a scalar, or None."
        ),
        kind="type",
    ),
]
