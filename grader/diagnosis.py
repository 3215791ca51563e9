"""Name a submission's mistakes by matching its behaviour against the assignment's catalogue.

The grader never reads the student's source to decide. Every call the tests make is
recorded with its inputs, what came back, and the reference's answer; a misconception
is found when it *predicts* the wrong values the student produced (and the correct answer
differs there), when an argument was mutated, or when the result's shape or type is off.
Overlapping explanations are resolved greedily: the misconception that explains the most
wrong elements wins them, so a submission with two mistakes gets both names, and a
submission that returns dA/dZ is not also called "missing the chain rule".
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from grader.authoring import tolerance
from grader.errors import AssignmentError
from grader.sandbox.outcomes import CallOutcome, Returned

Kind = Literal["value", "mutation", "shape", "type"]


@dataclass(frozen=True)
class Misconception:
    """One known wrong behaviour, with what to tell a student who shows it."""

    id: str  #: stable, kebab-case: appears in results documents and reports
    title: str  #: one line
    explanation: str  #: for students, with the math
    kind: Kind = "value"
    #: for "value": (args, correct, got) -> what this mistake returns, or None where it does
    #: not apply. ``got`` is only for mistakes with a free parameter (e.g. a wrong constant),
    #: which they fit from it; the fit must then explain every element it claims.
    predict: Callable[[tuple[Any, ...], np.ndarray, np.ndarray], np.ndarray | None] | None = None
    argument: int = 0  #: for "mutation": which positional argument


@dataclass(frozen=True)
class CallRecord:
    """One call a test made, with everything needed to diagnose it afterwards."""

    test: str
    args: tuple[Any, ...]  #: the arguments as sent (copies: the call could not touch them)
    outcome: CallOutcome
    correct: Any  #: the reference's answer for the same arguments (None if it failed)


def load_catalogue(path: Path | None) -> tuple[Misconception, ...]:
    """Import ``CATALOGUE`` from an assignment's ``misconceptions.py`` (trusted code)."""
    if path is None:
        return ()
    spec = importlib.util.spec_from_file_location(f"grader_catalogue_{path.parent.name}", path)
    if spec is None or spec.loader is None:
        raise AssignmentError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise AssignmentError(f"{path} failed to import: {type(exc).__name__}: {exc}") from exc
    catalogue = getattr(module, "CATALOGUE", None)
    if not isinstance(catalogue, (list, tuple)) or not all(
        isinstance(m, Misconception) for m in catalogue
    ):
        raise AssignmentError(f"{path} must define CATALOGUE, a list of Misconception")
    return tuple(catalogue)


def _as_result_array(value: Any, correct: np.ndarray) -> np.ndarray | None:
    """The student's result reshaped to the correct shape where that is meaningful."""
    if isinstance(value, (list, tuple)):
        try:
            value = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            return None
    if not isinstance(value, np.ndarray) or not np.issubdtype(value.dtype, np.number):
        return None
    if value.shape == correct.shape:
        return value
    if value.ndim == 2 and value.T.shape == correct.shape:
        return np.asarray(value.T)
    if value.size == correct.size:
        return value.reshape(correct.shape)
    return None


def _close(a: np.ndarray, b: np.ndarray, dtype: np.dtype[Any]) -> np.ndarray:
    rtol, atol = tolerance(dtype)
    with np.errstate(all="ignore"):
        return np.isclose(
            a.astype(np.float64), b.astype(np.float64), rtol=rtol, atol=atol, equal_nan=True
        )


def _structural(m: Misconception, record: CallRecord) -> bool:
    outcome, correct = record.outcome, record.correct
    if not isinstance(outcome, Returned) or not isinstance(correct, np.ndarray):
        return False
    value = outcome.value
    if m.kind == "type":
        return not isinstance(value, np.ndarray)
    if m.kind == "shape":
        return isinstance(value, np.ndarray) and value.shape != correct.shape
    if m.kind == "mutation":
        if m.argument >= len(record.args) or m.argument >= len(outcome.args_after):
            return False
        before, after = record.args[m.argument], outcome.args_after[m.argument]
        if not isinstance(before, np.ndarray) or not isinstance(after, np.ndarray):
            return False
        return before.shape != after.shape or not np.array_equal(before, after, equal_nan=True)
    return False


def diagnose(
    records: Sequence[CallRecord], catalogue: Sequence[Misconception]
) -> dict[str, tuple[str, ...]]:
    """Map each test name to the misconception ids its calls show (ordered as the catalogue).

    The overall set is the union. Tests whose calls were all correct map to ().
    """
    found: dict[str, set[str]] = {r.test: set() for r in records}
    # Structural mistakes (type, shape, mutation) are facts of each call.
    for record in records:
        for m in catalogue:
            if m.kind != "value" and _structural(m, record):
                found[record.test].add(m.id)
    # Value mistakes: greedy cover of the wrong elements across all calls.
    value_ms = [m for m in catalogue if m.kind == "value" and m.predict is not None]
    remaining: list[np.ndarray] = []
    predictions: list[dict[str, np.ndarray]] = []
    usable: list[CallRecord] = []
    for record in records:
        outcome, correct = record.outcome, record.correct
        if not isinstance(outcome, Returned) or not isinstance(correct, np.ndarray):
            continue
        got = _as_result_array(outcome.value, correct)
        if got is None or correct.size == 0:
            continue
        wrong = ~_close(got, correct, correct.dtype)
        if not wrong.any():
            continue
        explains: dict[str, np.ndarray] = {}
        for m in value_ms:
            if m.predict is None:
                continue
            try:
                args = tuple(
                    np.array(a, copy=True) if isinstance(a, np.ndarray) else a for a in record.args
                )
                predicted = m.predict(args, correct, np.array(got, copy=True))
            except Exception:  # noqa: S112 -- a predictor that does not fit these inputs
                continue
            if predicted is None or np.shape(predicted) != correct.shape:
                continue
            predicted = np.asarray(predicted)
            mask = (
                wrong
                & _close(got, predicted, correct.dtype)
                & ~_close(predicted, correct, correct.dtype)
            )
            if mask.any():
                explains[m.id] = mask
        usable.append(record)
        remaining.append(wrong)
        predictions.append(explains)
    while True:
        totals: dict[str, int] = {}
        for left, explains in zip(remaining, predictions, strict=True):
            for mid, mask in explains.items():
                totals[mid] = totals.get(mid, 0) + int((mask & left).sum())
        best = max(totals.items(), key=lambda kv: kv[1], default=(None, 0))
        if best[0] is None or best[1] == 0:
            break
        winner = best[0]
        for i, (left, explains) in enumerate(zip(remaining, predictions, strict=True)):
            mask = explains.get(winner)
            if mask is not None and (mask & left).any():
                found[usable[i].test].add(winner)
                remaining[i] = left & ~mask
    order = {m.id: i for i, m in enumerate(catalogue)}
    return {test: tuple(sorted(ids, key=order.__getitem__)) for test, ids in found.items()}
