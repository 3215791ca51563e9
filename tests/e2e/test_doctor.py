"""`grader doctor` and the line `make grade` starts with: which sandbox grades here, and why
not a stronger one. A machine without bwrap is made by a PATH without it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader.sandbox import landlock
from grader.sandbox.parent import bwrap_problem, landlock_problem

pytestmark = pytest.mark.sandbox

REPO = Path(__file__).resolve().parent.parent.parent
VENV_BIN = Path(sys.executable).parent
TOOLS = ("sh", "bash", "make", "mkdir", "grep", "basename", "apt-get", "env")


def path_without_bwrap(folder: Path) -> str:
    """This venv plus the tools `make grade` uses (and apt-get where there is one)."""
    folder.mkdir()
    for tool in TOOLS:
        found = shutil.which(tool)
        if found:
            (folder / tool).symlink_to(found)
    return f"{VENV_BIN}:{folder}"


def doctor(*args: str, path: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("GRADER_PORTABLE", None)
    if path is not None:
        env["PATH"] = path
    return subprocess.run(
        [str(VENV_BIN / "grader"), "doctor", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


def test_doctor_reports_backends_kernel_cgroups_and_limits() -> None:
    done = doctor()
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for name in ("bwrap", "landlock", "none"):
        assert re.search(rf"^  {name} +(available|not available): ", out, re.M), name
    expected = "bwrap" if bwrap_problem() is None else "landlock"
    if expected == "landlock" and landlock_problem():
        expected = "none"
    assert f"--sandbox auto uses: {expected}" in out
    abi = landlock.abi_version()
    assert (f"Landlock ABI {abi}" if abi else "Landlock: not available") in out
    assert "cgroups: " in out
    assert re.search(r"^  memory_bytes +2147483648$", out, re.M)
    assert re.search(r"^  test_timeout +5.0$", out, re.M)


def test_doctor_shows_an_assignments_own_limits() -> None:
    done = doctor("--assignment", "relu_backward")
    assert done.returncode == 0, done.stderr
    assert re.search(r"^  test_timeout +2.0$", done.stdout, re.M)  # its [limits] table


def test_without_bwrap_doctor_says_why_and_how_to_install_it(tmp_path: Path) -> None:
    if landlock_problem():
        pytest.skip(f"landlock backend not testable here: {landlock_problem()}")
    done = doctor(path=path_without_bwrap(tmp_path / "bin"))
    assert done.returncode == 0, done.stderr
    assert "bwrap     not available" in done.stdout
    assert "why not: bwrap is not installed" in done.stdout
    assert "--sandbox auto uses: landlock" in done.stdout
    if shutil.which("apt-get"):
        sudo = "" if os.geteuid() == 0 else "sudo "
        assert f"to install bubblewrap: {sudo}apt-get install bubblewrap" in done.stdout


def test_make_grade_says_which_backend_graded_and_how_to_get_bwrap(tmp_path: Path) -> None:
    if landlock_problem():
        pytest.skip(f"landlock backend not testable here: {landlock_problem()}")
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    examples = tmp_path / "examples"
    examples.mkdir()
    shutil.copy(REPO / "examples" / "chain_rule_missing.ipynb", examples)
    env = {**os.environ, "PATH": path_without_bwrap(tmp_path / "bin")}
    # Run from `make -C DIR test` (as .ci/run does for its normal user), the outer make's
    # flags would make this one print "Entering directory" before the line checked below.
    for name in ("GRADER_PORTABLE", "MAKEFLAGS", "MFLAGS", "MAKELEVEL"):
        env.pop(name, None)
    done = subprocess.run(
        [
            "make",
            "-s",
            "--no-print-directory",
            "-C",
            str(REPO),
            "grade",
            f"EXAMPLES={examples}",
            f"OUT={tmp_path / 'out'}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    first = done.stdout.splitlines()[0]
    assert first.startswith("sandbox: landlock (Landlock + seccomp")
    if shutil.which("apt-get"):
        assert "for bubblewrap's full isolation run: " in first
        assert first.endswith("apt-get install bubblewrap")
    assert "chain_rule_missing" in done.stdout
    document = (tmp_path / "out" / "chain_rule_missing.json").read_text()
    assert '"sandbox": "landlock"' in document
