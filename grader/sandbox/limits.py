"""Resource limits for one submission, with the defaults documented in the README."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Every limit applied to a submission's process tree. Overridable per assignment."""

    # Time limits count seconds running or waiting for anything but a CPU (the time on an
    # idle machine; ``protocol.LimitClock``), so a busy batch scores as `grader grade` does.
    load_timeout: float = 30.0  #: seconds for running all cells
    cell_timeout: float = 10.0  #: seconds for one cell before it is interrupted
    test_timeout: float = 5.0  #: seconds for one call of the student's function
    kill_grace: float = 1.0  #: extra seconds before a process that ignores its alarm is killed
    wall_factor: float = 5.0  #: a limit ends after this many times its seconds of wall time
    cpu_seconds: int = 60  #: RLIMIT_CPU for the whole process
    memory_bytes: int = 2048 * MIB  #: RLIMIT_AS per process, and the tree's cgroup memory limit
    processes: int = 64  #: RLIMIT_NPROC, and the tree's cgroup pids.max (threads count too)
    file_size_bytes: int = 16 * MIB  #: RLIMIT_FSIZE: largest file the submission may write
    open_files: int = 256  #: RLIMIT_NOFILE
    output_bytes: int = 64 * 1024  #: stdout+stderr kept; the rest is counted and dropped
    #: size of the private /tmp (bwrap), or of the run's folder (none, where it can mount one)
    tmp_bytes: int = 64 * MIB
    max_restarts: int = 3  #: restarts after crashes/hangs before remaining tests are not run

    def with_overrides(self, overrides: dict[str, Any]) -> Limits:
        """A copy with the given fields replaced; unknown keys raise ValueError."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(overrides) - set(known))
        if unknown:
            raise ValueError(f"unknown limit(s): {', '.join(unknown)}")
        converted: dict[str, Any] = {
            key: (float(value) if isinstance(getattr(self, key), float) else int(value))
            for key, value in overrides.items()
        }
        return replace(self, **converted)

    def for_child(self) -> dict[str, Any]:
        """The part of the limits the child applies to itself with setrlimit."""
        return {
            "memory_bytes": self.memory_bytes,
            "cpu_seconds": self.cpu_seconds,
            "file_size_bytes": self.file_size_bytes,
            "processes": self.processes,
            "open_files": self.open_files,
        }
