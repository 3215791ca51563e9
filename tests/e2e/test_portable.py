"""The portable child that macOS and Windows run, exercised on Linux with GRADER_PORTABLE=1.

`grader check` runs end to end through it on every assignment's visible suite, and its
results for honest code (and for an honest mistake) equal those of the Linux backends; it
warns that it is not isolation, and `grader grade` says the score is for practice. The last
test imports the child-side modules with `resource`, `fcntl` and the Linux-only libc calls
made unavailable, and serves a whole load and call through them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from grader.assignments import list_assignments
from grader.sandbox import protocol
from grader.sandbox.parent import CHILD_SOURCES, PORTABLE_ENV, PORTABLE_WARNING

pytestmark = pytest.mark.sandbox

REPO = Path(__file__).resolve().parent.parent.parent
GRADER = Path(sys.executable).parent / "grader"
SANDBOX = REPO / "grader" / "sandbox"


def grader(*args: str | Path, portable: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != PORTABLE_ENV}
    if portable:
        env[PORTABLE_ENV] = "1"
    return subprocess.run(
        [str(GRADER), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env=env,
    )


def comparable(document: dict[str, Any]) -> dict[str, Any]:
    """What must not depend on the backend: scores, test outputs, mistakes, cell states."""
    extra = document["extra_data"]
    return {
        "score": document["score"],
        "max_score": document["max_score"],
        "output": document["output"],
        "tests": [(t["name"], t["score"], t["output"]) for t in document["tests"]],
        "misconceptions": extra.get("misconceptions"),
        "cells": extra.get("cells"),
    }


@pytest.mark.parametrize("assignment", list_assignments())
def test_check_passes_every_visible_suite_as_on_linux(assignment: str, tmp_path: Path) -> None:
    solution = tmp_path / f"{assignment}.py"
    shutil.copyfile(REPO / "reference" / f"{assignment}.py", solution)
    args = ("check", solution, "--assignment", assignment, "--format", "json")
    portable = grader(*args, portable=True)
    assert portable.returncode == 0, portable.stderr
    document = json.loads(portable.stdout)
    assert document["score"] == document["max_score"] > 0
    assert document["extra_data"]["sandbox"] == "none"
    assert PORTABLE_WARNING in document["extra_data"]["warnings"]
    assert "This is not isolation" in portable.stderr
    linux = grader(*args, portable=False)
    assert linux.returncode == 0, linux.stderr
    assert json.loads(linux.stdout)["extra_data"]["sandbox"] != "none"
    assert comparable(document) == comparable(json.loads(linux.stdout))


def test_an_honest_mistake_gets_the_same_feedback(tmp_path: Path) -> None:
    notebook = tmp_path / "chain_rule_missing.ipynb"
    shutil.copyfile(REPO / "examples" / "chain_rule_missing.ipynb", notebook)
    portable = grader("check", notebook, portable=True)
    linux = grader("check", notebook, portable=False)
    assert portable.returncode == linux.returncode == 1
    assert "[missing-chain-rule]" in portable.stdout
    warning = f"warning: {PORTABLE_WARNING}"
    assert warning in portable.stdout.splitlines()
    assert [line for line in portable.stdout.splitlines() if line != warning] == (
        linux.stdout.splitlines()
    )


def test_grade_says_the_score_is_for_practice(tmp_path: Path) -> None:
    solution = tmp_path / "sub.py"
    shutil.copyfile(REPO / "reference" / "relu_backward.py", solution)
    done = grader("grade", solution, "--assignment", "relu_backward", portable=True)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["score"] == document["max_score"]
    assert "the score is for practice only" in done.stderr
    assert PORTABLE_WARNING in document["extra_data"]["warnings"]


@pytest.mark.parametrize("choice", ["bwrap", "landlock"])
def test_isolating_backends_are_refused_with_the_reason(choice: str, tmp_path: Path) -> None:
    solution = tmp_path / "sub.py"
    shutil.copyfile(REPO / "reference" / "relu_backward.py", solution)
    done = grader(
        "check", solution, "--assignment", "relu_backward", "--sandbox", choice, portable=True
    )
    assert done.returncode == 2
    assert "the portable child" in done.stderr


def test_a_hanging_cell_is_interrupted_and_the_next_one_runs(tmp_path: Path) -> None:
    """No SIGALRM there: the timer thread interrupts the loop; the notebook goes on."""
    course = tmp_path / "course" / "assignments"
    shutil.copytree(REPO / "assignments" / "relu_backward", course / "relu_backward")
    spec = course / "relu_backward" / "assignment.toml"
    spec.write_text(spec.read_text().replace("[limits]", "[limits]\ncell_timeout = 1.0", 1))
    (tmp_path / "course" / "reference").mkdir()
    shutil.copy(REPO / "reference" / "relu_backward.py", tmp_path / "course" / "reference")
    solution = tmp_path / "sub.py"
    loop = "import time\nstarted = time.monotonic()\n"
    loop += "while time.monotonic() - started < 60:\n    pass\n"
    solution.write_text(
        f"# %%\n{loop}\n# %%\n" + (REPO / "reference" / "relu_backward.py").read_text()
    )
    env = {**os.environ, PORTABLE_ENV: "1", "GRADER_COURSE_DIR": str(tmp_path / "course")}
    done = subprocess.run(
        [str(GRADER), "check", str(solution), "--assignment", "relu_backward", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    cells = document["extra_data"]["cells"]
    assert cells[0]["error"] == "TimeoutError: the cell ran longer than 1 s"
    assert cells[1]["status"] == "ok"
    assert document["score"] == document["max_score"]


BLOCKER = textwrap.dedent(
    """
    import ctypes, os, signal, sys
    import numpy  # first: numpy on Linux asks os.uname() for the kernel; not the child's code
    # What macOS and Windows lack: resource and fcntl (Windows), prctl, syscall, capset and
    # the rest of Linux's libc, /proc, fork, setitimer and SIGALRM (Windows).
    sys.modules["resource"] = None
    sys.modules["fcntl"] = None
    class NoLinuxLibc:
        def __init__(self, *args, **kwargs):
            pass
        def __getattr__(self, name):
            raise AttributeError(f"{name}: not in this platform's C library")
    ctypes.CDLL = NoLinuxLibc
    for name in ("uname", "fork", "killpg", "setsid", "unshare", "sched_getaffinity"):
        if hasattr(os, name):
            delattr(os, name)
    def no_symlink(*args, **kwargs):
        raise OSError(1, "symbolic links need administrator rights here (Windows)")
    os.symlink = no_symlink
    for name in ("setitimer", "SIGALRM", "ITIMER_REAL"):
        if hasattr(signal, name):
            delattr(signal, name)
    real_open = open
    def no_proc(path, *args, **kwargs):
        if str(path).startswith("/proc"):
            raise FileNotFoundError(path)
        return real_open(path, *args, **kwargs)
    import builtins
    builtins.open = no_proc
    sys.path.insert(0, sys.argv[1])
    import protocol, landlock, child
    assert child.resource is None
    child.main(["child.py", "stdio", "stdio", '{"portable": true}'])
    """
)


def test_child_side_runs_without_linux_only_modules_and_calls(tmp_path: Path) -> None:
    for name in CHILD_SOURCES:
        shutil.copyfile(SANDBOX / name, tmp_path / name)
    provided = tmp_path / "provided"
    provided.mkdir()
    (provided / "course_helpers.py").write_text("SCALE = 2\n")
    work = tmp_path / "work"
    work.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-I", "-c", BLOCKER, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=work,
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    source = (
        "from course_helpers import SCALE\nprint('hello')\ndef double(x):\n    return SCALE * x\n"
    )
    load = {"op": "load", "cells": [{"index": 1, "source": source}], "functions": ["double"]}
    # Provided course files arrive as copies where symlinks are refused (Windows).
    load.update(cell_timeout=5.0, wall_factor=1.0, provided=str(provided))
    protocol.write_frame(proc.stdin.fileno(), load)
    frames = []
    while not frames or frames[-1][0]["op"] != "loaded":
        frames.append(protocol.read_frame(proc.stdout.fileno())[:2])
    assert [f[0]["op"] for f in frames] == ["started", "cell", "cell-done", "loaded"]
    assert frames[-1][0]["names"]["wanted"] == {"double": "callable"}
    blobs: list[bytes] = []
    argument = protocol.encode_value(__import__("numpy").arange(3.0), blobs)
    call = {"op": "call", "function": "double", "args": [argument], "timeout": 5.0}
    protocol.write_frame(proc.stdin.fileno(), {**call, "wall_factor": 1.0}, blobs)
    header, out_blobs, _ = protocol.read_frame(proc.stdout.fileno())
    assert header["op"] == "returned", header
    assert protocol.decode_value(header["value"], out_blobs).tolist() == [0.0, 2.0, 4.0]
    proc.stdin.close()
    assert proc.wait(timeout=30) == 0
    assert proc.stderr is not None
    # The submission's print went to stderr (the output the trusted side caps), not the protocol.
    assert proc.stderr.read().decode() == "hello\n"
    proc.stdout.close()
    proc.stderr.close()
