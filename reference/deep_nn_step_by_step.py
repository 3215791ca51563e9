"""Reference solution for deep_nn_step_by_step: never shown to students or sent to the sandbox.

The ten graded functions of the course notebook "Building your Deep Neural Network: Step by
Step", with its signatures and return conventions: a layer's cache is
``((A_prev, W, b), Z)``, ``L_model_forward`` returns ``(AL, caches)`` with one cache per layer
(L - 1 LINEAR -> RELU layers, then LINEAR -> SIGMOID), and ``L_model_backward`` returns a dict
with ``dW{l}``/``db{l}`` for every layer and the newer course generation's dA keys:
``grads["dA" + str(l - 1)]`` is the gradient with respect to ``A{l-1}`` (``dA0`` is that of
X). The hidden tests also accept the older generation's keys, one layer up, when applied
consistently (see test_hidden_l_model_backward.py).

The activations are this module's own (they match the provided ``dnn_utils``); the tests in
``tests/unit/test_reference_deep_nn.py`` check every backward function against central finite
differences of the forward functions.
"""

from __future__ import annotations

import numpy as np

LinearCache = tuple[np.ndarray, np.ndarray, np.ndarray]
LayerCache = tuple[LinearCache, np.ndarray]
Parameters = dict[str, np.ndarray]

INIT_SCALE = 0.01  # the course's scale for W: np.random.randn(...) * 0.01


# --- activations (the provided dnn_utils, with the course's return conventions) ------------


def sigmoid(Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(A, Z): A = 1 / (1 + exp(-Z)), without overflow for any |Z|; the cache is Z."""
    decay = np.exp(-np.abs(Z))
    return np.where(Z >= 0, 1 / (1 + decay), decay / (1 + decay)), Z


def relu(Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(A, Z): A = max(0, Z); the cache is Z."""
    return np.maximum(0, Z), Z


def relu_backward(dA: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """dZ = dA where Z > 0, else 0 (slope 0 at Z == 0, as the course's dnn_utils)."""
    return np.where(cache > 0, dA, 0 * dA)


def sigmoid_backward(dA: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """dZ = dA * s * (1 - s), written as e / (1 + e)² with e = exp(-|Z|) (no overflow)."""
    decay = np.exp(-np.abs(cache))
    return dA * (decay / ((1 + decay) * (1 + decay)))


_FORWARD = {"relu": relu, "sigmoid": sigmoid}
_BACKWARD = {"relu": relu_backward, "sigmoid": sigmoid_backward}


# --- initialisation --------------------------------------------------------------------------


def initialize_parameters(
    n_x: int, n_h: int, n_y: int, rng: np.random.Generator | None = None
) -> Parameters:
    """W1 (n_h, n_x), b1 (n_h, 1), W2 (n_y, n_h), b2 (n_y, 1): W small random, b zeros.

    The tests grade shapes, zero biases and W's scale, never a particular random stream
    (students call ``np.random.seed`` in different places), so ``rng`` is only for tests.
    """
    rng = rng or np.random.default_rng(1)
    return {
        "W1": rng.standard_normal((n_h, n_x)) * INIT_SCALE,
        "b1": np.zeros((n_h, 1)),
        "W2": rng.standard_normal((n_y, n_h)) * INIT_SCALE,
        "b2": np.zeros((n_y, 1)),
    }


def initialize_parameters_deep(
    layer_dims: list[int], rng: np.random.Generator | None = None
) -> Parameters:
    """W{l} (layer_dims[l], layer_dims[l-1]) * 0.01 standard normal, b{l} zeros (n_l, 1)."""
    rng = rng or np.random.default_rng(1)
    params: Parameters = {}
    for layer in range(1, len(layer_dims)):
        shape = (layer_dims[layer], layer_dims[layer - 1])
        params[f"W{layer}"] = rng.standard_normal(shape) * INIT_SCALE
        params[f"b{layer}"] = np.zeros((layer_dims[layer], 1))
    return params


# --- forward -------------------------------------------------------------------------------


def linear_forward(A: np.ndarray, W: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, LinearCache]:
    """(Z, (A, W, b)) with Z = W · A + b, one column per example."""
    return W @ A + b, (A, W, b)


def linear_activation_forward(
    A_prev: np.ndarray, W: np.ndarray, b: np.ndarray, activation: str
) -> tuple[np.ndarray, LayerCache]:
    """(A, (linear_cache, activation_cache)) for activation "relu" or "sigmoid"."""
    Z, linear_part = linear_forward(A_prev, W, b)
    A, activation_part = _FORWARD[activation](Z)
    return A, (linear_part, activation_part)


def layer_count(parameters: Parameters) -> int:
    """L, the number of layers with parameters (W1, b1, ..., WL, bL)."""
    return len(parameters) // 2


def L_model_forward(X: np.ndarray, parameters: Parameters) -> tuple[np.ndarray, list[LayerCache]]:
    """(AL, caches): L - 1 LINEAR -> RELU layers, then LINEAR -> SIGMOID; caches[l-1] is layer l."""
    caches: list[LayerCache] = []
    A = X
    L = layer_count(parameters)
    for layer in range(1, L + 1):
        activation = "sigmoid" if layer == L else "relu"
        A, layer_cache = linear_activation_forward(
            A, parameters[f"W{layer}"], parameters[f"b{layer}"], activation
        )
        caches.append(layer_cache)
    return A, caches


def compute_cost(AL: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """The cross-entropy cost -(1/m) Σ (y log a + (1 - y) log(1 - a)), as a 0-d array."""
    examples = Y.shape[1]
    log_likelihood = Y * np.log(AL) + (1 - Y) * np.log(1 - AL)
    return np.asarray(-np.sum(log_likelihood) / examples)


# --- backward ------------------------------------------------------------------------------


def linear_backward(
    dZ: np.ndarray, cache: LinearCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dA_prev, dW, db) for Z = W · A_prev + b (as reference/linear_backward.py)."""
    A_prev, W, _ = cache
    m = dZ.shape[1]
    dW = (dZ @ A_prev.T) / m
    db = dZ.sum(axis=1, keepdims=True) / m
    return W.T @ dZ, dW, db  # dA_prev first


def linear_activation_backward(
    dA: np.ndarray, cache: LayerCache, activation: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dA_prev, dW, db): the activation's backward step, then the linear one."""
    linear_part, Z = cache
    dZ = _BACKWARD[activation](dA, Z)
    return linear_backward(dZ, linear_part)


def output_gradient(AL: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """dAL = -(Y / AL - (1 - Y) / (1 - AL)): the cost's gradient with respect to AL, per example."""
    Y = np.reshape(Y, AL.shape)
    return -(np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))


def L_model_backward(
    AL: np.ndarray, Y: np.ndarray, caches: list[LayerCache]
) -> dict[str, np.ndarray]:
    """grads: dW{l}, db{l} for l = 1..L, and dA{l-1} (the gradient with respect to A{l-1})."""
    gradients: dict[str, np.ndarray] = {}
    L = len(caches)
    dA = output_gradient(AL, Y)
    for layer in range(L, 0, -1):
        activation = "sigmoid" if layer == L else "relu"
        dA, dW, db = linear_activation_backward(dA, caches[layer - 1], activation)
        gradients[f"dA{layer - 1}"] = dA
        gradients[f"dW{layer}"] = dW
        gradients[f"db{layer}"] = db
    return gradients


def update_parameters(
    parameters: Parameters, grads: dict[str, np.ndarray], learning_rate: float
) -> Parameters:
    """A new dict: W{l} - learning_rate * dW{l} and b{l} - learning_rate * db{l} for every layer.

    The arguments are left alone; the older course template updates the dict in place and
    returns it, which the tests accept (see test_hidden_update_parameters.py).
    """
    updated = dict(parameters)
    for layer in range(1, layer_count(parameters) + 1):
        updated[f"W{layer}"] = parameters[f"W{layer}"] - learning_rate * grads[f"dW{layer}"]
        updated[f"b{layer}"] = parameters[f"b{layer}"] - learning_rate * grads[f"db{layer}"]
    return updated


def forward_cost(X: np.ndarray, Y: np.ndarray, parameters: Parameters) -> float:
    """The cost of the whole forward pass (for gradient checks)."""
    AL, _ = L_model_forward(X, parameters)
    return float(compute_cost(AL, Y))


__all__: list[str] = [
    "L_model_backward",
    "L_model_forward",
    "compute_cost",
    "forward_cost",
    "initialize_parameters",
    "initialize_parameters_deep",
    "linear_activation_backward",
    "linear_activation_forward",
    "linear_backward",
    "linear_forward",
    "output_gradient",
    "relu",
    "relu_backward",
    "sigmoid",
    "sigmoid_backward",
    "update_parameters",
]
