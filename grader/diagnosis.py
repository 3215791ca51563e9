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
import inspect
import time
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from grader.authoring import format_value, tolerance
from grader.errors import AssignmentError
from grader.sandbox.outcomes import CallOutcome, Raised, Returned

Kind = Literal["value", "mutation", "shape", "type"]
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
    #: for "mutation": which positional argument, or a path into nested tuples, e.g. (1, 0)
    argument: int | tuple[int, ...] = 0
    #: for "shape"/"type" of a function with several outputs: which one (None: any)
    output: int | None = None


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


def correct_outputs(correct: Any) -> tuple[np.ndarray, ...] | None:
    """The correct answer as a tuple of arrays (one per output), or None if unusable."""
    if isinstance(correct, np.ndarray):
        return (correct,)
    if (
        isinstance(correct, (tuple, list))
        and correct
        and all(isinstance(c, np.ndarray) for c in correct)
    ):
        return tuple(correct)
    return None


def _got_outputs(value: Any, correct: Any) -> tuple[Any, ...] | None:
    """The student's outputs lined up with the correct ones; None when the structure differs."""
    if isinstance(correct, np.ndarray):
        return (value,)
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


def _copy(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return np.array(value, copy=True)
    if isinstance(value, (tuple, list)):
        return type(value)(_copy(v) for v in value)
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
    return True  # scalars are passed by value: the caller cannot see a change


def _at(value: Any, path: tuple[int, ...]) -> Any:
    for index in path:
        if not isinstance(value, (tuple, list)) or index >= len(value):
            return None
        value = value[index]
    return value


# --- structural mistakes ---------------------------------------------------------------------


def _structural(m: Misconception, record: CallRecord) -> bool:
    outcome = record.outcome
    if not isinstance(outcome, Returned):
        return False
    if m.kind == "mutation":
        path = (m.argument,) if isinstance(m.argument, int) else m.argument
        before, after = _at(record.args, path), _at(outcome.args_after, path)
        return before is not None and not _same(before, after)
    corrects = correct_outputs(record.correct)
    if corrects is None:
        return False
    gots = _got_outputs(outcome.value, record.correct)
    indices = range(len(corrects)) if m.output is None else range(m.output, m.output + 1)
    indices = range(max(indices.start, 0), min(indices.stop, len(corrects)))
    if m.kind == "type":
        return gots is None or any(not isinstance(gots[i], np.ndarray) for i in indices)
    if m.kind == "shape":
        return gots is not None and any(
            isinstance(gots[i], np.ndarray)
            and gots[i].shape != corrects[i].shape
            and (m.predict is None or _predicted_shape(m, record, i) == gots[i].shape)
            for i in indices
        )
    return False


def _predicted_shape(m: Misconception, record: CallRecord, output: int) -> tuple[int, ...] | None:
    """The shape a "shape" entry's predictor gives one output (never broadcast), or None."""
    if m.predict is None:
        return None
    try:
        with np.errstate(all="ignore"):
            raw = m.predict(_copy(record.args), _copy(record.correct), None)
    except Exception:
        return None  # a predictor that does not fit these inputs
    items = (raw,) if isinstance(record.correct, np.ndarray) else raw
    if not isinstance(items, (tuple, list)) or output >= len(items):
        return None
    item = items[output]
    return item.shape if isinstance(item, np.ndarray) else None


# --- value mistakes --------------------------------------------------------------------------


def _predictions(
    m: Misconception,
    record: CallRecord,
    corrects: tuple[np.ndarray, ...],
    gots: list[np.ndarray | None],
) -> list[np.ndarray | None] | None:
    """What ``m`` says each output should be, lined up with the outputs; None if it abstains."""
    if m.predict is None:
        return None
    single = isinstance(record.correct, np.ndarray)
    correct_arg: Any = _copy(corrects[0]) if single else tuple(_copy(c) for c in corrects)
    got_arg: Any = _copy(gots[0]) if single else tuple(_copy(g) for g in gots)
    try:
        with np.errstate(all="ignore"):
            raw = m.predict(_copy(record.args), correct_arg, got_arg)
    except Exception:
        return None  # a predictor that does not fit these inputs
    if raw is None:
        return None
    items: tuple[Any, ...] = (raw,) if single else tuple(raw)
    if len(items) != len(corrects):
        return None
    out: list[np.ndarray | None] = []
    for item, correct in zip(items, corrects, strict=True):
        if item is None:
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
    gots = [_as_result_array(g, c) for g, c in zip(raw, corrects, strict=True)]
    wrongs: list[np.ndarray | None] = [
        None if g is None or c.size == 0 else ~_close(g, c, c.dtype)
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
            if p is None or g is None or w is None or p.shape != c.shape:
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
    # Structural mistakes (type, shape, mutation) are facts of each call.
    for record in records:
        for m in catalogue:
            if m.kind != "value" and _structural(m, record):
                found[record.test].add(m.id)
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


# --- the smallest counterexample ---------------------------------------------------------------
#
# For each mistake found, the student's function is called again (through the same sandbox)
# on inputs of our own making: fresh values with the structure of a call that showed the
# mistake, never the test's own values (hidden inputs must not leak), then shrunk one axis
# at a time toward 1 or 2 elements while the mistake still shows. Every step is a real
# call, judged by the same matcher; the reference (trusted) supplies the correct answer.

MAX_PROBES = 40  #: calls of the student's function for all counterexamples of a submission
MAX_PROBES_EACH = 14  #: ... and for one misconception
PROBE_SECONDS = 10.0  #: wall-clock budget for all probing of a submission
OFFSETS_TRIED = 3  #: windows tried per axis size when shrinking
# Simple values a student can check by hand. Never 1 (or 0 in the first attempt): a gradient
# of 1 hides "slope instead of dA * slope", and Z == 0 is its own convention question.
NONZERO_VALUES = (2.0, -1.0, 0.5, -2.0, 3.0, -0.5, 1.5, -3.0)
WITH_ZERO_VALUES = (*NONZERO_VALUES, 0.0, 0.0, 0.0)


@dataclass(frozen=True)
class Counterexample:
    """The smallest input found on which the student's function shows one misconception."""

    misconception: str
    kind: Kind
    names: tuple[str, ...]  #: argument names, for display
    args: tuple[Any, ...]  #: as sent (before the call)
    expected: Any  #: the correct answer
    got: Any  #: what the student's function returned
    args_after: tuple[Any, ...]  #: the arguments after the call (for mutations)
    argument: int | tuple[int, ...] = 0

    def _name(self, i: int) -> str:
        return self.names[i] if i < len(self.names) else f"argument {i + 1}"

    def inputs_text(self) -> str:
        """``dA = [2.], cache = [-1.]``."""
        return ", ".join(f"{self._name(i)} = {format_value(a)}" for i, a in enumerate(self.args))

    def outcome_lines(self) -> list[str]:
        """Expected vs got, in the terms of this kind of mistake."""
        if self.kind == "mutation":
            path = (self.argument,) if isinstance(self.argument, int) else self.argument
            name = self._name(path[0]) + "".join(f"[{i}]" for i in path[1:])
            return [
                f"{name} before the call {format_value(_at(self.args, path))}",
                f"{name} after the call  {format_value(_at(self.args_after, path))}",
            ]
        if self.kind == "shape":
            return [
                f"expected shape {_shapes(self.expected)}: {format_value(self.expected)}",
                f"got shape      {_shapes(self.got)}: {format_value(self.got)}",
            ]
        if self.kind == "type":
            return [
                f"expected {format_value(self.expected)} (numpy.ndarray)",
                f"got      {format_value(self.got)} ({_type_name(self.got)})",
            ]
        return [f"expected {format_value(self.expected)}", f"got      {format_value(self.got)}"]

    def text(self) -> str:
        """A few lines for feedback: the input, then expected vs got."""
        lines = [f"Smallest input that shows it: {self.inputs_text()}"]
        return "\n".join(lines + [f"  {line}" for line in self.outcome_lines()])

    def to_data(self) -> dict[str, Any]:
        """JSON-safe (text only: values may be NaN or objects that JSON cannot carry)."""
        return {"inputs": self.inputs_text(), "outcome": self.outcome_lines()}


def _shapes(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return str(value.shape)
    if isinstance(value, (tuple, list)):
        return "(" + ", ".join(_shapes(v) for v in value) + ")"
    return "-"


def _type_name(value: Any) -> str:
    return str(getattr(value, "type_name", None) or type(value).__name__)


def argument_names(function: Callable[..., Any]) -> tuple[str, ...]:
    """The positional parameter names of ``function``, for quoting its inputs."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return ()
    return tuple(
        p.name for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    )


class Prober:
    """Calls the student's function for the shrinker, within a call count and a time budget.

    Gives up for good at the first call that does not return (a timeout or crash may have
    cost the process; restarting it re-runs every cell, which probing must never cause).
    """

    def __init__(
        self,
        call: Callable[[str, Sequence[Any]], CallOutcome],
        *,
        max_calls: int = MAX_PROBES,
        seconds: float = PROBE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._call = call
        self.calls = 0
        self.max_calls = max_calls
        self._clock = clock
        self._deadline = clock() + seconds
        self.stopped = False

    def __call__(self, function: str, args: tuple[Any, ...]) -> CallOutcome | None:
        """One call, or None once the budget is spent."""
        if self.stopped or self.calls >= self.max_calls or self._clock() >= self._deadline:
            self.stopped = True
            return None
        self.calls += 1
        outcome = self._call(function, [_copy(a) for a in args])
        if not isinstance(outcome, Returned):
            self.stopped = True
        return outcome


def _arrays(value: Any) -> Iterator[np.ndarray]:
    if isinstance(value, np.ndarray):
        yield value
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _arrays(item)


def _fresh(value: Any, pool: Sequence[float], rng: np.random.Generator) -> Any:
    """Same structure, shapes and dtypes; new values (so a hidden input is never shown)."""
    if isinstance(value, np.ndarray):
        if value.size == 0:
            return value.copy()
        if np.issubdtype(value.dtype, np.floating):
            return rng.choice(np.asarray(pool), size=value.shape).astype(value.dtype)
        if value.dtype == np.bool_:
            return rng.random(value.shape) < 0.5
        if np.issubdtype(value.dtype, np.integer):
            low, high = int(value.min()), int(value.max())
            return rng.integers(low, high + 1, size=value.shape).astype(value.dtype)
        return value.copy()
    if isinstance(value, (tuple, list)):
        return type(value)(_fresh(v, pool, rng) for v in value)
    return value


def _slice_axes(value: Any, size: int, start: int, length: int, axis: int | None = None) -> Any:
    """Axes of length ``size`` (all, or only position ``axis``) cut to ``[start:start+length]``.

    Axes are matched by length because arguments share dimensions (dA and Z, or the batch
    size m of dZ and A_prev); a cut that breaks a shared dimension makes the reference fail,
    which costs no call.
    """
    if isinstance(value, np.ndarray):
        index = tuple(
            slice(start, start + length) if n == size and axis in (None, k) else slice(None)
            for k, n in enumerate(value.shape)
        )
        return np.array(value[index], copy=True)
    if isinstance(value, (tuple, list)):
        return type(value)(_slice_axes(v, size, start, length, axis) for v in value)
    return value


def _flatten_vectors(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.reshape(-1)
    if isinstance(value, (tuple, list)):
        return type(value)(_flatten_vectors(v) for v in value)
    return value


def _window_starts(
    m: Misconception, record: CallRecord, size: int, length: int, axis: int | None = None
) -> list[int]:
    """Where to cut an axis: first around elements ``m`` explains, then from the start."""
    starts: list[int] = []
    for mask in explained_mask(m, record):
        if mask is None or size not in mask.shape:
            continue
        if axis is None or axis >= mask.ndim or mask.shape[axis] != size:
            axis = mask.shape.index(size)
        others = tuple(k for k in range(mask.ndim) if k != axis)
        hits = np.nonzero(mask.any(axis=others) if others else mask)[0]
        starts.extend(min(int(i), size - length) for i in hits)
        break
    starts.extend(range(size - length + 1))
    return list(dict.fromkeys(starts))[:OFFSETS_TRIED]


class _Search:
    """Shrinks the inputs for one misconception."""

    def __init__(
        self,
        m: Misconception,
        catalogue: Sequence[Misconception],
        function: str,
        reference: Callable[..., Any],
        probe: Prober,
    ) -> None:
        self.m = m
        self.catalogue = catalogue
        self.function = function
        self.reference = reference
        self.probe = probe
        self.calls = 0

    def attempt(self, args: tuple[Any, ...]) -> CallRecord | None:
        """A probe call that shows the misconception, or None."""
        if self.calls >= MAX_PROBES_EACH:
            return None
        try:
            with np.errstate(all="ignore"):
                correct = self.reference(*_copy(args))
        except Exception:
            return None  # not a valid input for this function: costs no call
        if correct_outputs(correct) is None:
            return None
        self.calls += 1
        outcome = self.probe(self.function, args)
        if outcome is None:
            return None
        record = CallRecord("probe", _copy(args), outcome, correct, self.function)
        # Named by the full matcher, so the example shows this mistake and not a look-alike.
        named = diagnose([record], self.catalogue)["probe"]
        return record if self.m.id in named else None

    def start(self, template: tuple[Any, ...]) -> CallRecord | None:
        seed = zlib.crc32(self.m.id.encode())
        for k, pool in enumerate((NONZERO_VALUES, WITH_ZERO_VALUES, WITH_ZERO_VALUES)):
            rng = np.random.default_rng(seed + k)
            found = self.attempt(tuple(_fresh(a, pool, rng) for a in template))
            if found is not None or self.probe.stopped:
                return found
        return None

    def shrink(self, current: CallRecord) -> CallRecord:
        while not self.probe.stopped:
            better = self._smaller(current)
            if better is None:
                break
            current = better
        return current

    def _smaller(self, current: CallRecord) -> CallRecord | None:
        arrays = list(_arrays(current.args))
        sizes = sorted({n for a in arrays for n in a.shape if n > 1}, reverse=True)
        for size in sizes:
            # All axes of that length together, then (a square array) one position at a time.
            positions = sorted({k for a in arrays for k, n in enumerate(a.shape) if n == size})
            axes: list[int | None] = [None, *positions] if len(positions) > 1 else [None]
            for length in (1, 2):
                if length >= size:
                    continue
                for axis in axes:
                    for start in _window_starts(self.m, current, size, length, axis):
                        found = self.attempt(_slice_axes(current.args, size, start, length, axis))
                        if found is not None:
                            return found
                        if self.probe.stopped:
                            return None
        arrays = list(_arrays(current.args))
        if arrays and all(a.ndim > 1 and sum(n > 1 for n in a.shape) <= 1 for a in arrays):
            return self.attempt(_flatten_vectors(current.args))
        return None


def find_counterexamples(
    records: Sequence[CallRecord],
    ids: Sequence[str],
    catalogue: Sequence[Misconception],
    probe: Prober,
    references: Mapping[str, Callable[..., Any]],
    names: Mapping[str, tuple[str, ...]],
    main: str,
) -> dict[str, Counterexample]:
    """For each misconception in ``ids``, the smallest input found that still shows it.

    ``references`` maps function names to trusted implementations (the correct answers);
    ``names`` to their argument names. Misconceptions without a counterexample (the budget
    ran out, or no fresh input showed it) are simply absent.
    """
    # A call that hung or crashed may have cost the process; reviving it would re-run
    # every cell, so such a submission is not probed at all.
    if any(not isinstance(r.outcome, (Returned, Raised)) for r in records):
        return {}
    found: dict[str, Counterexample] = {}
    wanted = set(ids)
    for m in catalogue:
        if m.id not in wanted or probe.stopped:
            continue
        showing = [r for r in records if (r.function or main) in references and shows(m, r)]
        if not showing:
            continue
        template = min(showing, key=_size_key)
        function = template.function or main
        search = _Search(m, catalogue, function, references[function], probe)
        start = search.start(template.args)
        if start is None:
            continue
        best = search.shrink(start)
        outcome = best.outcome
        if not isinstance(outcome, Returned):  # shows() accepted it, so it returned
            continue
        found[m.id] = Counterexample(
            misconception=m.id,
            kind=m.kind,
            names=names.get(function, ()),
            args=best.args,
            expected=best.correct,
            got=outcome.value,
            args_after=outcome.args_after,
            argument=m.argument,
        )
    return found


def _size_key(record: CallRecord) -> tuple[bool, int]:
    arrays = list(_arrays(record.args))
    return (any(a.size == 0 for a in arrays), sum(a.size for a in arrays))
