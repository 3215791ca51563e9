"""Known wrong behaviours of L_model_forward, matched on what a submission returns.

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


def _forward(X, parameters, hidden, output):
    L = len(parameters) // 2
    A = X
    for layer in range(1, L + 1):
        g = ACTIVATIONS[output if layer == L else hidden]
        A = g(parameters[f"W{layer}"] @ A + parameters[f"b{layer}"])
    return A


def _sigmoid_everywhere(args, correct, got):
    X, parameters = args
    return _forward(X, parameters, "sigmoid", "sigmoid"), None


def _relu_at_output(args, correct, got):
    X, parameters = args
    return _forward(X, parameters, "relu", "relu"), None


CATALOGUE = [
    Misconception(
        id="sigmoid-everywhere",
        title="Every layer uses the sigmoid, not only the output layer",
        explanation=(
            "The model is [LINEAR -> RELU] × (L - 1) -> LINEAR -> SIGMOID: the hidden layers "
            'use activation="relu" (in the loop over l = 1 .. L-1) and only layer L uses '
            '"sigmoid", so that AL is a probability.'
        ),
        predict=_sigmoid_everywhere,
    ),
    Misconception(
        id="relu-at-output",
        title="The output layer uses ReLU instead of the sigmoid",
        explanation=(
            "The last layer, after the loop, is linear_activation_forward(A, W{L}, b{L}, "
            '"sigmoid"): AL must be a probability in (0, 1) for the cross-entropy cost. Your '
            "AL is the ReLU of Z{L}."
        ),
        predict=_relu_at_output,
    ),
]
