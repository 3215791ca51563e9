"""Errors of the grader's *use*, never of a submission (a broken submission is a score).

GraderError                 exit code 3 unless a subclass says otherwise
├── UsageError              exit 2: the command line cannot be acted on
│   ├── SubmissionNotFoundError
│   ├── UnsupportedSubmissionError
│   ├── UnknownAssignmentError
│   ├── AmbiguousAssignmentError
│   ├── SandboxUnavailableError
│   └── OutputPathError
└── AssignmentError         exit 3: the instructor's assignment folder is broken
"""

from __future__ import annotations

from typing import ClassVar


class GraderError(Exception):
    """Base class: a message for the user and a hint that names the fix."""

    exit_code: ClassVar[int] = 3

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def show(self) -> str:
        """The two lines the CLI prints on stderr."""
        text = f"error: {self.message}"
        return f"{text}\n  hint: {self.hint}" if self.hint else text


class UsageError(GraderError):
    """The command line names something that does not exist or cannot be used."""

    exit_code: ClassVar[int] = 2


class SubmissionNotFoundError(UsageError):
    """The submission path does not exist."""


class UnsupportedSubmissionError(UsageError):
    """The submission is not a file the grader can read at all (a folder, a .zip, ...)."""


class UnknownAssignmentError(UsageError):
    """No assignment of that name."""


class AmbiguousAssignmentError(UsageError):
    """Several assignments exist and none was named."""


class SandboxUnavailableError(UsageError):
    """The requested sandbox backend cannot run on this machine."""


class OutputPathError(UsageError):
    """``--out`` names a place the grader cannot write (a folder for a file, or the reverse)."""


class AssignmentError(GraderError):
    """The assignment folder itself is broken (bad spec, test file that does not import)."""
