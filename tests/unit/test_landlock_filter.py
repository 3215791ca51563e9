"""The seccomp filter of the landlock backend, run on a small BPF interpreter.

The program is data (``landlock.seccomp_program``), so every architecture it is written for
is checked here, not only the one the tests run on: each denied syscall gets EPERM, clone
only without namespace flags, socket only for AF_UNIX streams, the wrong architecture is
killed, and x32 numbers are refused.
"""

from __future__ import annotations

import errno
import socket
import struct

import pytest

from grader.sandbox import landlock

ALLOW = landlock.SECCOMP_RET_ALLOW
KILL = landlock.SECCOMP_RET_KILL_PROCESS


def run_filter(
    program: list[tuple[int, int, int, int]], arch: int, nr: int, args: tuple[int, ...] = ()
) -> int:
    """Evaluate a classic-BPF seccomp program on one seccomp_data (little-endian)."""
    values = [*args, *([0] * (6 - len(args)))]
    data = struct.pack("<iIQ6Q", nr, arch, 0, *values)
    acc = 0
    pc = 0
    for _ in range(10_000):
        code, jt, jf, k = program[pc]
        pc += 1
        if code == landlock.BPF_LD_W_ABS:
            acc = struct.unpack_from("<I", data, k)[0]
        elif code == landlock.BPF_AND_K:
            acc &= k
        elif code == landlock.BPF_RET_K:
            return k
        elif code in (landlock.BPF_JEQ_K, landlock.BPF_JGE_K, landlock.BPF_JSET_K):
            taken = {
                landlock.BPF_JEQ_K: acc == k,
                landlock.BPF_JGE_K: acc >= k,
                landlock.BPF_JSET_K: bool(acc & k),
            }[code]
            pc += jt if taken else jf
        else:
            raise AssertionError(f"unknown BPF instruction {code:#x}")
    raise AssertionError("the program did not return")


@pytest.fixture(params=sorted(landlock.ARCHITECTURES))
def machine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_every_denied_syscall_gets_eperm_and_others_pass(machine: str) -> None:
    arch, numbers = landlock.ARCHITECTURES[machine]
    program = landlock.seccomp_program(machine)
    eperm = landlock.SECCOMP_RET_ERRNO | errno.EPERM
    for name in ("ptrace", "keyctl", "bpf", "mount", "unshare", "setns", "process_vm_readv"):
        assert run_filter(program, arch, numbers[name]) == eperm, name
    denied = [n for n in numbers if n not in {"clone", "clone3", "socket"}]
    assert all(run_filter(program, arch, numbers[n]) == eperm for n in denied)
    allowed = set(range(0, 460)) - set(numbers.values())
    assert all(run_filter(program, arch, nr) == ALLOW for nr in allowed)


def test_clone3_is_enosys_and_clone_refuses_namespaces(machine: str) -> None:
    arch, numbers = landlock.ARCHITECTURES[machine]
    program = landlock.seccomp_program(machine)
    assert run_filter(program, arch, numbers["clone3"]) == landlock.SECCOMP_RET_ERRNO | 38
    fork_flags = 0x01200011  # what glibc's fork passes: CHILD_SETTID|CHILD_CLEARTID|SIGCHLD
    thread_flags = 0x003D0F00  # pthread_create's
    assert run_filter(program, arch, numbers["clone"], (fork_flags,)) == ALLOW
    assert run_filter(program, arch, numbers["clone"], (thread_flags,)) == ALLOW
    for flag in (0x10000000, 0x40000000, 0x00020000, 0x20000000):
        got = run_filter(program, arch, numbers["clone"], (fork_flags | flag,))
        assert got == landlock.SECCOMP_RET_ERRNO | errno.EPERM, hex(flag)


def test_socket_only_for_unix_streams(machine: str) -> None:
    arch, numbers = landlock.ARCHITECTURES[machine]
    program = landlock.seccomp_program(machine)
    nr = numbers["socket"]
    cloexec = 0o2000000
    assert run_filter(program, arch, nr, (socket.AF_UNIX, socket.SOCK_STREAM)) == ALLOW
    assert run_filter(program, arch, nr, (socket.AF_UNIX, socket.SOCK_STREAM | cloexec)) == ALLOW
    eperm = landlock.SECCOMP_RET_ERRNO | errno.EPERM
    for family, kind in (
        (socket.AF_INET, socket.SOCK_STREAM),
        (socket.AF_INET6, socket.SOCK_STREAM),
        (socket.AF_INET, socket.SOCK_DGRAM),
        (socket.AF_NETLINK, socket.SOCK_RAW),
        (socket.AF_UNIX, socket.SOCK_DGRAM),
        (socket.AF_PACKET, socket.SOCK_RAW),
    ):
        assert run_filter(program, arch, nr, (family, kind)) == eperm, (family, kind)


def test_a_foreign_architecture_is_killed(machine: str) -> None:
    _, numbers = landlock.ARCHITECTURES[machine]
    program = landlock.seccomp_program(machine)
    other = next(a for m, (a, _) in landlock.ARCHITECTURES.items() if m != machine)
    assert run_filter(program, other, 0) == KILL
    assert run_filter(program, 0x40000003, numbers["ptrace"]) == KILL  # i386


def test_x32_numbers_are_refused_on_x86_64() -> None:
    arch, numbers = landlock.ARCHITECTURES["x86_64"]
    program = landlock.seccomp_program("x86_64")
    x32_ptrace = landlock.X32_SYSCALL_BIT | 521
    assert run_filter(program, arch, x32_ptrace) == landlock.SECCOMP_RET_ERRNO | errno.ENOSYS
    assert run_filter(program, arch, numbers["ptrace"]) != ALLOW


def test_jumps_stay_inside_the_program(machine: str) -> None:
    program = landlock.seccomp_program(machine)
    assert len(program) < 4096  # BPF_MAXINSNS
    for index, (code, jt, jf, _) in enumerate(program):
        if code in (landlock.BPF_JEQ_K, landlock.BPF_JGE_K, landlock.BPF_JSET_K):
            assert index + 1 + max(jt, jf) < len(program)
    assert program[-1] == (landlock.BPF_RET_K, 0, 0, ALLOW)


def test_missing_rules_name_what_an_older_abi_cannot_do() -> None:
    assert landlock.missing_rules(7) == []
    assert landlock.missing_rules(6) == []
    five = landlock.missing_rules(5)
    assert len(five) == 1
    assert "signals are not scoped" in five[0]
    three = " ".join(landlock.missing_rules(3))
    assert "TCP bind and connect" in three
    assert "seccomp filter alone" in three
    assert len(landlock.missing_rules(1)) == 4


def test_the_bwrap_profile_denies_the_kernel_surface_only(machine: str) -> None:
    arch, numbers = landlock.ARCHITECTURES[machine]
    program = landlock.seccomp_program(machine, "bwrap")
    eperm = landlock.SECCOMP_RET_ERRNO | errno.EPERM
    for name in ("ptrace", "process_vm_readv", "bpf", "io_uring_setup", "unshare", "mount"):
        assert run_filter(program, arch, numbers[name]) == eperm, name
    # Namespaced under bwrap: left to the namespaces.
    for name in ("keyctl", "shmget", "msgget", "mq_open", "connect"):
        assert run_filter(program, arch, numbers[name]) == ALLOW, name
    assert run_filter(program, arch, numbers["socket"], (socket.AF_INET, 1)) == ALLOW
    assert run_filter(program, arch, numbers["clone"], (0x01200011 | 0x10000000,)) == eperm
    assert run_filter(program, arch, numbers["clone3"]) == landlock.SECCOMP_RET_ERRNO | 38


def test_an_unknown_profile_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown seccomp profile"):
        landlock.seccomp_program("x86_64", "strict")
