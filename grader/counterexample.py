"""The smallest counterexample: re-call the student's function on small inputs of our own.

For each mistake ``diagnosis`` found, the student's function is called again (through the
same, still open sandbox) on fresh values with the structure of a call that showed the
mistake, never the test's own values (hidden inputs must not leak), then shrunk one axis
at a time toward 1 or 2 elements while the mistake still shows. Every step is a real call,
judged by the same matcher; the reference (trusted) supplies the correct answer.

The example is shown whatever the tests' visibility, so it quotes only what the grader
computed: the probe's inputs, the reference's answer, and the student's answer only where
the mistake accounts for all of it (``diagnosis.fully_explained``). The process being probed
has seen the hidden inputs and could return them; of anything else it returned, the
example says only its shape, its type (a short label), or which elements changed.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from grader.authoring import format_value
from grader.diagnosis import (
    CallRecord,
    Kind,
    Misconception,
    copy_value,
    correct_outputs,
    diagnose,
    explained_mask,
    form,
    fully_explained,
    shows,
    value_at,
)
from grader.safetext import value_type_label
from grader.sandbox.outcomes import CallOutcome, Raised, Returned

MAX_PROBES = 40  #: calls of the student's function for all counterexamples of a submission
MAX_PROBES_EACH = 14  #: ... and for one misconception
# Seconds of the student's own time (``Returned.seconds``: waits for a CPU excluded) for all
# probing of a submission: counted in calls' time, not wall time, so a busy batch probes as
# far as `grader grade` does, and shows the same counterexample.
PROBE_SECONDS = 10.0
OFFSETS_TRIED = 3  #: windows tried per axis size when shrinking
TEMPLATES_TRIED = 3  #: calls that showed a mistake, smallest first, to start its search from
# Simple values a student can check by hand. Never 1 (or 0 in the first attempt): a gradient
# of 1 hides "slope instead of dA * slope", and Z == 0 is its own convention question.
NONZERO_VALUES = (2.0, -1.0, 0.5, -2.0, 3.0, -0.5, 1.5, -3.0)
WITH_ZERO_VALUES = (*NONZERO_VALUES, 0.0, 0.0, 0.0)
#: in place of a student's answer that the mistake does not account for
UNQUOTED = "a different answer (not quoted: the mistake does not account for all of it)"


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
    argument: int | tuple[int | str, ...] = 0
    output: int | None = None  #: the output a "shape"/"type" mistake concerns
    outputs: tuple[str, ...] = ()  #: output names, from the reference's return statement
    #: whether ``got`` may be quoted (a "value" mistake that accounts for all of it); never
    #: for the other kinds, whose answer may be anything the submission chose
    got_quotable: bool = False

    def _name(self, i: int) -> str:
        return self.names[i] if i < len(self.names) else f"argument {i + 1}"

    def inputs_text(self) -> str:
        """``dA = [2.], cache = [-1.]``."""
        return ", ".join(f"{self._name(i)} = {format_value(a)}" for i, a in enumerate(self.args))

    def outcome_lines(self) -> list[str]:
        """Expected vs got, in the terms of this kind of mistake (see the module docstring)."""
        if self.kind == "mutation":
            path = (self.argument,) if isinstance(self.argument, int) else self.argument
            first = path[0] if isinstance(path[0], int) else 0
            name = self._name(first) + "".join(f"[{i!r}]" for i in path[1:])
            before = value_at(self.args, path)
            return [
                f"{name} before the call {format_value(before)}",
                f"{name} after the call  {_change(before, value_at(self.args_after, path))}",
            ]
        element = self._element_lines()
        if element:
            return element
        if self.kind == "shape":
            return [
                f"expected shape {_shapes(self.expected)}: {format_value(self.expected)}",
                f"got shape      {_shapes(self.got)}",
            ]
        if self.kind == "type":
            return [
                f"expected {format_value(self.expected)} ({_expected_type(self.expected)})",
                f"got      {_type_name(self.got)}",
            ]
        got = format_value(self.got) if self.got_quotable else UNQUOTED
        return [f"expected {format_value(self.expected)}", f"got      {got}"]

    def _element_lines(self) -> list[str]:
        """For a wrong shape or type inside a tuple of outputs: that element alone, named.

        ``db: expected an array of shape (2, 1): [[1.5], [2.]]`` then ``db: got a single
        number (float64): 1.75``, rather than the whole tuple.
        """
        if self.kind not in ("shape", "type") or not isinstance(self.expected, tuple):
            return []
        got = self.got
        if not isinstance(got, (tuple, list)) or len(got) != len(self.expected):
            return []
        if self.output is not None:
            wrong = [self.output] if self.output < len(got) else []
        else:
            wrong = [
                i
                for i, (e, g) in enumerate(zip(self.expected, got, strict=True))
                if not isinstance(g, np.ndarray)
                or (isinstance(e, np.ndarray) and g.shape != e.shape)
            ]
        lines = []
        for i in wrong:
            name = self.outputs[i] if i < len(self.outputs) else f"output {i + 1}"
            expected, value = self.expected[i], got[i]
            lines.append(f"{name}: expected {_describe(expected)}: {format_value(expected)}")
            # What the submission returned is described, never quoted (see the docstring).
            lines.append(f"{name}: got      {_describe(value)}")
        return lines

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


def _describe(value: Any) -> str:
    """'an array of shape (2, 1)', 'a single number (float64)', 'a list'."""
    if isinstance(value, np.ndarray) and value.ndim > 0:
        return f"an array of shape {value.shape}"
    if isinstance(value, (np.ndarray, int, float, np.number)) and not isinstance(value, bool):
        kind = value.dtype.name if isinstance(value, (np.ndarray, np.number)) else _type_name(value)
        return f"a single number ({kind})"
    name = _type_name(value)
    return f"{'an' if name[:1] in 'aeiou' else 'a'} {name}"


def output_names(function: Callable[..., Any]) -> tuple[str, ...]:
    """``("dA_prev", "dW", "db")`` from a trusted reference's ``return dA_prev, dW, db``."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    except (OSError, TypeError, SyntaxError):
        return ()
    returns = [n for n in ast.walk(tree) if isinstance(n, ast.Return)]
    value = returns[-1].value if returns else None
    if isinstance(value, ast.Tuple) and all(isinstance(e, ast.Name) for e in value.elts):
        return tuple(e.id for e in value.elts if isinstance(e, ast.Name))
    return ()


def _type_name(value: Any) -> str:
    """What was returned, by type only: ``list``, ``tuple of (ndarray, float)``."""
    if isinstance(value, (tuple, list)) and value:
        items = ", ".join(_label(v) for v in value[:4]) + (", ..." if len(value) > 4 else "")
        return f"{type(value).__name__} of ({items})"
    return _label(value)


def _label(value: Any) -> str:
    if getattr(value, "described", False):  # shown at once: not even an oversized shape
        return "array too large to check"
    return value_type_label(value)


def _change(before: Any, after: Any) -> str:
    """How an argument changed, without quoting the values the submission wrote into it."""
    if not isinstance(before, np.ndarray) or not isinstance(after, np.ndarray):
        return f"is a {_type_name(after)}"
    if before.shape != after.shape:
        return f"has shape {after.shape} (it had shape {before.shape})"
    with np.errstate(all="ignore"):
        changed = np.argwhere(~_same_elements(before, after))
    where = ", ".join(str(tuple(int(i) for i in index)) for index in changed[:3])
    more = ", ..." if len(changed) > 3 else ""
    return f"changed at {len(changed)} of {before.size} element(s): index {where}{more}"


def _same_elements(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    same: np.ndarray = np.asarray(before == after)
    try:
        both_nan: np.ndarray = np.isnan(before) & np.isnan(after)
    except TypeError:  # not numbers (np.isnan refuses them): equality alone
        return same
    return np.asarray(same | both_nan, dtype=bool)


def _expected_type(value: Any) -> str:
    return "dict" if isinstance(value, dict) else "numpy.ndarray"


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
    """Calls the student's function for the shrinker, within a call count and a time budget
    (the calls' own seconds: the budget may be overrun by the one call that crosses it).

    Gives up for good at the first call that does not return (a timeout or crash may have
    cost the process; restarting it re-runs every cell, which probing must never cause).
    """

    def __init__(
        self,
        call: Callable[[str, Sequence[Any]], CallOutcome],
        *,
        max_calls: int = MAX_PROBES,
        seconds: float = PROBE_SECONDS,
    ) -> None:
        self._call = call
        self.calls = 0
        self.max_calls = max_calls
        self.seconds_left = seconds
        self.stopped = False

    def __call__(self, function: str, args: tuple[Any, ...]) -> CallOutcome | None:
        """One call, or None once the budget is spent."""
        if self.stopped or self.calls >= self.max_calls or self.seconds_left <= 0:
            self.stopped = True
            return None
        self.calls += 1
        outcome = self._call(function, [copy_value(a) for a in args])
        if isinstance(outcome, Returned):
            self.seconds_left -= outcome.seconds
        else:
            self.stopped = True
        return outcome


def arrays_in(value: Any) -> Iterator[np.ndarray]:
    """Every array in a value, through nested tuples and lists."""
    if isinstance(value, np.ndarray):
        yield value
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from arrays_in(item)


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
        diagnosed: frozenset[str] = frozenset(),
    ) -> None:
        self.m = m
        self.catalogue = catalogue
        self.function = function
        self.reference = reference
        self.probe = probe
        self.calls = 0
        #: the first probe that showed m but a neighbour too: used when no probe avoids them
        self.ambiguous: CallRecord | None = None
        # Shape and type entries that would read this example as well as m does, and that
        # the submission was not diagnosed with: an example they also fit does not tell the
        # student which mistake it is (db of shape (1, 1) when m = 1 is both "summed over
        # everything" and "summed over units"), so it must keep the dimensions that differ.
        self.neighbours = [
            e
            for e in catalogue
            if m.kind in ("shape", "type")
            and e.id != m.id
            and e.id not in diagnosed
            and e.kind in ("shape", "type")
            and e.predict is not None
            and (e.output is None or m.output is None or e.output == m.output)
        ]

    def attempt(self, args: tuple[Any, ...]) -> CallRecord | None:
        """A probe call that shows the misconception, or None."""
        if self.calls >= MAX_PROBES_EACH:
            return None
        try:
            with np.errstate(all="ignore"):
                correct = self.reference(*copy_value(args))
        except Exception:
            return None  # not a valid input for this function: costs no call
        if correct_outputs(correct) is None:
            return None
        self.calls += 1
        outcome = self.probe(self.function, args)
        if outcome is None:
            return None
        record = CallRecord("probe", copy_value(args), outcome, correct, self.function)
        # Named by the full matcher, so the example shows this mistake and not a look-alike.
        named = diagnose([record], self.catalogue)["probe"]
        if self.m.id not in named:
            return None
        if any(shows(e, record) for e in self.neighbours):
            self.ambiguous = self.ambiguous or record
            return None
        return record

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
        arrays = list(arrays_in(current.args))
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
        arrays = list(arrays_in(current.args))
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
        # Smallest first; a template too small to tell m from a neighbour yields no start.
        templates = _templates(showing, m)
        function = templates[0].function or main
        search = _Search(m, catalogue, function, references[function], probe, frozenset(ids))
        start = None
        for template in templates:
            if (template.function or main) == function and not probe.stopped:
                start = start or search.start(template.args)
        if start is None and search.ambiguous is not None:
            # No single call tells them apart (np.squeeze is (n,) like a missing keepdims
            # for n > 1, one float like np.sum(dZ) for n = 1): an example that shows m.
            search.neighbours = []
            start = search.ambiguous
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
            output=m.output,
            outputs=output_names(references[function]),
            got_quotable=fully_explained(m, best),
        )
    return found


def _templates(showing: Sequence[CallRecord], m: Misconception) -> list[CallRecord]:
    """Calls to start from, smallest first, one per form the mistake's output took there
    (np.squeeze gives (3,) on one call and a float on another: both are tried)."""
    chosen: dict[object, CallRecord] = {}
    for record in sorted(showing, key=_size_key):
        outcome = record.outcome
        value = outcome.value if isinstance(outcome, Returned) else None
        key = form(value_at(value, (m.output,))) if m.output is not None else None
        chosen.setdefault(key, record)
    extra = [r for r in sorted(showing, key=_size_key) if r not in chosen.values()]
    return [*chosen.values(), *extra][:TEMPLATES_TRIED]


def _size_key(record: CallRecord) -> tuple[bool, int]:
    arrays = list(arrays_in(record.args))
    return (any(a.size == 0 for a in arrays), sum(a.size for a in arrays))
