"""`grader grade|check|batch` as subprocesses: every file they write is valid for strict
readers, every file name a class can upload is graded, and no submission is lost.

The readers are strict (``tests/strict_readers.py``: jq where installed, strict UTF-8, the
csv module, an HTML parser). Every backend; hostile fixtures are safe without a sandbox.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from strict_readers import check_output_folder, strict_json, strict_text

from grader.batch import REPORT_FILE, SUMMARY_FILE
from grader.gradebook import CANVAS_FILE, GRADESCOPE_FILE
from grader.sandbox.parent import bwrap_problem, landlock_problem

pytestmark = [pytest.mark.sandbox]

REPO = Path(__file__).resolve().parents[2]
HOSTILE = REPO / "tests" / "fixtures" / "hostile"
ASSIGNMENT = "leaky_relu_backward"
CORRECT = (
    "import numpy as np\n\n"
    "def leaky_relu_backward(dA, cache):\n"
    "    return np.where(cache > 0, dA, 0.01 * dA)\n"
)
LONG = "x" * 237 + ".py"  # 240 characters: <name>.json's temporary name would not fit
NOT_UTF8 = os.fsdecode(b"b_caf\xe9.py")
FORMULA = "=HYPERLINK(1+1).py"


def notebook(source: str) -> str:
    cell = {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None}
    return json.dumps(
        {"cells": [{**cell, "source": source}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    )


# file name in the class folder -> content
CLASS = {
    "alice.ipynb": notebook(CORRECT),
    "alice.py": CORRECT,
    "alice.py.ipynb": notebook(CORRECT),
    LONG: CORRECT,
    NOT_UTF8: CORRECT,
    "new\nline.py": CORRECT,
    "-rf.py": CORRECT,
    FORMULA: CORRECT,
    "@SUM(1+1).py": CORRECT,
    "blocked.py": CORRECT,  # its result file cannot be written: a folder is in the way
    "raises_invalid_text.py": (HOSTILE / "raises_invalid_text.py").read_text(),
}


def backends() -> list[Any]:
    bwrap = pytest.mark.skipif(bwrap_problem() is not None, reason=f"bwrap: {bwrap_problem()}")
    landlock = pytest.mark.skipif(
        landlock_problem() is not None, reason=f"landlock: {landlock_problem()}"
    )
    return ["none", pytest.param("bwrap", marks=bwrap), pytest.param("landlock", marks=landlock)]


def grader(*argv: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    """The real command, with bytes out: a decoding error must be ours to find, not hidden."""
    return subprocess.run(
        [sys.executable, "-m", "grader", *argv, "--assignment", ASSIGNMENT],
        cwd=cwd,
        capture_output=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module", params=backends())
def batch(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp(f"class-{request.param}")
    folder = root / "class"
    folder.mkdir()
    for name, content in CLASS.items():
        (folder / name).write_text(content)
    out = root / "out"
    (out / "blocked.json").mkdir(parents=True)
    run = grader(
        "--debug",
        "batch",
        str(folder),
        "--out",
        str(out),
        "--jobs",
        "2",
        "--sandbox",
        request.param,
        cwd=root,
    )
    return run, out


def rows_by_name(rows: list[list[str]]) -> dict[str, dict[str, str]]:
    return {row[0]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}


def test_batch_with_hostile_names_and_text_writes_every_class_file(batch: Any) -> None:
    run, out = batch
    assert run.returncode == 0, run.stderr.decode(errors="replace")[-3000:]
    stdout = strict_text(run.stdout, "stdout")
    assert stdout.startswith(f"{len(CLASS)} submissions: ")
    parsed = check_output_folder(out)  # every JSON, CSV, HTML and Markdown file, read strictly
    assert {REPORT_FILE, SUMMARY_FILE, CANVAS_FILE, GRADESCOPE_FILE} <= set(parsed)
    pages = [name for name in parsed if name.startswith("feedback/")]
    assert len(pages) == 2 * len(CLASS)  # each submission's .html and .md feedback page


def test_every_file_name_is_graded_under_a_safe_unique_name(batch: Any) -> None:
    _, out = batch
    summary = rows_by_name(check_output_folder(out)[SUMMARY_FILE])
    assert len(summary) == len(CLASS)  # nobody lost: alice.ipynb, alice.py and alice.py.ipynb
    assert {"alice.ipynb", "alice.py", "alice.py.ipynb"} <= set(summary)
    documents = {
        p.stem: strict_json(p.read_bytes(), p.name)
        for p in out.glob("*.json")
        if p.is_file() and not p.name.startswith(".")
    }
    graded_files = {d["extra_data"]["submission"] for d in documents.values()}
    # Each file graded once, under its readable name (its bytes or newline as escapes).
    readable = {NOT_UTF8: "b_caf\\xe9.py", "new\nline.py": "new\\nline.py"}
    assert graded_files == {readable.get(n, n) for n in CLASS if n != "blocked.py"}
    for name, row in summary.items():
        if name != "raises_invalid_text" and not name.startswith("blocked"):
            assert row["score"] == "100", name
        assert len(name.encode()) <= 100
        assert not name.startswith(("-", ".")), name
        assert "\n" not in name
    assert sum(1 for n in summary if n.startswith("xxxx")) == 1


def test_a_result_that_cannot_be_written_is_that_submissions_error(batch: Any) -> None:
    _, out = batch
    parsed = check_output_folder(out)
    row = rows_by_name(parsed[SUMMARY_FILE])["blocked"]
    assert row["score"] == "100"  # graded; only its file is missing
    assert (out / "blocked.json").is_dir()
    text, _ = parsed[REPORT_FILE]
    assert "its result file blocked.json could not be written" in text
    state = json.loads((out / ".grader-batch.json").read_text())
    assert "blocked" not in state["entries"]  # so the next run grades it again


def test_formulas_are_text_in_every_csv_and_numbers_stay_numbers(batch: Any) -> None:
    _, out = batch
    parsed = check_output_folder(out)  # strict_csv refuses any formula cell
    summary = rows_by_name(parsed[SUMMARY_FILE])
    assert "'=HYPERLINK(1+1)" in summary
    assert "'@SUM(1+1)" in summary
    canvas = [row[0] for row in parsed[CANVAS_FILE]]
    assert "'=HYPERLINK(1+1)" in canvas
    gradescope = {row[0]: row for row in parsed[GRADESCOPE_FILE]}
    assert gradescope["'=HYPERLINK(1+1)"][4:] == ["100", "100"]


def test_report_shows_changed_names_readably(batch: Any) -> None:
    _, out = batch
    text, tags = check_output_folder(out)[REPORT_FILE]
    assert "script" not in tags
    assert "b_caf\\xe9.py" in text
    assert LONG in text
    assert "new\\nline.py" in text


@pytest.mark.parametrize("backend", backends())
def test_grade_and_check_write_strict_documents_whatever_the_child_raised(
    backend: str, tmp_path: Path
) -> None:
    path = tmp_path / "raises_invalid_text.py"
    shutil.copy(HOSTILE / path.name, path)
    graded = grader("grade", str(path), "--sandbox", backend, cwd=tmp_path)
    assert graded.returncode == 0, graded.stderr.decode(errors="replace")[-2000:]
    document = strict_json(graded.stdout, "grade's document")
    assert 0 < document["score"] < 100
    for output_format in ("text", "json", "junit", "classroom"):
        checked = grader(
            "check", str(path), "--format", output_format, "--sandbox", backend, cwd=tmp_path
        )
        assert checked.returncode == 1, checked.stderr.decode(errors="replace")[-2000:]
        text = strict_text(checked.stdout, f"check --format {output_format}")
        if output_format == "classroom":  # base64 of the reporter's JSON document
            strict_json(base64.b64decode(text.strip()), "the classroom payload")
