"""``grader doctor``: what isolation this machine gives a submission, and why not more.

Read-only: it probes (a trial bwrap, a trial confined child, a trial cgroup) and reports;
it changes nothing and always exits 0, so it is safe to run on a Gradescope image or in CI
to see what the autograder will get.
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
from dataclasses import dataclass, fields
from pathlib import Path

from grader.sandbox import Limits, landlock
from grader.sandbox.cgroup import cgroup_problem
from grader.sandbox.parent import (
    NOBODY_UID,
    bwrap_problem,
    landlock_problem,
    portable_mode,
    resolve_backend,
)

#: the one command that installs bubblewrap, per package manager found on PATH
INSTALLERS = (
    ("apt-get", "sudo apt-get install bubblewrap"),
    ("dnf", "sudo dnf install bubblewrap"),
    ("yum", "sudo yum install bubblewrap"),
    ("pacman", "sudo pacman -S bubblewrap"),
    ("zypper", "sudo zypper install bubblewrap"),
    ("apk", "sudo apk add bubblewrap"),
)
DESCRIPTIONS = {
    "bwrap": "bubblewrap: namespaces, its own /proc, /tmp and network; the full boundary",
    "landlock": "Landlock + seccomp: no files but the runtime's, no network, scoped signals",
    "none": "a separate process under rlimits only: not a security boundary",
}


def install_bwrap_command() -> str | None:
    """The command that installs bubblewrap here, or None where no known installer exists."""
    if not sys.platform.startswith("linux"):
        return None
    for tool, command in INSTALLERS:
        if shutil.which(tool):
            return command.removeprefix("sudo ") if os.geteuid() == 0 else command
    return None


@dataclass(frozen=True)
class Backend:
    """One backend: whether it runs here, and why not."""

    name: str
    problem: str | None

    @property
    def available(self) -> bool:
        """Whether a submission could run under it on this machine."""
        return self.problem is None


@dataclass(frozen=True)
class Diagnosis:
    """What ``grader doctor`` found."""

    backends: tuple[Backend, ...]
    auto: str  #: what ``--sandbox auto`` picks
    auto_warnings: tuple[str, ...]
    landlock_abi: int
    missing_rules: tuple[str, ...]
    cgroup: str | None  #: why no per-run cgroup, or None where one works
    limits: Limits
    install_bwrap: str | None


def diagnose(limits: Limits | None = None) -> Diagnosis:
    """Probe this machine (no side effect beyond trial runs that clean up after themselves)."""
    abi = landlock.abi_version()
    auto = resolve_backend("auto")
    bwrap = bwrap_problem()
    return Diagnosis(
        backends=(
            Backend("bwrap", bwrap),
            Backend("landlock", landlock_problem()),
            Backend("none", None),
        ),
        auto=auto.backend,
        auto_warnings=auto.warnings,
        landlock_abi=abi,
        missing_rules=tuple(landlock.missing_rules(abi)) if abi else (),
        cgroup=cgroup_problem() if sys.platform.startswith("linux") else "not Linux",
        limits=limits or Limits(),
        install_bwrap=install_bwrap_command() if bwrap and shutil.which("bwrap") is None else None,
    )


def summary_line(found: Diagnosis) -> str:
    """One line for ``make grade``: which backend grades, and how to get bwrap if missing."""
    line = f"sandbox: {found.auto} ({DESCRIPTIONS.get(found.auto, found.auto)})"
    if found.install_bwrap:
        line += f"; for bubblewrap's full isolation run: {found.install_bwrap}"
    elif found.auto != "bwrap" and found.backends[0].problem:
        line += f"; not bwrap: {found.backends[0].problem}"
    return line


def render(found: Diagnosis) -> str:
    """The report, as plain text."""
    lines = [
        f"grader doctor: {platform.system()} {platform.release()} ({platform.machine()}), "
        f"Python {platform.python_version()}",
        "",
        "Backends (strongest first):",
    ]
    for backend in found.backends:
        state = "available" if backend.available else "not available"
        lines.append(f"  {backend.name:<9} {state}: {DESCRIPTIONS[backend.name]}")
        if backend.problem:
            lines.append(f"            why not: {backend.problem}")
    if portable_mode():
        lines.append("  (the portable child: macOS, Windows, or GRADER_PORTABLE=1)")
    lines.append(f"--sandbox auto uses: {found.auto}")
    lines += [f"  warning: {w}" for w in found.auto_warnings]
    if found.install_bwrap:
        lines.append(f"  to install bubblewrap: {found.install_bwrap}")
    lines += ["", "Kernel:"]
    if found.landlock_abi:
        lines.append(f"  Landlock ABI {found.landlock_abi}")
        lines += [f"    not enforced by this ABI: {rule}" for rule in found.missing_rules]
        if not found.missing_rules:
            lines.append("    every rule of the landlock backend applies")
    else:
        lines.append("  Landlock: not available")
    lines.append(
        f"  cgroups: {'a fresh group per run (pids and memory)' if not found.cgroup else 'none'}"
    )
    if found.cgroup:
        lines.append(f"    why not: {found.cgroup}")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        lines.append(f"  running as root: landlock and none run the submission as uid {NOBODY_UID}")
    lines += ["", "Limits in force (an assignment's [limits] table may change them):"]
    for field in fields(found.limits):
        lines.append(f"  {field.name:<16} {getattr(found.limits, field.name)}")
    return "\n".join(lines) + "\n"


def limits_of(assignment: str | None, course_dir: Path | None = None) -> Limits:
    """The limits an assignment grades with (the defaults when none is named)."""
    if assignment is None:
        return Limits()
    from grader.assignments import load_assignment

    return load_assignment(assignment, course_dir).limits
