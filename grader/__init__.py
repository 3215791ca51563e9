"""An autograder for deep-learning assignments: sandboxed runs, named mistakes, Gradescope JSON.

``check`` is the student's self-check: ``check("notebook.ipynb")`` runs the visible tests in
the sandbox, ``check(leaky_relu_backward)`` inside the running notebook runs them on the
live function and returns a report that Jupyter shows as HTML.
"""

from __future__ import annotations

from grader.api import grade
from grader.errors import GraderError
from grader.notebook import NotebookReport, check
from grader.results import GradingResult, TestResult

__all__ = ["GraderError", "GradingResult", "NotebookReport", "TestResult", "check", "grade"]
