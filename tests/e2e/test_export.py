"""`grader export gradescope`: the zip's contents, and run_autograder in a fake /autograder.

Each run unpacks the zip into tmp/source/ as Gradescope does, puts a submission into
tmp/submission/, runs source/run_autograder with GRADER_AUTOGRADER_ROOT=tmp and this venv
first on PATH (the grader "already installed"), and reads tmp/results/results.json.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from grader.assignments import load_assignment
from grader.cli import main
from grader.export import NO_SUBMISSION, ROOT_ENV, SEVERAL_SUBMISSIONS, build_gradescope_zip
from grader.sandbox.parent import landlock_problem
from grader.submission import read_submission
from grader.suite import collect_tests

ASSIGNMENT = "leaky_relu_backward"
Validate = Callable[[Any], dict[str, Any]]


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export") / "autograder.zip"
    assert main(["export", "gradescope", "--assignment", ASSIGNMENT, "--out", str(out)]) == 0
    return out


def run_autograder(
    autograder_zip: Path, root: Path, files: dict[str, Path | bytes], *, path: str | None = None
) -> tuple[dict[str, Any], subprocess.CompletedProcess[str]]:
    """Unpack, place the submission files, run run_autograder; return the results document."""
    with zipfile.ZipFile(autograder_zip) as archive:
        archive.extractall(root / "source")
    script = root / "source" / "run_autograder"
    script.chmod(0o755)  # zipfile does not restore modes; Gradescope's unzip does
    submission = root / "submission"
    submission.mkdir()
    for name, content in files.items():
        target = submission / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            shutil.copyfile(content, target)
        else:
            target.write_bytes(content)
    env = {
        ROOT_ENV: str(root),
        "PATH": path if path is not None else f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(root),
        "LANG": "C.UTF-8",
    }
    done = subprocess.run(
        [str(script)], env=env, capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads((root / "results" / "results.json").read_text()), done


def hidden_max_score() -> float:
    spec = load_assignment(ASSIGNMENT)
    return sum(c.points for c in collect_tests(spec.hidden_tests, "hidden", "hidden"))


def test_zip_holds_the_scripts_the_grader_and_one_assignment(autograder_zip: Path) -> None:
    spec = load_assignment(ASSIGNMENT)
    with zipfile.ZipFile(autograder_zip) as archive:
        infos = {info.filename: info for info in archive.infolist()}
    names = set(infos)
    course = {n.removeprefix("course/") for n in names if n.startswith("course/")}
    assert course == {
        f"assignments/{ASSIGNMENT}/{p.name}"
        for p in spec.folder.iterdir()
        if p.is_file() and p.suffix != ".pyc"
    } | {f"reference/{ASSIGNMENT}.py"}
    tops = {n.split("/")[0] for n in names}
    assert tops == {"setup.sh", "run_autograder", "grader-src", "course"}
    assert "grader-src/pyproject.toml" in names
    assert "grader-src/grader/cli.py" in names
    assert "grader-src/grader/templates/gradescope/run_autograder" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    for script in ("setup.sh", "run_autograder"):
        mode = infos[script].external_attr >> 16
        assert stat.S_ISREG(mode), script
        assert mode & 0o111 == 0o111, f"{script} is not executable"
    run = infos["run_autograder"]
    with zipfile.ZipFile(autograder_zip) as archive:
        text = archive.read(run).decode()
    assert f"ASSIGNMENT='{ASSIGNMENT}'" in text


def test_zip_is_reproducible(autograder_zip: Path, tmp_path: Path) -> None:
    again = build_gradescope_zip(tmp_path / "again.zip", assignment=ASSIGNMENT)
    assert again.read_bytes() == autograder_zip.read_bytes()


def test_setup_script_is_valid_bash(autograder_zip: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(autograder_zip) as archive:
        archive.extractall(tmp_path)
    for script in ("setup.sh", "run_autograder"):
        done = subprocess.run(
            ["bash", "-n", str(tmp_path / script)], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, f"{script}: {done.stderr}"
    setup = (tmp_path / "setup.sh").read_text()
    assert 'pip" install --quiet "$HERE/grader-src"' in setup
    assert "bubblewrap" in setup


@pytest.mark.sandbox
def test_correct_notebook_scores_full_marks(
    autograder_zip: Path,
    tmp_path: Path,
    submission: Callable[[str], Path],
    validate_results: Validate,
) -> None:
    document, _ = run_autograder(
        autograder_zip, tmp_path / "ag", {"correct_where.ipynb": submission("correct_where.ipynb")}
    )
    validate_results(document)
    assert document["max_score"] == hidden_max_score()
    assert document["score"] == document["max_score"]
    assert document["extra_data"]["submission"] == "correct_where.ipynb"
    assert document["extra_data"]["assignment"] == ASSIGNMENT
    # The course folder, with the reference and the hidden tests, is root-only afterwards.
    assert stat.S_IMODE((tmp_path / "ag" / "source").stat().st_mode) & 0o077 == 0


@pytest.mark.sandbox
def test_broken_notebook_scores_zero_with_the_reason(
    autograder_zip: Path,
    tmp_path: Path,
    submission: Callable[[str], Path],
    validate_results: Validate,
) -> None:
    # A stray .py next to the notebook: the notebook is the one graded.
    document, _ = run_autograder(
        autograder_zip,
        tmp_path / "ag",
        {"hw/truncated.ipynb": submission("truncated.ipynb"), "hw/notes.py": b"x = 1\n"},
    )
    validate_results(document)
    assert document["score"] == 0
    assert document["max_score"] == hidden_max_score()
    assert document["extra_data"]["submission"] == "truncated.ipynb"
    problem = read_submission(submission("truncated.ipynb")).problem
    assert problem
    assert problem in document["output"]


def test_missing_submission_scores_zero_and_says_what_to_upload(
    autograder_zip: Path, tmp_path: Path, validate_results: Validate
) -> None:
    document, _ = run_autograder(autograder_zip, tmp_path / "ag", {"answers.pdf": b"%PDF-1.4"})
    validate_results(document)
    assert document["score"] == 0
    assert document["max_score"] == hidden_max_score()
    expected = NO_SUBMISSION.format(name=ASSIGNMENT)
    assert expected in document["output"]
    assert all(expected in t["output"] for t in document["tests"])


def test_several_notebooks_none_named_after_the_assignment(
    autograder_zip: Path, tmp_path: Path, validate_results: Validate
) -> None:
    notebooks: dict[str, Path | bytes] = {"a.ipynb": b"{}", "b.ipynb": b"{}"}
    document, _ = run_autograder(autograder_zip, tmp_path / "ag", notebooks)
    validate_results(document)
    assert document["score"] == 0
    expected = SEVERAL_SUBMISSIONS.format(files="a.ipynb, b.ipynb", name=ASSIGNMENT)
    assert expected in document["output"]


@pytest.mark.sandbox
def test_a_planted_results_file_is_replaced(
    autograder_zip: Path, tmp_path: Path, submission: Callable[[str], Path]
) -> None:
    root = tmp_path / "ag"
    (root / "results").mkdir(parents=True)
    (root / "results" / "results.json").write_text('{"score": 1000}')
    document, _ = run_autograder(
        autograder_zip, root, {"x.ipynb": submission("stub_not_implemented.ipynb")}
    )
    assert document["score"] == 0
    assert document["max_score"] == hidden_max_score()


def _path_without_bwrap(folder: Path) -> str:
    """A PATH with this venv and the few tools run_autograder uses, and no bwrap."""
    folder.mkdir()
    for tool in ("bash", "mkdir", "rm", "chmod", "dirname", "readlink", "cat"):
        found = shutil.which(tool)
        assert found, tool
        (folder / tool).symlink_to(found)
    return f"{Path(sys.executable).parent}:{folder}"


@pytest.mark.sandbox
def test_without_bwrap_the_dry_run_grades_under_landlock(
    autograder_zip: Path,
    tmp_path: Path,
    submission: Callable[[str], Path],
    validate_results: Validate,
) -> None:
    """A Gradescope image where bwrap is missing (or refused): Landlock + seccomp grade."""
    problem = landlock_problem()
    if problem:
        pytest.skip(f"landlock backend not testable here: {problem}")
    path = _path_without_bwrap(tmp_path / "bin")
    document, _ = run_autograder(
        autograder_zip,
        tmp_path / "ag",
        {"correct_where.ipynb": submission("correct_where.ipynb")},
        path=path,
    )
    validate_results(document)
    assert document["extra_data"]["sandbox"] == "landlock"
    assert document["score"] == document["max_score"] == hidden_max_score()
    # And the hidden tests, in source/ next to the grader, stay out of the submission's reach.
    hidden = tmp_path / "ag2" / "source" / "course" / "assignments" / ASSIGNMENT / "test_hidden.py"
    peek = (
        "# %%\ntry:\n"
        f"    print(open({str(hidden)!r}).read()[:300])\n"
        "except OSError as exc:\n    print('cannot read:', exc)\n"
    )
    source = (Path(__file__).parent.parent.parent / "reference" / f"{ASSIGNMENT}.py").read_text()
    document, _ = run_autograder(
        autograder_zip,
        tmp_path / "ag2",
        {"peek.py": (peek + "# %%\n" + source).encode()},
        path=path,
    )
    assert document["extra_data"]["sandbox"] == "landlock"
    assert document["score"] == document["max_score"]
    output = document["extra_data"]["student_output"]
    assert "cannot read: [Errno 13] Permission denied" in output
    assert "def test_" not in json.dumps(document)


def test_grader_that_cannot_start_still_leaves_a_document(
    autograder_zip: Path, tmp_path: Path
) -> None:
    if os.path.exists("/opt/dl-grader/bin/python"):
        pytest.skip("a Gradescope-style grader install exists on this machine")
    # No grader on PATH and no /opt/dl-grader: only the script's last-ditch document is left.
    document, done = run_autograder(
        autograder_zip, tmp_path / "ag", {"x.py": b"pass\n"}, path="/usr/bin:/bin"
    )
    assert document["score"] == 0
    assert document["tests"] == []
    assert "could not start" in document["output"]
    assert "not your fault" in document["output"]
    assert document["extra_data"] == {
        "assignment": ASSIGNMENT,
        "last_ditch": True,
        "exit_status": 127,
    }
    assert "did not write results" in done.stderr


def test_export_of_an_unknown_assignment_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "autograder.zip"
    code = main(["export", "gradescope", "--assignment", "no_such_thing", "--out", str(out)])
    assert code == 2
    assert "unknown assignment 'no_such_thing'" in capsys.readouterr().err
    assert not out.exists()
