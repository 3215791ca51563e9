"""Time limits count the submission's own time, so a busy machine does not change a score.

Each test pins itself (and so the sandbox it starts) to one CPU and, where it says so, puts
a busy process on the same CPU: the submission then gets about half of that CPU, as it may
in a batch that keeps every core busy. The same call must get the same verdict either way.
The hog is a bounded loop, and is killed at teardown.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from grader.sandbox import SandboxInfo
from grader.sandbox.limits import Limits
from grader.sandbox.outcomes import CallOutcome, Returned, TimedOut
from grader.sandbox.parent import StudentProcess
from grader.sandbox.workers import ZygoteStudentProcess

pytestmark = [pytest.mark.sandbox]

CELL = """
import signal, time

def computes(x, seconds):
    # Busy for `seconds` of its own CPU time, however long that takes on the wall clock.
    start = time.process_time()
    while time.process_time() - start < seconds:
        pass
    return x

def sleeps(x, seconds):
    time.sleep(seconds)
    return x

def starves_itself(x, seconds):
    # Four helper processes that compete with this one for the CPU (and end by themselves).
    import os
    for _ in range(4):
        if os.fork() == 0:
            end = time.monotonic() + 20
            while time.monotonic() < end:
                pass
            os._exit(0)
    return computes(x, seconds)

def deaf_and_starves_itself(x, seconds):
    signal.signal(signal.SIGALRM, signal.SIG_IGN)
    return starves_itself(x, seconds)

def deaf(x, seconds):
    signal.signal(signal.SIGALRM, signal.SIG_IGN)  # ignores the child's own alarm
    start = time.process_time()
    while time.process_time() - start < seconds:
        pass
    return x
"""
LIMIT = 1.0
GRACE = 0.5
HOG_SECONDS = 60  # the competing loop ends by itself even if teardown never ran


@pytest.fixture
def one_cpu() -> Iterator[int]:
    """Pin this process (and what it starts) to one CPU for the test."""
    before = os.sched_getaffinity(0)
    cpu = min(before)
    os.sched_setaffinity(0, {cpu})
    yield cpu
    os.sched_setaffinity(0, before)


@pytest.fixture
def hog(one_cpu: int) -> Iterator[subprocess.Popen[bytes]]:
    """A busy process on the test's CPU: the submission gets about half of it."""
    loop = (
        f"import time\nend = time.monotonic() + {HOG_SECONDS}\nwhile time.monotonic() < end: pass"
    )
    process = subprocess.Popen([sys.executable, "-c", loop])
    time.sleep(0.2)  # running before the submission starts
    yield process
    process.kill()
    process.wait()


def call(
    backend: SandboxInfo, function: str, seconds: float, **limits: float
) -> tuple[CallOutcome, float]:
    """(outcome, wall seconds) of ``function(7, seconds)`` in a fresh sandbox of ``backend``."""
    settings = Limits(test_timeout=LIMIT, kill_grace=GRACE, cell_timeout=5.0).with_overrides(limits)
    process: StudentProcess
    if backend.backend == "bwrap":
        process = ZygoteStudentProcess([(1, CELL)], [function], limits=settings)
    else:
        process = StudentProcess([(1, CELL)], [function], backend=backend.backend, limits=settings)
    with process:
        assert process.load().failure is None
        started = time.monotonic()
        outcome = process.call(function, [7, seconds])
        return outcome, time.monotonic() - started


def test_a_call_within_its_limit_passes_on_a_busy_cpu_too(
    backend: SandboxInfo, one_cpu: int, hog: subprocess.Popen[bytes]
) -> None:
    outcome, wall = call(backend, "computes", 0.6)
    assert isinstance(outcome, Returned), outcome
    assert outcome.value == 7
    # It really shared the CPU: past its limit on the wall clock, yet not timed out.
    assert wall > LIMIT


def test_a_busy_loop_still_times_out_after_its_own_time(
    backend: SandboxInfo, one_cpu: int, hog: subprocess.Popen[bytes]
) -> None:
    outcome, wall = call(backend, "computes", 30.0)
    assert isinstance(outcome, TimedOut)
    assert outcome.seconds == LIMIT
    # About twice its limit on half a CPU; far less than its 30 s of work.
    assert LIMIT < wall < 4 * LIMIT


def test_waiting_counts_as_the_submission_s_time(backend: SandboxInfo, one_cpu: int) -> None:
    # A sleep uses no CPU, and still uses up the limit as it would on an idle machine.
    outcome, wall = call(backend, "sleeps", 5.0)
    assert isinstance(outcome, TimedOut)
    assert wall < LIMIT + GRACE + 1.0


def test_a_child_that_ignores_its_alarm_is_killed_after_its_time_plus_grace(
    backend: SandboxInfo, one_cpu: int, hog: subprocess.Popen[bytes]
) -> None:
    outcome, wall = call(backend, "deaf", 30.0)
    assert isinstance(outcome, TimedOut)
    # The trusted side also counts only the child's own time: ~2 x (limit + grace) here,
    # where a wall-clock deadline would have killed it at limit + grace.
    assert 1.5 * (LIMIT + GRACE) < wall < 5 * (LIMIT + GRACE)


def test_the_wall_factor_caps_how_long_a_starved_call_may_take(
    backend: SandboxInfo, one_cpu: int, hog: subprocess.Popen[bytes]
) -> None:
    # On half a CPU, 0.9 s of work needs ~1.8 s of wall time; the cap allows 1.2 s.
    outcome, wall = call(backend, "computes", 0.9, wall_factor=1.2)
    assert isinstance(outcome, TimedOut)
    assert wall < 1.2 * LIMIT + 0.5


def test_waits_caused_by_its_own_helpers_are_not_given_back(
    backend: SandboxInfo, one_cpu: int
) -> None:
    # Its helpers leave it a fifth of the CPU: were those waits discounted, the call would
    # run until the wall cap (5 s); it ends at its limit, like a busy loop on an idle machine.
    outcome, wall = call(backend, "starves_itself", 30.0)
    assert isinstance(outcome, TimedOut)
    assert wall < LIMIT + GRACE


def test_the_trusted_side_gives_no_time_back_for_its_own_helpers_either(
    backend: SandboxInfo, one_cpu: int
) -> None:
    # The same, ignoring its own alarm: killed at limit + grace of wall time, not at the cap.
    outcome, wall = call(backend, "deaf_and_starves_itself", 30.0)
    assert isinstance(outcome, TimedOut)
    assert wall < LIMIT + GRACE + 0.5
