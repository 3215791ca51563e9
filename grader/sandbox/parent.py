"""Start the sandboxed child, enforce its limits, kill it, and read back validated data.

Threat model in one paragraph: from the first cell on, everything in the child is hostile.
It may hang, crash, print gigabytes, fork, ignore SIGTERM, write garbage into the response
pipe or exit with status 0 at any moment. The parent therefore never trusts the child's
timing (it keeps its own deadlines), never reads more than the caps allow, parses frames
with ``protocol`` (no pickle), and kills the child's whole process group or PID namespace
before it reports anything.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import queue
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from grader.safetext import clean_text, type_label
from grader.sandbox import landlock, protocol
from grader.sandbox.cgroup import RunCgroup, cgroup_problem, create_run_cgroup
from grader.sandbox.limits import Limits
from grader.sandbox.outcomes import (
    CallOutcome,
    CellError,
    CellRun,
    Crashed,
    Frame,
    LoadReport,
    Raised,
    Returned,
    SandboxInfo,
    TimedOut,
)

Backend = Literal["bwrap", "landlock", "none"]
BackendChoice = Literal["auto", "bwrap", "landlock", "none"]
BACKEND_CHOICES = ("auto", "bwrap", "landlock", "none")

NOBODY_UID = 65534
NOT_CALLABLE = "not callable: "  #: how the child reports a wanted name bound to a non-function
# -E ignores PYTHON* variables (PYTHONUNBUFFERED too), so -u: output still in a buffer
# when the child is SIGKILLed would be lost, and with it the student's prints.
PYTHON_FLAGS = ("-E", "-s", "-B", "-u")
CHILD_SOURCES = ("child.py", "protocol.py", "landlock.py")
SANDBOX_ROOT = "/sandbox"
# The course's provided files of one run (assignments/<name>/provided/), read-only: the
# folder ``provided`` of the run's runtime folder, bound at SANDBOX_PROVIDED under bwrap.
# The child links each entry into its working folder (``from dnn_utils import ...``).
PROVIDED_DIR = "provided"
SANDBOX_PROVIDED = f"{SANDBOX_ROOT}/{PROVIDED_DIR}"
SANDBOX_TMP = "/tmp"  # noqa: S108 -- a private tmpfs inside the bwrap namespace
# Processes of a run that are the grader's, not the submission's: bwrap's two processes and
# the fallback's supervisor. The cgroup's pids.max is ``processes`` plus these.
OWN_PROCESSES = 3
CELL_ERRORS_KEPT = 200  # cell errors kept in full (message, traceback); later ones by name
KILL_TIMEOUT = 5.0  # seconds to wait for a killed tree to be gone before reporting it
ALONE_RECHECK = 0.25  # seconds between checks that a run given time for its waits is alone
FALLBACK_WARNING = (
    "neither bubblewrap (bwrap) nor Landlock is available, so the submission ran without OS "
    "isolation (a separate process with resource limits only): it could read files this user "
    "can read. Install the 'bubblewrap' package for full isolation."
)
# Folders of the system runtime every Linux sandbox here exposes read-only (bwrap binds them).
SYSTEM_DIRS = ("/usr", "/bin", "/lib", "/lib64", "/lib32", "/sbin")
SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/localtime", "/etc/alternatives")
CHOSEN_NONE_WARNING = (
    "--sandbox none: the submission ran without OS isolation (a separate process with "
    "resource limits only): it could read files this user can read. Fine for checking your "
    "own code; use --sandbox auto or bwrap for grading."
)
NO_PROCESS_BOUND_WARNING = (
    "no writable cgroup was found, and bwrap started by root cannot limit the number of "
    "processes (RLIMIT_NPROC does not apply to root): a fork bomb is stopped only by the "
    "time limits. Run the grader as a normal user, or where cgroups are writable."
)
SCRUBBED_ENV = {
    "PATH": "/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "PYTHONHASHSEED": "0",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONUNBUFFERED": "1",
    "MPLBACKEND": "Agg",
    # One BLAS thread: fair timing, and no thread pools that outlive a killed call.
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    # Tells grader.check(fn) in a notebook's last cell that it is being graded: do nothing.
    "GRADER_SANDBOX": "1",
}

PORTABLE_ENV = "GRADER_PORTABLE"
PORTABLE_WARNING = (
    "portable child (macOS, Windows, or GRADER_PORTABLE=1): the submission ran in a plain "
    "child process without OS isolation or resource limits, timed by the grader's clock "
    "only. This is not isolation: fine for checking your own work, and the score is for "
    "practice only (your course grades on Linux)."
)

_bwrap_probe: tuple[bool, str] | None = None
_landlock_probe: tuple[str | None] | None = None


def portable_mode() -> bool:
    """Whether the portable child runs: off Linux, or on Linux when GRADER_PORTABLE=1.

    It needs no rlimits, prctl, ``/proc``, fork or signals: the protocol runs over the
    child's stdin and stdout, its prints go to stderr, and the trusted side's wall clock
    limits it. The one switch lets Linux test the code paths macOS and Windows take.
    """
    flag = os.environ.get(PORTABLE_ENV, "")
    return not sys.platform.startswith("linux") or flag not in ("", "0")


def bwrap_problem() -> str | None:
    """Why bwrap cannot run here, or None when a trial sandbox started fine (cached)."""
    global _bwrap_probe
    if portable_mode():
        return "the portable child (macOS, Windows, GRADER_PORTABLE=1) has no bwrap"
    if _bwrap_probe is None:
        exe = shutil.which("bwrap")
        if exe is None:
            _bwrap_probe = (False, "bwrap is not installed (Debian/Ubuntu package 'bubblewrap')")
        else:
            probe = subprocess.run(
                [exe, *_bwrap_base_args(), "--", "/bin/true"],
                capture_output=True,
                timeout=10,
                check=False,
            )
            ok = probe.returncode == 0
            detail = probe.stderr.decode(errors="replace").strip()[:200]
            _bwrap_probe = (ok, "" if ok else f"bwrap is installed but cannot start: {detail}")
    ok, reason = _bwrap_probe
    return None if ok else reason


def landlock_problem() -> str | None:
    """Why the ``landlock`` backend cannot run here, or None once a trial child confined
    itself (Landlock and the seccomp filter both applied, a TCP socket refused); cached."""
    global _landlock_probe
    if portable_mode():
        return "the portable child (macOS, Windows, GRADER_PORTABLE=1) has no Landlock"
    if _landlock_probe is None:
        reason = landlock.problem()
        if reason is None:
            script = Path(landlock.__file__).resolve()
            probe = subprocess.run(
                [sys.executable, "-I", "-S", str(script), "--probe"],
                capture_output=True,
                timeout=30,
                check=False,
                cwd="/",
            )
            if probe.returncode != 0:
                detail = probe.stderr.decode(errors="replace").strip()[:200]
                reason = f"Landlock is present but a trial child could not confine itself: {detail}"
        _landlock_probe = (reason,)
    return _landlock_probe[0]


def landlock_info(extra: Sequence[str] = ()) -> SandboxInfo:
    """The ``landlock`` backend, warning about each rule this kernel's ABI cannot apply."""
    return SandboxInfo("landlock", (*extra, *landlock.missing_rules(landlock.abi_version())))


def resolve_backend(choice: BackendChoice) -> SandboxInfo:
    """Pick the strongest isolation available for ``auto`` (bwrap, then landlock, then none);
    raise ValueError when the chosen backend cannot run here."""
    if portable_mode() and choice in ("auto", "none"):
        return SandboxInfo("none", (PORTABLE_WARNING,))
    if choice == "none":
        return SandboxInfo("none", (CHOSEN_NONE_WARNING,))
    if choice == "landlock":
        problem = landlock_problem()
        if problem:
            raise ValueError(problem)
        return landlock_info()
    problem = bwrap_problem()
    if choice == "bwrap" and problem:
        raise ValueError(problem)
    if problem:
        if landlock_problem() is None:
            return landlock_info()
        return SandboxInfo("none", (FALLBACK_WARNING, problem, str(landlock_problem())))
    if os.getuid() == 0 and cgroup_problem():
        # bwrap run by root maps the submission to root outside: RLIMIT_NPROC does not bind.
        return SandboxInfo("bwrap", (NO_PROCESS_BOUND_WARNING,))
    return SandboxInfo("bwrap")


def _bwrap_base_args() -> list[str]:
    args = [
        "--unshare-all",  # user, pid, net, ipc, uts, cgroup namespaces: no network at all
        "--unshare-user",
        "--uid",
        str(NOBODY_UID),
        "--gid",
        str(NOBODY_UID),
        "--cap-drop",
        "ALL",
        "--die-with-parent",
        "--new-session",  # no TIOCSTI into the grader's terminal
        "--hostname",
        "sandbox",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
    ]
    for path in SYSTEM_DIRS:
        if os.path.lexists(path):
            args += ["--ro-bind", path, path]
    for path in SYSTEM_FILES:
        args += ["--ro-bind-try", path, path]
    return args


# Inside the sandbox /tmp, /dev/shm and /dev are fresh mounts (and a zygote's fork mounts
# its own /tmp again), so an interpreter or venv that lives under one of them on the host
# (a CI checkout in /tmp, say) would vanish: such folders are bound here instead.
SANDBOX_RELOCATED = "/run/grader-python"
_SHADOWED_ROOTS = ("/tmp", "/dev", "/proc", SANDBOX_ROOT)  # noqa: S108 -- paths inside the sandbox


def _shadowed(path: str) -> bool:
    return any(path == root or path.startswith(root + os.sep) for root in _SHADOWED_ROOTS)


def place_provided(files: Mapping[str, Path], folder: Path) -> None:
    """Copy a run's provided files into ``folder``, read-only for the submission.

    Files become 0444 and folders 0555: under bwrap the bind is read-only as well; under the
    fallback run as root the submission runs as nobody, who cannot change them.
    """
    folder.mkdir(mode=0o755)
    for name, source in files.items():
        target = folder / name
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copyfile(source, target)
    for path in sorted(folder.rglob("*"), reverse=True):
        os.chmod(path, 0o555 if path.is_dir() else 0o444)
    os.chmod(folder, 0o555)  # noqa: S103 -- readable course files, no secrets


def remove_provided(folder: Path) -> None:
    """Delete a folder made by ``place_provided`` (its read-only modes first)."""
    if not folder.exists():
        return
    for path in [folder, *folder.rglob("*")]:
        if path.is_dir():
            os.chmod(path, 0o755)  # noqa: S103 -- only to delete it
    shutil.rmtree(folder, ignore_errors=True)


def runtime_binds() -> list[tuple[str, str]]:
    """(host folder, folder inside the sandbox) for each of ``_runtime_paths()``."""
    binds = []
    for index, path in enumerate(_runtime_paths()):
        inside = f"{SANDBOX_RELOCATED}/{index}" if _shadowed(path) else path
        binds.append((path, inside))
    return binds


def sandbox_python() -> str:
    """This interpreter's path as the sandbox sees it (see ``runtime_binds``).

    The unresolved path is kept where it is not relocated: a venv's ``bin/python`` is a
    symlink, and Python finds the venv (``pyvenv.cfg``) from the path it was started by.
    """
    executable = os.path.abspath(sys.executable)
    for host, inside in runtime_binds():
        if host != inside:
            for candidate in (
                executable,
                os.path.join(
                    os.path.realpath(os.path.dirname(executable)), os.path.basename(executable)
                ),
            ):
                if candidate.startswith(host + os.sep):
                    return inside + candidate[len(host) :]
    return executable


def _runtime_paths() -> list[str]:
    """Folders the interpreter and numpy need, and nothing of the project checkout."""
    numpy_site = str(Path(np.__file__).resolve().parent.parent)
    paths = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix), numpy_site}
    # Most specific last is irrelevant for ro-binds of disjoint paths; drop nested duplicates.
    ordered = sorted(paths, key=len)
    kept: list[str] = []
    for path in ordered:
        if not any(path == k or path.startswith(k + os.sep) for k in kept):
            kept.append(path)
    return kept


def _world_traversable(path: str) -> bool:
    parts = Path(path).resolve().parts
    for i in range(1, len(parts) + 1):
        mode = os.stat(Path(*parts[:i])).st_mode
        if not mode & 0o001:
            return False
    return True


def _process_table() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, process group) of every live (not zombie) process."""
    table: dict[int, tuple[int, int]] = {}
    for name in os.listdir("/proc"):
        fields = protocol.proc_stat(name) if name.isdigit() else None  # None: gone meanwhile
        if fields is not None and fields[0] not in (b"Z", b"X"):
            table[int(name)] = (int(fields[1]), int(fields[2]))
    return table


def tree_pids(root: int) -> set[int]:
    """Live processes below ``root`` (by parent links) or in its process group; not root."""
    table = _process_table()
    found = {pid for pid, (_, group) in table.items() if group == root and pid != root}
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, _) in table.items():
            if ppid == parent and pid not in found and pid != root:
                found.add(pid)
                frontier.append(pid)
    return found


def innermost_pid(pid: int) -> int | None:
    """The pid a process has in its own PID namespace (itself where there is only one)."""
    try:
        with open(f"/proc/{pid}/status", "rb") as handle:
            for line in handle:
                if line.startswith(b"NSpid:"):
                    return int(line.split()[-1])
    except (OSError, ValueError, IndexError):
        return None
    return None


class ProcessGoneError(protocol.ProtocolError):
    """The child closed its end (it exited or was killed): a death, not a broken protocol."""


class _Output:
    """Drains the child's stdout+stderr on a thread, keeping the first ``cap`` bytes."""

    def __init__(self, stream: Any, cap: int) -> None:
        self.kept = bytearray()
        self.total = 0
        self.cap = cap
        self.thread = threading.Thread(target=self._drain, args=(stream,), daemon=True)
        self.thread.start()

    def _drain(self, stream: Any) -> None:
        fd = stream.fileno()
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            self.total += len(chunk)
            room = self.cap - len(self.kept)
            if room > 0:
                self.kept += chunk[:room]
        stream.close()

    def text(self) -> str:
        body = clean_text(bytes(self.kept).decode("utf-8", errors="replace"))
        if self.total > len(self.kept):
            # First, so that any later truncation of the excerpt keeps it.
            dropped = self.total - len(self.kept)
            kept = len(self.kept)
            body = f"[output capped: the first {kept} bytes kept, {dropped} more dropped]\n{body}"
        return body


class _Pumped:
    """Reads a pipe on a thread into a queue: where select() cannot wait on pipes (Windows)."""

    def __init__(self, fd: int) -> None:
        self.chunks: queue.Queue[bytes] = queue.Queue()
        self.thread = threading.Thread(target=self._pump, args=(fd,), daemon=True)
        self.thread.start()

    def _pump(self, fd: int) -> None:
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            self.chunks.put(chunk)
            if not chunk:
                return

    def get(self, deadline: float) -> bytes | None:
        """The next chunk (b"" at the end), or None once ``deadline`` passed."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        try:
            chunk = self.chunks.get(timeout=remaining)
        except queue.Empty:
            return None
        if not chunk:
            self.chunks.put(chunk)  # stays at the end for every later read
        return chunk


class _DeadlineReader:
    """Reads frames from the response pipe, giving up at a deadline the parent controls."""

    def __init__(self, fd: int, *, pumped: bool = False) -> None:
        self.fd = fd
        self.buffer = bytearray()
        self.pump = _Pumped(fd) if pumped else None

    def _fill(self, size: int, deadline: float) -> bool:
        while len(self.buffer) < size:
            if self.pump is not None:
                pumped = self.pump.get(deadline)
                if pumped is None:
                    return False
                if not pumped:
                    raise protocol.ProtocolError("the process exited")
                self.buffer += pumped
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            ready, _, _ = select.select([self.fd], [], [], remaining)
            if not ready:
                return False
            chunk = os.read(self.fd, max(size - len(self.buffer), 65536))
            if not chunk:
                raise ProcessGoneError("the process exited")
            self.buffer += chunk
        return True

    def _take(self, size: int) -> bytes:
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def read(self, deadline: float) -> tuple[dict[str, Any], list[bytes]] | None:
        """One frame, or None when the deadline passed first. Raises ProtocolError."""
        if not self._fill(8, deadline):
            return None
        length = protocol.parse_header(bytes(self.buffer[:8]))
        if not self._fill(8 + length, deadline):
            return None
        header = protocol.parse_header_json(bytes(self.buffer[8 : 8 + length]))
        sizes = protocol.parse_blob_sizes(header, protocol.REPLY_BLOB_CAP)
        if not self._fill(8 + length + sum(sizes), deadline):
            return None
        self._take(8 + length)
        return header, [self._take(size) for size in sizes]


def _frames(raw: Any) -> tuple[Frame, ...]:
    """Traceback frames from the child's JSON: typed, capped and clean text only."""
    if not isinstance(raw, list):
        return ()
    frames = []
    for item in raw[:20]:
        if isinstance(item, dict) and type(item.get("cell")) is int:
            line = item.get("line")
            frames.append(
                Frame(
                    cell=item["cell"],
                    line=line if type(line) is int else None,
                    function=_text(item.get("function"), 100),
                    code=_text(item.get("code"), 200),
                )
            )
    return tuple(frames)


def _items(raw: Any, cap: int) -> list[dict[str, Any]]:
    """The first ``cap`` dicts of a list the child sent (anything else: none)."""
    return [item for item in raw[:cap] if isinstance(item, dict)] if isinstance(raw, list) else []


def _cell_error(cell: int, raw: dict[str, Any]) -> CellError:
    binds = raw.get("binds")
    return CellError(
        cell=cell,
        ename=_ename(raw.get("ename")),
        evalue=_text(raw.get("evalue")),
        frames=_frames(raw.get("frames")),
        binds=tuple(_text(b, 100) for b in (binds[:20] if isinstance(binds, list) else [])),
    )


def _text(value: Any, cap: int = 500) -> str:
    """A text field of a reply, capped and clean (valid UTF-8, no control characters), so
    no writer can fail on, or be steered by, what a submission raised; anything but a
    string or number is malformed."""
    if isinstance(value, str):
        return clean_text(value[:cap])
    if type(value) in (int, float, bool):
        return str(value)[:cap]
    return "" if value is None else "<malformed>"


def _ename(value: Any) -> str:
    """An exception's class name, which the submission chooses: a short label only."""
    return type_label(value[:1000]) if isinstance(value, str) else "Exception"


def _function_state(value: Any) -> str:
    """``callable``, ``missing``, or ``not callable: <short type label>``."""
    text = value if isinstance(value, str) else "missing"
    if text.startswith(NOT_CALLABLE):
        return NOT_CALLABLE + type_label(text.removeprefix(NOT_CALLABLE)[:1000])
    return text if text in ("callable", "missing") else "missing"


def describe_exit(returncode: int | None, *, out_of_memory: bool = False) -> str:
    """A student-facing sentence for how the process ended."""
    if out_of_memory:
        return "the process ran out of memory and was killed (its memory limit was reached)"
    if returncode is None:
        return "the process stopped responding"
    if returncode < 0:
        number = -returncode
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        if number == signal.SIGSEGV:
            return f"the process crashed (signal {number}, {name}: a segmentation fault)"
        if number == getattr(signal, "SIGXCPU", -1):
            return f"the process used up its CPU time limit (signal {number}, {name})"
        if number == signal.SIGKILL:
            return (
                f"the process was killed (signal {number}, {name}), e.g. for running out of memory"
            )
        return f"the process crashed (signal {number}, {name})"
    return f"the process exited with status {returncode} before answering"


def _binary(fd: int) -> int:
    """``fd`` in binary mode: Windows' C runtime would translate newlines in frames."""
    if sys.platform == "win32":
        import msvcrt

        msvcrt.setmode(fd, os.O_BINARY)
    return fd


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process group a child leads (POSIX), and the child itself (anywhere)."""
    if hasattr(os, "killpg"):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
        proc.kill()


class StudentProcess:
    """One sandboxed child holding a submission's namespace; restarts itself after a crash.

    Use as a context manager: ``close()`` kills every process of the submission.
    """

    def __init__(
        self,
        cells: Sequence[tuple[int, str]],
        functions: Sequence[str],
        *,
        backend: Backend,
        limits: Limits,
        use_cgroup: bool = True,
        provided: Mapping[str, Path] | None = None,
    ) -> None:
        self.cells = [{"index": index, "source": source} for index, source in cells]
        #: the course files of the run: name in its working folder -> file on this side
        self.provided = dict(provided or {})
        self.functions = list(functions)
        self.backend = backend
        self.limits = limits
        self.restarts = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.output: _Output | None = None
        self.reader: _DeadlineReader | None = None
        self.request_fd = -1
        self.cgroup: RunCgroup | None = None
        self.use_cgroup = use_cgroup and not portable_mode()
        #: the portable child (``portable_mode``): stdio pipes, wall clock, no /proc
        self.portable = backend == "none" and portable_mode()
        self.oom_kills = 0  #: processes the kernel killed at the cgroup's memory limit
        self.last_exit_oom = False
        #: the run's serving process (its pid here), whose waits for a CPU limits discount
        self.host_pid: int | None = None
        self.runtime = Path(tempfile.mkdtemp(prefix="grader-run-"))
        #: bytes of arrays this run's replies may still make the trusted side hold
        self.decode_budget = protocol.DecodeBudget()
        self._prepare_runtime()

    # --- lifecycle -------------------------------------------------------------------

    def _prepare_runtime(self) -> None:
        here = Path(__file__).parent
        for name in CHILD_SOURCES:
            shutil.copyfile(here / name, self.runtime / name)
            os.chmod(self.runtime / name, 0o644)
        # Readable by the unprivileged uid the child may drop to; holds no secrets.
        os.chmod(self.runtime, 0o755)  # noqa: S103
        work = self.runtime / "work"
        work.mkdir()
        os.chmod(work, 0o777)  # noqa: S103 -- the child's scratch folder, private to this run
        if self.provided:
            place_provided(self.provided, self.runtime / PROVIDED_DIR)

    def _provided_path(self) -> str | None:
        """Where the child finds the provided files, or None when there are none."""
        if not self.provided:
            return None
        return SANDBOX_PROVIDED if self.backend == "bwrap" else str(self.runtime / PROVIDED_DIR)

    def _child_settings(self) -> dict[str, Any]:
        if self.portable:
            return {"portable": True}  # no rlimits, prctl or supervisor where it may run
        settings = self.limits.for_child()
        # bwrap's PID 1 already reaps, outlives and ends the tree; the others need their own.
        settings["supervise"] = self.backend != "bwrap"
        if self.backend != "bwrap":
            # Its folder becomes a tmpfs of this size where the supervisor may mount one.
            settings["work_bytes"] = self.limits.tmp_bytes
        if self.backend == "landlock":
            settings["landlock"] = self._landlock_policy()
        elif self.backend == "bwrap" and landlock.seccomp_problem() is None:
            settings["seccomp_profile"] = "bwrap"  # defence in depth: landlock.KERNEL_SURFACE
        if self.backend != "bwrap" and os.getuid() == 0:
            # As root the submission could kill the grader, rewrite its files and ignore
            # RLIMIT_NPROC: it runs as nobody instead. Where nobody cannot reach the
            # interpreter (a 0700 home), it keeps the right to read files, and no other.
            settings["drop_to_uid"] = NOBODY_UID
            needed = [*_runtime_paths(), str(self.runtime)]
            settings["keep_read_all"] = not all(_world_traversable(p) for p in needed)
        return settings

    def _landlock_policy(self) -> dict[str, Any]:
        """What the confined child may read (the runtime, its own sources) and write."""
        read = [*SYSTEM_DIRS, *SYSTEM_FILES, *_runtime_paths()]
        read += [str(self.runtime / name) for name in CHILD_SOURCES]
        if self.provided:  # the course's provided files, linked into its folder
            read.append(str(self.runtime / PROVIDED_DIR))
        return {
            "read": read,
            "write": [str(self.runtime / "work")],
            "abi": landlock.abi_version(),
        }

    def _command(self, request_r: int, response_w: int) -> tuple[list[str], str]:
        limits = json.dumps(self._child_settings())
        python = sys.executable
        if self.backend == "bwrap":
            python = sandbox_python()
            bwrap = shutil.which("bwrap") or "bwrap"
            args = [bwrap, *_bwrap_base_args()]
            args += ["--size", str(self.limits.tmp_bytes), "--tmpfs", SANDBOX_TMP]
            for host, inside in runtime_binds():
                args += ["--ro-bind", host, inside]
            for name in CHILD_SOURCES:
                args += ["--ro-bind", str(self.runtime / name), f"{SANDBOX_ROOT}/{name}"]
            if self.provided:
                args += ["--ro-bind", str(self.runtime / PROVIDED_DIR), SANDBOX_PROVIDED]
            args += ["--setenv", "HOME", SANDBOX_TMP, "--chdir", SANDBOX_TMP, "--"]
            script = f"{SANDBOX_ROOT}/child.py"
            return [
                *args,
                python,
                *PYTHON_FLAGS,
                script,
                str(request_r),
                str(response_w),
                limits,
            ], "/"
        script = str(self.runtime / "child.py")
        work = str(self.runtime / "work")
        if self.portable:
            return [python, *PYTHON_FLAGS, script, "stdio", "stdio", limits], work
        return [python, *PYTHON_FLAGS, script, str(request_r), str(response_w), limits], work

    def _start_portable(self) -> None:
        """The portable child: requests on its stdin, frames on its stdout, prints on stderr."""
        command, cwd = self._command(-1, -1)
        env = dict(SCRUBBED_ENV, HOME=cwd, TMPDIR=cwd)
        for name in ("SYSTEMROOT", "SYSTEMDRIVE", "WINDIR"):  # Windows' Python needs them
            if name in os.environ:
                env[name] = os.environ[name]
        self.proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=env,
            start_new_session=os.name == "posix",
        )
        stdin, stdout = self.proc.stdin, self.proc.stdout
        if stdin is None or stdout is None:  # not with PIPE; for the type checker
            raise OSError("the child's pipes were not created")
        # Our own descriptors, closed by _release_pipes; the file objects go now.
        self.request_fd = _binary(os.dup(stdin.fileno()))
        response_r = _binary(os.dup(stdout.fileno()))
        stdin.close()
        stdout.close()
        self.reader = _DeadlineReader(response_r, pumped=True)
        self.output = _Output(self.proc.stderr, self.limits.output_bytes)

    def _start(self) -> None:
        if self.portable:
            self._start_portable()
            return
        # A socket, not a pipe: a call's shared memory travels with its request (SCM_RIGHTS).
        theirs, ours = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        request_r, request_w = theirs.detach(), ours.detach()
        response_r, response_w = os.pipe()
        command, cwd = self._command(request_r, response_w)
        home = SANDBOX_TMP if self.backend == "bwrap" else cwd
        env = dict(SCRUBBED_ENV, HOME=home, TMPDIR=home)
        if self.use_cgroup:
            self.cgroup = create_run_cgroup(
                self.limits.processes + OWN_PROCESSES, self.limits.memory_bytes
            )
        try:
            self.proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                pass_fds=(request_r, response_w),
                cwd=cwd,
                env=env,
                start_new_session=True,  # its own process group: killed as one
                # Joins the run's cgroup before exec: every descendant is born inside it.
                preexec_fn=self.cgroup.enter if self.cgroup else None,
            )
        finally:
            os.close(request_r)
            os.close(response_w)
        self.request_fd = request_w
        self.reader = _DeadlineReader(response_r)
        self.output = _Output(self.proc.stdout, self.limits.output_bytes)

    def kill(self) -> int | None:
        """SIGKILL every process of the run and wait until all are gone; reap the child.

        Order matters without a cgroup: the processes below the child go first, while the
        child (bwrap, or the fallback's subreaper) still holds the orphans as descendants.
        """
        proc = self.proc
        if proc is None:
            return None
        deadline = time.monotonic() + KILL_TIMEOUT
        if self.cgroup is not None:
            self.cgroup.kill_all(KILL_TIMEOUT)
        while not self.portable and time.monotonic() < deadline:
            below = tree_pids(proc.pid) if proc.poll() is None else set()
            if not below:
                break
            for pid in below:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.005)
        # proc.pid cannot have been reused: it is not reaped until wait() below.
        _kill_group(proc)
        try:
            returncode: int | None = proc.wait(timeout=KILL_TIMEOUT)
        except subprocess.TimeoutExpired:
            returncode = None
        if self.cgroup is not None:
            self.cgroup.kill_all(KILL_TIMEOUT)
            self.oom_kills += self.cgroup.oom_kills()
            self.cgroup.remove()
            self.cgroup = None
        self._release_pipes()
        self.proc = None
        return self._signal_status(returncode)

    def _host_pid(self, inner_pid: int) -> int | None:
        """The pid, as seen here, of the run's process whose pid in its namespace is this."""
        proc = self.proc
        if proc is None:
            return None
        return next((pid for pid in tree_pids(proc.pid) if innermost_pid(pid) == inner_pid), None)

    def _clock(self, limit: float) -> protocol.LimitClock:
        schedstat = f"/proc/{self.host_pid}/schedstat" if self.host_pid else None
        return protocol.LimitClock(limit, self.limits.wall_factor, schedstat)

    def _alone(self) -> bool:
        """Whether the run is one process with one thread (nothing of its own to wait for)."""
        host = self.host_pid
        fields = protocol.proc_stat(host) if host is not None else None
        if host is None or fields is None:
            return False
        parent, threads = int(fields[1]), int(fields[17])
        # Whatever it started, orphans included, lives below its parent: bwrap's PID 1, the
        # zygote, or the fallback's supervisor (a subreaper).
        return threads == 1 and tree_pids(parent) == {host}

    def _await_frame(self, clock: protocol.LimitClock) -> tuple[dict[str, Any], list[bytes]] | None:
        """The next frame, or None once ``clock`` runs out; raises ProtocolError."""
        while self.reader is not None:
            left = clock.left()
            if left <= 0:
                return None
            if clock.discounting and clock.beyond_limit_in_wall_time():
                # Extended for its waits: only while nothing of its own made it wait.
                if not self._alone():
                    clock.detach()
                    continue
                left = min(left, ALONE_RECHECK)
            frame = self.reader.read(time.monotonic() + left)
            if frame is not None:
                return frame
        raise ProcessGoneError("the process went away")

    def _release_pipes(self) -> None:
        """After the run is dead: finish draining its output, close both protocol pipes."""
        if self.output is not None:
            self.output.thread.join(timeout=1)
        if self.reader is not None and self.reader.pump is not None:
            self.reader.pump.thread.join(timeout=1)
        for fd in (self.request_fd, self.reader.fd if self.reader else -1):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.request_fd = -1
        self.reader = None
        self.host_pid = None

    def _signal_status(self, returncode: int | None) -> int | None:
        # bwrap reports a child killed by signal N as exit status 128 + N, as shells do.
        if self.backend == "bwrap" and returncode is not None and 128 < returncode < 160:
            return -(returncode - 128)
        return returncode

    def _exit_status(self) -> int | None:
        """The real status of a child that stopped answering (wait briefly, then kill)."""
        proc = self.proc
        if proc is None:
            return None
        try:
            status: int | None = proc.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            status = None
        before = self.oom_kills
        self.kill()
        self.last_exit_oom = self.oom_kills > before
        return self._signal_status(status)

    def _death(self) -> str:
        """How a child that stopped answering died, for students; it is dead afterwards."""
        status = self._exit_status()
        return describe_exit(status, out_of_memory=self.last_exit_oom)

    def close(self) -> None:
        """Kill everything the submission started and remove the runtime folder."""
        self.kill()
        remove_provided(self.runtime / PROVIDED_DIR)
        shutil.rmtree(self.runtime, ignore_errors=True)

    def __enter__(self) -> StudentProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def captured_output(self) -> str:
        """The capped stdout+stderr of the current (or last) process."""
        return self.output.text() if self.output else ""

    # --- requests --------------------------------------------------------------------

    def _send(
        self, header: dict[str, Any], blobs: list[bytes] | None = None, fds: tuple[int, ...] = ()
    ) -> bool:
        try:
            protocol.write_frame(self.request_fd, header, blobs, fds)
        except OSError:
            return False
        return True

    def load(self) -> LoadReport:
        """Start a fresh process and run every cell in document order."""
        self.kill()
        self._start()
        request = {
            "op": "load",
            "cells": self.cells,
            "functions": self.functions,
            "provided": self._provided_path(),
            "cell_timeout": self.limits.cell_timeout,
            "wall_factor": self.limits.wall_factor,
        }
        clock = self._clock(self.limits.load_timeout)
        current_cell: int | None = None
        done: list[CellRun] = []
        errors = 0
        first = True
        if not self._send(request):
            return self._load_failed(done, self._death())
        while self.reader is not None:
            try:
                frame = self._await_frame(clock)
            except protocol.ProtocolError as exc:
                reason = self._death()
                if not isinstance(exc, ProcessGoneError):
                    reason = f"the process broke the grading protocol ({exc})"
                where = f" while running cell {current_cell}" if current_cell else ""
                return self._load_failed(done, reason + where)
            if frame is None:
                output = self.captured_output
                self.kill()
                where = f" (cell {current_cell} was still running)" if current_cell else ""
                return self._load_failed(
                    done,
                    f"running the notebook timed out after {self.limits.load_timeout:g} s{where}",
                    output,
                )
            header, _ = frame
            if first and header.get("op") == "started" and isinstance(header.get("pid"), int):
                # Sent before any student code ran, so the pid is the child's own. The
                # portable child has no /proc to find it in: the wall clock times it.
                self.host_pid = None if self.portable else self._host_pid(header["pid"])
                if self.host_pid is not None:
                    clock.attach(f"/proc/{self.host_pid}/schedstat")
            elif header.get("op") == "cell" and type(header.get("index")) is int:
                current_cell = header["index"]
            elif header.get("op") == "cell-done":
                if len(done) < len(self.cells):  # a hostile child may send any number
                    runs = self._cell_runs([header.get("cell")], brief=errors >= CELL_ERRORS_KEPT)
                    done.extend(runs)
                    errors += sum(run.status == "error" for run in runs)
                current_cell = None
            elif header.get("op") == "loaded":
                return self._loaded(header, done)
            else:
                self.kill()
                return self._load_failed(done, "the process sent an unexpected message")
            first = False
        return self._load_failed(done, "the process went away")

    def _load_failed(self, done: list[CellRun], reason: str, output: str = "") -> LoadReport:
        return LoadReport(
            cells=tuple(done),
            functions={name: "missing" for name in self.functions},
            failure=reason,
            output=output or self.captured_output,
        )

    @staticmethod
    def _cell_runs(raws: Any, *, brief: bool = False) -> list[CellRun]:
        """Cell results from the child; ``brief`` keeps only an error's name (past the
        first ``CELL_ERRORS_KEPT``: 60,000 raising cells then hold little memory here)."""
        cells = []
        for raw in raws[:1] if isinstance(raws, list) else []:
            if not isinstance(raw, dict) or type(raw.get("index")) is not int:
                continue
            status: Literal["ok", "error"] = "error" if raw.get("status") == "error" else "ok"
            first = _cell_error(raw["index"], raw)
            more = raw.get("more")
            errors = (first, *(_cell_error(raw["index"], m) for m in _items(more, 4)))
            if brief:
                first = dataclasses.replace(first, evalue="", frames=(), binds=())
                errors = (first,)
            dropped = raw.get("dropped")
            cells.append(
                CellRun(
                    index=raw["index"],
                    status=status,
                    ename=first.ename,
                    evalue=first.evalue,
                    frames=first.frames,
                    seconds=float(raw["seconds"]) if isinstance(raw.get("seconds"), float) else 0.0,
                    errors=errors if status == "error" else (),
                    dropped=min(dropped, 10**6) if isinstance(dropped, int) and dropped > 0 else 0,
                )
            )
        return cells

    def _loaded(self, header: dict[str, Any], cells: list[CellRun]) -> LoadReport:
        names = header.get("names")
        names = names if isinstance(names, dict) else {}
        wanted = names.get("wanted")
        wanted = wanted if isinstance(wanted, dict) else {}
        defined = names.get("defined_callables")
        return LoadReport(
            cells=tuple(cells),
            functions={n: _function_state(wanted.get(n, "missing")) for n in self.functions},
            defined_callables=tuple(
                _text(d, 100) for d in (defined if isinstance(defined, list) else [])[:200]
            ),
            output=self.captured_output,
        )

    def _alive(self) -> bool:
        """Whether a child is running (or at least not yet killed and reaped)."""
        return self.proc is not None

    def abort(self) -> None:
        """SIGKILL the child's process group at once, from any thread (batch Ctrl-C)."""
        proc = self.proc
        if proc is not None:
            _kill_group(proc)

    def _revive(self) -> str | None:
        """Restart a dead child (re-running its cells); a reason string when that is not allowed."""
        if self._alive():
            return None
        if self.restarts >= self.limits.max_restarts:
            return (
                f"not run: the process had already been restarted {self.restarts} times "
                "after crashes or timeouts"
            )
        self.restarts += 1
        report = self.load()
        if report.failure:
            self.kill()
            return f"not run: restarting the process failed ({report.failure})"
        return None

    def call(self, function: str, args: Sequence[Any]) -> CallOutcome:
        """Call ``function(*args)`` in the child; always returns, whatever the child does."""
        refused = self._revive()
        if refused:
            return Crashed(refused)
        blobs: list[bytes] = []
        layout = protocol.SharedLayout()
        encoded = [
            protocol.encode_value(arg, blobs, shared=layout, path=(i,))
            for i, arg in enumerate(args)
        ]
        # The portable child (no memfd, no Unix socket) gets the block as a blob and sends it
        # back: its values are then its own report, as everything else it sends.
        if self.portable:
            blobs.append(bytes(layout.contents()))
        memfd = layout.create() if layout.size and not self.portable else -1
        try:
            return self._call(function, args, encoded, blobs, layout, memfd)
        finally:
            if memfd >= 0:
                os.close(memfd)

    def _call(
        self,
        function: str,
        args: Sequence[Any],
        encoded: list[dict[str, Any]],
        blobs: list[bytes],
        layout: protocol.SharedLayout,
        memfd: int,
    ) -> CallOutcome:
        soft = self.limits.test_timeout
        header = {
            "op": "call",
            "function": function,
            "args": encoded,
            "shared_size": layout.size,
            "shared_blob": len(blobs) - 1 if self.portable else None,
            "timeout": soft,
            "wall_factor": self.limits.wall_factor,
        }
        clock = self._clock(soft + self.limits.kill_grace)
        if not self._send(header, blobs, (memfd,) if memfd >= 0 else ()):
            return Crashed(self._death())
        if self.reader is None:
            return Crashed("the process went away")
        try:
            frame = self._await_frame(clock)
        except protocol.ProtocolError as exc:
            death = self._death()
            if isinstance(exc, ProcessGoneError):
                return Crashed(death)
            return Crashed(f"the process broke the grading protocol ({exc})")
        if frame is None:
            self.kill()
            return TimedOut(soft)
        response, response_blobs = frame
        seconds = clock.used()
        if response.get("op") == "returned":
            try:
                after = self._arguments_after(
                    args, encoded, layout, memfd, response, response_blobs
                )
            except protocol.ProtocolError as exc:
                self.kill()
                return Crashed(f"the process broke the grading protocol ({exc})")
        else:
            after = None
        return self._call_outcome(response, response_blobs, soft, seconds, after)

    def _arguments_after(
        self,
        args: Sequence[Any],
        encoded: list[dict[str, Any]],
        layout: protocol.SharedLayout,
        memfd: int,
        response: dict[str, Any],
        blobs: list[bytes],
    ) -> tuple[tuple[Any, ...], tuple[tuple[tuple[int | str, ...], str], ...]]:
        """The arguments as the call left them, and what else it changed in them.

        The arrays' values are read by this process from the call's shared memory: the
        child cannot claim other values, only write other bytes there (which then are what
        the call left). Shapes, dtypes and list items are the child's report, checked
        against what was sent: a report that does not describe exactly the arguments sent
        is a ProtocolError.
        """
        states = response.get("args_after")
        if not isinstance(states, list) or len(states) != len(encoded):
            raise protocol.ProtocolError("the reply does not describe every argument sent")
        changes = tuple(
            change
            for i, (tree, state) in enumerate(zip(encoded, states, strict=True))
            for change in protocol.argument_changes(tree, state, (i,))
        )
        # Lists and dicts whose items the call replaced: the caller would see the new items.
        replaced = [
            (path, protocol.decode_value(now, blobs, budget=self.decode_budget))
            for i, (tree, state) in enumerate(zip(encoded, states, strict=True))
            for path, now in protocol.replaced_items(tree, state, (i,))
        ]
        if self.portable:
            index = response.get("shared_after")
            if type(index) is not int or not 0 <= index < len(blobs):
                raise protocol.ProtocolError("the reply does not send the arguments back")
            arrays = layout.arrays_in(blobs[index])
        elif memfd < 0:  # no array, or only empty ones
            arrays = layout.arrays_in(b"")
        else:
            arrays = layout.read_back(memfd)
        # A replaced container wins over the arrays it held (``with_leaves`` stops there).
        paths = [*layout.paths, *(path for path, _ in replaced)]
        leaves = [*arrays, *(value for _, value in replaced)]
        values = protocol.with_leaves(list(args), paths, leaves)
        return tuple(values), changes

    def _call_outcome(
        self,
        response: dict[str, Any],
        blobs: list[bytes],
        soft: float,
        seconds: float,
        after: tuple[tuple[Any, ...], tuple[tuple[tuple[int | str, ...], str], ...]] | None,
    ) -> CallOutcome:
        op = response.get("op")
        if op == "timeout":
            return TimedOut(soft)
        if op == "raised":
            return Raised(
                ename=_ename(response.get("ename")),
                evalue=_text(response.get("evalue")),
                frames=_frames(response.get("frames")),
            )
        if op == "returned" and after is not None:
            self.decode_budget.next_reply()
            try:
                value = protocol.decode_value(
                    response.get("value"), blobs, budget=self.decode_budget
                )
            except protocol.ProtocolError as exc:
                self.kill()
                return Crashed(f"the process sent back malformed data ({exc})")
            finally:
                self.decode_budget.next_reply()
            args_after, changes = after
            # The trusted clock's seconds, not the child's claim: probing budgets them.
            return Returned(value, args_after, seconds, changes)
        self.kill()
        return Crashed("the process sent an unexpected message")
