"""Helpers of the hostile-submission tests (fixtures are in conftest.py)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import pytest

from grader.api import PreparedAssignment, grade_submission
from grader.results import GradingResult
from grader.sandbox import SandboxInfo, landlock
from grader.submission import read_submission

HOSTILE = Path(__file__).parent.parent / "fixtures" / "hostile"
CHECKOUT = Path(__file__).resolve().parent.parent.parent
ASSIGNMENT = "leaky_relu_backward"

# Small limits keep each hostile run to a second or two. The timeouts stay generous enough
# for a correct call on two busy cores (it takes milliseconds).
FAST_LIMITS = {
    "load_timeout": 8.0,
    "cell_timeout": 1.5,
    "test_timeout": 1.5,
    "kill_grace": 0.5,
    "cpu_seconds": 20,
    "memory_bytes": 512 * 1024 * 1024,
    "processes": 24,
    "output_bytes": 16 * 1024,
    "max_restarts": 2,
}


def with_limits(prepared: PreparedAssignment, **overrides: Any) -> PreparedAssignment:
    """A copy of the prepared assignment whose limits are replaced (reference untouched)."""
    limits = prepared.assignment.limits.with_overrides(overrides)
    return dataclasses.replace(
        prepared, assignment=dataclasses.replace(prepared.assignment, limits=limits)
    )


def copy_fixture(name: str, folder: Path, **substitutions: str) -> Path:
    """Copy a hostile fixture into ``folder``, filling its ``__NAME__`` placeholders."""
    text = (HOSTILE / name).read_text()
    for key, value in substitutions.items():
        text = text.replace(f"__{key}__", value)
    target = folder / name
    target.write_text(text)
    return target


def grade_fixture(
    prepared: PreparedAssignment,
    backend: SandboxInfo,
    name: str,
    folder: Path,
    **substitutions: str,
) -> GradingResult:
    """Grade one hostile fixture in-process with the hidden suite."""
    path = copy_fixture(name, folder, **substitutions)
    return grade_submission(prepared, read_submission(path), sandbox=backend)


def points(prepared: PreparedAssignment, *names: str) -> float:
    """The points of the named hidden tests (each name must exist)."""
    by_name = {case.name: case.points for case in prepared.hidden}
    return sum(by_name[name] for name in names)


def result_of(result: GradingResult, name: str) -> Any:
    """The result of one test in a document."""
    return next(t for t in result.tests if t.name == name)


def isolates(backend: SandboxInfo) -> bool:
    """Whether the backend is an isolation boundary (bwrap, landlock), not the fallback."""
    return backend.backend in ("bwrap", "landlock")


def needs_landlock_abi(backend: SandboxInfo, abi: int, rule: str) -> None:
    """Skip, with the reason, a landlock case whose rule this kernel's Landlock cannot apply."""
    have = landlock.abi_version()
    if backend.backend == "landlock" and have < abi:
        pytest.skip(f"this kernel's Landlock ABI is {have}; {rule} needs ABI {abi}")


def live_pids_with(token: str) -> list[int]:
    """Live (not zombie) processes whose command line contains ``token``."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{name}/cmdline").read_bytes()
            state = Path(f"/proc/{name}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if token.encode() in cmdline and state not in (b"Z", b"X"):
            found.append(int(name))
    return found
