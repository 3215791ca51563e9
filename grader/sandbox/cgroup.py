"""Per-run cgroups: a hard bound on the processes and memory of a submission's whole tree.

rlimits are per process (RLIMIT_AS) or per user (RLIMIT_NPROC, which root and a user
namespace owned by root ignore), so neither bounds a fork bomb or a tree of processes.
Where this user may create cgroups below its own (cgroup v1 ``pids``/``memory``/``cpu``
hierarchies, or a v2 group whose ``cgroup.subtree_control`` delegates them), each run gets a
fresh group: ``pids.max`` bounds the tree, the memory limit covers all of it, ``cgroup.procs``
lists every process however it daemonised itself, so the parent can kill all of them, and
the ``cpu`` controller gives the whole tree one fair share of the CPU: a run of fifty busy
processes weighs what a run of one does, so it cannot starve a neighbour in a batch.

The child joins before ``exec`` (``enter``, run as ``preexec_fn``), so every process the
submission ever starts is born inside the group.

Groups are named ``grader-<pid namespace>-<owner pid>-<n>``: a grader that was SIGKILLed
cannot remove its own, so ``remove_stale`` (run when a grader first uses cgroups, and by
``grader batch`` once its workers are gone) removes those whose owner is dead.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import signal
import time
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
CONTROLLERS = ("pids", "memory", "cpu")
# The default weight, written anyway: a run's share is one sibling's, whatever it starts.
CPU_SHARES = 1024  # v1 cpu.shares
CPU_WEIGHT = 100  # v2 cpu.weight
_counter = itertools.count()


def _pid_namespace() -> str:
    """This process's PID namespace (its inode): pids name owners only within one."""
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return "0"


_PREFIX = "grader-"
_OWNED = re.compile(r"grader-(\d+)-(\d+)-\d+")  # namespace, owner pid, counter


@dataclass(frozen=True)
class _Place:
    """A directory where this process may create child cgroups for some controllers."""

    directory: Path
    controllers: tuple[str, ...]
    version: int


def _own_paths() -> dict[str, str]:
    """Controller name ("" for the v2 hierarchy) -> this process's cgroup path."""
    paths: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, names, path = line.split(":", 2)
            for name in names.split(",") if names else [""]:
                paths[name] = path
    return paths


def _writable_dir(candidates: list[Path]) -> Path | None:
    for directory in candidates:
        if (directory / "cgroup.procs").is_file() and os.access(directory, os.W_OK):
            return directory
    return None


def find_places() -> list[_Place]:
    """Where this process may create groups: v1 per controller, or one delegated v2 group."""
    own = _own_paths()
    places: list[_Place] = []
    for name in CONTROLLERS:
        mount = CGROUP_ROOT / name
        if name in own and mount.is_dir():
            # In a container the mount may already be our own subtree: try both.
            found = _writable_dir([mount / own[name].lstrip("/"), mount])
            if found is not None:
                places.append(_Place(found, (name,), 1))
    if not places and "" in own and (CGROUP_ROOT / "cgroup.controllers").is_file():
        found = _writable_dir([CGROUP_ROOT / own[""].lstrip("/")])
        if found is not None:
            with contextlib.suppress(OSError):
                delegated = (found / "cgroup.subtree_control").read_text().split()
                usable = tuple(c for c in CONTROLLERS if c in delegated)
                if usable:
                    places.append(_Place(found, usable, 2))
    return places


class RunCgroup:
    """The cgroup(s) of one run: created with limits, entered by the child, emptied, removed."""

    def __init__(self, places: list[_Place], *, processes: int, memory_bytes: int) -> None:
        self.directories: list[Path] = []
        self.version = places[0].version if places else 0
        self.controllers = tuple(c for p in places for c in p.controllers)
        name = f"{_PREFIX}{_pid_namespace()}-{os.getpid()}-{next(_counter)}"
        try:
            for place in places:
                directory = place.directory / name
                directory.mkdir()
                self.directories.append(directory)
            self.set_limits(processes, memory_bytes)
        except OSError:
            self.remove()
            raise
        # Encoded now: enter() runs between fork and exec, where little else is safe.
        self._procs_files = [str(d / "cgroup.procs").encode() for d in self.directories]

    @classmethod
    def adopt(cls, directory: Path) -> RunCgroup:
        """An existing group (a stale one, to kill and remove), without touching its limits."""
        group = cls.__new__(cls)
        group.directories = [directory]
        group.version = 0
        group.controllers = ()
        group._procs_files = [str(directory / "cgroup.procs").encode()]
        return group

    def set_limits(self, processes: int, memory_bytes: int) -> None:
        """Write the bounds (again: a worker's group is set up before its assignment is known)."""
        for directory in self.directories:
            if (directory / "pids.max").exists():
                (directory / "pids.max").write_text(str(processes))
            if (directory / "memory.limit_in_bytes").exists():  # v1
                (directory / "memory.limit_in_bytes").write_text(str(memory_bytes))
            elif (directory / "memory.max").exists():  # v2
                (directory / "memory.max").write_text(str(memory_bytes))
                # No swap either, or the limit would only slow a hog down.
                with contextlib.suppress(OSError):
                    (directory / "memory.swap.max").write_text("0")
            # A weight, not a quota: a quota would idle a CPU nobody else wants, and its
            # throttling would look like waits for a CPU, which the time limits give back.
            if (directory / "cpu.shares").exists():  # v1
                (directory / "cpu.shares").write_text(str(CPU_SHARES))
            elif (directory / "cpu.weight").exists():  # v2
                (directory / "cpu.weight").write_text(str(CPU_WEIGHT))

    def enter(self) -> None:
        """Move the calling process into every group ("0" means "me" to the kernel)."""
        for path in self._procs_files:
            fd = os.open(path, os.O_WRONLY)
            try:
                os.write(fd, b"0")
            finally:
                os.close(fd)

    def pids(self) -> set[int]:
        """Every process still in the group(s)."""
        found: set[int] = set()
        for directory in self.directories:
            with contextlib.suppress(OSError):
                found.update(int(p) for p in (directory / "cgroup.procs").read_text().split())
        return found

    def kill_all(self, timeout: float = 5.0) -> bool:
        """SIGKILL every process in the group until none is left; False if some survived."""
        deadline = time.monotonic() + timeout
        for directory in self.directories:
            # v2 kills the whole group atomically, so even a fork bomb cannot race it.
            with contextlib.suppress(OSError):
                (directory / "cgroup.kill").write_text("1")
        while True:
            pids = self.pids()
            if not pids:
                return True
            if time.monotonic() > deadline:
                return False
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.005)

    def oom_kills(self) -> int:
        """How many processes the kernel killed for exceeding the memory limit."""
        for directory in self.directories:
            for name in ("memory.oom_control", "memory.events"):
                with contextlib.suppress(OSError):
                    for line in (directory / name).read_text().splitlines():
                        key, _, value = line.partition(" ")
                        if key == "oom_kill":
                            return int(value)
        return 0

    def remove(self) -> None:
        """Delete the (empty) groups; retried briefly because exiting tasks linger a moment."""
        for directory in self.directories:
            for _ in range(50):
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.01)
        self.directories = []
        self._procs_files = []


def remove_stale(places: list[_Place]) -> int:
    """Kill the processes of, and remove, every group whose owner (a grader) is dead.

    Only groups named by this code in this PID namespace are touched; a group whose owner's
    pid was reused meanwhile stays until that process ends. Returns how many were removed.
    """
    namespace = _pid_namespace()
    removed = 0
    for place in places:
        try:
            entries = list(place.directory.iterdir())
        except OSError:
            continue
        for directory in entries:
            match = _OWNED.fullmatch(directory.name)
            if match is None or match.group(1) != namespace or _alive(int(match.group(2))):
                continue
            stale = RunCgroup.adopt(directory)
            stale.kill_all()
            stale.remove()
            removed += not directory.exists()
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_places: list[_Place] | None = None


def usable_places() -> list[_Place]:
    """Where a trial group could be made, with stale groups cleared on the way (cached)."""
    global _places
    if _places is None:
        working = []
        for place in find_places():
            try:
                RunCgroup([place], processes=8, memory_bytes=64 * 1024 * 1024).remove()
            except OSError:
                continue
            working.append(place)
        # Left by graders that were killed: cleared when the next one starts.
        remove_stale(working)
        _places = working
    return _places


def usable_controllers() -> set[str]:
    """The controllers a run's group has here (empty where no cgroup is writable)."""
    return {c for place in usable_places() for c in place.controllers}


def cgroup_problem() -> str | None:
    """Why the processes of a run cannot be bounded by a cgroup here, or None (cached)."""
    if "pids" not in usable_controllers():
        return (
            "no writable cgroup (pids) below this process's own: the number of "
            "processes is bounded by RLIMIT_NPROC only (ignored for root), memory per process"
        )
    return None


def cpu_share_problem() -> str | None:
    """Why a run cannot get its own fair share of the CPU here, or None (cached)."""
    if "cpu" not in usable_controllers():
        return (
            "no writable cgroup (cpu) below this process's own: a run's processes compete "
            "for the CPU one by one, so a run of many busy processes slows its neighbours"
        )
    return None


def create_run_cgroup(processes: int, memory_bytes: int) -> RunCgroup | None:
    """A fresh group for one run, or None where cgroups are not usable."""
    places = usable_places()
    if not places:
        return None
    try:
        return RunCgroup(places, processes=processes, memory_bytes=memory_bytes)
    except OSError:
        return None
