"""Shared set-up of the hostile-submission tests: fast limits, every backend, process checks."""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hostile_support import ASSIGNMENT, CHECKOUT, FAST_LIMITS, live_pids_with, with_limits

from grader.api import PreparedAssignment, prepare_assignment
from grader.sandbox import SandboxInfo
from grader.sandbox.parent import bwrap_problem, landlock_problem, resolve_backend


@pytest.fixture(scope="session")
def prepared() -> PreparedAssignment:
    return with_limits(prepare_assignment(ASSIGNMENT), **FAST_LIMITS)


@pytest.fixture(params=["bwrap", "landlock", "none"])
def backend(request: pytest.FixtureRequest) -> SandboxInfo:
    """Each hostile test runs under bwrap and landlock (each skipped, with the reason, where
    it cannot run) and the fallback."""
    if request.param == "bwrap":
        problem = bwrap_problem()
        if problem:
            pytest.skip(f"bwrap backend not testable here: {problem}")
    if request.param == "landlock":
        problem = landlock_problem()
        if problem:
            pytest.skip(f"landlock backend not testable here: {problem}")
    return resolve_backend(request.param)


@pytest.fixture
def token() -> Iterator[str]:
    """A unique marker for a test's processes; any survivor is killed at teardown."""
    value = f"grader-hostile-{uuid.uuid4().hex}"
    yield value
    for pid in live_pids_with(value):
        with contextlib.suppress(OSError):
            os.kill(pid, 9)


@pytest.fixture
def course_copy(tmp_path: Path) -> Path:
    """A copy of the course (assignment + reference) a hostile fixture may attack."""
    course = tmp_path / "course"
    shutil.copytree(CHECKOUT / "assignments" / ASSIGNMENT, course / "assignments" / ASSIGNMENT)
    (course / "reference").mkdir()
    shutil.copy(CHECKOUT / "reference" / f"{ASSIGNMENT}.py", course / "reference")
    return course
