"""Known wrong behaviours of linear_backward, matched on what a submission returns.

The function returns three outputs, (dA_prev, dW, db); each "value" entry predicts the
outputs its mistake gets wrong (None for the ones it leaves alone), and each "shape" entry
predicts the wrong shape it produces, so "db has shape (n,)" (keepdims) and "db has shape
(1, m)" (the wrong axis) get different names. ``correct`` is the reference's answer.

The hidden tests never use a square layer, so swapped transposes always show as shapes.
"""

import numpy as np

from grader.diagnosis import Misconception

SHAPES = "dA_prev has the shape of A_prev (n_prev, m), dW of W (n, n_prev), db of b (n, 1)"


def _parts(args):
    dZ, (A_prev, W, b) = args
    return dZ, A_prev, W, b, A_prev.shape[1]


def _unaveraged(args, correct, got):
    dZ, A_prev, _, _, _ = _parts(args)
    return None, dZ @ A_prev.T, np.sum(dZ, axis=1, keepdims=True)


def _dW_unaveraged(args, correct, got):
    dZ, A_prev, _, _, _ = _parts(args)
    return None, dZ @ A_prev.T, None


def _db_unaveraged(args, correct, got):
    dZ, _, _, _, _ = _parts(args)
    return None, None, np.sum(dZ, axis=1, keepdims=True)


def _dA_prev_averaged(args, correct, got):
    dZ, _, W, _, m = _parts(args)
    return W.T @ dZ / m, None, None


def _db_flat(args, correct, got):
    dZ, _, _, _, m = _parts(args)
    return None, None, np.sum(dZ, axis=1) / m


def _db_over_units(args, correct, got):
    dZ, _, _, _, m = _parts(args)
    return None, None, np.sum(dZ, axis=0, keepdims=True) / m


def _db_summed_over_everything(args, correct, got):
    dZ, _, _, _, m = _parts(args)
    return None, None, np.sum(dZ, keepdims=True) / m


def _db_summed_to_scalar(args, correct, got):
    dZ, _, _, _, m = _parts(args)
    return None, None, np.sum(dZ) / m


def _db_squeezed(args, correct, got):
    dZ, _, _, _, m = _parts(args)
    return None, None, np.squeeze(np.sum(dZ, axis=1, keepdims=True)) / m


def _dW_transposed(args, correct, got):
    dZ, A_prev, _, _, m = _parts(args)
    return None, A_prev @ dZ.T / m, None


def _dA_prev_transposed(args, correct, got):
    dZ, _, W, _, _ = _parts(args)
    return dZ.T @ W, None, None


CATALOGUE = [
    Misconception(
        id="missing-one-over-m",
        title="dW and db are sums over the batch, not averages (1/m missing)",
        explanation=(
            "Your dW and db are m times too large. The cost is the average of the m "
            "examples' losses, J = (1/m) Σ L⁽ⁱ⁾, so the parameters' gradients are averages: "
            "dW = (1/m) dZ · A_prevᵀ and db = (1/m) Σᵢ dZ[:, i] (np.sum(dZ, axis=1, "
            "keepdims=True) / m)."
        ),
        predict=_unaveraged,
    ),
    Misconception(
        id="dW-not-divided-by-m",
        title="dW is not divided by m (db is)",
        explanation=(
            "Your db is averaged over the batch but dW is m times too large. Both are "
            "gradients of the averaged cost: dW = dZ · A_prevᵀ / m, with m = A_prev.shape[1]."
        ),
        predict=_dW_unaveraged,
    ),
    Misconception(
        id="db-not-divided-by-m",
        title="db is not divided by m (dW is)",
        explanation=(
            "Your dW is averaged over the batch but db is m times too large: "
            "db = np.sum(dZ, axis=1, keepdims=True) / m, with m = A_prev.shape[1]."
        ),
        predict=_db_unaveraged,
    ),
    Misconception(
        id="dA-prev-divided-by-m",
        title="dA_prev is divided by m",
        explanation=(
            "Your dA_prev is m times too small. Only the parameters' gradients dW and db are "
            "averaged over the batch; dA_prev = Wᵀ · dZ is passed on to the previous layer "
            "one column per example (each example's gradient, not an average), and that "
            "layer's own dW will divide by m once."
        ),
        predict=_dA_prev_averaged,
    ),
    Misconception(
        id="db-without-keepdims",
        title="db has shape (n,) instead of (n, 1): keepdims is missing",
        explanation=(
            "np.sum(dZ, axis=1) drops the summed axis, so db comes back as a 1-d array of "
            "shape (n,). b has shape (n, 1) and its gradient must too (a (n,) array broadcasts "
            "the wrong way in b - learning_rate * db): use np.sum(dZ, axis=1, keepdims=True)."
        ),
        kind="shape",
        output=2,
        predict=_db_flat,
    ),
    Misconception(
        id="db-summed-over-units",
        title="db sums over the wrong axis (over units instead of examples)",
        explanation=(
            "Your db has shape (1, m): dZ was summed over axis 0, the n units. dZ has one "
            "column per example, and b's gradient adds up the examples: "
            "db = np.sum(dZ, axis=1, keepdims=True) / m, of shape (n, 1)."
        ),
        kind="shape",
        output=2,
        predict=_db_over_units,
    ),
    Misconception(
        id="db-summed-over-everything",
        title="db sums all of dZ into one (1, 1) value (the axis is missing)",
        explanation=(
            "Your db has shape (1, 1) whatever the layer: np.sum(dZ, keepdims=True) adds up "
            "every entry of dZ, all units and all examples together. b has one bias per unit, "
            "so db needs one sum per unit, over the examples (the columns): "
            "db = np.sum(dZ, axis=1, keepdims=True) / m, of shape (n, 1)."
        ),
        kind="shape",
        output=2,
        predict=_db_summed_over_everything,
    ),
    Misconception(
        id="db-squeezed",
        title="np.squeeze turns db into a float (n = 1) or a 1-d array (n > 1)",
        explanation=(
            "np.squeeze drops every axis of length 1: db of shape (n, 1) becomes (n,), and "
            "for a layer of one unit a single float. db must keep the shape of b, (n, 1): "
            "db = np.sum(dZ, axis=1, keepdims=True) / m, without np.squeeze (the course "
            "squeezes only the cost, a single number)."
        ),
        kind="shape",
        output=2,
        predict=_db_squeezed,
    ),
    Misconception(
        id="db-summed-to-scalar",
        title="db is a single number: np.sum(dZ) adds up all of dZ",
        explanation=(
            "Your db is one float, not an array: np.sum(dZ) / m sums every entry of dZ, all "
            "units and all examples together. b has one bias per unit, so db needs one sum "
            "per unit over the examples, kept as a column: "
            "db = np.sum(dZ, axis=1, keepdims=True) / m, of shape (n, 1)."
        ),
        kind="type",
        output=2,
        predict=_db_summed_to_scalar,
    ),
    Misconception(
        id="dW-transposed",
        title="dW is transposed: the product's order or transposes are swapped",
        explanation=(
            "Your dW has shape (n_prev, n), as A_prev · dZᵀ gives. dW must have the shape "
            "of W, (n, n_prev): dW = dZ · A_prevᵀ / m, (n, m) · (m, n_prev). Checking the "
            f"shapes of each product finds the order: {SHAPES}."
        ),
        kind="shape",
        output=1,
        predict=_dW_transposed,
    ),
    Misconception(
        id="dA-prev-transposed",
        title="dA_prev is transposed: the product's order or transposes are swapped",
        explanation=(
            "Your dA_prev has shape (m, n_prev), as dZᵀ · W gives. dA_prev must have the "
            "shape of A_prev, (n_prev, m): dA_prev = Wᵀ · dZ, (n_prev, n) · (n, m). "
            f"{SHAPES}."
        ),
        kind="shape",
        output=0,
        predict=_dA_prev_transposed,
    ),
    Misconception(
        id="not-a-tuple-of-arrays",
        title="The result is not the tuple (dA_prev, dW, db) of numpy arrays",
        explanation=(
            "Return exactly three numpy arrays, in this order: `return dA_prev, dW, db`. "
            "Not a list of lists, a dict, two of them, or None."
        ),
        kind="type",
    ),
    Misconception(
        id="mutates-dZ",
        title="dZ is modified in place",
        explanation=(
            "After the call, the caller's dZ has changed (e.g. `dZ /= m`). dZ may still be "
            "needed, and dividing it in place also divides dA_prev; compute dW and db from "
            "dZ into new arrays: dW = dZ @ A_prev.T / m."
        ),
        kind="mutation",
        argument=0,
    ),
    Misconception(
        id="mutates-cache",
        title="The cache (A_prev, W, b) is modified in place",
        explanation=(
            "After the call, an array of the cache has changed. The cache belongs to the "
            "forward pass (and W and b to the model): read them, never assign into them. "
            "The update W -= learning_rate * dW happens later, outside the backward pass."
        ),
        kind="mutation",
        argument=1,
    ),
]
