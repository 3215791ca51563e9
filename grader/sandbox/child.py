"""Runs inside the sandbox: executes the submission's cells and calls its functions on request.

Everything in this process is untrusted once the first cell has run, so this module decides
nothing: it executes, observes and reports data through ``protocol``. It imports only the
standard library, numpy and ``protocol`` (a structural test enforces this), because the
grader package, the reference and the hidden tests do not exist inside the sandbox.

Usage (by ``parent.py`` only): ``python child.py REQUEST_FD RESPONSE_FD LIMITS_JSON``; under
bwrap, ``zygote.py`` imports it once and calls ``run`` in each child it forks. The portable
child (macOS, Windows, ``GRADER_PORTABLE=1``) is ``python child.py stdio stdio LIMITS_JSON``:
the protocol runs over its stdin and stdout, and nothing Linux-only is touched (no rlimits,
prctl, ``/proc``, fork or SIGALRM; the time limits are a timer thread's and the trusted
side's wall clock).
"""

from __future__ import annotations
import __future__

import ast
import builtins
import contextlib
import ctypes
import importlib
import json
import linecache
import mmap
import os
import platform
import random
import shutil
import signal
import sys
import threading
import time
import traceback
from types import FrameType, TracebackType
from typing import Any

import numpy as np

try:  # POSIX only: the portable child (macOS, Windows) sets no rlimits
    import resource
except ImportError:  # pragma: no cover - exercised with the module blocked
    resource = None  # type: ignore[assignment]

try:  # imported as grader.sandbox.child by the project's own tests
    from . import landlock, protocol
except ImportError:  # run as a script inside the sandbox, next to copies of both
    import landlock  # type: ignore[no-redef,import-not-found]
    import protocol  # type: ignore[no-redef,import-not-found]

EVALUE_CAP = 500  # characters of an exception message sent back
ERRORS_PER_CELL = 5  # failed top-level statements of one cell reported (the rest are counted)
BINDS_CAP = 20  # names a failed statement would have defined, sent back to explain a gap
TRACEBACK_FRAMES = 8  # frames of student code kept in a traceback
SEED = 0  # same submission, same score: seeded before any cell runs
# Bytes of arrays one reply sends in full (the rest as shape and dtype): within the trusted
# side's cap, with room for the .npy headers.
REPLY_ROOM = protocol.REPLY_BLOB_CAP - 1024 * 1024
MIN_ALARM = 0.01  # seconds: a re-armed alarm shorter than this counts as the limit reached
PR_SET_PDEATHSIG = 1
PR_SET_KEEPCAPS = 8
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
CAPABILITY_VERSION_3 = 0x20080522
CAP_DAC_READ_SEARCH = 2
# keyctl(2) has no libc wrapper: its syscall number per architecture (-1: unknown here).
SYS_KEYCTL = {"x86_64": 250, "aarch64": 219}.get(platform.machine(), -1)
KEYCTL_JOIN_SESSION_KEYRING = 1
SETUP_FAILED = 70  # exit status when the sandbox could not be set up (EX_SOFTWARE)
CLONE_NEWNS = 0x00020000
MS_NOSUID = 2
MS_NODEV = 4
MS_REC = 16384
MS_PRIVATE = 1 << 18


class _CapHeader(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _CapData(ctypes.Structure):
    _fields_ = (
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    )


class SoftTimeoutError(BaseException):
    """Raised inside student code by our alarm; BaseException so ``except Exception`` misses it."""


def _alone() -> bool:
    """One thread and no child process (the trusted side also counts orphans)."""
    fields = protocol.proc_stat("self")
    try:
        with open(f"/proc/self/task/{os.getpid()}/children", "rb") as handle:
            children = handle.read().split()
    except OSError:
        return False
    return fields is not None and int(fields[17]) == 1 and not children


def _drop_privileges(uid: int, keep_read_all: bool) -> None:
    """Become ``uid`` (nobody): no signals to the grader, no writes to its files, NPROC counts.

    ``keep_read_all`` keeps CAP_DAC_READ_SEARCH alone, for an interpreter installed under a
    home folder nobody may enter (e.g. /root/.pyenv): imports keep working, writes do not.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    if keep_read_all:
        libc.prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0)
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    if keep_read_all:
        header = _CapHeader(CAPABILITY_VERSION_3, 0)
        data = (_CapData * 2)()
        data[0].effective = data[0].permitted = 1 << CAP_DAC_READ_SEARCH
        if libc.capset(ctypes.byref(header), data) != 0:
            raise OSError(ctypes.get_errno(), "capset failed")
        libc.prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0)


def apply_limits(limits: dict[str, Any]) -> None:
    """Apply resource limits and drop privileges before any untrusted code runs."""
    table = {
        "memory_bytes": resource.RLIMIT_AS,
        "cpu_seconds": resource.RLIMIT_CPU,
        "file_size_bytes": resource.RLIMIT_FSIZE,
        "processes": resource.RLIMIT_NPROC,
        "open_files": resource.RLIMIT_NOFILE,
    }
    uid = limits.get("drop_to_uid")
    if isinstance(uid, int) and os.getuid() == 0:
        _drop_privileges(uid, bool(limits.get("keep_read_all")))
    # No setuid binary may hand the submission its privileges back.
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    for key, which in table.items():
        value = limits.get(key)
        if isinstance(value, int) and value > 0:
            if which == resource.RLIMIT_NPROC:
                # NPROC counts every task of this uid, the user's other programs included:
                # allow ``processes`` more than exist now.
                value += _tasks_of(os.getuid())
            resource.setrlimit(which, (value, value))


def _tasks_of(uid: int) -> int:
    """Processes and threads whose real uid is ``uid`` (what RLIMIT_NPROC counts)."""
    count = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status", "rb") as handle:
                fields = dict(line.split(b":", 1) for line in handle if b":" in line)
            if int(fields[b"Uid"].split()[0]) == uid:
                count += int(fields[b"Threads"])
        except (OSError, KeyError, ValueError, IndexError):
            continue
    return count


def _live_children() -> list[int]:
    """Processes whose parent is this one (adopted orphans included), zombies excluded."""
    me = os.getpid()
    found = []
    for name in os.listdir("/proc"):
        fields = protocol.proc_stat(name) if name.isdigit() else None
        if fields is not None and int(fields[1]) == me and fields[0] not in (b"Z", b"X"):
            found.append(int(name))
    return found


def _end_leftovers() -> None:
    """Kill and reap everything still below this process (bounded: a few seconds at most)."""
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        while True:  # reap whatever already died
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                break
        children = _live_children()
        for pid in children:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.005)


def supervise(main_pid: int) -> None:
    """The trusted half of the fallback: outlive the submission, then end its whole tree.

    It is the submission's parent (so ``os.kill(os.getppid(), 9)`` misses the grader) and a
    child subreaper (so daemons that ``setsid`` and double-fork stay below it). When the
    submission's main process ends, everything it left behind is killed and this process
    exits the same way, so the grader sees the real status (a segfault stays a segfault).
    """
    status = 0
    while True:
        try:
            pid, wait_status = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        if pid == main_pid:
            status = wait_status
            break
    _end_leftovers()
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        with contextlib.suppress(OSError, ValueError):  # SIGKILL/SIGSTOP cannot be reset
            signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)
        os._exit(128 + number)
    os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 1)


def _student_frames(tb: TracebackType | None) -> list[dict[str, Any]]:
    """The traceback frames that belong to the submission's cells, innermost last."""
    frames = []
    for summary in traceback.extract_tb(tb):
        if summary.filename.startswith("<cell "):
            frames.append(
                {
                    "cell": int(summary.filename[6:-1]),
                    "line": summary.lineno,
                    "function": summary.name,
                    "code": (summary.line or "")[:200],
                }
            )
    return frames[-TRACEBACK_FRAMES:]


def _describe_exception(exc: BaseException) -> dict[str, Any]:
    try:
        evalue = str(exc)
    except BaseException:
        evalue = "<str() of the exception failed>"
    info: dict[str, Any] = {
        "ename": "TimeoutError" if isinstance(exc, SoftTimeoutError) else type(exc).__name__,
        "evalue": evalue[:EVALUE_CAP],
        "frames": _student_frames(exc.__traceback__),
    }
    if isinstance(exc, SyntaxError) and isinstance(exc.filename, str):
        if exc.filename.startswith("<cell "):
            info["frames"] = [
                {
                    "cell": int(exc.filename[6:-1]),
                    "line": exc.lineno,
                    "function": "<module>",
                    "code": (exc.text or "").strip()[:200],
                }
            ]
        info["evalue"] = str(exc.msg)[:EVALUE_CAP]
    return info


def _future_flags(node: ast.stmt) -> int:
    """Compiler flags a ``from __future__ import ...`` turns on for the rest of its cell."""
    if not isinstance(node, ast.ImportFrom) or node.module != "__future__":
        return 0
    flags = 0
    for alias in node.names:
        feature = getattr(__future__, alias.name, None)
        flags |= int(getattr(feature, "compiler_flag", 0))
    return flags


def _bound_names(node: ast.stmt) -> list[str]:
    """The top-level names a statement defines (imports, defs, assignment targets)."""
    names: list[str] = []
    stack: list[ast.AST] = [node]
    while stack and len(names) < BINDS_CAP:
        item = stack.pop()
        if isinstance(item, (ast.Import, ast.ImportFrom)):
            names.extend(
                alias.asname or alias.name.split(".")[0]
                for alias in item.names
                if alias.name != "*"
            )
        elif isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(item.name)  # its body binds names of its own scope only
        elif isinstance(item, ast.Name) and isinstance(item.ctx, ast.Store):
            names.append(item.id)
        elif not isinstance(item, ast.Lambda):
            stack.extend(ast.iter_child_nodes(item))
    return list(dict.fromkeys(names))


def _defined_in_text(source: str) -> list[str]:
    """Functions and classes a cell that does not compile would have defined (``def f(``)."""
    names = []
    for line in source.splitlines():
        words = line.split()
        if len(words) > 1 and words[0] in ("def", "class") and not line[0].isspace():
            names.append(words[1].split("(")[0].split(":")[0])
    return names[:BINDS_CAP]


class NotebookShell:
    """The few parts of IPython's shell that converted notebook code calls.

    The trusted side converts magics with IPython's own transformer (``submission.py``):
    ``%matplotlib inline`` arrives as ``get_ipython().run_line_magic('matplotlib',
    'inline')``. Harmless magics do nothing here, ``%time`` runs its statement once, and
    ``%%writefile`` writes its file inside the run's own folder only.
    """

    def __repr__(self) -> str:
        return "<grader notebook shell>"

    def run_line_magic(self, name: str, line: str, _stack_depth: int = 1) -> Any:
        """``%time STATEMENT`` runs the statement (returning an expression's value)."""
        if name != "time" or not line.strip():
            return None
        caller = sys._getframe(1)
        filename, lineno = caller.f_code.co_filename, caller.f_lineno
        tree: ast.Expression | ast.Module
        try:
            tree = ast.parse(line.strip(), filename, mode="eval")
        except SyntaxError:
            tree = ast.parse(line.strip(), filename, mode="exec")
        ast.increment_lineno(tree, lineno - 1)  # tracebacks name the magic's line
        mode = "eval" if isinstance(tree, ast.Expression) else "exec"
        code = compile(tree, filename, mode, dont_inherit=True)
        if mode == "eval":
            # The student's own %time statement, as exec runs their cells.
            return eval(code, caller.f_globals, caller.f_locals)  # noqa: S307
        exec(code, caller.f_globals, caller.f_locals)
        return None

    def run_cell_magic(self, name: str, line: str, cell: str) -> None:
        """``%%writefile [-a] NAME``: the file, inside the working folder; others do nothing."""
        if name not in ("writefile", "file"):
            return
        words = line.split()
        append = "-a" in words or "--append" in words
        names = [w for w in words if not w.startswith("-")]
        if not names:
            raise ValueError("%%writefile needs a file name")
        folder = os.path.realpath(os.getcwd())
        target = os.path.realpath(os.path.join(folder, names[0].strip("'\"")))
        if not target.startswith(folder + os.sep):
            raise PermissionError(
                f"%%writefile may write only inside the folder the notebook runs in, not {names[0]}"
            )
        with open(target, "a" if append else "w", encoding="utf-8") as handle:
            handle.write(cell)
        importlib.invalidate_caches()  # a later `import NAME` must see the new file
        print(f"{'Appending to' if append else 'Writing'} {names[0]}")

    def system(self, command: str) -> None:
        """``!command``: shell commands do not run when grading."""
        return None

    def getoutput(self, command: str, split: bool = True, depth: int = 0) -> list[str]:
        """``x = !command``: nothing ran, so there is no output."""
        return []

    def magic(self, line: str) -> None:
        """The old ``get_ipython().magic('...')`` spelling: nothing to do."""
        return None


def link_provided(folder: str) -> None:
    """Make the course's provided files (a read-only folder) usable as next to a notebook.

    Each entry is linked into the working folder (first on ``sys.path``, as in Jupyter),
    so ``open("datasets/x.h5")`` and ``from dnn_utils import relu_backward`` work.
    """
    cwd = os.getcwd()
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        names = []
    for name in names:
        source, target = os.path.join(folder, name), os.path.join(cwd, name)
        try:
            os.symlink(source, target)
        except OSError:
            # Windows lets only administrators (or developer mode) make symlinks: the
            # portable child copies instead.
            with contextlib.suppress(OSError):
                if os.path.isdir(source):
                    shutil.copytree(source, target)
                else:
                    shutil.copyfile(source, target)


class _TimerAlarm:
    """The portable child's alarm: a timer thread raises SoftTimeoutError in the main thread.

    Python delivers it between bytecodes, so a pure-Python loop is interrupted as SIGALRM
    would interrupt it; a long call inside C (or a sleep) is ended by the trusted side's
    deadline instead, as a timeout.
    """

    def __init__(self, seconds: float) -> None:
        self.thread_id = threading.get_ident()
        self.lock = threading.Lock()
        self.done = False
        self.fired = False
        self.timer = threading.Timer(seconds, self._fire)
        self.timer.daemon = True

    def _fire(self) -> None:
        with self.lock:
            if not self.done:
                self.fired = True
                _raise_in_thread(self.thread_id, SoftTimeoutError)

    def __enter__(self) -> _TimerAlarm:
        self.timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        with self.lock:
            self.done = True
            self.timer.cancel()
            if self.fired:  # not delivered yet: it must not surface outside the call
                _raise_in_thread(self.thread_id, None)


def _raise_in_thread(thread_id: int, exc: type[BaseException] | None) -> None:
    """Raise ``exc`` asynchronously in a thread (None clears a pending one); CPython's API."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exc) if exc is not None else None
    )


class Child:
    """The request loop: one namespace (the notebook's globals) and two pipe descriptors."""

    def __init__(self, request_fd: int, response_fd: int, *, portable: bool = False) -> None:
        self.request_fd = request_fd
        self.response_fd = response_fd
        self.namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
        # As in IPython, get_ipython is a builtin: helper modules the notebook wrote see it too.
        shell = NotebookShell()
        builtins.get_ipython = lambda: shell  # type: ignore[attr-defined]
        self.wall_factor = 1.0  #: see ``Limits.wall_factor``; each request says it
        self.portable = portable  #: no SIGALRM or /proc: a timer thread keeps the limits

    def send(self, header: dict[str, Any], blobs: list[bytes] | None = None) -> None:
        protocol.write_frame(self.response_fd, header, blobs)

    def run_with_alarm(self, seconds: float, func: Any, *args: Any) -> Any:
        """``func(*args)``, interrupted once it has used ``seconds`` (``protocol.LimitClock``)."""
        if self.portable:
            with _TimerAlarm(seconds):
                return func(*args)
        clock = protocol.LimitClock(seconds, self.wall_factor, protocol.OWN_SCHEDSTAT)

        def on_alarm(signum: int, frame: FrameType | None) -> None:
            left = clock.left()
            # It waited for a CPU meanwhile, and not for helpers of its own: not its time.
            if left > MIN_ALARM and _alone():
                signal.setitimer(signal.ITIMER_REAL, left)
                return
            raise SoftTimeoutError

        signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            return func(*args)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)

    def load(self, request: dict[str, Any]) -> None:
        # Before any student code runs, so the trusted side can trust it: which process to time.
        self.send({"op": "started", "pid": os.getpid()})
        cell_timeout = float(request.get("cell_timeout", 10.0))
        self.wall_factor = float(request.get("wall_factor", 1.0))
        # As in Jupyter, modules in the folder the notebook runs in are importable
        # (a file that %%writefile wrote there, a provided course file linked there).
        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        if isinstance(request.get("provided"), str):
            link_provided(request["provided"])
        for cell in request["cells"]:
            index, source = int(cell["index"]), str(cell["source"])
            self.send({"op": "cell", "index": index})
            started = time.perf_counter()
            errors, dropped = self.run_cell(index, source, cell_timeout)
            result: dict[str, Any] = {"index": index, "status": "error" if errors else "ok"}
            if errors:
                result.update(errors[0])
                if len(errors) > 1 or dropped:
                    result["more"] = errors[1:]
                    result["dropped"] = dropped
            result["seconds"] = round(time.perf_counter() - started, 4)
            self.send({"op": "cell-done", "cell": result})
        # Each cell's result went with its cell-done: a notebook of 60,000 cells would not fit
        # in one message.
        self.send({"op": "loaded", "names": self.describe_names(request)})

    def run_cell(
        self, index: int, source: str, cell_timeout: float
    ) -> tuple[list[dict[str, Any]], int]:
        """Run one cell statement by statement: (errors reported, further errors not reported).

        Jupyter stops a cell at its first error, so `import torch` failing on line 1 would
        lose the `import numpy as np` on line 3 and every definition after it. Here each
        top-level statement runs on its own: a failure is reported with its line and the
        statements after it still run, so the outcome differs from Jupyter's only where
        Jupyter would have lost definitions. A cell that does not compile runs not at all
        (as in Jupyter), and the time limit covers the whole cell.
        """
        filename = f"<cell {index}>"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        errors: list[dict[str, Any]] = []
        lost: set[str] = set()  # names that failed statements would have bound
        dropped = 0

        def failed(exc: BaseException, binds: list[str]) -> None:
            nonlocal dropped
            info = _describe_exception(exc)
            if isinstance(exc, SoftTimeoutError):
                info["evalue"] = f"the cell ran longer than {cell_timeout:g} s"
            # `x = torch.zeros(3)` after `import torch` failed: that one error explains it.
            if errors and isinstance(exc, NameError) and getattr(exc, "name", None) in lost:
                lost.update(binds)
                return
            lost.update(binds)
            if len(errors) < ERRORS_PER_CELL:
                errors.append({**info, "binds": binds[:BINDS_CAP]})
            else:
                dropped += 1

        def statements() -> None:
            try:
                tree = ast.parse(source, filename)
                # Errors only the compiler finds (`return` outside a function) fail the cell
                # before anything runs, as in Jupyter.
                compile(tree, filename, "exec", dont_inherit=True)
            except BaseException as exc:  # SyntaxError, or nesting too deep to compile
                failed(exc, _defined_in_text(source))
                return
            flags = 0
            for node in tree.body:
                try:
                    module = ast.Module(body=[node], type_ignores=[])
                    code = compile(module, filename, "exec", flags=flags, dont_inherit=True)
                    flags |= _future_flags(node)
                    exec(code, self.namespace)
                except SoftTimeoutError:
                    raise
                except BaseException as exc:  # SystemExit and KeyboardInterrupt too
                    failed(exc, _bound_names(node))

        try:
            self.run_with_alarm(cell_timeout, statements)
        except BaseException as exc:  # the time limit, wherever it struck
            failed(exc, [])
        return errors, dropped

    def describe_names(self, request: dict[str, Any]) -> dict[str, Any]:
        wanted = {}
        for name in request.get("functions", []):
            value = self.namespace.get(name)
            if name not in self.namespace:
                wanted[name] = "missing"
            elif callable(value):
                wanted[name] = "callable"
            else:
                wanted[name] = "not callable: " + type(value).__name__
        defined = sorted(
            name
            for name, value in self.namespace.items()
            if not name.startswith("_") and callable(value) and not isinstance(value, type(np))
        )[:200]
        return {"wanted": wanted, "defined_callables": defined}

    def call(self, request: dict[str, Any], blobs: list[bytes], fds: list[int]) -> None:
        function = self.namespace.get(request["function"])
        size = int(request.get("shared_size", 0))
        # The arguments' arrays are views of memory the trusted side reads back after the
        # call (``protocol.SharedLayout``): what the function writes there is seen as written.
        shared: Any = mmap.mmap(fds[0], size) if fds and size else bytearray()
        shared_blob = request.get("shared_blob")
        if isinstance(shared_blob, int):  # the portable child: the block came as a blob
            shared = bytearray(blobs[shared_blob])
        for fd in fds:
            os.close(fd)
        args = [protocol.decode_value(a, blobs, shared=shared) for a in request["args"]]
        snapshots = [protocol.argument_snapshot(a) for a in args]
        timeout = float(request.get("timeout", 5.0))
        self.wall_factor = float(request.get("wall_factor", 1.0))
        started = time.perf_counter()
        try:
            if not callable(function):
                raise NameError(f"name {request['function']!r} is not defined")
            value = self.run_with_alarm(timeout, function, *args)
            out_blobs: list[bytes] = []
            room = [REPLY_ROOM]
            # Encoding runs student code too (a subclass's __array__, a __repr__), so it is timed.
            encoded = self.run_with_alarm(
                timeout,
                lambda: (
                    protocol.encode_value(value, out_blobs, room=room),
                    [
                        protocol.argument_state(a, s, out_blobs, room)
                        for a, s in zip(args, snapshots, strict=True)
                    ],
                ),
            )
        except BaseException as exc:
            header = {"op": "raised", **_describe_exception(exc)}
            if isinstance(exc, SoftTimeoutError):
                header["op"] = "timeout"
            header["seconds"] = time.perf_counter() - started
            self.send(header)
            return
        returned, args_after = encoded
        header = {
            "op": "returned",
            "value": returned,
            "args_after": args_after,
            "seconds": time.perf_counter() - started,
        }
        if isinstance(shared_blob, int):
            header["shared_after"] = len(out_blobs)
            out_blobs.append(bytes(shared))
        self.send(header, out_blobs)

    def serve(self) -> None:
        while True:
            try:
                request, blobs, fds = protocol.read_frame(self.request_fd)
            except (protocol.ProtocolError, OSError):
                return  # the parent went away
            op = request.get("op")
            if op == "load":
                for fd in fds:
                    os.close(fd)
                self.load(request)
            elif op == "call":
                self.call(request, blobs, fds)
            else:
                return


def join_new_session_keyring() -> bool:
    """Leave the grader's session keyring for a new, empty one; False where refused.

    Keyrings are not namespaced: without this, a key the submission adds to its session
    keyring is still there for the next submission the same user grades.
    """
    if SYS_KEYCTL < 0:
        return False
    keyctl = ctypes.CDLL(None, use_errno=True).syscall
    return int(keyctl(SYS_KEYCTL, KEYCTL_JOIN_SESSION_KEYRING, None)) >= 0


def _stdio_pipes() -> tuple[int, int]:
    """The portable child's protocol descriptors: its stdin and stdout, moved aside.

    The submission then reads an empty stdin, and its prints (fd 1) go to stderr, which the
    trusted side drains and caps: nothing it prints can reach the protocol.
    """
    request_fd, response_fd = os.dup(0), os.dup(1)
    if sys.platform == "win32":
        import msvcrt

        for fd in (request_fd, response_fd):
            msvcrt.setmode(fd, os.O_BINARY)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    return request_fd, response_fd


def mount_private_work_folder(size: int) -> bool:
    """Mount a tmpfs of ``size`` bytes on the working folder, in a mount namespace of our own.

    The fallback's only bound on disk: RLIMIT_FSIZE bounds one file, not how many. Needs
    CAP_SYS_ADMIN (a grader run by root); elsewhere it does nothing and says so (False). The
    mount dies with the run's last process; the folder underneath stays empty.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNS) != 0:
        return False
    work = os.getcwd().encode()
    options = f"size={size},mode=1777".encode()
    if libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        return False
    if libc.mount(b"tmpfs", work, b"tmpfs", MS_NOSUID | MS_NODEV, options) != 0:
        return False
    os.chdir(work)  # onto the new mount (the old cwd is the folder underneath)
    return True


def main(argv: list[str]) -> None:
    limits = json.loads(argv[3])
    if argv[1] == "stdio":
        request_fd, response_fd = _stdio_pipes()
        run(request_fd, response_fd, limits)
    request_fd, response_fd = int(argv[1]), int(argv[2])
    # Best effort: where keyctl is refused (a seccomp profile), the submission cannot add keys.
    join_new_session_keyring()
    if limits.get("supervise"):
        # Without bwrap's PID namespace, a trusted parent inside the run takes init's role.
        work_bytes = limits.get("work_bytes")
        if isinstance(work_bytes, int) and work_bytes > 0:
            mount_private_work_folder(work_bytes)
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        pid = os.fork()
        if pid:
            os.close(request_fd)
            os.close(response_fd)
            supervise(pid)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    run(request_fd, response_fd, limits)


def confine(limits: dict[str, Any]) -> None:
    """Landlock + seccomp, after the rlimits, before any student code.

    The ``landlock`` backend's policy: after ``join_new_session_keyring`` (seccomp then
    forbids keyctl). A kernel that refuses ends the process here: the submission never runs
    unconfined by mistake. Under bwrap, the ``bwrap`` seccomp profile is defence in depth
    on top of its namespaces, best effort: where the kernel refuses it, bwrap still isolates.
    """
    policy = limits.get("landlock")
    if isinstance(policy, dict):
        try:
            landlock.restrict(policy)
        except OSError as exc:
            os.write(2, f"sandbox set-up failed: {exc}\n".encode(errors="replace"))
            os._exit(SETUP_FAILED)
    elif limits.get("seccomp_profile") == "bwrap":
        with contextlib.suppress(OSError, KeyError):
            landlock.restrict({"profile": "bwrap"}, layers=("seccomp",))


def run(request_fd: int, response_fd: int, limits: dict[str, Any]) -> None:
    """Apply the limits, seed, serve one submission, and exit (never returns).

    Also the entry point of each child the zygote forks (``zygote.py``).
    """
    portable = bool(limits.get("portable"))
    if not portable:
        apply_limits(limits)
        confine(limits)
    random.seed(SEED)
    np.random.seed(SEED)
    Child(request_fd, response_fd, portable=portable).serve()
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip atexit handlers and thread joins the submission may have registered.
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv)
