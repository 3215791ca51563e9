"""Helpers for instructors writing tests: assertions whose failures explain themselves.

Test files are ordinary pytest modules (``@pytest.mark.points(10)``, ``@pytest.mark.tags(...)``)
that import these helpers. Failures raise ``MismatchError``, an ``AssertionError`` that carries
structure, so the grader can write full detail for visible tests and a description without
the inputs for hidden ones. Everything here runs on the trusted side only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from grader.safetext import value_type_label

EXAMPLES_SHOWN = 3  # mismatching elements quoted in visible feedback
INPUTS_SHOWN = 8  # elements of an input array quoted in full in visible feedback

# Notes (not failures) a helper wants in the current test's feedback; set by the suite runner.
_notes: ContextVar[list[str] | None] = ContextVar("grader_notes", default=None)
# (got, expected) pairs assert_close saw; the notebook self-check's only source of correct
# answers, since it must not import the reference.
_expectations: ContextVar[list[tuple[Any, np.ndarray]] | None] = ContextVar(
    "grader_expectations", default=None
)

# Arguments a call changed in a way their values do not show (an in-place reshape, a new
# dtype, other memory), as (the test's own argument object, what changed); set by the suite
# runner, read by ``assert_unchanged``.
_changed_arguments: ContextVar[list[tuple[object, str]] | None] = ContextVar(
    "grader_changed_arguments", default=None
)


def record_argument_change(argument: object, how: str) -> None:
    """Remember that a call changed ``argument`` (the test's object) as ``how`` says."""
    changed = _changed_arguments.get()
    if changed is not None:
        changed.append((argument, how))


@contextmanager
def collecting_argument_changes() -> Iterator[list[tuple[object, str]]]:
    """Collect ``record_argument_change`` calls made while the block runs (the suite runner)."""
    changed: list[tuple[object, str]] = []
    token = _changed_arguments.set(changed)
    try:
        yield changed
    finally:
        _changed_arguments.reset(token)


def note(text: str) -> None:
    """Add a remark to the current test's feedback without failing it (e.g. a changed dtype)."""
    notes = _notes.get()
    if notes is not None and text not in notes:
        notes.append(text)


@contextmanager
def collecting_notes() -> Iterator[list[str]]:
    """Collect ``note()`` calls made while the block runs (used by the suite runner)."""
    notes: list[str] = []
    token = _notes.set(notes)
    try:
        yield notes
    finally:
        _notes.reset(token)


@contextmanager
def recording_expectations() -> Iterator[list[tuple[Any, np.ndarray]]]:
    """Collect the ``(got, expected)`` pairs ``assert_close`` is given while the block runs."""
    seen: list[tuple[Any, np.ndarray]] = []
    token = _expectations.set(seen)
    try:
        yield seen
    finally:
        _expectations.reset(token)


def tolerance(dtype: np.dtype[Any]) -> tuple[float, float]:
    """(rtol, atol) fitting a floating dtype: float32 carries ~7 digits, float64 ~16."""
    if dtype == np.float16:
        return 1e-3, 1e-3
    if dtype == np.float32:
        return 1e-5, 1e-6
    return 1e-7, 1e-12


def format_value(value: Any) -> str:
    """An argument or result as feedback quotes it: small arrays in full, large ones by shape."""
    if isinstance(value, np.ndarray):
        if value.size <= INPUTS_SHOWN:
            # One line per array, so it stays aligned inside indented feedback.
            text = np.array2string(value, precision=4, separator=", ")
            return re.sub(r"\n\s*", " ", text)
        return f"array of shape {value.shape}"
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.6g}"
    if isinstance(value, tuple) and value:  # several outputs, or a cache: each on one line
        items = ", ".join(format_value(v) for v in value)
        return f"({items},)" if len(value) == 1 else f"({items})"
    if isinstance(value, dict) and value:  # grads, parameters
        return "{" + ", ".join(f"{k!r}: {format_value(v)}" for k, v in value.items()) + "}"
    if hasattr(value, "type_name"):  # never a submission's repr: its short type label only
        return f"<{value_type_label(value)}>"
    return repr(value)


@dataclass
class MismatchError(AssertionError):
    """A structured failure: ``kind`` is "type", "shape", "values" or "mutation"."""

    kind: str
    summary: str  #: safe for hidden tests: says what is wrong, never quotes inputs
    detail: str = ""  #: visible tests only: inputs, expected and got
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.summary)

    def describe(self, visible: bool) -> str:
        """The feedback text for a visible or a hidden test."""
        return f"{self.summary}\n{self.detail}" if visible and self.detail else self.summary


def require_array(got: Any, name: str = "the result", *, shape: str = "") -> np.ndarray:
    """Fail unless ``got`` is a numpy.ndarray (a list, a scalar or None is a type failure).

    The failure names the element and what it is: "db is a float, expected a
    numpy.ndarray of shape (n, 1)" (``shape`` as the assignment writes it, never the test's
    own sizes, so every test with that mistake says the same sentence).
    """
    if isinstance(got, np.ndarray):
        return got
    raise MismatchError(
        "type",
        f"{name} is {_kind(got)}, expected a numpy.ndarray{f' of shape {shape}' if shape else ''}.",
    )


def _kind(value: Any) -> str:
    """'None (did you forget `return`?)', 'a float', 'an int', 'a list', ..."""
    if value is None:
        return "None (did you forget `return`?)"
    if isinstance(value, (bool, np.bool_)):
        return "a bool"
    if isinstance(value, (float, np.floating)):
        return "a float"
    if isinstance(value, (int, np.integer)):
        return "an int"
    # The submission names its classes (and an opaque value's type): a short label only.
    name = value_type_label(value)
    return f"{'an' if name[:1] in 'aeiou' else 'a'} {name}"


def assert_close(
    got: Any,
    expected: np.ndarray | Mapping[str, np.ndarray],
    *,
    name: str = "the result",
    inputs: Mapping[str, np.ndarray] | None = None,
    regions: Mapping[str, np.ndarray] | None = None,
) -> None:
    """Assert ``got`` is an array of ``expected``'s shape with values within the dtype tolerance.

    ``inputs`` are quoted (elementwise) in visible feedback; ``regions`` (label -> boolean
    mask, e.g. ``{"Z < 0": Z < 0}``) let hidden feedback say *where* values are wrong without
    showing them. A dtype different from ``expected`` is a note, not a failure.

    A dict ``expected`` (``grads``) is compared key by key: ``got`` must be a dict with the
    same keys, and every wrong key is named (``grads["dW"] is wrong at 3 of 6 elements``).
    """
    if isinstance(expected, Mapping):
        _assert_close_dict(got, expected, name=name, inputs=inputs, regions=regions)
        return
    seen = _expectations.get()
    if seen is not None:
        seen.append((got, np.array(expected, copy=True)))
    array = require_array(got, name)
    if array.shape != expected.shape:
        raise MismatchError(
            "shape",
            f"{name} has shape {array.shape}, expected {expected.shape} "
            "(the gradient has the same shape as the array it is taken with respect to).",
            extra={"got_shape": array.shape, "expected_shape": expected.shape},
        )
    if not np.issubdtype(array.dtype, np.number) and array.dtype != np.bool_:
        raise MismatchError("type", f"{name} has dtype {array.dtype}, expected numbers.")
    if expected.ndim == 0:  # a number (a cost): compared as one element, which can be indexed
        array, expected = array.reshape(1), expected.reshape(1)
    rtol, atol = tolerance(expected.dtype)
    with np.errstate(all="ignore"):
        close = np.isclose(
            array.astype(np.float64),
            expected.astype(np.float64),
            rtol=rtol,
            atol=atol,
            equal_nan=True,
        )
    if array.dtype != expected.dtype:
        note(
            f"{name} came back as {array.dtype} for {expected.dtype} inputs. Not wrong, but "
            "keeping the input's dtype avoids surprises (multiply by the slope instead of "
            "building a new float64 array)."
        )
    if close.all():
        return
    wrong = ~close
    count, total = int(wrong.sum()), int(wrong.size)
    summary = f"{name} is wrong at {count} of {total} elements"
    if regions:
        parts = []
        for label, mask in regions.items():
            in_region = int(mask.sum())
            if in_region:
                bad = int((wrong & mask).sum())
                parts.append(f"{label}: {bad} of {in_region} wrong")
        summary += " (" + "; ".join(parts) + ")"
    lines = []
    for position in list(zip(*np.nonzero(wrong), strict=True))[:EXAMPLES_SHOWN]:
        where = ", ".join(
            f"{k} = {format_value(v[position])}"
            for k, v in (inputs or {}).items()
            if isinstance(v, np.ndarray) and v.shape == expected.shape
        )
        lines.append(
            f"  at index {tuple(int(i) for i in position)}: {where + ': ' if where else ''}"
            f"expected {format_value(expected[position])}, got {format_value(array[position])}"
        )
    small = {k: v for k, v in (inputs or {}).items() if isinstance(v, np.ndarray) and v.size <= 8}
    shown = "".join(f"\n  {k} = {format_value(v)}" for k, v in small.items())
    detail = "For example:\n" + "\n".join(lines)
    if shown and expected.size <= INPUTS_SHOWN:
        detail = (
            f"Input:{shown}\n  expected {format_value(expected)}\n  got      {format_value(array)}"
        )
    raise MismatchError("values", summary + ".", detail, extra={"wrong": count, "total": total})


def _assert_close_dict(
    got: Any,
    expected: Mapping[str, np.ndarray],
    *,
    name: str,
    inputs: Mapping[str, np.ndarray] | None,
    regions: Mapping[str, np.ndarray] | None,
) -> None:
    keys = list(expected)
    if not isinstance(got, Mapping):
        kind = "None (did you forget `return`?)" if got is None else type(got).__name__
        kind = str(getattr(got, "type_name", kind))
        raise MismatchError(
            "type", f"{name} should be a dict with keys {', '.join(keys)}, but it is {kind}."
        )
    missing = [k for k in keys if k not in got]
    if missing:
        listed = ", ".join(repr(k) for k in missing)
        raise MismatchError(
            "type",
            f"{name} has no key {listed} (it has {', '.join(repr(k) for k in got) or 'none'}).",
        )
    failures: list[MismatchError] = []
    for key in keys:
        try:
            assert_close(
                got[key], expected[key], name=f"{name}[{key!r}]", inputs=inputs, regions=regions
            )
        except MismatchError as exc:
            failures.append(exc)
    if not failures:
        return
    if len(failures) == 1:
        raise failures[0]
    kinds = {f.kind for f in failures}
    raise MismatchError(
        kinds.pop() if len(kinds) == 1 else "values",
        " ".join(f.summary for f in failures),
        "\n".join(f.detail for f in failures if f.detail),
    )


def _changed(after: Any, before: Any, where: str) -> list[tuple[str, int]]:
    """(place, elements changed) for each array inside ``before`` that ``after`` changed."""
    if isinstance(before, np.ndarray):
        if (
            not isinstance(after, np.ndarray)
            or after.shape != before.shape
            or after.dtype != before.dtype
        ):
            return [(where, before.size)]
        if np.array_equal(after, before, equal_nan=True):
            return []
        return [(where, int((~np.isclose(after, before, equal_nan=True)).sum()))]
    if isinstance(before, (tuple, list)) and isinstance(after, (tuple, list)):
        return [
            change
            for i, (a, b) in enumerate(zip(after, before, strict=False))
            for change in _changed(a, b, f"{where}[{i}]")
        ]
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        return [
            change
            for key, b in before.items()
            for change in _changed(after.get(key), b, f"{where}[{key!r}]")
        ]
    return []


def _reported_change(after: Any) -> str | None:
    """What the suite runner says a call changed in ``after`` (or in an array inside it)."""
    changed = _changed_arguments.get()
    if not changed:
        return None
    pending = [after]
    while pending:
        item = pending.pop()
        for argument, how in changed:
            if argument is item:
                return how
        if isinstance(item, (tuple, list)):
            pending.extend(item)
        elif isinstance(item, Mapping):
            pending.extend(item.values())
    return None


def assert_unchanged(after: Any, before: Any, *, name: str, advice: str) -> None:
    """Fail when an argument was modified in place by the call.

    ``before``/``after`` may be arrays or nested tuples, lists and dicts of arrays (a cache
    ``((A_prev, W, b), Z)``, ``parameters``): the failure names each array that changed.
    Any change the caller could observe counts: values, and also (reported by the suite
    runner) an in-place reshape or resize, a new dtype or memory the array was made to use.
    """
    how = _reported_change(after)
    if how:
        raise MismatchError("mutation", f"{name} was modified in place ({how}). {advice}")
    if not isinstance(before, np.ndarray):
        changes = _changed(after, before, name)
        if changes:
            where = ", ".join(f"{place} ({count} element(s))" for place, count in changes[:4])
            verb = "was" if len(changes) == 1 else "were"
            raise MismatchError(
                "mutation", f"{where} {verb} modified in place by the call. {advice}"
            )
        return
    if (
        type(after) is type(before)
        and after.dtype == before.dtype
        and after.shape == before.shape
        and np.array_equal(after, before, equal_nan=True)
    ):
        return
    changed = (
        int((~np.isclose(after, before, equal_nan=True)).sum())
        if after.shape == before.shape
        else after.size
    )
    raise MismatchError(
        "mutation",
        f"{name} was modified in place ({changed} element(s) changed after the call). {advice}",
    )
