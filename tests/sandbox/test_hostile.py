"""Hostile submissions, each graded on every backend: the grader survives, writes a valid
document, keeps the score the submission's real behaviour deserves, and leaves nothing
running. The fixtures are in tests/fixtures/hostile/ (each bounded, safe without a sandbox).
"""

from __future__ import annotations

import ast
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hostile_support import (
    ASSIGNMENT,
    CHECKOUT,
    FAST_LIMITS,
    HOSTILE,
    copy_fixture,
    grade_fixture,
    isolates,
    live_pids_with,
    needs_landlock_abi,
    points,
    result_of,
    with_limits,
)

from grader.api import PreparedAssignment, grade_submission, prepare_assignment
from grader.report import render_json
from grader.results import GradingResult
from grader.sandbox import SandboxInfo, StudentProcess
from grader.sandbox.cgroup import cgroup_problem
from grader.sandbox.parent import CHOSEN_NONE_WARNING, SCRUBBED_ENV
from grader.sandbox.redact import REDACTED
from grader.sandbox.workers import ZygoteStudentProcess
from grader.submission import read_submission

pytestmark = pytest.mark.sandbox

SCHEMA = json.loads((CHECKOUT / "grader" / "results.schema.json").read_text())
ROOT = os.getuid() == 0
_baselines: dict[str, GradingResult] = {}


def document(result: GradingResult, backend: SandboxInfo) -> dict[str, Any]:
    """The results document, checked against the schema and for the backend it names."""
    doc: dict[str, Any] = json.loads(render_json(result))
    jsonschema.validate(doc, SCHEMA)
    assert doc["extra_data"]["sandbox"] == backend.backend
    if backend.backend == "none":
        assert CHOSEN_NONE_WARNING in doc["extra_data"]["warnings"]
    return doc


def strings(value: Any) -> Iterator[str]:
    """Every string in a JSON document (keys and values)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def student_output(result: GradingResult) -> str:
    return str(result.extra.get("student_output", ""))


def baseline(prepared: PreparedAssignment, backend: SandboxInfo, tmp_path: Path) -> GradingResult:
    """The honest wrong solution the tricksters hide (graded once per backend)."""
    if backend.backend not in _baselines:
        result = grade_fixture(prepared, backend, "baseline_missing_chain_rule.py", tmp_path)
        _baselines[backend.backend] = result
    return _baselines[backend.backend]


# --- time ---------------------------------------------------------------------------------


def test_infinite_loop_at_import_is_interrupted_and_next_cell_runs(
    prepared: PreparedAssignment, backend: SandboxInfo, tmp_path: Path
) -> None:
    result = grade_fixture(prepared, backend, "infinite_loop_at_import.py", tmp_path)
    doc = document(result, backend)
    assert result.score == result.max_score == 100
    first = doc["extra_data"]["cells"][0]
    assert first["status"] == "error"
    assert first["error"] == "TimeoutError: the cell ran longer than 1.5 s"


def test_infinite_loop_for_some_inputs_loses_only_those_tests(
    prepared: PreparedAssignment, backend: SandboxInfo, tmp_path: Path
) -> None:
    result = grade_fixture(prepared, backend, "infinite_loop_in_function.py", tmp_path)
    document(result, backend)
    assert result.score == 100 - points(prepared, "test_shapes[empty]")
    hung = result_of(result, "test_shapes[empty]")
    assert "leaky_relu_backward timed out after 1.5 s" in hung.output


def test_ignored_sigterm_and_alarm_end_in_sigkill_reported_as_timeout(
    prepared: PreparedAssignment, backend: SandboxInfo, tmp_path: Path
) -> None:
    started = time.monotonic()
    result = grade_fixture(prepared, backend, "sigterm_ignored.py", tmp_path)
    document(result, backend)
    assert result.score == 100 - points(prepared, "test_shapes[3d]")
    assert "timed out after 1.5 s" in result_of(result, "test_shapes[3d]").output
    # The hung call costs its limit plus the kill grace, not the fixture's 60 s.
    assert time.monotonic() - started < 30


def test_runaway_background_thread_neither_stalls_nor_survives(
    prepared: PreparedAssignment, backend: SandboxInfo, tmp_path: Path
) -> None:
    result = grade_fixture(prepared, backend, "runaway_thread.py", tmp_path)
    document(result, backend)
    assert result.score == 100
    assert "still spinning" in student_output(result)


# --- memory, processes, output --------------------------------------------------------------


def test_memory_hog_is_refused_and_grading_goes_on(
    prepared: PreparedAssignment, backend: SandboxInfo, tmp_path: Path
) -> None:
    # Touching a few hundred MiB takes seconds on two busy cores: a longer cell limit.
    limit = 320 * 2**20
    prepared = with_limits(prepared, memory_bytes=limit, cell_timeout=8.0)
    result = grade_fixture(prepared, backend, "memory_hog.py", tmp_path)
    document(result, backend)
    assert result.score == 100
    output = student_output(result)
    assert "6 GiB refused" in output
    refused = re.search(r"refused after (\d+) MiB", output)
    assert refused is not None, (output, result.output)
    assert int(refused.group(1)) <= limit // 2**20


def _processes_bounded(backend: SandboxInfo) -> bool:
    # RLIMIT_NPROC binds unless the submission's real uid is root (bwrap run by root);
    # the fallback run by root drops to nobody. A cgroup bounds every case.
    # landlock drops root to nobody as the fallback does.
    return cgroup_problem() is None or not ROOT or backend.backend != "bwrap"


def test_fork_bomb_is_bounded_and_leaves_no_process(
    prepared: PreparedAssignment, backend: SandboxInfo, tmp_path: Path, token: str
) -> None:
    result = grade_fixture(prepared, backend, "fork_bomb.py", tmp_path, TOKEN=token)
    document(result, backend)
    assert result.score == 100
    forked = re.search(r"forked (\d+) processes", student_output(result))
    assert forked is not None, student_output(result)
    if _processes_bounded(backend):
        assert int(forked.group(1)) <= FAST_LIMITS["processes"]
    # Each bomb process sleeps 3 s; grading took less, so only the kill can explain none left.
    assert live_pids_with(token) == []


@pytest.mark.parametrize("use_cgroup", [True, False], ids=["cgroup", "no-cgroup"])
def test_daemonised_orphan_is_dead_before_the_result_exists(
    prepared: PreparedAssignment,
    backend: SandboxInfo,
    tmp_path: Path,
    token: str,
    use_cgroup: bool,
) -> None:
    if use_cgroup and cgroup_problem():
        pytest.skip(f"no cgroup here: {cgroup_problem()}")

    def start(cells: Any, functions: Any, name: str, limits: Any) -> StudentProcess:
        if name == "bwrap":  # as grading runs it: a fork of a zygote
            return ZygoteStudentProcess(cells, functions, limits=limits, use_cgroup=use_cgroup)
        return StudentProcess(cells, functions, backend=name, limits=limits, use_cgroup=use_cgroup)

    path = copy_fixture("orphan_sleeper.py", tmp_path, TOKEN=token)
    result = grade_submission(prepared, read_submission(path), sandbox=backend, start_sandbox=start)
    document(result, backend)
    assert result.score == 100
    assert live_pids_with(token) == []


def test_huge_output_is_capped_and_cheap(
    prepared: PreparedAssignment, backend: SandboxInfo, tmp_path: Path
) -> None:
    started = time.monotonic()
    result = grade_fixture(prepared, backend, "huge_output.py", tmp_path)
    elapsed = time.monotonic() - started
    assert result.score == 100
    output = student_output(result)
    dropped = re.search(r"^\[output capped: the first \d+ bytes kept, (\d+) more dropped\]", output)
    assert dropped is not None, output[-300:]
    assert int(dropped.group(1)) + FAST_LIMITS["output_bytes"] >= 100 * 2**20
    assert len(render_json(result)) < 64 * 1024
    assert elapsed < 60  # generous: two busy cores; typically a few seconds
    document(result, backend)


# --- forgery --------------------------------------------------------------------------------


def test_fake_results_then_exit_zero_scores_nothing(
    prepared: PreparedAssignment, backend: SandboxInfo, tmp_path: Path
) -> None:
    result = grade_fixture(prepared, backend, "fake_results_exit.py", tmp_path)
    document(result, backend)
    assert result.score == 0
    assert "the process exited with status 0 before answering" in result.output
    assert not result.output.startswith("FORGED")


@pytest.mark.parametrize("name", ["monkeypatched_numpy.py", "lying_ndarray.py"])
def test_tricks_inside_the_child_change_nothing(
    prepared: PreparedAssignment, backend: SandboxInfo, tmp_path: Path, name: str
) -> None:
    result = grade_fixture(prepared, backend, name, tmp_path)
    document(result, backend)
    honest = baseline(prepared, backend, tmp_path)
    assert honest.score < 100
    assert (result.score, result.misconceptions) == (honest.score, honest.misconceptions)


def test_killing_the_parent_does_not_reach_the_grader(
    prepared: PreparedAssignment, backend: SandboxInfo, tmp_path: Path
) -> None:
    needs_landlock_abi(backend, 6, "scoping signals to the sandbox")
    result = grade_fixture(prepared, backend, "kills_parent.py", tmp_path)
    document(result, backend)
    if backend.backend == "landlock":
        # Landlock's signal scope: the supervisor is outside the submission's domain.
        assert "could not kill the parent: [Errno 1] Operation not permitted" in (
            student_output(result)
        )
    if backend.backend == "none" and not ROOT:
        # Same uid: it kills the fallback's supervisor, and dies with it (SECURITY.md). The
        # kernel kills it a moment later, so a call or two may still be answered: a crash
        # with its reason, whatever the exact score.
        assert result.score < 100
        reasons = "\n".join(test.output for test in result.tests)
        assert "the process was killed (signal 9, SIGKILL)" in reasons
    else:
        assert result.score == 100  # bwrap's PID 1 ignores it; nobody may not signal root


def test_killing_its_own_group_is_a_crash_with_a_reason(
    prepared: PreparedAssignment, backend: SandboxInfo, tmp_path: Path
) -> None:
    result = grade_fixture(prepared, backend, "kills_own_group.py", tmp_path)
    document(result, backend)
    assert result.score == 0
    assert "the process was killed (signal 9, SIGKILL)" in result.output


def test_segfault_costs_only_the_crashing_test(
    prepared: PreparedAssignment, backend: SandboxInfo, tmp_path: Path
) -> None:
    result = grade_fixture(prepared, backend, "segfault.py", tmp_path)
    document(result, backend)
    assert result.score == 100 - points(prepared, "test_shapes[1x1]")
    assert "segmentation fault" in result_of(result, "test_shapes[1x1]").output


def test_forged_out_file_is_replaced_by_the_real_result(
    prepared: PreparedAssignment, backend: SandboxInfo, tmp_path: Path
) -> None:
    """The CLI is the subject: it must write only after the forger's process is dead."""
    submission = copy_fixture("forges_out_path.py", tmp_path)
    out = tmp_path / "results.json"
    command = [sys.executable, "-m", "grader", "grade", str(submission), "--out", str(out)]
    command += ["--assignment", ASSIGNMENT, "--sandbox", backend.backend]
    run = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    doc = json.loads(out.read_text())
    jsonschema.validate(doc, SCHEMA)
    assert "FORGED" not in doc["output"]
    assert doc["score"] == baseline(prepared, backend, tmp_path).score
    assert doc["extra_data"]["sandbox"] == backend.backend
    warned = f"warning: {CHOSEN_NONE_WARNING}" in run.stderr
    assert warned == (backend.backend == "none")
    time.sleep(0.1)  # a surviving forger writes every 10 ms
    assert json.loads(out.read_text()) == doc


# --- leaks ----------------------------------------------------------------------------------


def test_environment_dump_shows_no_secret(
    prepared: PreparedAssignment,
    backend: SandboxInfo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = f"ghp_fake{os.getpid()}secret"
    monkeypatch.setenv("GRADER_TEST_FAKE_TOKEN", secret)
    result = grade_fixture(prepared, backend, "dumps_environment.py", tmp_path)
    doc = document(result, backend)
    assert result.score == 100
    env_line = next(line for line in student_output(result).splitlines() if line.startswith("ENV"))
    child_env = ast.literal_eval(env_line.removeprefix("ENV "))
    # bwrap adds PWD for its --chdir; nothing else is inherited.
    assert set(child_env) - {"PWD"} == {*SCRUBBED_ENV, "HOME", "TMPDIR"}
    if isolates(backend) or ROOT:
        # The fallback run by a normal user can read that user's other processes (SECURITY.md).
        assert not any(secret in text for text in strings(doc))
    if backend.backend == "landlock":
        # Only its own /proc/<pid> is readable: listing /proc is refused (and the cell's
        # later statements still run).
        assert "read the environment of 0 other processes" in student_output(result)
        assert doc["extra_data"]["cells"][0]["error"].startswith("PermissionError")


def _protected_lines() -> list[str]:
    files = [
        CHECKOUT / "assignments" / ASSIGNMENT / "test_hidden.py",
        CHECKOUT / "reference" / f"{ASSIGNMENT}.py",
    ]
    return [s for f in files for s in map(str.strip, f.read_text().splitlines()) if len(s) >= 20]


def test_filesystem_walk_finds_no_hidden_tests_or_reference(
    backend: SandboxInfo, tmp_path: Path, course_copy: Path
) -> None:
    # The walk may take its whole 3 s budget: a longer cell limit.
    limits = {**FAST_LIMITS, "cell_timeout": 8.0, "load_timeout": 15.0}
    prepared = with_limits(prepare_assignment(ASSIGNMENT, course_copy), **limits)
    result = grade_fixture(
        prepared, backend, "walks_filesystem.py", tmp_path, COURSE_DIR=str(course_copy)
    )
    doc = document(result, backend)
    assert result.score == 100
    output = student_output(result)
    texts = list(strings(doc))
    leaked = [line for line in _protected_lines() if any(line in text for text in texts)]
    assert leaked == []
    if isolates(backend):
        # bwrap: the files are not there at all; landlock: no folder outside the runtime
        # and the run's own can even be listed.
        assert "found 0 files" in output
    else:
        # The fallback can read them (SECURITY.md); only verbatim lines are kept out.
        assert "found 2 files" in output
        assert REDACTED in output


def test_exception_messages_cannot_quote_hidden_tests_or_reference(
    backend: SandboxInfo, tmp_path: Path, course_copy: Path
) -> None:
    """Cell errors (two statements of one cell) and a raise quoting the protected files
    reach feedback redacted."""
    prepared = with_limits(prepare_assignment(ASSIGNMENT, course_copy), **FAST_LIMITS)
    result = grade_fixture(
        prepared, backend, "raises_hidden_tests.py", tmp_path, COURSE_DIR=str(course_copy)
    )
    doc = document(result, backend)
    assert result.score == 0
    texts = list(strings(doc))
    leaked = [line for line in _protected_lines() if any(line in text for text in texts)]
    assert leaked == []
    assert len(doc["extra_data"]["cells"][0]["more_errors"]) == 1  # the second statement's
    raised = next(t for t in result.tests if t.name == "test_positive_inputs").output
    assert "leaky_relu_backward raised ValueError" in raised
    if isolates(backend):
        assert "cannot read assignments/leaky_relu_backward/test_hidden.py" in raised
    else:
        assert REDACTED in raised  # read, quoted, and removed on the way out
        assert REDACTED in result.output  # the cell error in the overall message


def test_repo_files_cannot_be_modified(
    backend: SandboxInfo, tmp_path: Path, course_copy: Path
) -> None:
    if backend.backend == "none" and not ROOT:
        pytest.skip("the fallback run by a normal user can write that user's files (SECURITY.md)")
    before = {p: p.read_bytes() for p in course_copy.rglob("*") if p.is_file()}
    prepared = with_limits(prepare_assignment(ASSIGNMENT, course_copy), **FAST_LIMITS)
    result = grade_fixture(
        prepared, backend, "modifies_repo_files.py", tmp_path, COURSE_DIR=str(course_copy)
    )
    document(result, backend)
    assert result.score == 100
    assert "changed 0 files" in student_output(result)
    after = {p: p.read_bytes() for p in course_copy.rglob("*") if p.is_file()}
    assert after == before


@pytest.fixture
def listener() -> Iterator[tuple[int, list[bytes]]]:
    """A TCP listener on 127.0.0.1 that records what one client sends."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(15)
    received: list[bytes] = []

    def accept() -> None:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(5)
            received.append(conn.recv(1024))

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], received
    server.close()
    thread.join(timeout=5)


def test_network_is_cut_under_bwrap_and_landlock(
    prepared: PreparedAssignment,
    backend: SandboxInfo,
    tmp_path: Path,
    listener: tuple[int, list[bytes]],
) -> None:
    port, received = listener
    result = grade_fixture(prepared, backend, "connects_localhost.py", tmp_path, PORT=str(port))
    document(result, backend)
    assert result.score == 100
    if isolates(backend):
        assert "no connection" in student_output(result)
        assert received == []
    else:
        # The fallback does not isolate the network (SECURITY.md): the data got out.
        time.sleep(0.2)
        assert received == [b"hello from the sandbox"]


def test_fixtures_stay_bounded_without_a_sandbox() -> None:
    """Every loop in a hostile fixture has a bound, so a failed sandbox cannot hang CI."""
    for path in sorted(HOSTILE.glob("*.py")):
        text = path.read_text()
        assert "while True" not in text, path.name
        assert not re.search(r"connect\w*\(\(\s*\"(?!127\.0\.0\.1)", text), path.name


FORBIDDEN = (
    *("unshare", "ptrace", "process_vm_readv", "keyctl", "bpf", "io_uring", "shmget"),
    *("udp", "netlink", "unix-dgram", "unix-connect"),
)


def test_forbidden_system_calls_are_refused_under_landlock_and_bwrap(
    prepared: PreparedAssignment, backend: SandboxInfo, tmp_path: Path
) -> None:
    """The seccomp filter: no namespaces, tracing, keys, bpf, io_uring, IPC or sockets."""
    result = grade_fixture(prepared, backend, "tries_forbidden_syscalls.py", tmp_path)
    document(result, backend)
    assert result.score == 100
    lines = dict(
        line.split(" ", 2)[:2][::-1]
        for line in student_output(result).splitlines()
        if line.startswith(("ALLOWED ", "REFUSED "))
    )
    assert sorted(lines) == sorted(FORBIDDEN)
    if backend.backend == "landlock":
        # EPERM (1) from the filter, for every one of them.
        assert all(lines[name] == "REFUSED" for name in FORBIDDEN), lines
        assert "REFUSED unshare 1" in student_output(result)
    elif backend.backend == "bwrap":
        # Defence in depth: the kernel's most attacked interfaces are refused there too;
        # sockets, keys and IPC are namespaced instead (and die with the run).
        refused = ("unshare", "ptrace", "process_vm_readv", "bpf", "io_uring")
        assert all(lines[name] == "REFUSED" for name in refused), lines
        assert "REFUSED ptrace 1" in student_output(result)
        assert {lines[name] for name in ("keyctl", "shmget", "udp")} == {"ALLOWED"}
    elif backend.backend == "none":
        # The fixture can tell: without the filter, these go through.
        assert {lines[name] for name in ("unshare", "shmget", "udp", "unix-connect")} == {
            "ALLOWED"
        }
