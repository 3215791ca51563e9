"""Known wrong behaviours of linear_activation_backward, matched on what a submission returns.

linear_activation_backward(dA, cache, activation) with cache = ((A_prev, W, b), Z) returns
(dA_prev, dW, db). A cache read the wrong way round, ``activation_cache, linear_cache =
cache``, never returns: the provided relu_backward and sigmoid_backward raise a TypeError
saying they got a tuple, and that error is what names it.
"""

import numpy as np

from grader.diagnosis import Misconception


def _sigmoid_backward(dA, Z):
    e = np.exp(-np.abs(Z))
    return dA * (e / ((1 + e) * (1 + e)))


def _relu_backward(dA, Z):
    return np.where(Z > 0, dA, 0 * dA)


BACKWARD = {"relu": _relu_backward, "sigmoid": _sigmoid_backward}
OTHER = {"relu": "sigmoid", "sigmoid": "relu"}


def linear_backward(dZ, linear_cache):
    A_prev, W, _ = linear_cache
    m = dZ.shape[1]
    return W.T @ dZ, dZ @ A_prev.T / m, np.sum(dZ, axis=1, keepdims=True) / m


def _activations_swapped(args, correct, got):
    dA, (linear_cache, Z), activation = args
    return linear_backward(BACKWARD[OTHER[activation]](dA, Z), linear_cache)


def _activation_skipped(args, correct, got):
    dA, (linear_cache, _), _ = args
    return linear_backward(dA, linear_cache)


CATALOGUE = [
    Misconception(
        id="backward-activations-swapped",
        title='"relu" uses sigmoid_backward and "sigmoid" relu_backward',
        explanation=(
            'The branches are crossed: activation == "relu" must give dZ = relu_backward(dA, '
            'activation_cache) and "sigmoid" dZ = sigmoid_backward(dA, activation_cache), then '
            "linear_backward(dZ, linear_cache) for both."
        ),
        predict=_activations_swapped,
    ),
    Misconception(
        id="activation-backward-skipped",
        title="dA goes to linear_backward without the activation's backward step",
        explanation=(
            "The chain rule passes through the activation first: dZ = dA · g'(Z), computed by "
            "relu_backward or sigmoid_backward from the activation cache (Z); only then "
            "linear_backward(dZ, linear_cache)."
        ),
        predict=_activation_skipped,
    ),
    Misconception(
        id="cache-parts-swapped",
        title="The cache is read the wrong way round: (activation_cache, linear_cache)",
        explanation=(
            "linear_activation_forward stores cache = (linear_cache, activation_cache), the "
            "linear part (A_prev, W, b) first and Z second, so read it back as "
            "`linear_cache, activation_cache = cache`. Read the other way, relu_backward gets "
            "the tuple (A_prev, W, b) as Z and linear_backward gets Z as (A_prev, W, b)."
        ),
        kind="error",
        error=r"^TypeError: (relu|sigmoid)_backward expects the activation cache Z",
    ),
]
