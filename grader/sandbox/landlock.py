"""Landlock and seccomp through ctypes: the child of the ``landlock`` backend restricts itself.

No root, setuid helper or user namespace is needed: an unprivileged process that has set
``no_new_privs`` may confine itself, and everything it starts afterwards, for good.

- **Landlock** (kernel 5.13+): files are reachable only beneath the folders the trusted side
  lists (read: the system runtime, the interpreter, numpy, the child's own sources; write:
  the run's working folder), plus a few devices and the child's own ``/proc/<pid>``. From
  ABI 4 no TCP bind or connect; from ABI 6 no signal to a process outside the sandbox (the
  supervisor, the grader) and no connection to an abstract Unix socket outside it.
  Landlock binds root too, whatever its capabilities.
- **seccomp** (a BPF filter assembled here, no libseccomp): no socket but ``AF_UNIX`` stream
  sockets (``socketpair`` is free), no ``connect`` at all (pathname Unix sockets, e.g. a
  session D-Bus, are not covered by Landlock), no ``ptrace``, ``process_vm_*``, keyrings,
  ``bpf``, mounts, namespaces (``unshare``, ``setns``, ``clone`` with ``CLONE_NEW*``;
  ``clone3`` reports ENOSYS so libc falls back to ``clone``), io_uring (its operations
  bypass seccomp), System V IPC and POSIX message queues (not namespaced: they would outlive
  the run), file handles, ``perf_event_open``, ``userfaultfd`` and module or kexec loading.

A kernel with an older Landlock ABI gets what it can enforce; ``missing_rules`` says, in
words for ``extra_data.warnings``, which rules it could not apply.

This module runs inside the sandbox, copied next to ``child.py``: it imports the standard
library only (a structural test enforces this). The trusted side imports it too, to probe
the kernel (``problem``, ``abi_version``) and to describe it (``grader doctor``).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import os
import socket
import stat
import sys
from collections.abc import Iterable, Sequence
from typing import Any

# The three Landlock syscalls have the same numbers on every architecture.
SYS_LANDLOCK_CREATE_RULESET = 444
SYS_LANDLOCK_ADD_RULE = 445
SYS_LANDLOCK_RESTRICT_SELF = 446
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH = 1

FS_EXECUTE = 1 << 0
FS_WRITE_FILE = 1 << 1
FS_READ_FILE = 1 << 2
FS_READ_DIR = 1 << 3
FS_REMOVE_DIR = 1 << 4
FS_REMOVE_FILE = 1 << 5
FS_MAKE_CHAR = 1 << 6
FS_MAKE_DIR = 1 << 7
FS_MAKE_REG = 1 << 8
FS_MAKE_SOCK = 1 << 9
FS_MAKE_FIFO = 1 << 10
FS_MAKE_BLOCK = 1 << 11
FS_MAKE_SYM = 1 << 12
FS_REFER = 1 << 13  # ABI 2
FS_TRUNCATE = 1 << 14  # ABI 3
FS_IOCTL_DEV = 1 << 15  # ABI 5
NET_BIND_TCP = 1 << 0  # ABI 4
NET_CONNECT_TCP = 1 << 1  # ABI 4
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
SCOPE_SIGNAL = 1 << 1  # ABI 6

#: every file-system right each ABI knows (a ruleset handles all of them: denied by default)
FS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1}
FS_LATEST = (1 << 16) - 1
#: rights that make sense on a file (the rest are about directories)
FILE_RIGHTS = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV
READ = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR
WRITE = (
    READ
    | FS_WRITE_FILE
    | FS_REMOVE_DIR
    | FS_REMOVE_FILE
    | FS_MAKE_DIR
    | FS_MAKE_REG
    | FS_MAKE_FIFO
    | FS_MAKE_SYM
    | FS_REFER
    | FS_TRUNCATE
)
DEVICE = FS_READ_FILE | FS_WRITE_FILE | FS_IOCTL_DEV
#: devices an honest program opens (Python's subprocess, numpy's random seeding)
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_ALLOW = 0x7FFF0000
BPF_LD_W_ABS = 0x20
BPF_JEQ_K = 0x15
BPF_JGE_K = 0x35
BPF_JSET_K = 0x45
BPF_AND_K = 0x54
BPF_RET_K = 0x06
SOCK_TYPE_MASK = 0xF
# clone(2) flags that create namespaces (CLONE_NEWTIME shares its bit with the exit signal
# in clone(2), and only unshare/clone3 accept it: both are denied outright).
CLONE_NEW_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000
CLONE_NEW_FLAGS |= 0x20000000 | 0x40000000
X32_SYSCALL_BIT = 0x40000000

# seccomp_data: int nr; u32 arch; u64 instruction_pointer; u64 args[6] (little-endian).
_NR, _ARCH, _ARG0_LOW, _ARG1_LOW = 0, 4, 16, 24

#: syscalls each machine's table names that the filter inspects instead of denying outright
_INSPECTED = frozenset({"clone", "clone3", "socket"})
#: the ``bwrap`` profile (defence in depth inside bwrap's namespaces): the kernel interfaces
#: most often attacked, which no submission needs. Sockets, keys and IPC stay: they are
#: namespaced there, and die with the run.
KERNEL_SURFACE = frozenset(
    {
        *("ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd"),
        *("process_madvise", "bpf", "perf_event_open", "userfaultfd", "mount", "umount2"),
        *("pivot_root", "chroot", "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount"),
        *("fspick", "mount_setattr", "unshare", "setns", "io_uring_setup", "io_uring_enter"),
        *("io_uring_register", "kexec_load", "kexec_file_load", "init_module", "finit_module"),
        *("delete_module", "swapon", "swapoff", "reboot", "open_by_handle_at"),
        "name_to_handle_at",
    }
)
PROFILES = ("landlock", "bwrap")
#: syscall numbers per machine: every one not in ``_INSPECTED`` is denied with EPERM
_X86_64 = {
    "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312,
    "pidfd_getfd": 438, "process_madvise": 440, "keyctl": 250, "add_key": 248,
    "request_key": 249, "bpf": 321, "perf_event_open": 298, "userfaultfd": 323, "mount": 165,
    "umount2": 166, "pivot_root": 155, "chroot": 161, "open_tree": 428, "move_mount": 429,
    "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "mount_setattr": 442,
    "unshare": 272, "setns": 308, "io_uring_setup": 425, "io_uring_enter": 426,
    "io_uring_register": 427, "kexec_load": 246, "kexec_file_load": 320, "init_module": 175,
    "finit_module": 313, "delete_module": 176, "swapon": 167, "swapoff": 168, "reboot": 169,
    "open_by_handle_at": 304, "name_to_handle_at": 303, "connect": 42, "shmget": 29,
    "shmat": 30, "shmctl": 31, "semget": 64, "semop": 65, "semctl": 66, "semtimedop": 220,
    "msgget": 68, "msgsnd": 69, "msgrcv": 70, "msgctl": 71, "mq_open": 240, "mq_unlink": 241,
    "mq_timedsend": 242, "mq_timedreceive": 243, "mq_notify": 244, "mq_getsetattr": 245,
    "clone": 56, "clone3": 435, "socket": 41,
}  # fmt: skip
_AARCH64 = {
    "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "kcmp": 272,
    "pidfd_getfd": 438, "process_madvise": 440, "keyctl": 219, "add_key": 217,
    "request_key": 218, "bpf": 280, "perf_event_open": 241, "userfaultfd": 282, "mount": 40,
    "umount2": 39, "pivot_root": 41, "chroot": 51, "open_tree": 428, "move_mount": 429,
    "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "mount_setattr": 442,
    "unshare": 97, "setns": 268, "io_uring_setup": 425, "io_uring_enter": 426,
    "io_uring_register": 427, "kexec_load": 104, "kexec_file_load": 294, "init_module": 105,
    "finit_module": 273, "delete_module": 106, "swapon": 224, "swapoff": 225, "reboot": 142,
    "open_by_handle_at": 265, "name_to_handle_at": 264, "connect": 203, "shmget": 194,
    "shmat": 196, "shmctl": 195, "semget": 190, "semop": 193, "semctl": 191, "semtimedop": 192,
    "msgget": 186, "msgsnd": 189, "msgrcv": 188, "msgctl": 187, "mq_open": 180,
    "mq_unlink": 181, "mq_timedsend": 182, "mq_timedreceive": 183, "mq_notify": 184,
    "mq_getsetattr": 185, "clone": 220, "clone3": 435, "socket": 198,
}  # fmt: skip
ARCHITECTURES = {"x86_64": (0xC000003E, _X86_64), "aarch64": (0xC00000B7, _AARCH64)}

#: what an older ABI cannot enforce, for ``extra_data.warnings`` (the newest ABI first)
_MISSING = (
    (
        6,
        "signals are not scoped to the submission (Landlock ABI 6): it may signal this "
        "user's other processes, the sandbox's supervisor included",
    ),
    (
        5,
        "ioctl on devices is not restricted (Landlock ABI 5); only /dev/null, zero, full, "
        "random and urandom can be opened",
    ),
    (
        4,
        "TCP bind and connect are not restricted by Landlock (ABI 4): the network is cut by "
        "the seccomp filter alone (no socket but AF_UNIX, no connect)",
    ),
    (
        3,
        "truncating files is not restricted (Landlock ABI 3): truncate(2) on a file outside "
        "the run's folder that this user may write would succeed",
    ),
)


class _RulesetAttr(ctypes.Structure):
    _fields_ = (
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    )


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1  # the kernel's struct is packed: 12 bytes
    _fields_ = (("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32))


class _SockFilter(ctypes.Structure):
    _fields_ = (
        ("code", ctypes.c_uint16),
        ("jt", ctypes.c_uint8),
        ("jf", ctypes.c_uint8),
        ("k", ctypes.c_uint32),
    )


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter)))


@functools.cache
def _libc() -> Any:
    return ctypes.CDLL(None, use_errno=True)


def abi_version() -> int:
    """The kernel's Landlock ABI (1, 2, ...), or 0 where Landlock is missing or disabled."""
    if not sys.platform.startswith("linux"):
        return 0
    version = int(
        _libc().syscall(
            ctypes.c_long(SYS_LANDLOCK_CREATE_RULESET),
            None,
            ctypes.c_size_t(0),
            ctypes.c_uint32(LANDLOCK_CREATE_RULESET_VERSION),
        )
    )
    return max(version, 0)


def problem() -> str | None:
    """Why this machine cannot run the ``landlock`` backend, or None (no side effects)."""
    if not sys.platform.startswith("linux"):
        return f"Landlock is a Linux feature (this is {sys.platform})"
    machine = os.uname().machine
    if machine not in ARCHITECTURES:
        return f"no seccomp filter is written for this architecture ({machine})"
    if abi_version() < 1:
        return (
            "the kernel has no Landlock (Linux 5.13+ built with CONFIG_SECURITY_LANDLOCK, "
            "and 'landlock' in the lsm= boot parameter)"
        )
    return None


def seccomp_problem() -> str | None:
    """Why no seccomp filter is written for this machine, or None (no side effects)."""
    if not sys.platform.startswith("linux"):
        return f"seccomp is a Linux feature (this is {sys.platform})"
    machine = os.uname().machine
    if machine not in ARCHITECTURES:
        return f"no seccomp filter is written for this architecture ({machine})"
    return None


def missing_rules(abi: int) -> list[str]:
    """What a kernel with this ABI cannot enforce, one sentence each (none for the newest)."""
    return [text for needed, text in _MISSING if abi < needed]


# --- Landlock ----------------------------------------------------------------------------


def _check(result: int, what: str) -> int:
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")
    return result


def _add_path(libc: Any, ruleset: int, path: str, access: int, handled: int) -> None:
    """Allow ``access`` beneath ``path``; a path that does not exist is skipped."""
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            access &= FILE_RIGHTS
        attr = _PathBeneathAttr(access & handled, fd)
        _check(
            libc.syscall(
                ctypes.c_long(SYS_LANDLOCK_ADD_RULE),
                ctypes.c_int(ruleset),
                ctypes.c_int(LANDLOCK_RULE_PATH_BENEATH),
                ctypes.byref(attr),
                ctypes.c_uint32(0),
            ),
            f"landlock_add_rule({path})",
        )
    finally:
        os.close(fd)


def apply_landlock(
    read: Iterable[str], write: Iterable[str], abi: int, *, own_proc: bool = True
) -> None:
    """Confine this thread (and all it starts) to the listed folders; no TCP, scoped signals.

    Needs ``no_new_privs`` (or CAP_SYS_ADMIN). Raises OSError where the kernel refuses.
    """
    libc = _libc()
    handled_fs = FS_BY_ABI.get(abi, FS_LATEST)
    attr = _RulesetAttr(handled_fs, 0, 0)
    if abi >= 4:
        attr.handled_access_net = NET_BIND_TCP | NET_CONNECT_TCP  # no rule: no port allowed
    if abi >= 6:
        attr.scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL
    ruleset = _check(
        libc.syscall(
            ctypes.c_long(SYS_LANDLOCK_CREATE_RULESET),
            ctypes.byref(attr),
            ctypes.c_size_t(ctypes.sizeof(attr)),
            ctypes.c_uint32(0),
        ),
        "landlock_create_ruleset",
    )
    try:
        for path in read:
            _add_path(libc, ruleset, path, READ, handled_fs)
        for path in write:
            _add_path(libc, ruleset, path, WRITE, handled_fs)
        for path in DEVICES:
            _add_path(libc, ruleset, path, DEVICE, handled_fs)
        if own_proc:
            # /proc/self resolves now, to this process: its own counters (the time limits
            # read them), never another process's files.
            _add_path(libc, ruleset, "/proc/self", FS_READ_FILE | FS_READ_DIR, handled_fs)
        _check(
            libc.syscall(
                ctypes.c_long(SYS_LANDLOCK_RESTRICT_SELF), ctypes.c_int(ruleset), ctypes.c_uint32(0)
            ),
            "landlock_restrict_self",
        )
    finally:
        os.close(ruleset)


# --- seccomp -----------------------------------------------------------------------------


def _errno(code: int) -> int:
    return SECCOMP_RET_ERRNO | code


def seccomp_program(machine: str, profile: str = "landlock") -> list[tuple[int, int, int, int]]:
    """The filter as (code, jt, jf, k) instructions for ``machine`` (KeyError if unknown).

    Layout: a foreign architecture is killed; then one compare-and-return per denied
    syscall; ``clone`` (and, for the ``landlock`` profile, ``socket``) inspects its first
    arguments; everything else passes. The ``bwrap`` profile denies ``KERNEL_SURFACE`` only.
    """
    audit_arch, numbers = ARCHITECTURES[machine]
    if profile not in PROFILES:
        raise ValueError(f"unknown seccomp profile {profile!r}")
    denied = KERNEL_SURFACE if profile == "bwrap" else set(numbers) - _INSPECTED
    deny = sorted(numbers[name] for name in denied)
    program: list[tuple[int, int, int, int]] = [
        (BPF_LD_W_ABS, 0, 0, _ARCH),
        (BPF_JEQ_K, 1, 0, audit_arch),
        (BPF_RET_K, 0, 0, SECCOMP_RET_KILL_PROCESS),
        (BPF_LD_W_ABS, 0, 0, _NR),
    ]
    if machine == "x86_64":
        # The x32 ABI reaches the same kernel through other numbers: refuse it whole.
        program += [(BPF_JGE_K, 0, 1, X32_SYSCALL_BIT), (BPF_RET_K, 0, 0, _errno(errno.ENOSYS))]
    for number in deny:
        program += [(BPF_JEQ_K, 0, 1, number), (BPF_RET_K, 0, 0, _errno(errno.EPERM))]
    # clone3 passes its flags in memory, out of a filter's reach: ENOSYS makes libc use clone.
    program += [(BPF_JEQ_K, 0, 1, numbers["clone3"]), (BPF_RET_K, 0, 0, _errno(errno.ENOSYS))]
    program += [
        (BPF_JEQ_K, 0, 4, numbers["clone"]),
        (BPF_LD_W_ABS, 0, 0, _ARG0_LOW),
        (BPF_JSET_K, 0, 1, CLONE_NEW_FLAGS),
        (BPF_RET_K, 0, 0, _errno(errno.EPERM)),
        (BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
    ]
    if profile == "bwrap":
        program.append((BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW))
        return program
    program += [
        (BPF_JEQ_K, 0, 7, numbers["socket"]),
        (BPF_LD_W_ABS, 0, 0, _ARG0_LOW),
        (BPF_JEQ_K, 0, 3, socket.AF_UNIX),
        (BPF_LD_W_ABS, 0, 0, _ARG1_LOW),
        (BPF_AND_K, 0, 0, SOCK_TYPE_MASK),
        (BPF_JEQ_K, 1, 0, socket.SOCK_STREAM),
        (BPF_RET_K, 0, 0, _errno(errno.EPERM)),
        (BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
    ]
    program.append((BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW))
    return program


# Built filters by (machine, profile). A zygote builds its filter once, before it forks:
# building one in each fresh fork (a ctypes array type, page faults on every touch) cost
# ~1.5 ms of every run, more than installing it.
_PREPARED: dict[tuple[str, str], _SockFprog] = {}


def prepare_seccomp(machine: str | None = None, profile: str = "landlock") -> _SockFprog:
    """The filter for ``machine`` as the kernel takes it, built once (KeyError if unknown)."""
    key = (machine or os.uname().machine, profile)
    if key not in _PREPARED:
        program = seccomp_program(*key)
        filters = (_SockFilter * len(program))(*(_SockFilter(*ins) for ins in program))
        _PREPARED[key] = _SockFprog(len(program), filters)  # holds ``filters`` alive
    return _PREPARED[key]


def apply_seccomp(machine: str | None = None, profile: str = "landlock") -> None:
    """Install the filter on this thread (inherited by all it starts). Needs no_new_privs."""
    prog = prepare_seccomp(machine, profile)
    _check(
        _libc().prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0),
        "installing the seccomp filter",
    )


def restrict(policy: dict[str, Any], layers: Sequence[str] = ("landlock", "seccomp")) -> None:
    """Apply the trusted side's ``policy`` ({"read": [...], "write": [...], "abi": N,
    "profile": the seccomp profile, ``landlock`` by default}).

    Sets ``no_new_privs`` first (both layers need it). Raises OSError when a layer cannot
    be applied: the caller must then not run the submission.
    """
    _check(_libc().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "setting no_new_privs")
    if "landlock" in layers:
        apply_landlock(
            [str(p) for p in policy.get("read", [])],
            [str(p) for p in policy.get("write", [])],
            int(policy.get("abi") or abi_version()),
        )
    if "seccomp" in layers:
        apply_seccomp(profile=str(policy.get("profile", "landlock")))


def _probe() -> int:
    """Confine this process as a submission would be, then check a TCP socket is refused."""
    try:
        restrict({"read": [], "write": []})
    except OSError as exc:
        print(exc, file=sys.stderr)
        return 1
    try:
        socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()
    except PermissionError:
        return 0
    print("the filter let a TCP socket through", file=sys.stderr)
    return 1


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        raise SystemExit(_probe() if sys.argv[1:] == ["--probe"] else 2)
