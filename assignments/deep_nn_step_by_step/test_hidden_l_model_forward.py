"""Hidden tests for L_model_forward(X, parameters) -> (AL, caches): 10 points.

L - 1 LINEAR -> RELU layers, then LINEAR -> SIGMOID; caches holds one
((A_prev, W, b), Z) per layer, in order. Networks of 2 and 4 layers, no layer square.
"""

import numpy as np
import pytest

from grader.authoring import MismatchError, assert_close


def network(seed, dims, m):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((dims[0], m))
    weights = {}
    for layer in range(1, len(dims)):
        weights[f"W{layer}"] = rng.standard_normal((dims[layer], dims[layer - 1])) * 0.8
        weights[f"b{layer}"] = rng.standard_normal((dims[layer], 1)) * 0.3
    return X, weights


def unpack(result):
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        what = "None (did you forget `return`?)" if result is None else type(result).__name__
        raise MismatchError("type", f"L_model_forward should return (AL, caches), not {what}.")
    return result


def check_AL(L_model_forward, reference, seed, dims, m):
    X, parameters = network(seed, dims, m)
    expected, _ = reference.L_model_forward(X, parameters)
    AL, _ = unpack(L_model_forward(X, parameters))
    assert_close(AL, expected, name="AL")


@pytest.mark.points(3)
@pytest.mark.tags("AL")
def test_two_layers(L_model_forward, reference):
    """AL of a 2-layer network, layer_dims [4, 3, 1], m = 5 examples."""
    check_AL(L_model_forward, reference, 121, [4, 3, 1], 5)


@pytest.mark.points(4)
@pytest.mark.tags("AL")
def test_four_layers(L_model_forward, reference):
    """AL of a 4-layer network, layer_dims [5, 4, 3, 2, 1], m = 7 examples."""
    check_AL(L_model_forward, reference, 122, [5, 4, 3, 2, 1], 7)


@pytest.mark.points(3)
@pytest.mark.tags("caches")
def test_caches(L_model_forward, reference):
    """caches has one ((A_prev, W, b), Z) per layer, layer 1's first (3 layers, m = 4)."""
    X, parameters = network(123, [3, 4, 2, 1], 4)
    _, expected = reference.L_model_forward(X, parameters)
    _, caches = unpack(L_model_forward(X, parameters))
    if not isinstance(caches, (tuple, list)) or len(caches) != len(expected):
        what = f"{len(caches)} entries" if isinstance(caches, (tuple, list)) else "not a list"
        raise MismatchError(
            "type", f"caches should be a list of {len(expected)} caches, one per layer: {what}."
        )
    for layer, (got, want) in enumerate(zip(caches, expected, strict=True), start=1):
        ok = (
            isinstance(got, (tuple, list))
            and len(got) == 2
            and isinstance(got[0], (tuple, list))
            and len(got[0]) == 3
        )
        if not ok:
            raise MismatchError(
                "type", f"caches[{layer - 1}] should be layer {layer}'s ((A_prev, W, b), Z)."
            )
        (A_prev, W, b), Z = want
        for value, expected_value, name in zip(
            (*got[0], got[1]), (A_prev, W, b, Z), ("A_prev", "W", "b", "Z"), strict=True
        ):
            assert_close(value, expected_value, name=f"caches[{layer - 1}]'s {name}")
