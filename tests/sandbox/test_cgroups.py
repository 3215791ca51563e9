"""Per-run cgroups: every mode counts a run's whole tree, and no group outlives its grader.

Where no cgroup is writable (``.ci/run`` re-runs these tests as a normal user), the tests
that need one skip with the reason, and the fork-bomb test checks the bound that is left
there (RLIMIT_NPROC, which binds a normal user: SECURITY.md).
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hostile_support import FAST_LIMITS, copy_fixture, live_pids_with

from grader.api import PreparedAssignment, grade_submission
from grader.sandbox import SandboxInfo, cgroup, workers
from grader.sandbox.cgroup import RunCgroup, cgroup_problem, remove_stale, usable_places
from grader.sandbox.limits import Limits
from grader.sandbox.parent import StudentProcess, bwrap_problem, resolve_backend
from grader.sandbox.workers import ZygoteStudentProcess
from grader.submission import read_submission

pytestmark = pytest.mark.sandbox

ROOT = os.getuid() == 0


def needs_a_cgroup() -> None:
    if cgroup_problem():
        pytest.skip(f"no writable cgroup here: {cgroup_problem()}")


def start_in(mode: str) -> Any:
    """A sandbox factory for one way a run is started."""

    def start(
        cells: Sequence[tuple[int, str]], functions: Sequence[str], name: str, limits: Limits
    ) -> StudentProcess:
        if mode == "zygote-fork":
            return ZygoteStudentProcess(cells, functions, limits=limits)
        backend = "bwrap" if mode == "fresh-bwrap" else "none"
        return StudentProcess(cells, functions, backend=backend, limits=limits)

    return start


@pytest.mark.parametrize("mode", ["zygote-fork", "fresh-bwrap", "none"])
def test_every_mode_counts_the_whole_tree_against_processes(
    prepared: PreparedAssignment, tmp_path: Path, token: str, mode: str
) -> None:
    if mode != "none" and bwrap_problem():
        pytest.skip(f"bwrap backend not testable here: {bwrap_problem()}")
    if ROOT and mode != "none" and cgroup_problem():
        pytest.skip("bwrap run by root bounds processes only with a cgroup (SECURITY.md)")
    info: SandboxInfo = resolve_backend("none" if mode == "none" else "bwrap")
    path = copy_fixture("fork_bomb.py", tmp_path, TOKEN=token)
    result = grade_submission(
        prepared, read_submission(path), sandbox=info, start_sandbox=start_in(mode)
    )
    output = str(result.extra.get("student_output", ""))
    forked = re.search(r"forked (\d+) processes", output)
    assert forked is not None, output
    # The submission's own process is the run's first; it may start ``processes`` more.
    assert int(forked.group(1)) <= FAST_LIMITS["processes"]
    assert result.score == 100
    assert live_pids_with(token) == []


def test_a_run_gets_a_cpu_share_of_its_own_where_a_cpu_cgroup_is_writable() -> None:
    needs_a_cgroup()
    group = cgroup.create_run_cgroup(8, 64 * 1024 * 1024)
    assert group is not None
    try:
        if cgroup.cpu_share_problem() is None:
            assert "cpu" in group.controllers
            shares = [d / "cpu.shares" for d in group.directories] + [
                d / "cpu.weight" for d in group.directories
            ]
            values = {p.read_text().strip() for p in shares if p.exists()}
            assert values in ({str(cgroup.CPU_SHARES)}, {str(cgroup.CPU_WEIGHT)})
    finally:
        group.remove()


def test_stale_groups_of_dead_graders_are_removed_with_their_processes() -> None:
    needs_a_cgroup()
    namespace = os.stat("/proc/self/ns/pid").st_ino
    gone = subprocess.Popen(["/bin/true"])
    gone.wait()  # a pid whose process is dead: a grader that was SIGKILLed
    places = usable_places()
    stale = [p.directory / f"grader-{namespace}-{gone.pid}-0" for p in places]
    mine = [p.directory / f"grader-{namespace}-{os.getpid()}-99999" for p in places]
    for directory in stale + mine:
        directory.mkdir()
    group = RunCgroup.adopt(stale[0])
    sleeper = subprocess.Popen(["/bin/sleep", "30"], preexec_fn=group.enter)
    try:
        assert group.pids() == {sleeper.pid}
        remove_stale(places)
        assert sleeper.wait(timeout=10) == -9  # what was left in it is killed
        assert [d for d in stale if d.exists()] == []
        assert [d for d in mine if d.exists()] == mine  # a live owner's group stays
    finally:
        sleeper.kill()
        sleeper.wait()
        for directory in mine + stale:
            if directory.exists():
                directory.rmdir()


def test_a_worker_group_is_named_after_its_owner_and_removed_with_it() -> None:
    """The worker's group holds its sandbox (where a fork's processes count, bound and CPU
    share alike), carries the owner's pid for ``remove_stale``, and goes when it stops."""
    needs_a_cgroup()
    if bwrap_problem():
        pytest.skip(f"bwrap backend not testable here: {bwrap_problem()}")
    zygote = workers.Zygote(Limits())
    assert zygote.cgroup is not None
    directories = list(zygote.cgroup.directories)
    try:
        zygote.wait_ready()
        assert {zygote.proc.pid, zygote.outer_pid} <= zygote.cgroup.pids()
        assert re.fullmatch(rf"grader-\d+-{os.getpid()}-\d+", directories[0].name)
    finally:
        zygote.stop()
    assert [d for d in directories if d.exists()] == []
