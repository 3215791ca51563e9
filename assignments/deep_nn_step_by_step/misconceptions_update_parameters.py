"""Known wrong behaviours of update_parameters, matched on the parameters it returns.

Updating the dict in place and returning it (the older course template) is not a mistake
here: the tests accept it with a note.
"""

from grader.diagnosis import Misconception


def _update(args, *, sign=-1.0, use_rate=True, layers=None):
    parameters, grads, learning_rate = args
    rate = learning_rate if use_rate else 1.0
    L = len(parameters) // 2
    out = dict(parameters)
    for layer in layers(L) if layers else range(1, L + 1):
        for p in ("W", "b"):
            out[f"{p}{layer}"] = parameters[f"{p}{layer}"] + sign * rate * grads[f"d{p}{layer}"]
    return out


def _plus(args, correct, got):
    return _update(args, sign=1.0)


def _no_rate(args, correct, got):
    return _update(args, use_rate=False)


def _last_layer_skipped(args, correct, got):
    return _update(args, layers=lambda L: range(1, L))


def _first_layer_skipped(args, correct, got):
    return _update(args, layers=lambda L: range(2, L + 1))


CATALOGUE = [
    Misconception(
        id="gradient-ascent",
        title="The gradient is added, not subtracted",
        explanation=(
            "Gradient descent steps against the gradient: W{l} = W{l} - learning_rate * dW{l} "
            "and b{l} = b{l} - learning_rate * db{l}. With + the cost goes up."
        ),
        predict=_plus,
    ),
    Misconception(
        id="learning-rate-missing",
        title="The learning rate is left out of the update",
        explanation=(
            "Each step is learning_rate times the gradient: W{l} - learning_rate * dW{l}. "
            "Your update subtracts the whole gradient."
        ),
        predict=_no_rate,
    ),
    Misconception(
        id="last-layer-not-updated",
        title="The last layer is not updated (the loop's range stops one layer short)",
        explanation=(
            "With L = len(parameters) // 2 layers, the loop must reach layer L: "
            "`for l in range(L)` with the keys str(l + 1), or `for l in range(1, L + 1)`. "
            "range(1, L) stops at layer L - 1."
        ),
        predict=_last_layer_skipped,
    ),
    Misconception(
        id="first-layer-not-updated",
        title="The first layer is not updated (the loop's range starts one layer late)",
        explanation=(
            "Layers are numbered from 1: the loop must update W1 and b1 too, "
            "`for l in range(L)` with the keys str(l + 1)."
        ),
        predict=_first_layer_skipped,
    ),
]
