"""Known wrong behaviours of sigmoid_backward, matched on what a submission returns.

Each "value" entry predicts what the mistaken code returns for the same (dA, Z); the grader
names it when the prediction reproduces the student's wrong values. ``correct`` is the
reference's answer, so no entry spells out the solution itself. Predictions are computed
with floating-point warnings silenced: several mistakes overflow on purpose.
"""

import numpy as np

from grader.diagnosis import Misconception

CHAIN_RULE = "dL/dZ = dL/dA · dA/dZ"


def _sigmoid(Z):
    e = np.exp(-np.abs(Z))
    return np.where(Z >= 0, 1 / (1 + e), e / (1 + e))


def _slope(Z):
    return _sigmoid(Z) * (1 - _sigmoid(Z))


def _overflowed(args, correct, got):
    """Non-finite values exactly where exp(|Z|) overflows the dtype; correct elsewhere."""
    _, Z = args
    if not np.issubdtype(Z.dtype, np.floating):
        return None
    blown = (np.abs(Z) > np.log(np.finfo(Z.dtype).max)) & ~np.isfinite(got)
    if not blown.any():
        return None
    return np.where(blown, got, correct)


def _silenced(predict):
    def wrapped(args, correct, got):
        with np.errstate(all="ignore"):
            return predict(args, correct, got)

    return wrapped


CATALOGUE = [
    Misconception(
        id="returns-local-derivative",
        title="Returns the local derivative s·(1 − s) and ignores dA",
        explanation=(
            "Your dZ is s·(1 − s) whatever dA is: that is dA/dZ, the sigmoid's own slope. "
            f"The chain rule ({CHAIN_RULE}) multiplies it by the upstream gradient dA, "
            "elementwise: dZ = dA · s · (1 − s)."
        ),
        predict=_silenced(lambda args, correct, got: _slope(args[1])),
    ),
    Misconception(
        id="cache-used-as-activation",
        title="The cache Z is used as if it were s = sigmoid(Z)",
        explanation=(
            "Your dZ is dA · Z · (1 − Z). The cache holds Z, the forward pass's input, not "
            "its output: compute s = 1 / (1 + exp(−Z)) first, then dZ = dA · s · (1 − s)."
        ),
        predict=_silenced(lambda args, correct, got: args[0] * args[1] * (1 - args[1])),
    ),
    Misconception(
        id="missing-one-minus-s",
        title="The factor (1 − s) is missing: dZ = dA · s",
        explanation=(
            "Your dZ is dA · s. The derivative of s = 1 / (1 + exp(−Z)) is "
            "exp(−Z) / (1 + exp(−Z))² = s · (1 − s), so dZ = dA · s · (1 − s)."
        ),
        predict=_silenced(lambda args, correct, got: args[0] * _sigmoid(args[1])),
    ),
    Misconception(
        id="tanh-derivative",
        title="Uses the tanh derivative 1 − s² instead of s · (1 − s)",
        explanation=(
            "Your dZ is dA · (1 − s²): that is the form of tanh's derivative (1 − tanh²). "
            "For the sigmoid, dA/dZ = s · (1 − s)."
        ),
        predict=_silenced(lambda args, correct, got: args[0] * (1 - _sigmoid(args[1]) ** 2)),
    ),
    Misconception(
        id="returns-forward",
        title="Returns the activation s = sigmoid(Z) instead of the gradient dZ",
        explanation=(
            "Your function returns sigmoid(Z): the forward pass A. The backward pass returns "
            f"dZ = dA · dA/dZ ({CHAIN_RULE}) with dA/dZ = s · (1 − s)."
        ),
        predict=_silenced(lambda args, correct, got: _sigmoid(args[1])),
    ),
    Misconception(
        id="overflow-nan",
        title="Not numerically stable: NaN or inf for large |Z|",
        explanation=(
            "For large |Z| your dZ is NaN or infinite: exp(Z) overflows (above about 709 in "
            "float64, 88 in float32) and inf / inf is NaN. Compute the sigmoid so that exp is "
            "only taken of a non-positive number, e.g. with e = np.exp(-np.abs(Z)): "
            "s = 1 / (1 + e) where Z >= 0 and e / (1 + e) where Z < 0. The true slope there "
            "is tiny, so dZ should be close to 0."
        ),
        predict=_silenced(_overflowed),
    ),
    Misconception(
        id="mutates-dA",
        title="dA is modified in place",
        explanation=(
            "After the call, the caller's dA has changed (e.g. `dA *= s * (1 - s)`). Other "
            "layers may still need dA; compute dZ into a new array: dZ = dA * s * (1 - s)."
        ),
        kind="mutation",
        argument=0,
    ),
    Misconception(
        id="mutates-cache",
        title="The cache Z is modified in place",
        explanation=(
            "After the call, the cache Z has changed (e.g. the sigmoid was computed into it). "
            "The cache belongs to the forward pass and may be reused; compute s into a new "
            "array."
        ),
        kind="mutation",
        argument=1,
    ),
    Misconception(
        id="shape-changed",
        title="dZ does not have the shape of dA",
        explanation=(
            "dZ must have exactly the shape of Z and dA (the gradient of the loss with "
            "respect to each element of Z). Avoid flatten/ravel, .T, squeeze, np.dot or "
            "building a new array of another shape: the product here is elementwise."
        ),
        kind="shape",
    ),
    Misconception(
        id="not-ndarray",
        title="The result is not a numpy array",
        explanation=(
            "Return a numpy.ndarray (e.g. the result of dA * s * (1 - s)), not a list, a "
            "scalar, or None."
        ),
        kind="type",
    ),
]
