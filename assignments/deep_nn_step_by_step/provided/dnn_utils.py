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
array: a layer's cache is (linear_cache, activation_cache), and passing the tuple
linear_cache = (A_prev, W, b) instead is a common slip that numpy would report obscurely.
"""

import numpy as np


def _activation_cache(cache, function):
    if isinstance(cache, (tuple, list)):
        raise TypeError(
            f"{function} expects the activation cache Z (an array) but got a tuple of "
            f"{len(cache)}: a layer's cache is the pair (linear_cache, activation_cache), in "
            "that order; pass its second part, Z, here."
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
    Z = _activation_cache(cache, "relu_backward")
    dZ = np.array(dA, copy=True)
    dZ[Z <= 0] = 0
    return dZ


def sigmoid_backward(dA, cache):
    """dZ = dA * s * (1 - s) with s = sigmoid(Z) (cache is Z)."""
    Z = _activation_cache(cache, "sigmoid_backward")
    e = np.exp(-np.abs(Z))
    return dA * (e / ((1 + e) * (1 + e)))
