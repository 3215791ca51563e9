"""The zygote behind the bwrap backend: consecutive submissions on one worker never meet.

Each test grades submissions one after another on the same worker sandbox (one ``Zygote``),
as ``grader batch`` does, and checks what the later one can see of the earlier one, what a
submission that attacks the zygote achieves, and what happens when a worker dies mid-run.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hostile_support import copy_fixture, live_pids_with

from grader.api import PreparedAssignment, ZygoteSandboxes, grade_submission
from grader.results import GradingResult
from grader.sandbox import SandboxInfo, workers
from grader.sandbox.parent import bwrap_problem, resolve_backend
from grader.sandbox.workers import ZygoteStudentProcess
from grader.submission import read_submission

pytestmark = [pytest.mark.sandbox, pytest.mark.bwrap]

TRACE_KINDS = {"process", "file in /tmp", "file in /dev/shm", "sysv shm", "session key", "user key"}
NAMESPACE_STATE = {
    "tcp socket",
    "loopback traffic",
    "tcp counter",
    "abstract socket",
    "sysv semaphore",
    "sysv message queue",
    "posix message queue",
}


@pytest.fixture
def bwrap() -> SandboxInfo:
    problem = bwrap_problem()
    if problem:
        pytest.skip(f"bwrap backend not testable here: {problem}")
    return resolve_backend("bwrap")


@pytest.fixture
def worker() -> Iterator[ZygoteSandboxes]:
    """One worker sandbox that every submission of the test is forked from."""
    with ZygoteSandboxes() as sandboxes:
        yield sandboxes


def grade_on(
    worker: ZygoteSandboxes, prepared: PreparedAssignment, info: SandboxInfo, path: Path
) -> GradingResult:
    return grade_submission(prepared, read_submission(path), sandbox=info, start_sandbox=worker)


def traces(result: GradingResult) -> tuple[list[str], list[str]]:
    """(what the submission found when it started, what it found after leaving its own)."""
    output = str(result.extra.get("student_output", ""))
    match = re.search(r"^TRACES (\[.*?\]) (\[.*?\])$", output, re.MULTILINE)
    assert match is not None, output
    return json.loads(match.group(1)), json.loads(match.group(2))


def namespace_state(result: GradingResult) -> tuple[list[str], list[str]]:
    """(the namespace state the submission found when it started, what it left)."""
    output = str(result.extra.get("student_output", ""))
    match = re.search(r"^STATE (\[.*?\]) (\[.*?\])$", output, re.MULTILINE)
    assert match is not None, output
    return json.loads(match.group(1)), json.loads(match.group(2))


def test_no_namespace_state_crosses_from_one_run_to_the_next(
    prepared: PreparedAssignment,
    bwrap: SandboxInfo,
    worker: ZygoteSandboxes,
    tmp_path: Path,
    token: str,
) -> None:
    """A sender's closed TCP connection (TIME_WAIT), traffic, sockets and IPC: none reach the
    receiver graded next on the same worker (a covert channel that once changed a score)."""
    path = copy_fixture("leaves_namespace_state.py", tmp_path, TOKEN=token)
    sender = grade_on(worker, prepared, bwrap, path)
    assert sender.score == 100
    assert namespace_state(sender) == ([], sorted(NAMESPACE_STATE))  # really left behind
    receiver = grade_on(worker, prepared, bwrap, path)
    assert receiver.score == 100
    assert namespace_state(receiver) == ([], sorted(NAMESPACE_STATE))
    assert [p.zygote for p in worker.processes] == [worker.zygote, worker.zygote]


def test_next_submission_on_the_worker_sees_nothing_of_the_last(
    prepared: PreparedAssignment,
    bwrap: SandboxInfo,
    worker: ZygoteSandboxes,
    tmp_path: Path,
    token: str,
) -> None:
    path = copy_fixture("leaves_traces.py", tmp_path, TOKEN=token)
    first = grade_on(worker, prepared, bwrap, path)
    assert first.score == 100
    before, after = traces(first)
    assert before == []
    # The traces were really made (so "nothing seen" below means something).
    assert set(after) == TRACE_KINDS
    assert live_pids_with(token) == []  # its background process died with the run
    second = grade_on(worker, prepared, bwrap, path)
    assert second.score == 100
    assert traces(second) == ([], sorted(TRACE_KINDS))
    # Both runs were forks of one zygote: the isolation is per fork, not per sandbox.
    assert [p.zygote for p in worker.processes] == [worker.zygote, worker.zygote]
    assert worker.zygote.alive()


def test_attacking_the_zygote_only_hurts_the_attacker(
    prepared: PreparedAssignment,
    bwrap: SandboxInfo,
    worker: ZygoteSandboxes,
    tmp_path: Path,
) -> None:
    attack = grade_on(worker, prepared, bwrap, copy_fixture("attacks_the_zygote.py", tmp_path))
    assert attack.score == 0
    assert "PID 1 signalled" in str(attack.extra.get("student_output", ""))
    assert "the process was killed (signal 9, SIGKILL)" in attack.output
    zygote = worker.zygote
    assert zygote.alive()
    honest = grade_on(worker, prepared, bwrap, copy_fixture("leaves_traces.py", tmp_path))
    assert honest.score == 100
    assert worker.processes[-1].zygote is zygote  # the same worker, still serving


def test_a_worker_that_dies_costs_only_its_current_run(
    prepared: PreparedAssignment,
    bwrap: SandboxInfo,
    worker: ZygoteSandboxes,
    tmp_path: Path,
) -> None:
    slow = tmp_path / "slow.py"
    slow.write_text(
        "import time\nimport numpy as np\ntime.sleep(5)\n\n"
        "def leaky_relu_backward(dA, cache):\n    return np.where(cache > 0, dA, 0.01 * dA)\n"
    )
    dead = worker.zygote
    dead.wait_ready()
    killer = threading.Timer(1.0, dead.abort)  # mid-run, while the cell sleeps
    killer.start()
    try:
        victim = grade_on(worker, prepared, bwrap, slow)
    finally:
        killer.cancel()
    assert victim.score == 0
    assert "Your notebook could not be run to the end" in victim.output
    replaced = grade_on(worker, prepared, bwrap, copy_fixture("leaves_traces.py", tmp_path))
    assert replaced.score == 100
    assert not dead.alive()
    assert worker.processes[-1].zygote is not dead
    assert isinstance(worker.processes[-1], ZygoteStudentProcess)


def test_where_forks_cannot_unshare_each_run_gets_a_fresh_bwrap(
    prepared: PreparedAssignment,
    bwrap: SandboxInfo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Like a kernel that forbids nested user namespaces (e.g. Ubuntu's AppArmor policy)."""
    monkeypatch.setattr(workers, "BWRAP_EXTRA_ARGS", ("--disable-userns",))
    monkeypatch.setattr(workers, "_forks_unsupported", None)
    path = copy_fixture("leaves_traces.py", tmp_path, TOKEN="fallback-" + tmp_path.name)
    with ZygoteSandboxes() as worker:
        first = grade_on(worker, prepared, bwrap, path)
        second = grade_on(worker, prepared, bwrap, path)
    assert workers._forks_unsupported is not None
    assert "unshare" in workers._forks_unsupported
    assert [p.per_run for p in worker.processes] == [True, True]
    assert (first.score, second.score) == (100, 100)
    assert traces(second)[0] == []
