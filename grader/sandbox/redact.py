"""Keep the text of protected files (hidden tests, reference) out of student output we quote.

Under bwrap a submission cannot read those files at all. Under the fallback it can, and
whatever it prints would reach the results document through the captured output, so every
output line that repeats a line of a protected file is replaced. This catches verbatim
dumps only (an encoded copy gets through): the fallback's real answer is bwrap.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grader.sandbox.outcomes import CallOutcome, Frame, LoadReport, Raised, Returned
from grader.sandbox.protocol import Opaque

if TYPE_CHECKING:
    from grader.sandbox import Sandbox

MIN_LINE = 12  #: shorter lines ("import numpy", "return dZ") say nothing about a solution
REDACTED = "[line removed: it repeats a line of a protected grading file]"


def protected_lines(paths: Iterable[Path]) -> tuple[str, ...]:
    """The distinct non-trivial lines (stripped) of the given files, longest first."""
    lines: set[str] = set()
    for path in paths:
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        lines.update(s for s in (line.strip() for line in text.splitlines()) if len(s) >= MIN_LINE)
    return tuple(sorted(lines, key=lambda s: (-len(s), s)))


@functools.lru_cache(maxsize=8)
def _pattern(lines: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(re.escape(line) for line in lines))


@functools.lru_cache(maxsize=8)
def _heads(lines: tuple[str, ...]) -> frozenset[str] | None:
    """The first MIN_LINE characters of every line, or None if a line is shorter."""
    if any(len(line) < MIN_LINE for line in lines):
        return None
    return frozenset(line[:MIN_LINE] for line in lines)


def _protected(line: str, pattern: re.Pattern[str], heads: frozenset[str] | None) -> bool:
    # A line that contains a protected line contains its head at some position: looking the
    # line's windows up in a set first skips the regex (an alternation of hundreds of lines,
    # ~0.3 ms a search) for almost every line, with the same answer.
    if heads is not None and not any(
        line[i : i + MIN_LINE] in heads for i in range(len(line) - MIN_LINE + 1)
    ):
        return False
    return pattern.search(line) is not None


def redact(text: str, lines: Sequence[str]) -> str:
    """``text`` with every line that contains one of ``lines`` replaced by a notice."""
    if not text or not lines:
        return text
    key = tuple(lines)
    pattern, heads = _pattern(key), _heads(key)
    kept = [REDACTED if _protected(line, pattern, heads) else line for line in text.splitlines()]
    return "\n".join(kept) + ("\n" if text.endswith("\n") else "")


class RedactingSandbox:
    """Wraps a sandbox so the texts its submission controls are redacted as they arrive.

    Exception messages, the code lines of tracebacks and cell errors are quoted in feedback;
    under the fallback a submission could fill them with the hidden tests it read (e.g.
    ``raise ValueError(open(path).read())``). Values are untouched (they are compared), but
    for the type names of opaque ones: an object's repr is dropped as it arrives, and its
    type name is redacted here and quoted only as a short label (``safetext.type_label``).
    """

    def __init__(self, inner: Sandbox, lines: Sequence[str]) -> None:
        self.inner = inner
        self.lines = lines

    def _clean(self, text: str) -> str:
        return redact(text, self.lines)

    def _frames(self, frames: tuple[Frame, ...]) -> tuple[Frame, ...]:
        return tuple(replace(f, code=self._clean(f.code)) for f in frames)

    def load(self) -> LoadReport:
        """The inner report with every cell's error message and traceback redacted."""
        report = self.inner.load()
        cells = tuple(
            replace(
                c,
                evalue=self._clean(c.evalue),
                frames=self._frames(c.frames),
                errors=tuple(
                    replace(e, evalue=self._clean(e.evalue), frames=self._frames(e.frames))
                    for e in c.errors
                ),
            )
            for c in report.cells
        )
        failure = self._clean(report.failure) if report.failure else report.failure
        # Names are quoted too ("Your notebook defines ..."), and a submission picks them.
        defined = tuple(self._clean(name) for name in report.defined_callables)
        return replace(
            report,
            cells=cells,
            failure=failure,
            output=self._clean(report.output),
            defined_callables=defined,
        )

    def call(self, function: str, args: Sequence[Any]) -> CallOutcome:
        """The inner outcome, with a raised exception's message and traceback redacted."""
        outcome = self.inner.call(function, args)
        if isinstance(outcome, Raised):
            return replace(
                outcome, evalue=self._clean(outcome.evalue), frames=self._frames(outcome.frames)
            )
        if isinstance(outcome, Returned):
            return replace(
                outcome,
                value=self._value(outcome.value),
                args_after=tuple(self._value(a) for a in outcome.args_after),
            )
        return outcome

    def _value(self, value: Any) -> Any:
        """``value`` with the type name of every opaque value in it redacted."""
        if isinstance(value, Opaque):
            return replace(value, type_name=self._clean(value.type_name))
        if isinstance(value, (tuple, list)):
            return type(value)(self._value(v) for v in value)
        return value

    @property
    def captured_output(self) -> str:
        """The inner sandbox's output, redacted."""
        return self._clean(self.inner.captured_output)

    def close(self) -> None:
        """Close the inner sandbox."""
        self.inner.close()
