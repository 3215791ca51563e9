"""An autograder for deep-learning assignments: sandboxed runs, named mistakes, Gradescope JSON."""

from __future__ import annotations

from grader.api import check, grade
from grader.errors import GraderError
from grader.results import GradingResult, TestResult

__all__ = ["GraderError", "GradingResult", "TestResult", "check", "grade"]
