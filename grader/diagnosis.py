"""Name a submission's mistakes by matching its behaviour against the assignment's catalogue.

The grader never reads the student's source to decide. Every call the tests make is
recorded with its inputs, what came back, and a correct answer (the reference's, or in the
notebook self-check the visible test's expected value); a misconception is found when it
*predicts* the wrong values the student produced (and the correct answer differs there),
when an argument was mutated, or when a result's shape or type is off.

Functions may return one array or a tuple of arrays (``linear_backward`` returns
``(dA_prev, dW, db)``): each output is compared on its own, predictors return one array or
a tuple with ``None`` for the outputs they say nothing about, and "shape"/"type" entries
may name the output they concern.

Overlapping explanations are resolved greedily: the misconception that explains the most
wrong elements wins them, so a submission with two mistakes gets both names, and a
submission that returns dA/dZ is not also called "missing the chain rule". A prediction
that is wrong where the student was right is not what the student did, so it is dropped
for that call.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from grader.authoring import tolerance
from grader.errors import AssignmentError
from grader.sandbox.outcomes import CallOutcome, Raised, Returned

Kind = Literal["value", "mutation", "shape", "type", "error"]
#: one array (single-output functions) or one entry per output, None where it predicts nothing
Prediction = np.ndarray | tuple[np.ndarray | None, ...] | None
Predictor = Callable[[tuple[Any, ...], Any, Any], Prediction]


@dataclass(frozen=True)
class Misconception:
    """One known wrong behaviour, with what to tell a student who shows it."""

    id: str  #: stable, kebab-case: appears in results documents and reports
    title: str  #: one line
    explanation: str  #: for students, with the math
    kind: Kind = "value"
    #: for "value": (args, correct, got) -> what this mistake returns (an array, or for
    #: several outputs a tuple with None where it predicts nothing), or None where it does
    #: not apply. ``correct``/``got`` have the function's output structure (``got`` entries
    #: are None when unusable). ``got`` is only for mistakes with a free parameter (e.g. a
    #: wrong constant), which they fit from it; the fit must then explain what it claims.
    #: For "shape" (optional): what the mistake returns; only its shape is used, so the entry
    #: names that shape alone (db of shape (n,) is keepdims, (1, m) the wrong axis).
    predict: Predictor | None = None
    #: for "mutation": which positional argument, or a path into nested tuples and dicts,
    #: e.g. (1, 0) or (0, "W1")
    argument: int | tuple[int | str, ...] = 0
    #: for "shape"/"type" of a function with several outputs: which one (None: any)
    output: int | None = None
    #: for "error": a regular expression searched in the exception the call raised, as
    #: "ExceptionName: message" (a mistake that never returns, e.g. a cache read backwards)
    error: str = ""


@dataclass(frozen=True)
class CallRecord:
    """One call a test made, with everything needed to diagnose it afterwards."""

    test: str
    args: tuple[Any, ...]  #: the arguments as sent (copies: the call could not touch them)
    outcome: CallOutcome
    correct: Any  #: a correct answer for the same arguments (None if unknown)
    function: str = ""  #: which student function was called ("" for the main one)


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
    ids = [m.id for m in catalogue]
    if len(set(ids)) != len(ids):
        raise AssignmentError(f"{path}: misconception ids must be unique")
    return tuple(catalogue)


# --- lining up outputs ---------------------------------------------------------------------


def correct_outputs(correct: Any) -> tuple[np.ndarray | None, ...] | None:
    """The correct answer as a tuple with one entry per output, or None if unusable.

    An entry is None where the correct output is unknown (the notebook self-check knows only
    the outputs a visible test compared): nothing is concluded about that output.
    """
    if isinstance(correct, np.ndarray):
        return (correct,)
    if isinstance(correct, dict):  # e.g. grads: one output per key, in the reference's order
        correct = tuple(correct.values())
    if isinstance(correct, (tuple, list)) and any(isinstance(c, np.ndarray) for c in correct):
        # Outputs that are not arrays (the cache of (Z, cache)) are not compared here.
        return tuple(c if isinstance(c, np.ndarray) else None for c in correct)
    return None


def _got_outputs(value: Any, correct: Any) -> tuple[Any, ...] | None:
    """The student's outputs lined up with the correct ones; None when the structure differs."""
    if isinstance(correct, np.ndarray):
        return (value,)
    if isinstance(correct, dict):
        # Keys the student lacks are None: the others are still compared (a grads dict
        # with the older course's dA keys is diagnosed on its dW and db).
        return tuple(value.get(k) for k in correct) if isinstance(value, dict) else None
    if isinstance(value, (tuple, list)) and len(value) == len(correct):
        return tuple(value)
    return None


def _as_result_array(value: Any, correct: np.ndarray) -> np.ndarray | None:
    """The student's result reshaped to the correct shape where that is meaningful."""
    if isinstance(value, (list, tuple, int, float, np.number)):
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


def copy_value(value: Any) -> Any:
    """A deep copy of arrays inside tuples/lists (other values are immutable enough)."""
    if isinstance(value, np.ndarray):
        return np.array(value, copy=True)
    if isinstance(value, (tuple, list)):
        return type(value)(copy_value(v) for v in value)
    if isinstance(value, dict):
        return {k: copy_value(v) for k, v in value.items()}
    return value


def _same(before: Any, after: Any) -> bool:
    if isinstance(before, np.ndarray):
        return (
            isinstance(after, np.ndarray)
            and before.shape == after.shape
            and bool(np.array_equal(before, after, equal_nan=True))
        )
    if isinstance(before, (tuple, list)):
        return (
            isinstance(after, (tuple, list))
            and len(before) == len(after)
            and all(_same(b, a) for b, a in zip(before, after, strict=True))
        )
    if isinstance(before, dict):
        return (
            isinstance(after, dict)
            and set(before) == set(after)
            and all(_same(b, after[k]) for k, b in before.items())
        )
    return True  # scalars are passed by value: the caller cannot see a change


def value_at(value: Any, path: tuple[int | str, ...]) -> Any:
    """``value[path[0]][path[1]]...``, or None where the path does not exist.

    An int indexes a tuple or list, a str a dict (``parameters["W1"]``).
    """
    for index in path:
        if isinstance(value, dict) and isinstance(index, str):
            value = value.get(index)
        elif isinstance(value, (tuple, list)) and isinstance(index, int) and index < len(value):
            value = value[index]
        else:
            return None
    return value


def _lined_up(raw: Any, correct: Any) -> Any:
    """A predictor's dict answer as a tuple in the correct answer's key order."""
    if isinstance(correct, dict) and isinstance(raw, dict):
        return tuple(raw.get(k) for k in correct)
    return raw


# --- structural mistakes ---------------------------------------------------------------------


def _structural(m: Misconception, record: CallRecord) -> bool:
    outcome = record.outcome
    if m.kind == "error":
        return isinstance(outcome, Raised) and bool(
            m.error and re.search(m.error, f"{outcome.ename}: {outcome.evalue}")
        )
    if not isinstance(outcome, Returned):
        return False
    if m.kind == "mutation":
        path = (m.argument,) if isinstance(m.argument, int) else m.argument
        before, after = value_at(record.args, path), value_at(outcome.args_after, path)
        return before is not None and not _same(before, after)
    return bool(_form_items(m, record))


def form(value: Any) -> tuple[int, ...] | str:
    """What a "shape"/"type" entry compares: an array's shape, "scalar" for a single number
    (0-d arrays too: ``np.squeeze`` of a (1, 1) array), else the type's name."""
    if isinstance(value, np.ndarray):
        return "scalar" if value.ndim == 0 else value.shape
    if isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, np.bool_)):
        return "scalar"
    return str(getattr(value, "type_name", None) or type(value).__name__)


def _form_items(m: Misconception, record: CallRecord) -> list[int]:
    """The outputs (-1: the whole result) of the call whose shape or type ``m`` explains.

    An entry with a predictor explains an output whose form differs from the correct one's
    exactly as predicted (db of shape (n,) is keepdims, (1, m) the wrong axis, a single
    number np.sum over everything); one without explains any such difference of its kind.
    """
    outcome = record.outcome
    corrects = correct_outputs(record.correct)
    if not isinstance(outcome, Returned) or corrects is None or m.kind not in ("shape", "type"):
        return []
    gots = _got_outputs(outcome.value, record.correct)
    if gots is None:
        return [-1] if m.kind == "type" and m.predict is None else []
    indices = range(len(corrects)) if m.output is None else range(m.output, m.output + 1)
    found = []
    for i in range(max(indices.start, 0), min(indices.stop, len(corrects))):
        got, expected = gots[i], corrects[i]
        if expected is None:
            continue
        if m.predict is not None:
            if form(got) != form(expected) and _predicted_form(m, record, i) == form(got):
                found.append(i)
        elif (m.kind == "type" and not isinstance(got, np.ndarray)) or (
            m.kind == "shape" and isinstance(got, np.ndarray) and got.shape != expected.shape
        ):
            found.append(i)
    return found


def _predicted_form(m: Misconception, record: CallRecord, output: int) -> tuple[int, ...] | str:
    """The form a "shape"/"type" entry's predictor gives one output (never broadcast)."""
    if m.predict is None:
        return "-"
    try:
        with np.errstate(all="ignore"):
            raw = m.predict(copy_value(record.args), copy_value(record.correct), None)
    except Exception:
        return "-"  # a predictor that does not fit these inputs
    items = (raw,) if isinstance(record.correct, np.ndarray) else _lined_up(raw, record.correct)
    if not isinstance(items, (tuple, list)) or output >= len(items) or items[output] is None:
        return "-"
    return form(items[output])


def _structural_cover(
    records: Sequence[CallRecord], catalogue: Sequence[Misconception]
) -> list[tuple[str, str]]:
    """(test, misconception id) for the shape and type mistakes of the calls.

    The outputs of wrong shape or type are shared out greedily, as wrong values are: the
    entry whose prediction explains the most of them wins them, so db of shape (1, 1) on
    every call is "summed over everything", not also "summed over units" on the calls
    where m = 1 makes the two look alike. Entries without a prediction ("the shape
    changed") take only what no prediction explains.
    """
    order = {m.id: i for i, m in enumerate(catalogue)}
    entries = [m for m in catalogue if m.kind in ("shape", "type")]
    claims = {
        m.id: {(r, i) for r, record in enumerate(records) for i in _form_items(m, record)}
        for m in entries
    }
    predicting = [m.id for m in entries if m.predict is not None]
    found: list[tuple[str, str]] = []
    left = set().union(*claims.values()) if claims else set()
    while True:
        best = max(predicting, key=lambda i: (len(claims[i] & left), -order[i]), default=None)
        if best is None or not claims[best] & left:
            break
        found.extend((records[r].test, best) for r, _ in claims[best] & left)
        left -= claims[best]
    for m in entries:
        if m.predict is None:
            found.extend((records[r].test, m.id) for r, _ in claims[m.id] & left)
    return found


# --- value mistakes --------------------------------------------------------------------------


def _predictions(
    m: Misconception,
    record: CallRecord,
    corrects: tuple[np.ndarray | None, ...],
    gots: list[np.ndarray | None],
) -> list[np.ndarray | None] | None:
    """What ``m`` says each output should be, lined up with the outputs; None if it abstains."""
    if m.predict is None:
        return None
    single = isinstance(record.correct, np.ndarray)
    correct_arg: Any = copy_value(corrects[0]) if single else tuple(copy_value(c) for c in corrects)
    got_arg: Any = copy_value(gots[0]) if single else tuple(copy_value(g) for g in gots)
    if isinstance(record.correct, dict):  # predictors of a dict see and return dicts
        correct_arg = dict(zip(record.correct, correct_arg, strict=True))
        got_arg = dict(zip(record.correct, got_arg, strict=True))
    try:
        with np.errstate(all="ignore"):
            raw = m.predict(copy_value(record.args), correct_arg, got_arg)
    except Exception:
        return None  # a predictor that does not fit these inputs
    if raw is None:
        return None
    items: tuple[Any, ...] = (raw,) if single else tuple(_lined_up(raw, record.correct))
    if len(items) != len(corrects):
        return None
    out: list[np.ndarray | None] = []
    for item, correct in zip(items, corrects, strict=True):
        if item is None or correct is None:
            out.append(None)
            continue
        array = np.asarray(item)
        out.append(np.broadcast_to(array, correct.shape) if array.size == 1 else array)
    return out


@dataclass
class _Evidence:
    """One output of one call that came back wrong, and which misconception explains what."""

    record: int
    output: int
    wrong: np.ndarray
    explains: dict[str, np.ndarray]


def _value_evidence(
    record: CallRecord, value_ms: Sequence[Misconception], index: int = 0
) -> list[_Evidence]:
    outcome = record.outcome
    if not isinstance(outcome, Returned):
        return []
    corrects = correct_outputs(record.correct)
    raw = _got_outputs(outcome.value, record.correct) if corrects is not None else None
    if corrects is None or raw is None:
        return []
    gots = [
        None if c is None else _as_result_array(g, c) for g, c in zip(raw, corrects, strict=True)
    ]
    wrongs: list[np.ndarray | None] = [
        None if g is None or c is None or c.size == 0 else ~_close(g, c, c.dtype)
        for g, c in zip(gots, corrects, strict=True)
    ]
    if not any(w is not None and w.any() for w in wrongs):
        return []
    evidence = [
        _Evidence(index, i, w, {}) if w is not None and w.any() else None
        for i, w in enumerate(wrongs)
    ]
    for m in value_ms:
        predicted = _predictions(m, record, corrects, gots)
        if predicted is None:
            continue
        masks: list[tuple[int, np.ndarray]] = []
        contradicted = False
        for i, (p, g, c, w) in enumerate(zip(predicted, gots, corrects, wrongs, strict=True)):
            if p is None or g is None or w is None or c is None or p.shape != c.shape:
                continue
            predicted_wrong = ~_close(p, c, c.dtype)
            if (predicted_wrong & ~w).any():
                contradicted = True  # it would be wrong where the student was right
                break
            mask = w & _close(g, p, c.dtype) & predicted_wrong
            if mask.any():
                masks.append((i, mask))
        if contradicted:
            continue
        for i, mask in masks:
            item = evidence[i]
            if item is not None:
                item.explains[m.id] = mask
    return [e for e in evidence if e is not None]


def shows(m: Misconception, record: CallRecord) -> bool:
    """Whether this one call exhibits ``m`` (ignoring what else could explain it)."""
    if m.kind != "value":
        return _structural(m, record)
    return any(m.id in e.explains for e in _value_evidence(record, [m]))


def explained_mask(m: Misconception, record: CallRecord) -> list[np.ndarray | None]:
    """Per output, the elements ``m`` explains in this call (None where it explains none)."""
    masks: list[np.ndarray | None] = [None] * len(correct_outputs(record.correct) or ())
    if m.kind == "value":
        for e in _value_evidence(record, [m]):
            masks[e.output] = e.explains.get(m.id)
    return masks


def diagnose(
    records: Sequence[CallRecord], catalogue: Sequence[Misconception]
) -> dict[str, tuple[str, ...]]:
    """Map each test name to the misconception ids its calls show (ordered as the catalogue).

    The overall set is the union. Tests whose calls were all correct map to ().
    """
    found: dict[str, set[str]] = {r.test: set() for r in records}
    # Mutations and raised errors are facts of each call; shapes and types are shared out
    # like values.
    for record in records:
        for m in catalogue:
            if m.kind in ("mutation", "error") and _structural(m, record):
                found[record.test].add(m.id)
    for test, mid in _structural_cover(records, catalogue):
        found[test].add(mid)
    # Value mistakes: greedy cover of the wrong elements across all calls and outputs.
    value_ms = [m for m in catalogue if m.kind == "value" and m.predict is not None]
    evidence = [e for i, r in enumerate(records) for e in _value_evidence(r, value_ms, i)]
    remaining = [e.wrong.copy() for e in evidence]
    order = {m.id: i for i, m in enumerate(catalogue)}
    while True:
        totals: dict[str, int] = {}
        for left, e in zip(remaining, evidence, strict=True):
            for mid, mask in e.explains.items():
                totals[mid] = totals.get(mid, 0) + int((mask & left).sum())
        # Most elements explained wins; a tie goes to the entry listed first in the catalogue.
        best = max(totals.items(), key=lambda kv: (kv[1], -order[kv[0]]), default=(None, 0))
        if best[0] is None or best[1] == 0:
            break
        winner = best[0]
        for i, e in enumerate(evidence):
            claimed = e.explains.get(winner)
            if claimed is not None and (claimed & remaining[i]).any():
                found[records[e.record].test].add(winner)
                remaining[i] &= ~claimed
    return {test: tuple(sorted(ids, key=order.__getitem__)) for test, ids in found.items()}


def fully_explained(m: Misconception, record: CallRecord) -> bool:
    """Whether ``m`` accounts for the whole answer of one call: every output is an array of
    the correct shape, and each element is either correct or what ``m`` predicts there.

    Such an answer says nothing that its inputs and the mistake do not, so feedback may quote
    it; any other answer could carry what the submission saw earlier (a hidden test's inputs).
    """
    outcome = record.outcome
    corrects = correct_outputs(record.correct)
    if m.kind != "value" or corrects is None or not isinstance(outcome, Returned):
        return False
    raw = _got_outputs(outcome.value, record.correct)
    if raw is None or any(
        c is None or not isinstance(g, np.ndarray) or g.shape != c.shape
        for g, c in zip(raw, corrects, strict=True)
    ):
        return False
    evidence = _value_evidence(record, [m])
    return bool(evidence) and all(
        m.id in e.explains and not (e.wrong & ~e.explains[m.id]).any() for e in evidence
    )
