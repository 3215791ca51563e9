"""Activation functions for "Deep neural network, step by step", given to you ready-made.

Each forward function returns two things, the activation A and a cache for the backward
pass, which is simply the input Z:

    A, activation_cache = sigmoid(Z)
    A, activation_cache = relu(Z)

Each backward function takes the gradient with respect to A and that cache, and returns
the gradient with respect to Z:

    dZ = sigmoid_backward(dA, activation_cache)
    dZ = relu_backward(dA, activation_cache)

None of them modifies its arguments. The backward functions check that the cache is Z, an
array of dA's shape: passing the tuple linear_cache = (A_prev, W, b) instead, or another
layer's dA, are common slips that numpy would report obscurely.
"""

import numpy as np


def _activation_cache(dA, cache, function):
    if isinstance(cache, (tuple, list)):
        raise TypeError(
            f"{function} expects the activation cache Z (an array) but got a tuple of "
            f"{len(cache)}: a layer's cache is the pair (linear_cache, activation_cache), in "
            "that order; pass its second part, Z, here."
        )
    if np.shape(dA) != np.shape(cache):
        raise ValueError(
            f"{function}: dA has shape {np.shape(dA)} but this layer's Z has shape "
            f"{np.shape(cache)}. dA must be the gradient of this layer's own output A, which "
            "has Z's shape: the dA_prev the layer above returned, not another layer's."
        )
    return cache


def sigmoid(Z):
    """A = 1 / (1 + exp(-Z)), elementwise; returns (A, Z).

    exp is only taken of -|Z|, so a large |Z| gives 0 or 1 without an overflow warning.
    """
    e = np.exp(-np.abs(Z))
    A = np.where(Z >= 0, 1 / (1 + e), e / (1 + e))
    return A, Z


def relu(Z):
    """A = max(0, Z), elementwise; returns (A, Z)."""
    A = np.maximum(0, Z)
    return A, Z


def relu_backward(dA, cache):
    """dZ = dA where Z > 0, and 0 where Z <= 0 (cache is Z)."""
    Z = _activation_cache(dA, cache, "relu_backward")
    dZ = np.array(dA, copy=True)
    dZ[Z <= 0] = 0
    return dZ


def sigmoid_backward(dA, cache):
    """dZ = dA * s * (1 - s) with s = sigmoid(Z) (cache is Z)."""
    Z = _activation_cache(dA, cache, "sigmoid_backward")
    e = np.exp(-np.abs(Z))
    return dA * (e / ((1 + e) * (1 + e)))
