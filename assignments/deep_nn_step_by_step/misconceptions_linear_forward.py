"""Known wrong behaviours of linear_forward, matched on what a submission returns.

It returns (value, cache): each predictor gives the value and None for the cache.
"""

from grader.diagnosis import Misconception


def _bias_missing(args, correct, got):
    A, W, _ = args
    return W @ A, None


CATALOGUE = [
    Misconception(
        id="bias-missing",
        title="Z = W · A, without + b",
        explanation=(
            "The linear step is Z = W · A + b: b, of shape (n, 1), is added to every column "
            "(numpy broadcasts it over the m examples). Your Z leaves it out."
        ),
        predict=_bias_missing,
    ),
]
