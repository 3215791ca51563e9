"""Hidden tests for L_model_backward(AL, Y, caches) -> grads: 20 points.

dW{l} and db{l} are graded strictly, for every layer. The dA keys changed between the course's
generations: newer notebooks store the gradient with respect to A{l-1} (layer l's dA_prev)
under "dA" + str(l - 1), 2017 copies one layer up, under "dA" + str(l). Either convention is
accepted when every key follows it (with a note for the older one).

The networks: 2 layers [4, 3, 1], 3 layers [5, 4, 3, 1], and a narrow one where every layer
is one unit wide [1, 1, 1, 1]: there, mistakes that mix up layers (dAL given to every layer,
caches off by one or in forward order) return values instead of failing on shapes, so they
can be named. Inputs come from the reference's forward pass on fixed seeds.
"""

import numpy as np
import pytest

from grader.authoring import MismatchError, assert_close, assert_unchanged, note


def network(reference, seed, dims, m, *, positive=False):
    """(AL, Y, caches) of a forward pass through fixed random parameters."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((dims[0], m))
    weights = {}
    for layer in range(1, len(dims)):
        W = rng.standard_normal((dims[layer], dims[layer - 1])) * 0.9
        weights[f"W{layer}"] = np.abs(W) + 0.3 if positive else W
        weights[f"b{layer}"] = rng.standard_normal((dims[layer], 1)) * 0.2
    if positive:  # every ReLU unit active on most examples, yet not all
        X = np.abs(X) + 0.1
        X[0, 0] = -2.0
    Y = (rng.random((1, m)) > 0.5).astype(np.float64)
    Y[0, 0], Y[0, -1] = 1.0, 0.0
    AL, caches = reference.L_model_forward(X, weights)
    return AL, Y, caches


def grads_of(result, L):
    """grads, checked to be a dict holding dW{l} and db{l} for every layer."""
    if not isinstance(result, dict):
        what = "None (did you forget `return`?)" if result is None else type(result).__name__
        raise MismatchError("type", f"L_model_backward should return the dict grads, not {what}.")
    missing = [f"{p}{layer}" for layer in range(1, L + 1) for p in ("dW", "db")]
    missing = [k for k in missing if k not in result]
    if missing:
        raise MismatchError(
            "type",
            f"grads has no key {', '.join(missing)}: every layer l = 1 .. {L} needs "
            '"dW" + str(l) and "db" + str(l) (check the loop\'s range).',
        )
    return result


def parameter_grads(grads, L):
    return {k: grads[k] for layer in range(1, L + 1) for k in (f"dW{layer}", f"db{layer}")}


def dA_in_newer_keys(grads, L):
    """The dA entries renamed to the newer convention (dA{l-1} for layer l), or a failure."""
    keys = {k for k in grads if k.startswith("dA")}
    newer = {f"dA{layer}" for layer in range(L)}
    older = {f"dA{layer}" for layer in range(1, L + 1)}
    if newer <= keys and f"dA{L}" not in keys:
        return {k: grads[k] for k in newer}
    if older <= keys and "dA0" not in keys:
        note(
            "grads uses the 2017 course's dA keys (layer l's dA_prev under \"dA\" + str(l)); "
            'accepted. The current course stores it under "dA" + str(l - 1), the gradient '
            "with respect to A{l-1}, so that dA0 is the gradient with respect to X."
        )
        return {f"dA{layer - 1}": grads[f"dA{layer}"] for layer in range(1, L + 1)}
    raise MismatchError(
        "type",
        f"grads has the dA keys {sorted(keys) or 'none'}: store layer l's dA_prev under "
        '"dA" + str(l - 1) for every layer l = 1 .. L (dA0 .. dA{L-1}), or consistently under '
        '"dA" + str(l) (the 2017 notebook).',
    )


def check_parameter_grads(L_model_backward, reference, seed, dims, m, **kwargs):
    AL, Y, caches = network(reference, seed, dims, m, **kwargs)
    L = len(dims) - 1
    expected = parameter_grads(reference.L_model_backward(AL, Y, caches), L)
    got = parameter_grads(grads_of(L_model_backward(AL, Y, caches), L), L)
    assert_close(got, expected, name="grads")


@pytest.mark.points(5)
@pytest.mark.tags("dW", "db")
def test_two_layers(L_model_backward, reference):
    """dW1, db1, dW2, db2 of a 2-layer network, layer_dims [4, 3, 1], m = 5."""
    check_parameter_grads(L_model_backward, reference, 151, [4, 3, 1], 5)


@pytest.mark.points(5)
@pytest.mark.tags("dW", "db")
def test_three_layers(L_model_backward, reference):
    """dW{l}, db{l} of a 3-layer network, layer_dims [5, 4, 3, 1], m = 6."""
    check_parameter_grads(L_model_backward, reference, 152, [5, 4, 3, 1], 6)


@pytest.mark.points(3)
@pytest.mark.tags("dW", "db", "narrow")
def test_narrow_network(L_model_backward, reference):
    """dW{l}, db{l} of a 3-layer network one unit wide, layer_dims [1, 1, 1, 1], m = 6."""
    check_parameter_grads(L_model_backward, reference, 153, [1, 1, 1, 1], 6, positive=True)


@pytest.mark.points(3)
@pytest.mark.tags("dA")
def test_dA_keys_and_values(L_model_backward, reference):
    """Every layer's dA_prev, under either course generation's keys, [5, 4, 3, 1], m = 6."""
    AL, Y, caches = network(reference, 154, [5, 4, 3, 1], 6)
    expected = reference.L_model_backward(AL, Y, caches)
    grads = grads_of(L_model_backward(AL, Y, caches), 3)
    got = dA_in_newer_keys(grads, 3)
    assert_close(got, {k: expected[k] for k in got}, name="grads")


@pytest.mark.points(2)
@pytest.mark.tags("keys")
def test_keys_for_every_layer(L_model_backward, reference):
    """grads holds dW{l}, db{l} and dA keys of one convention for each of 4 layers."""
    AL, Y, caches = network(reference, 155, [3, 4, 3, 2, 1], 5)
    dA_in_newer_keys(grads_of(L_model_backward(AL, Y, caches), 4), 4)


@pytest.mark.points(2)
@pytest.mark.tags("no-mutation")
def test_inputs_unchanged(L_model_backward, reference):
    """AL, Y and every array of the caches are left as they were."""
    AL, Y, caches = network(reference, 156, [4, 3, 1], 5)
    before = (
        AL.copy(),
        Y.copy(),
        [((a.copy(), w.copy(), b.copy()), z.copy()) for (a, w, b), z in caches],
    )
    L_model_backward(AL, Y, caches)
    assert_unchanged(
        (AL, Y, caches), before, name="(AL, Y, caches)", advice="Compute into new arrays."
    )
