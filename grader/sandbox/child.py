"""Runs inside the sandbox: executes the submission's cells and calls its functions on request.

Everything in this process is untrusted once the first cell has run, so this module decides
nothing: it executes, observes and reports data through ``protocol``. It imports only the
standard library, numpy and ``protocol`` (a structural test enforces this), because the
grader package, the reference and the hidden tests do not exist inside the sandbox.

Usage (by ``parent.py`` only): ``python child.py REQUEST_FD RESPONSE_FD LIMITS_JSON``.
"""

from __future__ import annotations

import builtins
import json
import linecache
import os
import random
import resource
import signal
import sys
import time
import traceback
from types import FrameType, TracebackType
from typing import Any

import numpy as np

try:  # imported as grader.sandbox.child by the project's own tests
    from . import protocol
except ImportError:  # run as a script inside the sandbox, next to a copy of protocol.py
    import protocol  # type: ignore[no-redef,import-not-found]

EVALUE_CAP = 500  # characters of an exception message sent back
TRACEBACK_FRAMES = 8  # frames of student code kept in a traceback
SEED = 0  # same submission, same score: seeded before any cell runs


class SoftTimeoutError(BaseException):
    """Raised inside student code by our alarm; BaseException so ``except Exception`` misses it."""


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise SoftTimeoutError


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
        # Root ignores RLIMIT_NPROC and can read every file: become an unprivileged user.
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    for key, which in table.items():
        value = limits.get(key)
        if isinstance(value, int) and value > 0:
            resource.setrlimit(which, (value, value))


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


class Child:
    """The request loop: one namespace (the notebook's globals) and two pipe descriptors."""

    def __init__(self, request_fd: int, response_fd: int) -> None:
        self.request_fd = request_fd
        self.response_fd = response_fd
        self.namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}

    def send(self, header: dict[str, Any], blobs: list[bytes] | None = None) -> None:
        protocol.write_frame(self.response_fd, header, blobs)

    def run_with_alarm(self, seconds: float, func: Any, *args: Any) -> Any:
        signal.signal(signal.SIGALRM, _on_alarm)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            return func(*args)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)

    def load(self, request: dict[str, Any]) -> None:
        cell_timeout = float(request.get("cell_timeout", 10.0))
        results = []
        for cell in request["cells"]:
            index, source = int(cell["index"]), str(cell["source"])
            filename = f"<cell {index}>"
            linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
            self.send({"op": "cell", "index": index})
            started = time.perf_counter()
            try:
                code = compile(source, filename, "exec")
                self.run_with_alarm(cell_timeout, exec, code, self.namespace)
            except BaseException as exc:  # SystemExit and KeyboardInterrupt too: next cell runs
                info = _describe_exception(exc)
                if isinstance(exc, SoftTimeoutError):
                    info["evalue"] = f"the cell ran longer than {cell_timeout:g} s"
                results.append({"index": index, "status": "error", **info})
            else:
                results.append({"index": index, "status": "ok"})
            results[-1]["seconds"] = round(time.perf_counter() - started, 4)
            self.send({"op": "cell-done", "cell": results[-1]})
        self.send({"op": "loaded", "cells": results, "names": self.describe_names(request)})

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

    def call(self, request: dict[str, Any], blobs: list[bytes]) -> None:
        function = self.namespace.get(request["function"])
        args = [protocol.decode_value(a, blobs) for a in request["args"]]
        timeout = float(request.get("timeout", 5.0))
        started = time.perf_counter()
        try:
            if not callable(function):
                raise NameError(f"name {request['function']!r} is not defined")
            value = self.run_with_alarm(timeout, function, *args)
            out_blobs: list[bytes] = []
            # Encoding runs student code too (a subclass's __array__, a __repr__), so it is timed.
            encoded = self.run_with_alarm(
                timeout,
                lambda: (
                    protocol.encode_value(value, out_blobs),
                    [protocol.encode_value(a, out_blobs) for a in args],
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
        self.send(
            {
                "op": "returned",
                "value": returned,
                "args_after": args_after,
                "seconds": time.perf_counter() - started,
            },
            out_blobs,
        )

    def serve(self) -> None:
        while True:
            try:
                request, blobs = protocol.read_frame(self.request_fd)
            except protocol.ProtocolError:
                return  # the parent went away
            op = request.get("op")
            if op == "load":
                self.load(request)
            elif op == "call":
                self.call(request, blobs)
            else:
                return


def main(argv: list[str]) -> None:
    request_fd, response_fd = int(argv[1]), int(argv[2])
    limits = json.loads(argv[3])
    apply_limits(limits)
    random.seed(SEED)
    np.random.seed(SEED)
    Child(request_fd, response_fd).serve()
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip atexit handlers and thread joins the submission may have registered.
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv)
