"""The only package that starts untrusted code.

``parent`` spawns and polices the child, ``child`` runs inside it, and ``protocol`` is
everything that crosses between them. The rest of the grader talks to a submission only
through the ``Sandbox`` protocol below, so unit tests can substitute a fake.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from grader.sandbox.limits import Limits
from grader.sandbox.outcomes import (
    CallOutcome,
    CellError,
    CellRun,
    Crashed,
    Frame,
    LoadReport,
    Raised,
    Returned,
    SandboxInfo,
    TimedOut,
)
from grader.sandbox.parent import (
    BACKEND_CHOICES,
    BackendChoice,
    StudentProcess,
    resolve_backend,
)
from grader.sandbox.protocol import Opaque


class Sandbox(Protocol):
    """A submission that has been loaded somewhere and can be called."""

    def load(self) -> LoadReport:
        """Run the submission's cells in document order."""
        ...

    def call(self, function: str, args: Sequence[Any]) -> CallOutcome:
        """Call one of its functions; never raises for anything the submission does."""
        ...

    @property
    def captured_output(self) -> str:
        """Capped stdout+stderr of the submission."""
        ...

    def close(self) -> None:
        """Kill every process of the submission."""
        ...


__all__ = [
    "BACKEND_CHOICES",
    "BackendChoice",
    "CallOutcome",
    "CellError",
    "CellRun",
    "Crashed",
    "Frame",
    "Limits",
    "LoadReport",
    "Opaque",
    "Raised",
    "Returned",
    "Sandbox",
    "SandboxInfo",
    "StudentProcess",
    "TimedOut",
    "resolve_backend",
]
