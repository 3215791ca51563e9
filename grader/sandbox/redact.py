"""Keep the text of protected files (hidden tests, reference) out of student output we quote.

Under bwrap a submission cannot read those files at all. Under the fallback it can, and
whatever it prints would reach the results document through the captured output, so every
output line that repeats a line of a protected file is replaced. This catches verbatim
dumps only (an encoded copy gets through): the fallback's real answer is bwrap.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

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


def redact(text: str, lines: Sequence[str]) -> str:
    """``text`` with every line that contains one of ``lines`` replaced by a notice."""
    if not text or not lines:
        return text
    pattern = re.compile("|".join(re.escape(line) for line in lines))
    kept = [REDACTED if pattern.search(line) else line for line in text.splitlines()]
    return "\n".join(kept) + ("\n" if text.endswith("\n") else "")
