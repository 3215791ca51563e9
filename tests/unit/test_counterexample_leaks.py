"""Counterexamples quote only what the grader computed, never what a hidden call handed over.

The process being probed has already been called with the hidden tests' inputs, so it can
return them (or write them into its arguments) when the grader probes it. Each fixture here
remembers the first (hidden) call and hands its values back in a different place.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
from test_diagnosis_counterexample import CATALOGUE, NAME, reference

from grader.counterexample import UNQUOTED, Prober, find_counterexamples
from grader.diagnosis import CallRecord, diagnose, load_catalogue
from grader.sandbox.outcomes import CallOutcome, LoadReport, Returned
from grader.sandbox.protocol import Opaque
from grader.sandbox.redact import REDACTED, RedactingSandbox

# Values no probe uses (the probes draw from NONZERO_VALUES and 0), so any of them in the
# text came from the hidden call.
HIDDEN_DA = np.array([[0.123456, -7.654321, 1.234567], [2.718281, -3.141592, 0.577215]])
HIDDEN_Z = np.array([[-1.414213, 1.732050, -2.236067], [0.693147, -1.618033, 2.302585]])
SECRETS = ("0.1234", "7.654", "1.2345", "2.718", "3.1415", "0.5772", "1.414", "1.732", "2.236")


class Remembers:
    """A student function that keeps the first call's inputs, as a hostile one can."""

    def __init__(self, behave: Callable[[np.ndarray, np.ndarray, list[Any]], Any]) -> None:
        self.behave = behave
        self.seen: list[Any] = []

    def __call__(self, function: str, args: Sequence[Any]) -> CallOutcome:
        sent = [np.array(a, copy=True) for a in args]
        if not self.seen:
            self.seen.extend(np.array(a, copy=True) for a in sent)
        value = self.behave(sent[0], sent[1], self.seen)
        return Returned(value, tuple(sent), 0.0)


def counterexample_text(student: Remembers) -> tuple[dict[str, Any], str]:
    outcome = student(NAME, [HIDDEN_DA, HIDDEN_Z])
    records = [CallRecord("hidden", (HIDDEN_DA, HIDDEN_Z), outcome, reference(HIDDEN_DA, HIDDEN_Z))]
    ids = diagnose(records, CATALOGUE)["hidden"]
    found = find_counterexamples(
        records, ids, CATALOGUE, Prober(student), {NAME: reference}, {NAME: ("dA", "cache")}, NAME
    )
    text = "\n".join(e.text() + "\n" + str(e.to_data()) for e in found.values())
    return found, text


def assert_no_secret(text: str) -> None:
    leaked = [s for s in SECRETS if s in text]
    assert leaked == [], text


def test_a_returned_list_of_hidden_inputs_is_described_by_type_only() -> None:
    found, text = counterexample_text(Remembers(lambda da, z, seen: [a.tolist() for a in seen]))
    assert "not-ndarray" in found
    assert "got      list of (list, list)" in text
    assert_no_secret(text)


def test_hidden_inputs_in_a_wrongly_shaped_array_are_described_by_shape_only() -> None:
    found, text = counterexample_text(Remembers(lambda da, z, seen: seen[0].ravel()[:5]))
    assert "shape-changed" in found
    assert "got shape      (5,)" in text
    assert_no_secret(text)


def test_hidden_inputs_written_into_an_argument_are_not_quoted() -> None:
    def mutates(da: np.ndarray, z: np.ndarray, seen: list[Any]) -> np.ndarray:
        result = np.where(z > 0, da, 0.01 * da)
        da.flat[:] = np.resize(seen[0].ravel()[::-1], da.size)  # hidden values into the caller's dA
        return result

    found, text = counterexample_text(Remembers(mutates))
    assert "mutates-dA" in found
    assert "dA after the call  changed at 1 of 1 element(s): index (0,)" in text
    assert_no_secret(text)


def test_a_value_mistake_with_extra_hidden_values_is_not_quoted() -> None:
    def chain_rule_missing_plus(da: np.ndarray, z: np.ndarray, seen: list[Any]) -> np.ndarray:
        if da.size < 2:
            return np.where(z > 0, da, 0.01 * da)  # nothing to shrink to: stays at 2 elements
        result = np.where(z > 0, da, 0.01)
        result.flat[-1] = seen[0].flat[0]  # one hidden value beside the real mistake
        return result

    found, text = counterexample_text(Remembers(chain_rule_missing_plus))
    example = found["missing-chain-rule"]
    assert not example.got_quotable
    assert f"got      {UNQUOTED}" in text
    assert_no_secret(text)


def test_a_value_mistake_that_explains_the_whole_answer_is_quoted() -> None:
    found, text = counterexample_text(Remembers(lambda da, z, seen: np.where(z > 0, da, 0.01)))
    example = found["missing-chain-rule"]
    assert example.got_quotable
    assert "got      [0.01]" in text


@pytest.mark.parametrize("name", ["x" * 300, "Foo\nimport numpy as np\n<script>"])
def test_an_opaque_answer_is_a_short_type_label(name: str) -> None:
    found, text = counterexample_text(Remembers(lambda da, z, seen: Opaque(name, "repr text")))
    assert "not-ndarray" in found
    got = next(line for line in text.splitlines() if "got " in line)
    assert len(got.split("got ", 1)[1].strip()) <= 40
    assert "repr text" not in text
    assert "\n<script>" not in text


def test_catalogue_is_the_assignments() -> None:
    """Guards the tests above against vacuity: the catalogue has each kind of mistake."""
    kinds = {m.kind for m in CATALOGUE}
    assert kinds == {"value", "mutation", "shape", "type"}
    assert load_catalogue(None) == ()


def test_the_redacting_sandbox_redacts_opaque_type_names() -> None:
    """Under the fallback an opaque value's type name could repeat a protected line."""
    protected = "assert_close(got, expected, name='dZ')"

    class Inner:
        def call(self, function: str, args: Sequence[Any]) -> CallOutcome:
            leak = Opaque(f"x\n{protected}\ny")
            return Returned(leak, (np.zeros(1), [leak]), 0.0)

    sandbox = RedactingSandbox(Inner(), [protected])  # type: ignore[arg-type]
    outcome = sandbox.call(NAME, [])
    assert isinstance(outcome, Returned)
    assert outcome.value == Opaque(f"x\n{REDACTED}\ny")
    assert outcome.args_after[1] == [Opaque(f"x\n{REDACTED}\ny")]


def test_the_redacting_sandbox_redacts_the_names_a_notebook_defines() -> None:
    """Names are quoted up top ("it defines ..."); under the fallback one could be a line."""
    protected = "assert_close(got, expected, name='dZ')"

    class Inner:
        def load(self) -> LoadReport:
            return LoadReport(cells=(), functions={}, defined_callables=("ok", protected))

    report = RedactingSandbox(Inner(), [protected]).load()  # type: ignore[arg-type]
    assert report.defined_callables == ("ok", REDACTED)
