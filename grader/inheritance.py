"""Tell a function's own mistake from one it inherits from another graded function it calls.

``layer_backward`` calls the student's ``linear_backward``; when that is wrong,
``layer_backward`` fails too, and naming a mistake of its own would send the student to the
wrong place. The question asked, per failing test, is: does the student's function return
what a *correct* one returns when it is given the student's helper?

That is answered on the trusted side, without ever sending the reference to the child: the
reference function is run here with its global name for the helper bound to a proxy that
calls the student's helper in the sandbox (data in, data out, as every test call). When the
student's helper gave a wrong answer on the way and the student's function agrees with the
reference-with-their-helper (both returned the same values, or both raised), the failure is
inherited: "this comes from your linear_backward: fix that first".

The reference must call the helper by its global name (``linear_backward(dZ, cache)``); a
reference that does not name a graded function is simply never checked this way.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import numpy as np

from grader.authoring import tolerance
from grader.diagnosis import CallRecord, copy_value
from grader.sandbox.outcomes import CallOutcome, Raised, Returned

Call = Callable[[str, Sequence[Any]], CallOutcome]


class _HelperFailedError(Exception):
    """The student's helper did not return; the reference cannot go on with it."""


def same_result(a: Any, b: Any) -> bool:
    """Whether two results agree: arrays within their dtype's tolerance, containers by item."""
    if isinstance(b, np.ndarray):
        if not isinstance(a, np.ndarray) or a.shape != b.shape:
            return False
        if not (np.issubdtype(a.dtype, np.number) and np.issubdtype(b.dtype, np.number)):
            return bool(np.array_equal(a, b))
        rtol, atol = tolerance(b.dtype)
        with np.errstate(all="ignore"):
            return bool(
                np.allclose(
                    a.astype(np.float64), b.astype(np.float64), rtol=rtol, atol=atol, equal_nan=True
                )
            )
    if isinstance(b, (tuple, list)):
        return (
            isinstance(a, (tuple, list))
            and len(a) == len(b)
            and all(same_result(x, y) for x, y in zip(a, b, strict=True))
        )
    if isinstance(b, dict):
        return (
            isinstance(a, dict)
            and set(a) == set(b)
            and all(same_result(a[k], v) for k, v in b.items())
        )
    if isinstance(b, (float, int, np.number)) and isinstance(a, (float, int, np.number)):
        return bool(np.isclose(float(a), float(b)))
    return bool(a == b) if type(a) is type(b) else False


def helpers_called(reference: Callable[..., Any], graded: Collection[str]) -> tuple[str, ...]:
    """The graded functions a reference function calls by their global names."""
    code = getattr(reference, "__code__", None)
    names = getattr(code, "co_names", ())
    own = getattr(reference, "__name__", "")
    return tuple(n for n in graded if n != own and n in names)


class _Helper:
    """Stands in for the reference's helper: calls the student's, notes where it was wrong."""

    def __init__(self, name: str, correct: Callable[..., Any], call: Call) -> None:
        self.name = name
        self.correct = correct
        self.call = call
        self.wrong = False  #: it gave a different answer than a correct helper would
        self.timed_out = False

    def __call__(self, *args: Any) -> Any:
        outcome = self.call(self.name, [copy_value(a) for a in args])
        if not isinstance(outcome, Returned):
            self.wrong = True
            self.timed_out = not isinstance(outcome, Raised)
            raise _HelperFailedError(self.name)
        try:
            expected = self.correct(*copy_value(args))
        except Exception:
            expected = None
        if expected is None or not same_result(outcome.value, expected):
            self.wrong = True
        return outcome.value


def find_inherited(
    records: Sequence[CallRecord],
    failed_tests: Collection[str],
    function: str,
    reference: Callable[..., Any],
    graded: Collection[str],
    call: Call,
) -> dict[str, str]:
    """Failed test name -> the helper its failure comes from, for ``function``'s tests.

    Checks the first failing call of ``function`` in each failed test (so at most one extra
    run of the reference, and its helper calls, per test); stops after a helper hangs.
    """
    helpers = helpers_called(reference, graded)
    globals_ = getattr(reference, "__globals__", None)
    if not helpers or not isinstance(globals_, dict):
        return {}
    correct_helpers = {h: globals_.get(h) for h in helpers}
    found: dict[str, str] = {}
    checked: set[str] = set()
    for record in records:
        if record.test not in failed_tests or record.test in checked:
            continue
        if (record.function or function) != function:
            continue
        outcome = record.outcome
        if isinstance(outcome, Returned) and same_result(outcome.value, record.correct):
            continue  # this call was right; the test failed on another one or a property
        checked.add(record.test)
        for helper in helpers:
            correct = correct_helpers[helper]
            if not callable(correct):
                continue
            proxy = _Helper(helper, correct, call)
            theirs = _with_helper(reference, globals_, {helper: proxy})
            try:
                with np.errstate(all="ignore"):
                    expected = theirs(*copy_value(record.args))
                agrees = isinstance(outcome, Returned) and same_result(outcome.value, expected)
            except Exception:
                agrees = isinstance(outcome, Raised)
            if proxy.timed_out:
                return found
            if proxy.wrong and agrees:
                found[record.test] = helper
                break
    return found


def _with_helper(
    reference: Callable[..., Any], globals_: dict[str, Any], replaced: Mapping[str, Any]
) -> Callable[..., Any]:
    """The reference function with some global names bound differently (a copy, not a patch:
    a batch grades in threads that share the reference module)."""
    code = reference.__code__
    return types.FunctionType(
        code,
        {**globals_, **replaced},
        reference.__name__,
        getattr(reference, "__defaults__", None),
        getattr(reference, "__closure__", None),
    )
