"""Known wrong behaviours of compute_cost, matched on what a submission returns.

A cost of the right value that is not squeezed (an array of shape (1, 1)) is not a mistake
here: the tests accept it with a note that says so (test_hidden_compute_cost.py).
"""

import numpy as np

from grader.diagnosis import Misconception


def _terms(AL, Y):
    return Y * np.log(AL) + (1 - Y) * np.log(1 - AL)


def _cost_summed(args, correct, got):
    AL, Y = args
    return -np.sum(_terms(AL, Y))


def _cost_sign(args, correct, got):
    AL, Y = args
    return np.sum(_terms(AL, Y)) / Y.shape[1]


def _cost_positive_term_only(args, correct, got):
    AL, Y = args
    return -np.sum(Y * np.log(AL)) / Y.shape[1]


CATALOGUE = [
    Misconception(
        id="cost-without-1-over-m",
        title="The cost is summed over the examples, not averaged (1/m missing)",
        explanation=(
            "J = -(1/m) Σᵢ (y⁽ⁱ⁾ log a⁽ⁱ⁾ + (1 - y⁽ⁱ⁾) log(1 - a⁽ⁱ⁾)): the average over the m "
            "examples, m = Y.shape[1]. Your cost is m times too large."
        ),
        predict=_cost_summed,
    ),
    Misconception(
        id="cost-sign-flipped",
        title="The cost has the wrong sign (the minus is missing)",
        explanation=(
            "log of a probability is negative, so the cross-entropy has a minus in front: "
            "J = -(1/m) Σ (y log a + (1 - y) log(1 - a)) is positive, and it is what gradient "
            "descent makes smaller. Your cost is its negative."
        ),
        predict=_cost_sign,
    ),
    Misconception(
        id="cost-missing-negative-class-term",
        title="The (1 - y) log(1 - a) term is missing",
        explanation=(
            "Each example contributes y log a + (1 - y) log(1 - a): the second term is what "
            "penalises a high a when y = 0. Your cost only has y log a."
        ),
        predict=_cost_positive_term_only,
    ),
]
