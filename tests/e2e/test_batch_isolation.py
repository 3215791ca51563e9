"""`grader batch` gives every submission the score `grade` gives it, fixture set by fixture set.

In a batch, each worker sandbox (one zygote) grades many submissions one after another; `grade`
starts a sandbox of its own. The fixture sets hold correct, broken, mutating, hanging and
renamed submissions, so a leak from one submission into the next (a namespace, a file, a
process, a seed) would show up as a different score or different feedback.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from grader import api
from grader.batch import WORKER_TRIES, run_batch
from grader.batch_data import BatchSummary
from grader.sandbox import cgroup
from grader.sandbox.cgroup import cpu_share_problem
from grader.sandbox.parent import bwrap_problem, landlock_problem
from grader.sandbox.workers import child_pids
from grader.submission import read_submission

pytestmark = [pytest.mark.sandbox, pytest.mark.bwrap]

REPO = Path(__file__).resolve().parents[2]
ASSIGNMENT = "leaky_relu_backward"
FIXTURE_SETS = ("submissions", "misconceptions")
HOSTILE = REPO / "tests" / "fixtures" / "hostile"


def make_course(folder: Path, limits: str) -> Path:
    """A private copy of the course whose assignment has these ``[limits]`` lines."""
    if bwrap_problem():
        pytest.skip(f"bwrap backend not testable here: {bwrap_problem()}")
    course = folder / "course"
    shutil.copytree(
        REPO / "assignments" / ASSIGNMENT,
        course / "assignments" / ASSIGNMENT,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    (course / "reference").mkdir()
    shutil.copy(REPO / "reference" / f"{ASSIGNMENT}.py", course / "reference")
    spec = course / "assignments" / ASSIGNMENT / "assignment.toml"
    spec.write_text(spec.read_text().split("[limits]")[0] + "[limits]\n" + limits)
    return course


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private course whose call limit is 1 s, so the hanging fixture costs seconds."""
    return make_course(tmp_path_factory.mktemp("course"), "test_timeout = 1.0\n")


def entry_named(summary: BatchSummary, name: str) -> Any:
    return next(e for e in summary.entries if e.name == name)


def graded_alone(prepared: api.PreparedAssignment, path: Path) -> dict[str, Any]:
    """What `grade` writes: a sandbox of its own for this one submission."""
    info = api.resolve_sandbox("bwrap")
    result = api.grade_submission(prepared, read_submission(path), sandbox=info)
    return result.to_gradescope()


@pytest.mark.parametrize("fixture_set", FIXTURE_SETS)
def test_batch_scores_equal_grade_scores(course: Path, tmp_path: Path, fixture_set: str) -> None:
    folder = REPO / "tests" / "fixtures" / fixture_set
    files = sorted(p for p in folder.iterdir() if p.suffix in (".ipynb", ".py"))
    out = tmp_path / "out"
    # Two workers: each serves about half the set, one submission after another.
    summary = run_batch(folder, out, assignment=ASSIGNMENT, jobs=2, course_dir=course)
    assert len(summary.entries) == len(files)
    prepared = api.prepare_assignment(ASSIGNMENT, course)
    with ThreadPoolExecutor(2) as pool:
        alone = dict(zip(files, pool.map(lambda p: graded_alone(prepared, p), files), strict=True))
    scores = set()
    for path, single in alone.items():
        batch = json.loads((out / f"{path.stem}.json").read_text())
        scores.add(single["score"])
        for key in ("score", "max_score", "tests"):
            assert batch[key] == single[key], (path.name, key)
        assert batch["extra_data"]["misconceptions"] == single["extra_data"]["misconceptions"]
    assert len(scores) >= 4  # the set really mixes outcomes


def test_a_sender_and_the_receiver_graded_next_on_its_worker_share_no_network_state(
    tmp_path: Path,
) -> None:
    """One job: both submissions are forks of one worker sandbox, one after the other."""
    course = make_course(tmp_path, "")
    folder = tmp_path / "class"
    folder.mkdir()
    fixture = (HOSTILE / "leaves_namespace_state.py").read_text()
    for name in ("a_sender", "b_receiver"):
        (folder / f"{name}.py").write_text(
            fixture.replace("__TOKEN__", f"batch-{uuid.uuid4().hex}")
        )
    summary = run_batch(
        folder, tmp_path / "out", assignment=ASSIGNMENT, jobs=1, course_dir=course, sandbox="bwrap"
    )
    states = []
    for entry in summary.entries:
        output = str(entry.result.extra.get("student_output", ""))
        line = next(line for line in output.splitlines() if line.startswith("STATE "))
        states.append(line)
    # What the sender left (its second list) is not there when the receiver starts.
    assert states[0].startswith("STATE [] [")
    assert "tcp socket" in states[0]
    assert states[1].startswith("STATE [] [")


def skip_unless_runnable(sandbox: str) -> None:
    if sandbox == "landlock" and landlock_problem():
        pytest.skip(f"landlock backend not testable here: {landlock_problem()}")


@pytest.mark.slow
@pytest.mark.parametrize("sandbox", ["bwrap", "landlock", "none"])
def test_a_neighbour_of_many_busy_processes_costs_a_slow_submission_nothing(
    tmp_path: Path, sandbox: str
) -> None:
    """40 busy processes in sessions of their own beside a correct call that needs 0.1 s of
    CPU: with each run's tree one fair CPU share, the call never nears its wall cap."""
    skip_unless_runnable(sandbox)
    if cpu_share_problem():
        pytest.skip(f"no fair CPU share here (SECURITY.md, cgroups): {cpu_share_problem()}")
    # The cap on a call's wall time is 0.5 s x 3: 15 times the CPU the slow call needs, and
    # less than the ~2 s it needs with 1/40 of the machine or less.
    limits = "test_timeout = 0.5\nwall_factor = 3.0\ncell_timeout = 10.0\n"
    course = make_course(tmp_path, limits)
    folder = tmp_path / "class"
    folder.mkdir()
    shutil.copy(HOSTILE / "starves_neighbours.py", folder / "a_hog.py")
    shutil.copy(HOSTILE / "slow_but_correct.py", folder / "b_slow.py")
    summary = run_batch(
        folder, tmp_path / "out", assignment=ASSIGNMENT, jobs=2, course_dir=course, sandbox=sandbox
    )
    hog = entry_named(summary, "a_hog")
    assert "spinning in 40 processes" in str(hog.result.extra.get("student_output", ""))
    slow = entry_named(summary, "b_slow")
    assert (slow.status, slow.reason) == ("graded", "")
    assert slow.result.score == 100


def live_pids_with(token: str) -> list[int]:
    """Live (not zombie) processes whose command line contains ``token``."""
    found = []
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{name}/cmdline").read_bytes()
            state = Path(f"/proc/{name}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if token.encode() in cmdline and state not in (b"Z", b"X"):
            found.append(int(name))
    return found


def worker_above(pid: int) -> int | None:
    """The batch worker process (a child of this one) that ``pid`` descends from, if any."""
    for _ in range(50):
        try:
            parent = int(Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[1])
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            return None
        if parent == os.getpid():
            # Not an orphan this process adopted from a dead worker: a worker itself.
            return pid if b"--multiprocessing-fork" in command else None
        if parent <= 1:
            return None
        pid = parent
    return None


def groups_owned_by(pid: int) -> list[Path]:
    """The cgroups a process named after itself (``grader-<namespace>-<pid>-<n>``)."""
    namespace = os.stat("/proc/self/ns/pid").st_ino
    return [
        group
        for place in cgroup.usable_places()
        for group in place.directory.glob(f"grader-{namespace}-{pid}-*")
    ]


@pytest.mark.slow
@pytest.mark.parametrize(("sandbox", "kills"), [("bwrap", 1), ("landlock", 1), ("none", 2)])
def test_a_killed_worker_leaves_no_process_or_cgroup_and_its_submission_is_regraded(
    tmp_path: Path, sandbox: str, kills: int
) -> None:
    """SIGKILL the worker process of a submission mid-run (no clean-up of its own runs): the
    batch goes on and grades it again on a fresh worker (an error document once its worker
    died ``WORKER_TRIES`` times), and returns with every sandbox dead and reaped, the daemon
    the submission left included, and no cgroup of a dead worker left."""
    skip_unless_runnable(sandbox)
    course = make_course(tmp_path, "cell_timeout = 10.0\n")
    token = f"grader-batch-{uuid.uuid4().hex}"
    folder = tmp_path / "class"
    folder.mkdir()
    daemon = (HOSTILE / "daemon_then_waits.py").read_text().replace("__TOKEN__", token)
    (folder / "a_daemon.py").write_text(daemon)
    shutil.copy(REPO / "tests" / "fixtures" / "submissions" / "correct_script.py", folder / "b.py")
    out = tmp_path / "out"
    before = child_pids()
    killed: list[int] = []

    def kill_the_daemons_workers() -> None:
        deadline = time.monotonic() + 90
        while len(killed) < kills and time.monotonic() < deadline:
            # Once b is graded, only a's worker is busy: a broken pool loses a alone.
            for pid in live_pids_with(token) if (out / "b.json").exists() else []:
                worker = worker_above(pid)
                if worker is not None and worker not in killed:
                    os.kill(worker, signal.SIGKILL)
                    killed.append(worker)
            time.sleep(0.02)

    killer = threading.Thread(target=kill_the_daemons_workers)
    killer.start()
    try:
        summary = run_batch(
            folder, out, assignment=ASSIGNMENT, jobs=2, course_dir=course, sandbox=sandbox
        )
    finally:
        killer.join()
        for pid in live_pids_with(token):  # only if the test failed: nothing is left to kill
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
    assert len(killed) == kills
    assert live_pids_with(token) == []
    left = {
        pid
        for pid in child_pids() - before
        if b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes()
    }
    assert left == set()
    assert [group for pid in killed for group in groups_owned_by(pid)] == []
    daemon_entry, correct = summary.entries
    assert (correct.name, correct.status, correct.result.score) == ("b", "graded", 100)
    if kills < WORKER_TRIES:
        assert (daemon_entry.status, daemon_entry.result.score) == ("graded", 100)
    else:
        assert daemon_entry.status == "error"
        assert daemon_entry.internal_error
        assert "worker process died while grading this submission (2 times" in daemon_entry.reason
