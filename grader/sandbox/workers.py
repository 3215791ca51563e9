"""The trusted side of the bwrap backend: worker sandboxes whose zygote forks one child per run.

A ``Zygote`` is one long-lived bwrap sandbox (the namespaces, binds and uid a fresh
per-submission sandbox had, plus a read-only root) running ``zygote.py`` as its PID 1 with
numpy already imported. ``ZygoteStudentProcess`` is a ``StudentProcess`` whose child is a
fork of a zygote instead of a new interpreter: the same protocol, rlimits, deadlines and
output cap, without the interpreter start-up and ``import numpy`` of every submission.

A worker runs one submission at a time. At the end of a run the zygote kills every other
process of its PID namespace and answers only once none is left; the trusted side checks the
worker's cgroup too. A zygote that does not answer in time or reports leftovers is killed as
a whole (its bwrap) and replaced: only the run that was on it is affected. ``ZygotePool``
keeps one zygote per batch worker.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import queue
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.sandbox.cgroup import RunCgroup, create_run_cgroup, remove_stale, usable_places
from grader.sandbox.limits import Limits
from grader.sandbox.parent import (
    OWN_PROCESSES,
    PROVIDED_DIR,
    PYTHON_FLAGS,
    SANDBOX_PROVIDED,
    SANDBOX_ROOT,
    SANDBOX_TMP,
    SCRUBBED_ENV,
    StudentProcess,
    _bwrap_base_args,
    _DeadlineReader,
    _Output,
    innermost_pid,
    place_provided,
    remove_provided,
    runtime_binds,
    sandbox_python,
)

ZYGOTE_SOURCES = ("child.py", "protocol.py", "landlock.py", "zygote.py")
PR_SET_CHILD_SUBREAPER = 36
PR_GET_CHILD_SUBREAPER = 37
REAP_TIMEOUT = 10.0  # seconds to kill and reap what dead workers left (SIGKILL takes ms)
START_TIMEOUT = 60.0  # interpreter + numpy import on a loaded machine
REPLY_TIMEOUT = 10.0  # a fork, or killing and reaping a run, takes milliseconds
MAX_REPLY = 4096
LOG_CAP = 4000  # bytes of the zygote's own stderr kept for error messages


class ZygoteError(Exception):
    """The worker sandbox failed or stopped answering; it has been killed."""


class ForksUnsupportedError(ZygoteError):
    """A fork cannot get fresh namespaces here (e.g. nested user namespaces are forbidden)."""


# Why zygotes cannot work on this machine, once a zygote found out: runs then start a fresh
# bwrap each (slower, as isolated).
_forks_unsupported: str | None = None
BWRAP_EXTRA_ARGS: tuple[str, ...] = ()  # tests add --disable-userns to see the fallback


@dataclass(frozen=True)
class ForkedRun:
    """The trusted side's ends of one forked child's pipes."""

    inner_pid: int  #: its pid inside the worker's PID namespace
    request_w: int
    response_r: int
    output_r: int


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children", "rb") as handle:
            return [int(p) for p in handle.read().split()]
    except (OSError, ValueError):
        return []


class Zygote:
    """One worker sandbox. Not thread-safe: one run at a time, driven by one thread.

    Its cgroup (where one can be made) has the bounds of one run: ``limits.processes`` plus
    the three processes that are not the submission's (bwrap, the zygote, the fork itself,
    as bwrap's two and the child were before), and ``limits.memory_bytes`` for the whole
    tree. Since a worker runs one submission at a time, that is a per-submission bound; the
    zygote's own memory (an interpreter with numpy, as a fresh child had) counts in it.
    """

    def __init__(self, limits: Limits | None = None, *, use_cgroup: bool = True) -> None:
        self.limits = limits or Limits()
        self.cgroup: RunCgroup | None = None
        if use_cgroup:
            self.cgroup = create_run_cgroup(*self._bounds(self.limits))
        self.runtime = Path(tempfile.mkdtemp(prefix="grader-zygote-"))
        here = Path(__file__).parent
        for name in ZYGOTE_SOURCES:
            shutil.copyfile(here / name, self.runtime / name)
            os.chmod(self.runtime / name, 0o644)
        os.chmod(self.runtime, 0o755)  # noqa: S103 -- readable sources, no secrets
        self.control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        # The zygote's own stderr (set-up errors); closed in stop().
        self.log = tempfile.TemporaryFile(dir=self.runtime)  # noqa: SIM115
        bwrap = shutil.which("bwrap") or "bwrap"
        args = [bwrap, *_bwrap_base_args(), *BWRAP_EXTRA_ARGS, "--as-pid-1", "--dir", SANDBOX_TMP]
        for host, inside in runtime_binds():
            args += ["--ro-bind", host, inside]
        for name in ZYGOTE_SOURCES:
            args += ["--ro-bind", str(self.runtime / name), f"{SANDBOX_ROOT}/{name}"]
        # Each run's provided files go in a subfolder of this one (see ZygoteStudentProcess):
        # the bind shows what is created in it later, read-only. Not in the runtime folder,
        # which is deleted once the zygote is ready.
        self.provided_root = Path(tempfile.mkdtemp(prefix=f"grader-{PROVIDED_DIR}-"))
        os.chmod(self.provided_root, 0o755)  # noqa: S103 -- course files, no secrets
        args += ["--ro-bind", str(self.provided_root), SANDBOX_PROVIDED]
        args += ["--setenv", "HOME", SANDBOX_TMP, "--chdir", "/", "--remount-ro", "/", "--"]
        command = [*args, sandbox_python(), *PYTHON_FLAGS, f"{SANDBOX_ROOT}/zygote.py"]
        try:
            self.proc = subprocess.Popen(
                [*command, str(theirs.fileno())],
                stdin=subprocess.DEVNULL,
                stdout=self.log,
                stderr=self.log,
                pass_fds=(theirs.fileno(),),
                env=dict(SCRUBBED_ENV, HOME=SANDBOX_TMP, TMPDIR=SANDBOX_TMP),
                start_new_session=True,
                # Joins the cgroup before exec: every process of the worker is born inside.
                preexec_fn=self.cgroup.enter if self.cgroup else None,
            )
        except BaseException:
            if self.cgroup is not None:
                self.cgroup.remove()
            raise
        finally:
            theirs.close()
        self.ready = False
        self.stopped = False
        self.outer_pid = 0  #: the zygote's pid as this process sees it (bwrap's child)

    @staticmethod
    def _bounds(limits: Limits) -> tuple[int, int]:
        return limits.processes + OWN_PROCESSES, limits.memory_bytes

    def use_limits(self, limits: Limits) -> None:
        """Bound the next runs by ``limits`` (a zygote started before the assignment was read)."""
        if self._bounds(limits) != self._bounds(self.limits) and self.cgroup is not None:
            self.cgroup.set_limits(*self._bounds(limits))
        self.limits = limits

    # --- requests --------------------------------------------------------------------

    def _reply(self, timeout: float) -> dict[str, Any]:
        ready, _, _ = select.select([self.control], [], [], timeout)
        if not ready:
            self.stop()
            raise ZygoteError("the worker sandbox stopped answering")
        try:
            data = self.control.recv(MAX_REPLY)
            reply = json.loads(data) if data else None
        except (OSError, ValueError):
            reply = None
        if not isinstance(reply, dict):
            detail = self.log_tail()
            self.stop()
            raise ZygoteError(f"the worker sandbox went away{': ' + detail if detail else ''}")
        return reply

    def log_tail(self) -> str:
        """The end of what the zygote itself printed (a set-up error, typically)."""
        with contextlib.suppress(OSError, ValueError):
            self.log.seek(0)
            return self.log.read()[-LOG_CAP:].decode(errors="replace").strip()
        return ""

    def wait_ready(self) -> None:
        """Block until numpy is imported and the zygote listens; raises ZygoteError."""
        if self.ready:
            return
        global _forks_unsupported
        reply = self._reply(START_TIMEOUT)
        # bwrap has bound the sources by now: nothing is left behind if this process dies.
        shutil.rmtree(self.runtime, ignore_errors=True)
        if reply.get("op") != "ready":
            self.stop()
            raise ZygoteError("the worker sandbox sent an unexpected message")
        if reply.get("problem") is not None:
            self.stop()
            _forks_unsupported = str(reply["problem"])[:500]
            raise ForksUnsupportedError(_forks_unsupported)
        children = _children(self.proc.pid)
        if len(children) != 1:
            self.stop()
            raise ZygoteError("the worker sandbox has no single zygote process")
        self.outer_pid = children[0]
        self.ready = True

    def fork(self, settings: dict[str, Any]) -> ForkedRun:
        """A new child, set up and waiting for its first request on fresh pipes."""
        self.wait_ready()
        # A socket, not a pipe: a call's shared memory travels with its request (SCM_RIGHTS).
        child_end, our_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        request_r, request_w = child_end.detach(), our_end.detach()
        response_r, response_w = os.pipe()
        output_r, output_w = os.pipe()
        theirs = [request_r, response_w, output_w]
        try:
            message = json.dumps({"op": "fork", "settings": settings}).encode()
            socket.send_fds(self.control, [message], theirs)
        except OSError as exc:
            for fd in (request_w, response_r, output_r):
                os.close(fd)
            self.stop()
            raise ZygoteError(f"the worker sandbox went away ({exc})") from exc
        finally:
            for fd in theirs:
                os.close(fd)
        try:
            reply = self._reply(REPLY_TIMEOUT)
            pid = reply.get("pid")
            if reply.get("op") != "forked" or not isinstance(pid, int) or pid < 2:
                self.stop()
                raise ZygoteError("the worker sandbox sent an unexpected message")
        except ZygoteError:
            for fd in (request_w, response_r, output_r):
                os.close(fd)
            raise
        return ForkedRun(pid, request_w, response_r, output_r)

    def outer_pid_of(self, inner_pid: int) -> int | None:
        """The pid, as this process sees it, of the zygote's child ``inner_pid``."""
        for pid in _children(self.outer_pid):
            if innermost_pid(pid) == inner_pid:
                return pid
        return None

    def end(self, grace: float) -> int | None:
        """Kill the run (after ``grace`` s for it to end by itself); its wait status if it did.

        Returns only once nothing of the run is left; raises ZygoteError (the worker is then
        killed, which ends the run too) when the zygote cannot confirm that.
        """
        try:
            self.control.send(json.dumps({"op": "end", "grace": grace}).encode())
        except OSError as exc:
            self.stop()
            raise ZygoteError(f"the worker sandbox went away ({exc})") from exc
        reply = self._reply(grace + REPLY_TIMEOUT)
        status = reply.get("status")
        clean = reply.get("op") == "ended" and reply.get("clean") is True
        # Checked from outside too: only bwrap and the zygote may be left in the cgroup.
        if clean and self.cgroup is not None:
            clean = self.cgroup.pids() <= {self.proc.pid, self.outer_pid}
        if not clean:
            self.stop()
            raise ZygoteError("the worker sandbox could not end every process of the run")
        return status if isinstance(status, int) else None

    def oom_kills(self) -> int:
        """Processes the kernel killed at the memory limit so far (0 without a cgroup)."""
        return self.cgroup.oom_kills() if self.cgroup is not None else 0

    # --- lifecycle -------------------------------------------------------------------

    def alive(self) -> bool:
        """Still running and usable (not stopped after a failure)."""
        return not self.stopped and self.proc.poll() is None

    def abort(self) -> None:
        """Kill the whole worker sandbox now, from any thread (batch Ctrl-C).

        Killing bwrap is enough: its PID 1, the zygote, dies with it (``--die-with-parent``)
        and takes the PID namespace along. bwrap's pid is ours until we reap it: no reuse.
        """
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(self.proc.pid, signal.SIGKILL)

    def stop(self) -> None:
        """Kill the worker sandbox (its PID 1, and so every process in it) and clean up."""
        if self.stopped:
            return
        self.stopped = True
        self.abort()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        self.control.close()
        self.log.close()
        if self.cgroup is not None:
            self.cgroup.kill_all()
            self.cgroup.remove()
            self.cgroup = None
        shutil.rmtree(self.runtime, ignore_errors=True)
        remove_provided(self.provided_root)


def _returncode(status: int | None) -> int | None:
    if status is None:
        return None
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else None


class ZygoteStudentProcess(StudentProcess):
    """A ``StudentProcess`` under bwrap whose child is forked by a worker's zygote.

    Without ``zygote``, it starts a private one (the cost of a fresh sandbox, once; restarts
    after a crash then cost a fork) and stops it on ``close()``. Where forks cannot get fresh
    namespaces (nested user namespaces forbidden), every run starts a fresh bwrap instead,
    as ``StudentProcess`` does: slower, and isolated the same way.
    """

    def __init__(
        self,
        cells: Sequence[tuple[int, str]],
        functions: Sequence[str],
        *,
        limits: Limits,
        zygote: Zygote | None = None,
        use_cgroup: bool = True,
        provided: Mapping[str, Path] | None = None,
    ) -> None:
        super().__init__(
            cells,
            functions,
            backend="bwrap",
            limits=limits,
            use_cgroup=use_cgroup,
            provided=provided,
        )
        self.run_id = uuid.uuid4().hex  #: names this run's provided folder in the zygote's
        self.per_run = _forks_unsupported is not None  #: a fresh bwrap per run, no zygote
        self.own_zygote = zygote is None and not self.per_run
        if zygote is None and not self.per_run:
            zygote = Zygote(limits, use_cgroup=use_cgroup)
        self.zygote = zygote
        self.active = False
        self.inner_pid = 0  #: the forked child's pid in the worker's PID namespace
        self.oom_baseline = 0
        if self.per_run:
            StudentProcess._prepare_runtime(self)
        else:
            os.rmdir(self.runtime)  # the zygote has the sources; nothing to leave behind

    def _per_run_from_now_on(self) -> None:
        self.per_run = True
        self.runtime = Path(tempfile.mkdtemp(prefix="grader-run-"))
        StudentProcess._prepare_runtime(self)

    def _prepare_runtime(self) -> None:
        """Nothing per run: the sources live in the zygote's runtime folder."""

    def _zygote_provided(self) -> Path | None:
        if self.zygote is None or not self.provided:
            return None
        return self.zygote.provided_root / self.run_id

    def _provided_path(self) -> str | None:
        if self.per_run or not self.provided:
            return super()._provided_path()
        return f"{SANDBOX_PROVIDED}/{self.run_id}"

    def _alive(self) -> bool:
        return super()._alive() if self.per_run else self.active

    def abort(self) -> None:
        if self.per_run:
            super().abort()
        elif self.zygote is not None:
            self.zygote.abort()

    def _start(self) -> None:
        if not self.per_run:
            try:
                self._start_fork()
                return
            except ForksUnsupportedError:
                self._per_run_from_now_on()
        super()._start()

    def _start_fork(self) -> None:
        settings = dict(self._child_settings(), tmp_bytes=self.limits.tmp_bytes)
        try:
            run = self._fork(settings)
        except ForksUnsupportedError:
            raise
        except ZygoteError:
            # The worker died (e.g. between two submissions): one fresh one, then give up.
            self.zygote = Zygote(self.limits, use_cgroup=self.use_cgroup)
            run = self._fork(settings)
        self.inner_pid = run.inner_pid
        self.request_fd = run.request_w
        self.reader = _DeadlineReader(run.response_r)
        self.output = _Output(os.fdopen(run.output_r, "rb", buffering=0), self.limits.output_bytes)
        self.active = True

    def _fork(self, settings: dict[str, Any]) -> ForkedRun:
        if self.zygote is None or not self.zygote.alive():
            if self.zygote is not None:
                self.zygote.stop()
            self.zygote = Zygote(self.limits, use_cgroup=self.use_cgroup)
        self.zygote.use_limits(self.limits)
        self.oom_baseline = self.zygote.oom_kills()
        folder = self._zygote_provided()
        if folder is not None and not folder.exists():  # first run, or a replaced zygote
            place_provided(self.provided, folder)
        return self.zygote.fork(settings)

    def _end(self, grace: float) -> int | None:
        """End the run: the zygote kills and reaps it (and the cgroup, from outside, too)."""
        if not self.active or self.zygote is None:
            return None
        self.active = False
        status: int | None = None
        with contextlib.suppress(ZygoteError):  # if raised, the worker was killed, the run too
            status = self.zygote.end(grace)
        self.oom_kills += max(0, self.zygote.oom_kills() - self.oom_baseline)
        self._release_pipes()
        return _returncode(status)

    def kill(self) -> int | None:
        return super().kill() if self.per_run else self._end(0.0)

    def _host_pid(self, inner_pid: int) -> int | None:
        if self.per_run or self.zygote is None:
            return super()._host_pid(inner_pid)
        # The zygote said which pid it forked; that, not what the child claims, is timed.
        return self.zygote.outer_pid_of(self.inner_pid)

    def _exit_status(self) -> int | None:
        if self.per_run:
            return super()._exit_status()
        before = self.oom_kills
        status = self._end(0.5)
        self.last_exit_oom = self.oom_kills > before
        return status

    def close(self) -> None:
        self.kill()
        folder = self._zygote_provided()
        if folder is not None:
            remove_provided(folder)
        if self.own_zygote and self.zygote is not None:
            self.zygote.stop()
        remove_provided(self.runtime / PROVIDED_DIR)
        shutil.rmtree(self.runtime, ignore_errors=True)


class ZygotePool:
    """One zygote per batch worker, all started at once (they import numpy in parallel)."""

    def __init__(self, size: int, limits: Limits | None = None, *, use_cgroup: bool = True) -> None:
        self.idle: queue.SimpleQueue[Zygote] = queue.SimpleQueue()
        self.lock = threading.Lock()
        self.all: list[Zygote] = []
        for _ in range(size):
            zygote = Zygote(limits, use_cgroup=use_cgroup)
            self.all.append(zygote)
            self.idle.put(zygote)

    def take(self) -> Zygote:
        """An idle zygote; blocks while every worker is busy."""
        return self.idle.get()

    def give_back(self, zygote: Zygote) -> None:
        """Return a zygote from ``take``, or the replacement of one that broke meanwhile."""
        with self.lock:
            if zygote not in self.all:
                self.all.append(zygote)
        self.idle.put(zygote)

    def abort(self) -> None:
        """Kill every worker sandbox at once (Ctrl-C), from any thread."""
        with self.lock:
            zygotes = list(self.all)
        for zygote in zygotes:
            zygote.abort()

    def close(self) -> None:
        """Stop every worker sandbox."""
        with self.lock:
            zygotes, self.all = self.all, []
        for zygote in zygotes:
            zygote.stop()


def child_pids() -> set[int]:
    """Every child of this process (of any of its threads), zombies included."""
    found: set[int] = set()
    with contextlib.suppress(OSError):
        for task in os.listdir("/proc/self/task"):
            with (
                contextlib.suppress(OSError, ValueError),
                open(f"/proc/self/task/{task}/children", "rb") as handle,
            ):
                found.update(int(p) for p in handle.read().split())
    return found


def _subreaper(value: int | None = None) -> int:
    """This process's child-subreaper flag (set to ``value`` first, if given); 0 if unknown."""
    libc = ctypes.CDLL(None, use_errno=True)
    if value is not None:
        libc.prctl(PR_SET_CHILD_SUBREAPER, value, 0, 0, 0)
    flag = ctypes.c_int(0)
    libc.prctl(PR_GET_CHILD_SUBREAPER, ctypes.byref(flag), 0, 0, 0)
    return flag.value


def reap_orphans(known: set[int], timeout: float = REAP_TIMEOUT) -> set[int]:
    """SIGKILL and reap every child not in ``known`` (adopted orphans); the ones left over.

    Safe to kill: a child of this process is not reaped yet, so its pid cannot have been
    reused by anything else.
    """
    deadline = time.monotonic() + timeout
    while True:
        orphans = child_pids() - known
        for pid in orphans:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
        if not orphans or time.monotonic() > deadline:
            return orphans
        time.sleep(0.01)


@contextlib.contextmanager
def reaping_what_workers_leave() -> Iterator[set[int]]:
    """Adopt, then kill and reap, whatever the worker processes started inside leave behind.

    While it is open this process is a child subreaper: when a worker process dies (even by
    SIGKILL, which runs none of its clean-up), its sandboxes (a bwrap, a zygote, or the
    fallback's submission and its daemons) are re-parented here instead of to init. On
    leaving, every child that is not in the yielded set (add the children that are this
    process's own, such as multiprocessing's resource tracker) is SIGKILLed and reaped, and
    the cgroups of dead owners are removed: the batch ends with nothing of its own running.
    Call it only once the worker processes themselves have been joined, and start no other
    child process meanwhile (from another thread): it would be taken for an orphan.
    """
    known = child_pids()
    was = _subreaper()
    _subreaper(1)
    try:
        yield known
    finally:
        _subreaper(was)
        clean_up_after_workers(known)


def clean_up_after_workers(known: set[int]) -> None:
    """Kill and reap adopted orphans (children not in ``known``), remove dead owners' cgroups."""
    reap_orphans(known)
    remove_stale(usable_places())
