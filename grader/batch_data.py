"""What a batch produced, as data: one ``BatchEntry`` per submission and the ``BatchSummary``.

Below the batch runner (``batch.py``) and every writer of class-level files (``gradebook.py``,
``html_report.py``, the feedback pages): writers depend on these types, not on the runner.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from grader.results import GradingResult

Status = Literal["graded", "error", "timeout"]


@dataclass(frozen=True)
class BatchEntry:
    """One graded (or skipped) submission, with what an instructor needs to triage it."""

    name: str
    result: GradingResult
    status: Status  #: "graded" unless it could not be graded normally
    reason: str = ""  #: why it errored or timed out, written for the instructor
    skipped: bool = False  #: unchanged since the last run: result read back from OUTDIR
    internal_error: bool = False  #: the grader itself failed on it


@dataclass(frozen=True)
class BatchSummary:
    """Everything a batch produced, in submission-name order."""

    assignment: str  #: the assignment's title
    entries: tuple[BatchEntry, ...]
    test_names: tuple[str, ...]
    test_points: tuple[float, ...]
    misconceptions: tuple[tuple[str, str], ...]  #: (id, title) in catalogue order
    seconds: float
    jobs: int
    out: Path
    warnings: tuple[str, ...] = ()  #: about the sandbox that ran (e.g. the bwrap fallback)

    def count(self, status: Status) -> int:
        """How many submissions ended with ``status``."""
        return sum(1 for e in self.entries if e.status == status)

    @property
    def skipped(self) -> int:
        """Submissions not regraded because neither they nor the assignment changed."""
        return sum(1 for e in self.entries if e.skipped)

    @property
    def internal_errors(self) -> int:
        """Submissions on which the grader itself failed."""
        return sum(1 for e in self.entries if e.internal_error)
