"""What a batch produced, as data: one ``BatchEntry`` per submission and the ``BatchSummary``.

Below the batch runner (``batch.py``) and every writer of class-level files (``gradebook.py``,
``html_report.py``, the feedback pages): writers depend on these types, not on the runner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from grader.lms import Identity, identity_of
from grader.results import GradingResult
from grader.roster import Match, Roster

Status = Literal["graded", "error", "timeout"]
Absent = Literal["zero", "skip"]  #: what a roster student without a submission gets
NO_SUBMISSION = "no submission"


@dataclass(frozen=True)
class RosterReport:
    """A batch's roster, what matched, and how to treat students who submitted nothing."""

    roster: Roster
    match: Match
    absent: Absent = "zero"


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
    #: who each submission's LMS download name (or Gradescope's metadata) says submitted it
    identities: dict[str, Identity] = field(default_factory=dict)
    roster: RosterReport | None = None  #: set by ``grader batch --roster``
    #: (graded function, its points) of an assignment with several; empty for one function
    functions: tuple[tuple[str, float], ...] = ()

    def identity(self, name: str) -> Identity:
        """The identity of the submission ``name`` (parsed from the name when not recorded)."""
        return self.identities.get(name) or identity_of(name)

    def subtotal(self, entry: BatchEntry, function: str) -> float:
        """The points ``entry`` scored on one graded function (assignments with several)."""
        return entry.result.subtotals().get(function, (0.0, 0.0))[0]

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
