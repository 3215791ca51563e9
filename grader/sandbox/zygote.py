"""Runs inside a worker's bwrap sandbox as its PID 1: numpy imported once, one fork per submission.

Starting an interpreter and importing numpy costs most of a submission's time, so a worker
pays it once: ``workers.py`` starts this module in a long-lived bwrap (user, PID, network,
IPC, UTS and cgroup namespaces, read-only root) and asks it over a Unix socket for one child
per submission. This process never runs student code; it only forks, and each fork, before
the first cell arrives:

- enters fresh user, mount, IPC and network namespaces, so System V IPC, POSIX message
  queues, the user keyring, sockets (a closed TCP connection lingers in TIME_WAIT for a
  minute, listed in ``/proc/net/tcp``), abstract Unix sockets and the loopback's counters die
  with the submission, and joins a new session keyring;
- mounts a new private tmpfs on ``/tmp`` (its working directory and ``HOME``) and on
  ``/dev/shm``, and makes ``/dev`` read-only: nothing it writes outlives it;
- forbids further user namespaces and drops every capability it had in its new namespace;
- applies the submission's rlimits and serves it (``child.run``).

When the trusted side ends the run, this process SIGKILLs every other process of the PID
namespace (``kill(-1)`` spares only the caller, which is PID 1), reaps them all, and answers
only once ``/proc`` shows nothing but itself: the next submission can meet no leftover.
Being PID 1, it cannot be killed or stopped by anything inside the namespace, and it is not
dumpable, so a submission (same uid) can neither ptrace it nor read its memory.

Imports: the standard library, numpy, ``protocol`` and ``child`` (the same rule as
``child.py``: nothing of the grader exists inside the sandbox).
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import os
import signal
import socket
import struct
import sys
import time
import traceback
from typing import Any

# The point of a zygote: imported once, inherited by every fork. numpy.random is imported
# lazily by numpy and the child seeds it: without it here, each fork would pay ~15 ms.
import numpy as np  # noqa: F401
import numpy.random  # noqa: F401

try:  # imported as grader.sandbox.zygote by the project's own tests
    from . import child, landlock
except ImportError:  # run as a script inside the sandbox, next to child.py and protocol.py
    import child  # type: ignore[no-redef,import-not-found]
    import landlock  # type: ignore[no-redef,import-not-found]

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
IFREQ = "16sH14x"  # struct ifreq: the interface's name, then its flags (a short)
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
PR_SET_DUMPABLE = 4
PR_CAPBSET_DROP = 24
TMP = b"/tmp"  # mounted fresh and private for each fork
SHM = b"/dev/shm"  # likewise
SETUP_FAILED = 70  # exit status of a fork whose set-up failed (EX_SOFTWARE)
MAX_MESSAGE = 65536

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="ascii") as handle:
        handle.write(text)


def _drop_all_capabilities() -> None:
    with open("/proc/sys/kernel/cap_last_cap", encoding="ascii") as handle:
        last = int(handle.read())
    for cap in range(last + 1):
        _check(_libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), "dropping the bounding set")
    header = child._CapHeader(child.CAPABILITY_VERSION_3, 0)
    _check(_libc.capset(ctypes.byref(header), (child._CapData * 2)()), "capset")


def _loopback_up() -> None:
    """Bring up ``lo`` of a new network namespace (needs CAP_NET_ADMIN there), as bwrap does."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        current = fcntl.ioctl(probe, SIOCGIFFLAGS, struct.pack(IFREQ, b"lo", 0))
        flags = struct.unpack(IFREQ, current)[1]
        fcntl.ioctl(probe, SIOCSIFFLAGS, struct.pack(IFREQ, b"lo", flags | IFF_UP))


def enter_fresh_namespaces(tmp_bytes: int) -> None:
    """Make this fork's world its own (see the module docstring); it ends with no capability."""
    uid, gid = os.getuid(), os.getgid()
    # The zygote is not dumpable, and neither is a fork until it says so: its /proc/self files
    # then belong to root, whom a grader run by a normal user does not map, and writing its
    # own uid_map is refused (EACCES). The fork is the submission's own process: dumpable.
    _check(_libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0), "making the fork dumpable")
    # A network namespace per fork, not per worker: what a run leaves in one (TIME_WAIT
    # sockets, traffic counters) would otherwise be there for the next to read.
    flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWNET
    _check(_libc.unshare(flags), "unshare")
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{uid} {uid} 1")
    _write("/proc/self/gid_map", f"{gid} {gid} 1")
    _loopback_up()
    _check(_libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "making mounts private")
    options = f"size={tmp_bytes},mode=1777".encode()
    fresh = MS_NOSUID | MS_NODEV
    _check(_libc.mount(b"tmpfs", TMP, b"tmpfs", fresh, options), "mounting /tmp")
    # A read-only remount must keep the flags the mount already has (they are locked).
    flags = os.statvfs("/dev").f_flag | MS_REMOUNT | MS_BIND | MS_RDONLY
    _check(_libc.mount(None, b"/dev", None, flags, None), "read-only /dev")
    _check(_libc.mount(b"tmpfs", SHM, b"tmpfs", fresh, options), "mounting /dev/shm")
    _write("/proc/sys/user/max_user_namespaces", "0")
    # A session keyring of its own: the worker's is shared by every fork. Where that fails
    # (an unknown architecture), the trial fork says so, and every run gets a fresh bwrap.
    if not child.join_new_session_keyring():
        raise OSError(ctypes.get_errno(), "joining a new session keyring")
    _drop_all_capabilities()
    os.chdir(TMP)  # the fresh private tmpfs mounted above


def _serve_fork(fds: list[int], settings: dict[str, Any], control: socket.socket) -> None:
    """In the forked child: set up, then run the submission. Never returns."""
    try:
        control.close()
        request_fd, response_fd, output_fd = fds
        os.dup2(output_fd, 1)
        os.dup2(output_fd, 2)
        keep = {0, 1, 2, request_fd, response_fd}
        for name in os.listdir("/proc/self/fd"):
            if int(name) not in keep:
                with contextlib.suppress(OSError):
                    os.close(int(name))
        signal.signal(signal.SIGINT, signal.default_int_handler)
        enter_fresh_namespaces(int(settings["tmp_bytes"]))
        child.run(request_fd, response_fd, settings)
    except BaseException:
        with contextlib.suppress(BaseException):
            os.write(2, f"sandbox set-up failed:\n{traceback.format_exc()}".encode()[-2000:])
        os._exit(SETUP_FAILED)
    os._exit(0)


def _others() -> list[int]:
    """Processes of this PID namespace other than this one (PID 1)."""
    return [int(n) for n in os.listdir("/proc") if n.isdigit() and n != "1"]


def end_run(pid: int, grace: float) -> tuple[int | None, bool]:
    """(wait status of ``pid`` if it ended by itself within ``grace`` s, clean afterwards)."""
    deadline = time.monotonic() + grace
    status: int | None = None
    while True:
        with contextlib.suppress(ChildProcessError):
            done, wait_status = os.waitpid(pid, os.WNOHANG)
            if done:
                status = wait_status
                break
        if time.monotonic() >= deadline:
            break
        time.sleep(0.002)
    for _ in range(20):
        with contextlib.suppress(ProcessLookupError):
            os.kill(-1, signal.SIGKILL)  # every process but PID 1: the kernel spares the caller
        while True:  # as PID 1, every orphan of the run is our child: reap them all
            try:
                os.waitpid(-1, 0)
            except ChildProcessError:
                break
            except InterruptedError:
                continue
        if not _others():
            return status, True
        time.sleep(0.005)
    return status, False


def fork_problem() -> str | None:
    """Why a fork cannot set itself up here (e.g. nested user namespaces are forbidden)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        try:
            enter_fresh_namespaces(1024 * 1024)
        except BaseException as exc:
            os.write(write_end, str(exc).encode()[:500])
            os._exit(SETUP_FAILED)
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        detail = reader.read().decode(errors="replace")
    _, status = os.waitpid(pid, 0)
    if status == 0:
        return None
    return detail or f"the trial fork ended with wait status {status}"


def _send(control: socket.socket, message: dict[str, Any]) -> None:
    control.send(json.dumps(message).encode())


def main(argv: list[str]) -> None:
    control = socket.socket(fileno=int(argv[1]))
    _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    # As PID 1 only signals with a handler arrive from inside the namespace: Python's
    # SIGINT handler is the one to remove.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(KeyError):  # an unknown architecture: the fork tries and says
        landlock.prepare_seccomp(profile="bwrap")  # built once, installed by each fork
    _send(control, {"op": "ready", "problem": fork_problem()})
    current: int | None = None
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(control, MAX_MESSAGE, 3)
        except OSError:
            break
        if not data:
            break  # the grader went away
        try:
            request = json.loads(data)
        except ValueError:
            break
        op = request.get("op") if isinstance(request, dict) else None
        if op == "fork" and current is None and len(fds) == 3:
            current = os.fork()
            if current == 0:
                _serve_fork(fds, request["settings"], control)
            for fd in fds:
                os.close(fd)
            _send(control, {"op": "forked", "pid": current})
        elif op == "end" and current is not None:
            status, clean = end_run(current, float(request.get("grace", 0.0)))
            current = None
            _send(control, {"op": "ended", "status": status, "clean": clean})
        else:
            for fd in fds:
                os.close(fd)
            break
    # PID 1 exiting takes the whole namespace with it.
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv)
