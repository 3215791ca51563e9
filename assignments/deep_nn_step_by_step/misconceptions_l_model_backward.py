"""Known wrong behaviours of L_model_backward, matched on the dW{l} and db{l} it returns.

grads also holds dA keys, which the course numbered differently in its two generations
(dA{l-1} now, dA{l} in 2017 copies); predictions say nothing about them (None), so a mistake
is named on dW and db alone, whichever dA convention the submission uses.

Each predictor runs a backward pass with one mistake built in. Several of them (dAL reused,
caches off by one or in forward order) only return on networks whose layers have matching
shapes; the hidden suite has one such network (every layer one unit wide), where they show as
values, and on the others they fail with the student's own error.
"""

import numpy as np

from grader.diagnosis import Misconception


def _sigmoid_backward(dA, Z):
    e = np.exp(-np.abs(Z))
    return dA * (e / ((1 + e) * (1 + e)))


def _relu_backward(dA, Z):
    return np.where(Z > 0, dA, 0 * dA)


BACKWARD = {"relu": _relu_backward, "sigmoid": _sigmoid_backward}


def _layer_backward(dA, cache, activation):
    (A_prev, W, _), Z = cache
    dZ = BACKWARD[activation](dA, Z)
    m = dZ.shape[1]
    return W.T @ dZ, dZ @ A_prev.T / m, np.sum(dZ, axis=1, keepdims=True) / m


def _backward(args, *, sign=1.0, hidden="relu", reuse_dAL=False, cache_index=None):
    """dW{l}, db{l} of a backward pass with the given mistake; cache_index(layer, L) -> index."""
    AL, Y, caches = args
    Y = Y.reshape(AL.shape)
    L = len(caches)
    dAL = -sign * (np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))
    grads = {}
    dA = dAL
    for layer in range(L, 0, -1):
        index = layer - 1 if cache_index is None or layer == L else cache_index(layer, L)
        upstream = dAL if reuse_dAL and layer < L else dA
        activation = "sigmoid" if layer == L else hidden
        dA, grads[f"dW{layer}"], grads[f"db{layer}"] = _layer_backward(
            upstream, caches[index], activation
        )
    return grads


def _dAL_reused(args, correct, got):
    return _backward(args, reuse_dAL=True)


def _sigmoid_hidden(args, correct, got):
    return _backward(args, hidden="sigmoid")


def _dAL_sign(args, correct, got):
    return _backward(args, sign=-1.0)


def _caches_off_by_one(args, correct, got):
    return _backward(args, cache_index=lambda layer, L: layer)


def _caches_forward_order(args, correct, got):
    return _backward(args, cache_index=lambda layer, L: L - 1 - layer)


CATALOGUE = [
    Misconception(
        id="dAL-reused",
        title="Every layer is given dAL instead of the dA_prev of the layer above",
        explanation=(
            "Backpropagation is a chain: layer L turns dAL into dA{L-1}, and each hidden layer "
            "l must be given the gradient the layer above it returned, "
            "linear_activation_backward(grads[\"dA\" + str(l)], caches[l - 1], \"relu\"). "
            "Passing dAL to every layer skips the chain (it only fits where every layer has "
            "the output layer's shape)."
        ),
        predict=_dAL_reused,
    ),
    Misconception(
        id="sigmoid-backward-for-hidden-layers",
        title="The hidden ReLU layers are differentiated with the sigmoid's backward step",
        explanation=(
            'Only layer L is a sigmoid layer; the L - 1 layers in the loop were computed with '
            '"relu" and must be differentiated with activation="relu" (relu_backward).'
        ),
        predict=_sigmoid_hidden,
    ),
    Misconception(
        id="dAL-sign-flipped",
        title="dAL has the wrong sign",
        explanation=(
            "dAL = -(Y / AL - (1 - Y) / (1 - AL)), the derivative of the cost's "
            "-(y log a + (1 - y) log(1 - a)). Without the leading minus every gradient points "
            "uphill: dW and db come out negated in every layer."
        ),
        predict=_dAL_sign,
    ),
    Misconception(
        id="caches-off-by-one",
        title="Each hidden layer uses the cache of the layer above it (caches[l] for layer l)",
        explanation=(
            "caches is 0-based: layer l's cache is caches[l - 1] (the output layer's is "
            "caches[L - 1]). In the loop `for l in reversed(range(L - 1))` the layer is l + 1 "
            "and its cache is caches[l]."
        ),
        predict=_caches_off_by_one,
    ),
    Misconception(
        id="caches-in-forward-order",
        title="The hidden layers' caches are taken in forward order",
        explanation=(
            "The backward pass visits the layers from L down to 1, and each step must use that "
            "same layer's cache: caches[l - 1] for layer l. Your loop pairs the layer above "
            "with the first cache and so on, as if caches were listed from the top."
        ),
        predict=_caches_forward_order,
    ),
    Misconception(
        id="grads-not-a-dict",
        title="grads is not a dict of arrays",
        explanation=(
            'Return the dict grads with the keys "dW1", "db1", ... "dWL", "dbL" and the dA '
            "keys, each a numpy array."
        ),
        kind="type",
        output=1,  # dW{L}, second in the reference's grads: both dA conventions have it
    ),
]
