"""`make bench`: how fast `grader batch` grades a class, next to baselines measured in the same run.

Reports, for a synthetic class (benchmarks/classgen.py):
  - submissions/s of `grader batch` (median of --runs runs, every run with --force),
  - the median wall time of one `grader grade` of a correct notebook,
  - the peak memory of the batch's whole process tree (sum of PSS, sampled every 0.1 s),
and the same figures for two baselines run with the same number of parallel jobs:
  (a) one bare `python -c "import numpy"` process per submission (on up to 200 of them,
      extrapolated to the class),
  (b) what an instructor would script by hand: `jupyter nbconvert --to script` then
      `pytest` on the hidden tests with `--solution`, per submission (on a --subset of the
      class without its hanging submissions, extrapolated; no isolation at all, and a 120 s
      `timeout` per submission).
Also one batch run of the class without its hanging few, and one of the class whose hangs
sleep instead of spinning (a hang's time, without its CPU).
Then the whole course notebook (deep_nn_step_by_step, ten graded functions): one `grader grade`
of a correct notebook, and a batch of --deep-nn notebooks (default 200, mostly correct).
`--scale 100,500,2000` adds one batch run per class size. Nothing here is asserted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from classgen import DEEP_NN_FIXTURES, write_class, write_deep_nn_class

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ASSIGNMENT = "leaky_relu_backward"
GRADER = [str(BIN / "grader")]


# --- memory of a process tree -----------------------------------------------------------------


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def _pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def tree_pss_mib(root: int) -> float:
    """Proportional set size of ``root`` and all its descendants (shared pages split fairly)."""
    children = _children_map()
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += _pss_kib(pid)
        stack.extend(children.get(pid, []))
    return total / 1024


def run_measured(command: Sequence[str], **kwargs: object) -> tuple[float, float, int]:
    """(wall seconds, peak tree PSS in MiB, exit code) of one command."""
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, **kwargs)  # type: ignore[call-overload]
    peak = 0.0
    while process.poll() is None:
        peak = max(peak, tree_pss_mib(process.pid))
        time.sleep(0.1)
    return time.monotonic() - started, peak, process.returncode


# --- the measurements -------------------------------------------------------------------------


def batch_run(
    folder: Path, out: Path, jobs: int, assignment: str = ASSIGNMENT, sandbox: str = "auto"
) -> tuple[float, float]:
    command = [*GRADER, "batch", str(folder), "--out", str(out), "--assignment", assignment]
    command += ["--sandbox", sandbox]
    wall, peak, code = run_measured([*command, "--jobs", str(jobs), "--force"])
    if code != 0:
        raise SystemExit(f"grader batch failed with exit code {code}")
    return wall, peak


def single_grade(
    notebook: Path, out: Path, runs: int, assignment: str = ASSIGNMENT, sandbox: str = "auto"
) -> float:
    walls = []
    for _ in range(runs):
        command = [*GRADER, "grade", str(notebook), "--assignment", assignment, "--out", str(out)]
        walls.append(run_measured([*command, "--sandbox", sandbox])[0])
    return statistics.median(walls)


def parallel_wall(tasks: Sequence[Callable[[], object]], jobs: int) -> tuple[float, float]:
    """(wall seconds, peak tree PSS of this process in MiB) for running ``tasks`` on ``jobs``."""
    peak = [0.0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], tree_pss_mib(os.getpid()))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.monotonic()
    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(lambda task: task(), tasks))
    wall = time.monotonic() - started
    done.set()
    sampler.join()
    return wall, peak[0]


def bare_numpy(count: int, jobs: int) -> tuple[float, float]:
    command = [sys.executable, "-c", "import numpy"]
    task = lambda: subprocess.run(command, check=True)  # noqa: E731
    return parallel_wall([task] * count, jobs)


def by_hand(files: Sequence[Path], scratch: Path, jobs: int) -> tuple[float, float]:
    """nbconvert --to script, then pytest test_hidden.py --solution, per submission."""
    tests = REPO / "assignments" / ASSIGNMENT / "test_hidden.py"

    def grade(path: Path) -> None:
        folder = scratch / path.stem
        folder.mkdir()
        script = folder / f"{path.stem}.py"
        if path.suffix == ".ipynb":
            convert = [str(BIN / "jupyter"), "nbconvert", "--to", "script", str(path)]
            subprocess.run(
                [*convert, "--output-dir", str(folder)], capture_output=True, check=False
            )
        else:
            shutil.copy(path, script)
        pytest = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tests)]
        subprocess.run(
            ["timeout", "120", *pytest, "--solution", str(script)],
            capture_output=True,
            check=False,
            cwd=folder,
        )

    return parallel_wall([lambda p=p: grade(p) for p in files], jobs)


# --- the report -------------------------------------------------------------------------------


def backends_table(
    names: str, correct: Path, calm: Path, count: int, root: Path, jobs: int
) -> None:
    """One `grader grade` (median of 5) and one batch of the class without its hangs, per
    backend that runs here: what each isolation costs."""
    rows = []
    for name in [n.strip() for n in names.split(",") if n.strip()]:
        probe = subprocess.run(
            [*GRADER, "grade", str(correct), "--assignment", ASSIGNMENT, "--sandbox", name],
            capture_output=True,
            check=False,
        )
        if probe.returncode != 0:
            rows.append(f"| {name} | not available here | |")
            continue
        grade_wall = single_grade(correct, root / f"one-{name}.json", 5, sandbox=name)
        wall, _ = batch_run(calm, root / f"out-{name}", jobs, sandbox=name)
        rows.append(f"| {name} | {grade_wall:.3f} s | {count / wall:.2f}/s ({wall:.1f} s) |")
    if rows:
        print()
        print(f"| backend | one `grader grade`, median wall | batch of {count} (no hangs) |")
        print("|---|---:|---:|")
        print("\n".join(rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=500, help="class size (default 500)")
    parser.add_argument("--runs", type=int, default=3, help="batch runs; the median counts")
    parser.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--subset", type=int, default=20, help="submissions for baseline (b)")
    parser.add_argument("--scale", default="", help="extra class sizes, e.g. 100,500,2000")
    parser.add_argument("--deep-nn", type=int, default=200, help="course notebooks (0: skip)")
    parser.add_argument(
        "--backends",
        default="bwrap,landlock,none",
        help="sandbox backends whose cost is compared at the end (empty: none)",
    )
    args = parser.parse_args()
    jobs = args.jobs
    with tempfile.TemporaryDirectory(prefix="grader-bench-") as temp:
        root = Path(temp)
        folder = root / "class"
        made = write_class(folder, args.size)
        files = sorted(folder.iterdir())
        print(f"class: {args.size} submissions ({_mix(made)}); {jobs} jobs; {os.cpu_count()} cores")
        print(f"load average at the start: {_load()}")

        correct = next(p for p in files if "_correct_where" in p.name)
        grade_wall = single_grade(correct, root / "one.json", 5)
        print(f"single grade: median {grade_wall:.3f} s wall (5 runs)")

        walls, peaks = [], []
        for run in range(args.runs):
            wall, peak = batch_run(folder, root / "out", jobs)
            walls.append(wall)
            peaks.append(peak)
            print(
                f"batch run {run + 1}: {wall:.1f} s, {args.size / wall:.2f}/s, peak {peak:.0f} MiB"
            )
        batch_wall = statistics.median(walls)

        # The same class without its hanging few: what the busy loops cost the rest.
        calm_folder = root / "calm"
        calm_folder.mkdir()
        for path in files:
            if "_hang_" not in path.name:
                shutil.copy(path, calm_folder / path.name)
        calm_count = len(list(calm_folder.iterdir()))
        calm_wall, calm_peak = batch_run(calm_folder, root / "out-calm", jobs)
        print(
            f"batch without the {args.size - calm_count} hanging: {calm_wall:.1f} s, "
            f"{calm_count / calm_wall:.2f}/s, peak {calm_peak:.0f} MiB"
        )

        # The same class whose hanging few wait (sleep) instead of spinning: what the hangs'
        # time costs once their CPU does not (limits count waiting as the submission's time).
        sleepy_folder = root / "sleepy"
        write_class(sleepy_folder, args.size, hangs="sleep")
        sleepy_wall, sleepy_peak = batch_run(sleepy_folder, root / "out-sleepy", jobs)
        print(
            f"batch with its hangs sleeping: {sleepy_wall:.1f} s, "
            f"{args.size / sleepy_wall:.2f}/s, peak {sleepy_peak:.0f} MiB"
        )

        numpy_count = min(args.size, 200)
        numpy_wall, numpy_peak = bare_numpy(numpy_count, jobs)
        numpy_rate = numpy_count / numpy_wall
        print(f"baseline (a) bare numpy import: {numpy_rate:.2f}/s on {numpy_count} processes")

        # The hanging few are left out: by hand, each would cost the whole 120 s `timeout`.
        calm = [p for p in files if "_hang_" not in p.name]
        step = max(1, len(calm) // args.subset)
        subset = calm[::step][: args.subset]
        scratch = root / "by-hand"
        scratch.mkdir()
        hand_wall, hand_peak = by_hand(subset, scratch, jobs)
        hand_rate = len(subset) / hand_wall
        print(f"baseline (b) nbconvert + pytest: {hand_rate:.2f}/s on {len(subset)} submissions")

        rate = args.size / batch_wall
        print()
        print("| measure | grader | (a) bare `import numpy` | (b) nbconvert + pytest |")
        print("|---|---:|---:|---:|")
        print(
            f"| submissions/s ({args.size}, {jobs} jobs) | {rate:.2f} | {numpy_rate:.2f} "
            f"(x{rate / numpy_rate:.2f}) | {hand_rate:.2f} (x{rate / hand_rate:.2f}) |"
        )
        print(
            f"| class of {args.size}, wall | {batch_wall:.0f} s | "
            f"{args.size / numpy_rate:.0f} s (extrapolated) | "
            f"{args.size / hand_rate:.0f} s (extrapolated) |"
        )
        print(
            f"| per-submission cost, core-seconds | {jobs / rate:.3f} | {jobs / numpy_rate:.3f} "
            f"| {jobs / hand_rate:.3f} |"
        )
        print(
            f"| peak memory (PSS, MiB) | {statistics.median(peaks):.0f} | {numpy_peak:.0f} | "
            f"{hand_peak:.0f} |"
        )
        print(f"| one `grader grade`, median wall | {grade_wall:.3f} s | | |")
        print(
            f"| submissions/s without the {args.size - calm_count} hanging | "
            f"{calm_count / calm_wall:.2f} | | |"
        )

        print(
            f"| submissions/s, the hanging {args.size - calm_count} sleeping instead | "
            f"{args.size / sleepy_wall:.2f} | | |"
        )

        if args.deep_nn:
            deep_nn(root, args.deep_nn, jobs)
        backends_table(args.backends, correct, calm_folder, calm_count, root, jobs)

        sizes = [int(s) for s in args.scale.split(",") if s.strip()]
        if sizes:
            print()
            print("| class size | wall | submissions/s | peak PSS (MiB) |")
            print("|---:|---:|---:|---:|")
        for size in sizes:
            scaled = root / f"class{size}"
            write_class(scaled, size)
            wall, peak = batch_run(scaled, root / f"out{size}", jobs)
            print(f"| {size} | {wall:.0f} s | {size / wall:.2f} | {peak:.0f} |", flush=True)
        print(f"\nload average at the end: {_load()}")


def deep_nn(root: Path, size: int, jobs: int) -> None:
    """The whole course notebook: one grade, then a batch of ``size`` (printed as a table)."""
    assignment = "deep_nn_step_by_step"
    folder = root / "deep_nn"
    write_deep_nn_class(folder, size)
    notebook = DEEP_NN_FIXTURES / "correct_2021.ipynb"
    grade_wall = single_grade(notebook, root / "deep_nn_one.json", 5, assignment)
    wall, peak = batch_run(folder, root / "out-deep_nn", jobs, assignment)
    print()
    from grader.api import prepare_assignment

    prepared = prepare_assignment(assignment)
    shape = f"{len(prepared.parts)} functions, {len(prepared.hidden)} hidden tests"
    print(f"| {assignment} ({shape}) | grader |")
    print("|---|---:|")
    print(f"| one `grader grade` of a correct notebook, median of 5 | {grade_wall:.3f} s |")
    print(f"| batch of {size} notebooks ({jobs} jobs) | {wall:.1f} s, {size / wall:.2f}/s |")
    print(f"| batch peak memory (PSS) | {peak:.0f} MiB |")


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _mix(made: dict[str, tuple[str, str]]) -> str:
    kinds: dict[str, int] = {}
    for kind, _ in made.values():
        kinds[kind] = kinds.get(kind, 0) + 1
    return ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))


if __name__ == "__main__":
    main()
