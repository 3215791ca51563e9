"""`make bench`: what isolation costs: `grader grade` under bwrap and landlock next to none.

The backends that run here are measured in the same run, interleaved (bwrap, landlock, none,
bwrap, ...) so a busy machine slows all alike, on a correct submission and on a wrong one
(which makes every test's diagnosis run). Reports the median wall time of each and its
ratio to none.
`--update-docs` rewrites the "Isolation cost" section of docs/benchmarks.md with the table.
Nothing here is asserted.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GRADER = [sys.executable, "-m", "grader"]
ASSIGNMENT = "leaky_relu_backward"
HOSTILE = REPO / "tests" / "fixtures" / "hostile"
SUBMISSIONS = {
    "correct notebook": REPO / "examples" / "correct.ipynb",
    "wrong script (missing chain rule)": HOSTILE / "baseline_missing_chain_rule.py",
}
DOCS = REPO / "docs" / "benchmarks.md"
SECTION = "## Isolation cost"


def grade_once(submission: Path, backend: str, out: Path) -> float:
    """Wall seconds of one `grader grade` process, start to exit."""
    command = [*GRADER, "grade", str(submission), "--assignment", ASSIGNMENT]
    command += ["--sandbox", backend, "--out", str(out)]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, cwd=REPO)
    return time.perf_counter() - started


Row = tuple[str, dict[str, float]]  # submission, median seconds per backend


def available_backends() -> list[str]:
    """bwrap and landlock where they run here, then none."""
    from grader.sandbox.parent import bwrap_problem, landlock_problem

    found = [
        name
        for name, problem in (("bwrap", bwrap_problem()), ("landlock", landlock_problem()))
        if problem is None
    ]
    return [*found, "none"]


def measure(runs: int, backends: list[str]) -> list[Row]:
    """(submission, median seconds per backend) per submission."""
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "results.json"
        for label, submission in SUBMISSIONS.items():
            grade_once(submission, backends[0], out)  # warm the page cache for all
            times: dict[str, list[float]] = {name: [] for name in backends}
            for _ in range(runs):
                for backend in backends:
                    times[backend].append(grade_once(submission, backend, out))
            rows.append((label, {k: statistics.median(v) for k, v in times.items()}))
    return rows


def measure_in_process(runs: int, backends: list[str]) -> list[Row]:
    """The same, through ``grader.api.grade_submission``: no interpreter start-up or imports."""
    from grader.api import grade_submission, prepare_assignment
    from grader.sandbox.parent import resolve_backend
    from grader.submission import read_submission

    prepared = prepare_assignment(ASSIGNMENT)
    infos = {name: resolve_backend(name) for name in backends}
    rows = []
    for label, path in SUBMISSIONS.items():
        submission = read_submission(path)
        times: dict[str, list[float]] = {name: [] for name in backends}
        for _ in range(runs):
            for name, info in infos.items():
                started = time.perf_counter()
                grade_submission(prepared, submission, sandbox=info)
                times[name].append(time.perf_counter() - started)
        rows.append((f"{label}, in-process", {k: statistics.median(v) for k, v in times.items()}))
    return rows


def render(rows: list[Row], runs: int) -> str:
    backends = list(rows[0][1]) if rows else ["none"]
    isolating = [b for b in backends if b != "none"]
    lines = [
        SECTION,
        "",
        f"`python benchmarks/isolation.py --runs {runs}`: median wall time of one "
        "`grader grade` process (start to exit, interpreter start-up included), and of one "
        "in-process `grader.api.grade_submission` call (the sandbox's own cost stands out "
        "there), the backends interleaved in the same run. "
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Linux {platform.release()}, "
        f"Python {platform.python_version()}, uid {os.getuid()}, load average "
        f"{os.getloadavg()[0]:.1f} at the end (other work on the machine shows up as noise: "
        "compare the columns of one run, not runs of different days).",
        "",
        "| submission | "
        + " | ".join(b if b != "none" else "--sandbox none" for b in backends)
        + "".join(f" | {b} / none" for b in isolating)
        + " |",
        "|---|" + "---:|" * (len(backends) + len(isolating)),
    ]
    for label, medians in rows:
        cells = [f"{medians[b]:.3f} s" for b in backends]
        cells += [f"{medians[b] / medians['none']:.2f}" for b in isolating]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def update_docs(section: str) -> None:
    """Replace (or append) the Isolation cost section; other sections stay as they are."""
    text = DOCS.read_text() if DOCS.exists() else "# Benchmarks\n"
    start = text.find(SECTION)
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + len(SECTION))
        rest = text[end + 1 :] if end >= 0 else ""
        text = text[:start] + section + ("\n" + rest if rest else "")
    DOCS.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs per backend (default 7)")
    parser.add_argument("--update-docs", action="store_true", help="rewrite docs/benchmarks.md")
    args = parser.parse_args()
    backends = available_backends()
    if backends == ["none"]:
        print("isolation benchmark skipped: neither bwrap nor landlock runs here")
        return
    section = render(
        measure(args.runs, backends) + measure_in_process(args.runs, backends), args.runs
    )
    print(section)
    if args.update_docs:
        update_docs(section)


if __name__ == "__main__":
    main()
