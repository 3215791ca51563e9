"""`grader batch`: a small class with hostile members, summary.csv, gradebooks, skipping, Ctrl-C.

The class is graded once per module (in-process ``run_batch``, real sandbox) and shared by
the assertions below. It runs against a private copy of the course with a 1 s call limit, so
the submission that hangs costs about a second. Every hostile fixture is bounded even if the
sandbox failed: loops stop by themselves and nothing is written outside the sandbox's folder.
"""

from __future__ import annotations

import csv
import io
import json
import multiprocessing
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote

import pytest

from grader import api
from grader.batch import (
    REPORT_FILE,
    STATE_FILE,
    SUMMARY_FILE,
    BatchEntry,
    BatchSummary,
    find_submissions,
    run_batch,
    summary_line,
)
from grader.cli import main
from grader.errors import UsageError
from grader.gradebook import CANVAS_FILE, GRADESCOPE_FILE, canvas_identity
from grader.html_report import render_report
from grader.results import GradingResult, TestResult
from grader.sandbox.parent import landlock_problem

pytestmark = [pytest.mark.sandbox]

REPO = Path(__file__).resolve().parents[2]
ASSIGNMENT = "leaky_relu_backward"
TIMEOUT = 1.0  # the private course's per-call limit

PY_HEADER = "import numpy as np\n\n"
CORRECT = "def leaky_relu_backward(dA, cache):\n    return np.where(cache > 0, dA, 0.01 * dA)\n"
CHAIN_RULE_MISSING = (
    "def leaky_relu_backward(dA, cache):\n    return np.where(cache > 0, dA, 0.01)\n"
)
MUTATES_DA = "def leaky_relu_backward(dA, cache):\n    dA[cache <= 0] *= 0.01\n    return dA\n"
# Busy for at most 20 s, and only on the 32x16 batch of test_mixed_batch (5 points).
HANGS_ON_BIG_BATCH = (
    "import time\n\n"
    "def leaky_relu_backward(dA, cache):\n"
    "    if dA.size > 100:\n"
    "        end = time.monotonic() + 20\n"
    "        while time.monotonic() < end:\n"
    "            pass\n"
    "    return np.where(cache > 0, dA, 0.01 * dA)\n"
)
SEGFAULTS = (
    "import os, signal\n\n"
    "def leaky_relu_backward(dA, cache):\n"
    "    os.kill(os.getpid(), signal.SIGSEGV)\n"
)
FAKE_RESULTS = (
    'print(\'{"score": 100.0, "max_score": 100.0, "tests": []}\')\n\n' + CHAIN_RULE_MISSING
)


def notebook(*sources: str) -> str:
    cells = [
        {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": s}
        for s in sources
    ]
    return json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


# name in the class folder -> content; names are the submission names plus a suffix
CLASS = {
    "correct_script.py": PY_HEADER + CORRECT,
    "correct_notebook.ipynb": notebook("import numpy as np", CORRECT),
    "chain_rule_missing.py": PY_HEADER + CHAIN_RULE_MISSING,
    "mutates_dA.py": PY_HEADER + MUTATES_DA,
    "stub.ipynb": notebook(
        "import numpy as np",
        "def leaky_relu_backward(dA, cache):\n    raise NotImplementedError\n",
    ),
    "truncated.ipynb": '{"cells": [{"cell_type": "code", "source": "imp',
    "hangs_on_big_batch.py": PY_HEADER + HANGS_ON_BIG_BATCH,
    "segfaults.py": PY_HEADER + SEGFAULTS,
    "prints_fake_results.py": PY_HEADER + FAKE_RESULTS,
    "folder_student/work/answer.ipynb": notebook("import numpy as np", CORRECT),
    "two_notebooks/a.ipynb": notebook("import numpy as np", CORRECT),
    "two_notebooks/b.ipynb": notebook("import numpy as np", CHAIN_RULE_MISSING),
}
# submission -> (score, status)
EXPECTED = {
    "chain_rule_missing": (40.0, "graded"),
    "correct_notebook": (100.0, "graded"),
    "correct_script": (100.0, "graded"),
    "folder_student": (100.0, "graded"),
    "hangs_on_big_batch": (95.0, "timeout"),
    "mutates_dA": (94.0, "graded"),
    "prints_fake_results": (40.0, "graded"),
    "segfaults": (0.0, "error"),
    "stub": (0.0, "graded"),
    "truncated": (0.0, "error"),
    "two_notebooks": (0.0, "error"),
}


def write_class(folder: Path, files: dict[str, str]) -> Path:
    for relative, content in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return folder


def make_course(root: Path, **limits: float) -> Path:
    """A private copy of the course whose [limits] are tightened for fast tests."""
    course = root / "course"
    shutil.copytree(
        REPO / "assignments" / ASSIGNMENT,
        course / "assignments" / ASSIGNMENT,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    (course / "reference").mkdir()
    shutil.copy(REPO / "reference" / f"{ASSIGNMENT}.py", course / "reference")
    spec = course / "assignments" / ASSIGNMENT / "assignment.toml"
    text = spec.read_text().split("[limits]")[0]
    settings = {"test_timeout": TIMEOUT, "load_timeout": 10.0, **limits}
    spec.write_text(text + "[limits]\n" + "".join(f"{k} = {v}\n" for k, v in settings.items()))
    return course


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> tuple[BatchSummary, Path, Path]:
    root = tmp_path_factory.mktemp("batch")
    course = make_course(root)
    folder = write_class(root / "class", CLASS)
    out = root / "out"
    summary = run_batch(folder, out, assignment=ASSIGNMENT, jobs=3, course_dir=course)
    return summary, out, course


def by_name(summary: BatchSummary) -> dict[str, BatchEntry]:
    return {e.name: e for e in summary.entries}


def test_every_submission_gets_its_own_exact_score_and_status(
    graded: tuple[BatchSummary, Path, Path],
) -> None:
    summary, out, _ = graded
    got = {e.name: (e.result.score, e.status) for e in summary.entries}
    assert got == EXPECTED
    for name, (score, _) in EXPECTED.items():
        document = json.loads((out / f"{name}.json").read_text())
        assert document["score"] == score
        assert document["max_score"] == 100.0
    entries = by_name(summary)
    assert "missing-chain-rule" in entries["prints_fake_results"].result.misconceptions
    assert entries["mutates_dA"].result.misconceptions == ("mutates-dA",)


def test_reasons_name_the_problem(graded: tuple[BatchSummary, Path, Path]) -> None:
    entries = by_name(graded[0])
    assert entries["hangs_on_big_batch"].reason == (
        f"leaky_relu_backward timed out after {TIMEOUT:g} s (1 call(s))"
    )
    # The crash is described by the sandbox (its wording is the sandbox's); the batch quotes it.
    crash = entries["segfaults"]
    assert crash.reason.startswith("calling leaky_relu_backward failed: the process ")
    assert crash.reason in crash.result.tests[0].output
    assert "is not valid notebook JSON" in entries["truncated"].reason
    assert entries["two_notebooks"].reason.startswith(
        "the folder two_notebooks/ holds 2 candidate files (a.ipynb, b.ipynb)"
    )
    assert all(e.reason == "" for e in entries.values() if e.status == "graded")


def test_batch_documents_match_grade(graded: tuple[BatchSummary, Path, Path]) -> None:
    """The same document `grade` writes, with the same per-test scores."""
    _summary, out, course = graded
    folder = out.parent / "class"
    for name in ("correct_notebook", "mutates_dA", "hangs_on_big_batch"):
        path = next(folder.glob(f"{name}.*"))
        single = api.grade(path, assignment=ASSIGNMENT, course_dir=course).to_gradescope()
        batch = json.loads((out / f"{name}.json").read_text())
        assert set(batch) == set(single)
        assert batch["extra_data"]["submission"] == path.name
        for key in ("score", "max_score", "tests"):
            assert batch[key] == single[key], (name, key)


def test_batch_under_landlock_gives_each_submission_its_grade_document(tmp_path: Path) -> None:
    """The landlock backend in a batch: each worker starts confined children, as grade does."""
    problem = landlock_problem()
    if problem:
        pytest.skip(f"landlock backend not testable here: {problem}")
    names = ("chain_rule_missing", "correct_notebook", "mutates_dA", "prints_fake_results")
    course = make_course(tmp_path)
    files = {k: v for k, v in CLASS.items() if k.split(".")[0] in names}
    folder = write_class(tmp_path / "class", files)
    out = tmp_path / "out"
    summary = run_batch(
        folder, out, assignment=ASSIGNMENT, jobs=2, course_dir=course, sandbox="landlock"
    )
    assert {e.name: e.result.score for e in summary.entries} == {n: EXPECTED[n][0] for n in names}
    for name in names:
        path = next(folder.glob(f"{name}.*"))
        single = api.grade(path, assignment=ASSIGNMENT, course_dir=course, sandbox="landlock")
        batch = json.loads((out / f"{name}.json").read_text())
        assert batch["extra_data"]["sandbox"] == "landlock"
        for key in ("score", "max_score", "tests"):
            assert batch[key] == single.to_gradescope()[key], (name, key)


def test_summary_csv_has_tests_then_misconceptions(
    graded: tuple[BatchSummary, Path, Path],
) -> None:
    _summary, out, course = graded
    rows = list(csv.reader(io.StringIO((out / SUMMARY_FILE).read_text())))
    prepared = api.prepare_assignment(ASSIGNMENT, course)
    tests = [case.name for case in prepared.hidden]
    ids = [m.id for m in prepared.catalogue]
    assert rows[0] == ["submission", "score", "max_score", *tests, *ids]
    assert [r[0] for r in rows[1:]] == sorted(EXPECTED)
    row = {r[0]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}["mutates_dA"]
    assert (row["score"], row["max_score"], row["test_dA_unchanged"]) == ("94", "100", "0")
    assert row["test_positive_inputs"] == "10"
    assert row["mutates-dA"] == "1"
    assert row["missing-chain-rule"] == "0"


def test_gradebook_exports(graded: tuple[BatchSummary, Path, Path]) -> None:
    _, out, _ = graded
    canvas = list(csv.reader(io.StringIO((out / CANVAS_FILE).read_text())))
    assert canvas[0] == [
        "Student",
        "ID",
        "SIS User ID",
        "SIS Login ID",
        "Section",
        "Leaky ReLU backward pass",
    ]
    assert canvas[1] == ["Points Possible", "", "", "", "", "100"]
    assert ["mutates_dA", "", "", "", "", "94"] in canvas
    gradescope = list(csv.reader(io.StringIO((out / GRADESCOPE_FILE).read_text())))
    assert gradescope[0] == ["Name", "SID", "Email", "Submission ID", "Total Score", "Max Points"]
    assert ["hangs_on_big_batch", "", "", "", "95", "100"] in gradescope
    assert len(gradescope) == len(EXPECTED) + 1


def test_report_is_self_contained_with_charts_and_problem_rows(
    graded: tuple[BatchSummary, Path, Path],
) -> None:
    html = (graded[1] / REPORT_FILE).read_text()
    assert html.count("<svg") == 3
    assert "http://" not in html
    assert "https://" not in html
    assert "<script" not in html
    assert html.count('class="problem-row"') == 4  # segfaults, truncated, two_notebooks, hangs
    assert html.count('class="submission-row"') == len(EXPECTED)


def test_report_links_each_submission_to_its_feedback_page(
    graded: tuple[BatchSummary, Path, Path],
) -> None:
    out = graded[1]
    links = re.findall(r'<a href="(feedback/[^"]+)">([^<]+)</a>', (out / REPORT_FILE).read_text())
    # every submission in the all-submissions table, and again in the problems table
    assert {name for _, name in links} == set(EXPECTED)
    assert len(links) == len(EXPECTED) + 4
    for href, name in links:
        page = out / unquote(href)
        assert page.is_file(), href
        assert name in page.read_text()


def test_files_that_are_not_submissions_are_named_not_silently_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GRADER_COURSE_DIR", str(make_course(tmp_path)))
    files = {"only.py": PY_HEADER + CORRECT, "bob.pdf": "%PDF-1.4", "HW3.ipynb.txt": "{}"}
    folder = write_class(tmp_path / "class", {**files, ".DS_Store": "", "n/a.py": CORRECT})
    out = tmp_path / "o"
    code = main(["batch", str(folder), "--out", str(out), "--assignment", ASSIGNMENT])
    err = capsys.readouterr().err
    assert code == 0
    for name in ("bob.pdf", "HW3.ipynb.txt"):
        assert f"warning: left out: {name} (not a .ipynb or .py file, so not graded)" in err
        assert f"left out: {name}" in (out / REPORT_FILE).read_text()
    assert ".DS_Store" not in err
    assert 'id="notes"' in (out / REPORT_FILE).read_text()


def test_canvas_download_names_give_student_and_id() -> None:
    assert canvas_identity("doejane_12345_678901_leaky_relu") == ("doejane", "12345")
    assert canvas_identity("doejane_LATE_12345_678901_hw") == ("doejane", "12345")
    assert canvas_identity("alice") == ("alice", "")


def test_rerun_skips_unchanged_and_force_regrades(tmp_path: Path) -> None:
    course = make_course(tmp_path)
    folder = write_class(
        tmp_path / "class",
        {"a.py": PY_HEADER + CORRECT, "b.py": PY_HEADER + CHAIN_RULE_MISSING},
    )
    out = tmp_path / "out"
    starts: list[tuple[int, int]] = []

    def again(**options: bool) -> BatchSummary:
        return run_batch(
            folder,
            out,
            assignment=ASSIGNMENT,
            course_dir=course,
            on_start=lambda todo, skipped: starts.append((todo, skipped)),
            **options,
        )

    first = again()
    stamp = (out / "a.json").stat().st_mtime_ns
    second = again()
    assert (first.skipped, second.skipped) == (0, 2)
    assert (out / "a.json").stat().st_mtime_ns == stamp
    assert [e.result.score for e in second.entries] == [100.0, 40.0]
    (folder / "b.py").write_text(PY_HEADER + CORRECT)
    third = again()
    assert {e.name: e.skipped for e in third.entries} == {"a": True, "b": False}
    assert [e.result.score for e in third.entries] == [100.0, 100.0]
    # Changing the assignment (here its reference) invalidates every result.
    reference = course / "reference" / f"{ASSIGNMENT}.py"
    reference.write_text(reference.read_text() + "\n# revised\n")
    assert again().skipped == 0
    assert again(force=True).skipped == 0
    assert starts == [(2, 0), (0, 2), (1, 1), (2, 0), (2, 0)]
    state = json.loads((out / STATE_FILE).read_text())
    assert sorted(state["entries"]) == ["a", "b"]


def test_find_submissions_names_and_layout(tmp_path: Path) -> None:
    folder = write_class(
        tmp_path / "class",
        {
            "same.ipynb": "{}",
            "same.py": "",
            ".hidden.py": "",
            "notes.txt": "",
            "SHOUTY.IPYNB": "{}",
            "upper_dir/HW3.PY": "",
            "student_dir/sub/.ipynb_checkpoints/x-checkpoint.ipynb": "{}",
            "student_dir/sub/x.ipynb": "{}",
            "student_dir/helper.py": "",
            "empty_dir/readme.md": "",
            "out/old.json": "{}",
        },
    )
    items = find_submissions(folder, exclude=folder / "out")
    assert [(i.name, i.path.relative_to(folder).as_posix(), i.problem is None) for i in items] == [
        ("SHOUTY", "SHOUTY.IPYNB", True),
        ("empty_dir", "empty_dir", False),
        ("same.ipynb", "same.ipynb", True),
        ("same.py", "same.py", True),
        ("student_dir", "student_dir/sub/x.ipynb", True),
        ("upper_dir", "upper_dir/HW3.PY", True),
    ]
    with pytest.raises(UsageError, match="no submissions found"):
        find_submissions(folder / "empty_dir")


def test_cli_batch_prints_one_summary_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GRADER_COURSE_DIR", str(make_course(tmp_path)))
    folder = write_class(tmp_path / "class", {"only.py": PY_HEADER + CORRECT})
    code = main(["batch", str(folder), "--out", str(tmp_path / "o"), "--assignment", ASSIGNMENT])
    captured = capsys.readouterr()
    assert code == 0
    lines = captured.out.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("1 submission: 1 graded, 0 errors, 0 timeouts in ")
    assert "%|" not in captured.err  # no progress bar when stderr is not a terminal


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["batch", "{tmp}/missing", "--out", "{tmp}/o"], "error: no such folder"),
        (["batch", "{tmp}", "--out", "{tmp}/o", "--jobs", "0"], "error: --jobs must be at least"),
        (["batch", "{tmp}", "--out", "{tmp}/o"], "error: no submissions found"),
    ],
)
def test_cli_batch_misuse_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    argv = [a.format(tmp=tmp_path) for a in argv] + ["--assignment", ASSIGNMENT]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(message)
    assert "hint: " in err


def test_report_escapes_submission_content() -> None:
    hostile = "<script>alert(1)</script>"
    result = GradingResult(
        assignment=ASSIGNMENT,
        tests=(TestResult("test_x", 0.0, 10.0, "failed", "", ()),),
        output="",
        execution_time=0.0,
    )
    summary = BatchSummary(
        assignment="A <b>title</b>",
        entries=(BatchEntry(hostile, result, "error", f"raised {hostile}"),),
        test_names=("test_x",),
        test_points=(10.0,),
        misconceptions=(),
        seconds=1.0,
        jobs=1,
        out=Path("."),
    )
    html = render_report(summary)
    assert "<script" not in html
    assert "<b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert summary_line(summary).startswith("1 submission: 0 graded, 1 errors, 0 timeouts")


@pytest.mark.slow
def test_ctrl_c_leaves_only_complete_results(tmp_path: Path) -> None:
    """SIGINT mid-batch: exit 130, every file in OUTDIR complete, and a re-run resumes."""
    course = make_course(tmp_path)
    slow = "import time\ntime.sleep(1.5)\n"  # bounded: each submission takes ~2 s
    files = {f"s{i}.ipynb": notebook("import numpy as np", slow, CORRECT) for i in range(5)}
    folder = write_class(tmp_path / "class", files)
    out = tmp_path / "out"
    env = dict(os.environ, GRADER_COURSE_DIR=str(course))
    command = [sys.executable, "-m", "grader", "batch", str(folder), "--out", str(out)]
    process = subprocess.Popen(
        [*command, "--assignment", ASSIGNMENT, "--jobs", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not list(out.glob("s*.json")) and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "interrupted" in err
    kept = sorted(p.name for p in out.iterdir())
    assert not [name for name in kept if name.endswith(".tmp")]
    done = [name for name in kept if name.startswith("s")]
    assert 1 <= len(done) < 5
    for name in done:
        assert json.loads((out / name).read_text())["score"] == 100.0
    resumed = run_batch(folder, out, assignment=ASSIGNMENT, course_dir=course)
    assert resumed.skipped == len(done)
    assert [e.result.score for e in resumed.entries] == [100.0] * 5


def test_progress_callbacks_see_every_graded_entry(tmp_path: Path) -> None:
    course = make_course(tmp_path)
    folder = write_class(tmp_path / "class", {"x.py": PY_HEADER + CORRECT, "y.py": "x = ("})
    seen: list[str] = []
    done: Callable[[BatchEntry], None] = lambda entry: seen.append(entry.name)  # noqa: E731
    summary = run_batch(
        folder, tmp_path / "o", assignment=ASSIGNMENT, course_dir=course, on_done=done
    )
    assert sorted(seen) == ["x", "y"]
    assert by_name(summary)["y"].status == "error"
    assert by_name(summary)["y"].reason.startswith("leaky_relu_backward is not defined")


def test_a_slow_worker_start_does_not_make_submissions_long_running(tmp_path: Path) -> None:
    """Only grading time makes a submission long-running (and lets more than --jobs run):
    a worker's own start (imports, its worker sandbox) took over LONG_RUNNING_SECONDS, and
    each batch started up to 3x --jobs worker processes, each paying that start again."""
    course = make_course(tmp_path)
    hidden = course / "assignments" / ASSIGNMENT / "test_hidden.py"
    # Every process that prepares the course pays this: a worker starts in over a second.
    hidden.write_text(hidden.read_text() + "\nimport time\n\ntime.sleep(1.0)\n")
    folder = write_class(tmp_path / "class", {f"s{i}.py": PY_HEADER + CORRECT for i in range(6)})
    workers: list[int] = []
    count: Callable[[BatchEntry], None] = lambda _: workers.append(  # noqa: E731
        len(multiprocessing.active_children())
    )
    summary = run_batch(
        folder, tmp_path / "o", assignment=ASSIGNMENT, jobs=2, course_dir=course, on_done=count
    )
    assert [e.result.score for e in summary.entries] == [100.0] * 6
    assert len(workers) == 6
    assert max(workers) <= 2, f"worker processes alive as results came: {workers}"
