"""Known wrong behaviours of linear_activation_forward, matched on what a submission returns.

It returns (value, cache): each predictor gives the value and None for the cache.
"""

import numpy as np

from grader.diagnosis import Misconception


def sigmoid(Z):
    e = np.exp(-np.abs(Z))
    return np.where(Z >= 0, 1 / (1 + e), e / (1 + e))


def relu(Z):
    return np.maximum(0, Z)


ACTIVATIONS = {"relu": relu, "sigmoid": sigmoid}
OTHER = {"relu": "sigmoid", "sigmoid": "relu"}


def _activations_swapped(args, correct, got):
    A_prev, W, b, activation = args
    return ACTIVATIONS[OTHER[activation]](W @ A_prev + b), None


def _activation_not_applied(args, correct, got):
    A_prev, W, b, _ = args
    return W @ A_prev + b, None


def _activation_on_input(args, correct, got):
    A_prev, W, b, activation = args
    return W @ ACTIVATIONS[activation](A_prev) + b, None


CATALOGUE = [
    Misconception(
        id="activations-swapped",
        title='"relu" computes the sigmoid and "sigmoid" the ReLU',
        explanation=(
            'The branches are crossed: activation == "sigmoid" must give A = sigmoid(Z) and '
            '"relu" A = relu(Z). Check which function each string calls.'
        ),
        predict=_activations_swapped,
    ),
    Misconception(
        id="activation-not-applied",
        title="A is Z: the activation is never applied",
        explanation=(
            "A layer is a linear step followed by its activation: Z, linear_cache = "
            "linear_forward(A_prev, W, b), then A, activation_cache = relu(Z) (or sigmoid(Z)). "
            "Your A is Z itself."
        ),
        predict=_activation_not_applied,
    ),
    Misconception(
        id="activation-applied-to-input",
        title="The activation is applied to A_prev instead of to Z",
        explanation=(
            "The activation acts on the layer's own linear output: A = g(Z) with "
            "Z = W · A_prev + b. Your A is W · g(A_prev) + b, the activation applied to the "
            "wrong thing (the input) before the linear step."
        ),
        predict=_activation_on_input,
    ),
]
