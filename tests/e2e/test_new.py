"""`grader new NAME`: a scaffold in a temporary course folder that grades at once."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from grader import api
from grader.assignments import COURSE_ENV, list_assignments, load_assignment
from grader.cli import main
from grader.release import CODE_STUB, build_release
from grader.suite import collect_tests

NAME = "relu_forward"


@pytest.fixture
def course(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "course"
    folder.mkdir()
    monkeypatch.setenv(COURSE_ENV, str(folder))
    return folder


def test_new_writes_the_documented_files(course: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new", NAME]) == 0
    folder = course / "assignments" / NAME
    assert sorted(p.name for p in folder.iterdir()) == [
        "__init__.py",
        "assignment.toml",
        "conftest.py",
        "misconceptions.py",
        "template.ipynb",
        "test_hidden.py",
        "test_visible.py",
    ]
    assert (course / "reference" / f"{NAME}.py").is_file()
    out = capsys.readouterr().out
    assert f"created {folder / 'test_hidden.py'}" in out
    assert f"grader grade {folder / 'template.ipynb'} --assignment {NAME}" in out
    assert list_assignments() == [NAME]
    spec = load_assignment(NAME)
    assert spec.functions == (NAME,)
    assert spec.misconceptions is not None
    assert "CATALOGUE: list[Misconception] = []" in spec.misconceptions.read_text()
    notebook = nbformat.read(folder / "template.ipynb", as_version=4)
    nbformat.validate(notebook)
    assert notebook.metadata["grader"]["assignment"] == NAME


@pytest.mark.sandbox
def test_the_scaffold_grades_immediately(course: Path, tmp_path: Path) -> None:
    assert main(["new", NAME]) == 0
    spec = load_assignment(NAME)
    hidden = collect_tests(spec.hidden_tests, "hidden", "hidden")
    max_score = sum(c.points for c in hidden)
    # The master notebook holds the solution between markers: full marks.
    master = api.grade(spec.folder / "template.ipynb", assignment=NAME)
    assert [t.name for t in master.tests] == [c.name for c in hidden]
    assert master.score == master.max_score == max_score
    # The student's copy has the stub instead: nothing, and it says why.
    release = build_release(tmp_path / "release", assignment=NAME)
    assert release.solutions_stripped == 1
    sources = [c.source for c in nbformat.read(release.notebook, as_version=4).cells]
    assert any(f"    {CODE_STUB}" in source for source in sources)
    assert not any("np.maximum" in source for source in sources)
    student = api.grade(release.notebook, assignment=NAME)
    assert student.score == 0
    assert student.max_score == max_score
    assert "NotImplementedError" in student.tests[0].output
    # A plain .py submission works too, as with any assignment.
    script = tmp_path / "mine.py"
    script.write_text(
        "import numpy as np\n\ndef relu_forward(Z):\n    return np.where(Z > 0, Z, 0)\n"
    )
    assert api.grade(script, assignment=NAME).score == max_score


def test_new_never_overwrites(course: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new", NAME]) == 0
    capsys.readouterr()
    hidden = course / "assignments" / NAME / "test_hidden.py"
    hidden.write_text("# my edits\n")
    assert main(["new", NAME]) == 2
    err = capsys.readouterr().err
    assert "never overwrites an assignment" in err
    assert "hint: pick another name" in err
    assert hidden.read_text() == "# my edits\n"


def test_new_refuses_when_only_the_reference_exists(
    course: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (course / "reference").mkdir()
    (course / "reference" / f"{NAME}.py").write_text("# someone's reference\n")
    assert main(["new", NAME]) == 2
    assert f"{NAME}.py already exists" in capsys.readouterr().err
    assert not (course / "assignments").exists()


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("2layer", "is not a Python identifier"),
        ("relu-forward", "is not a Python identifier"),
        ("../escape", "is not a Python identifier"),
        ("lambda", "is a Python keyword"),
        ("reference", "clashes with a test fixture"),
        ("test_relu", "clashes with a test fixture"),
    ],
)
def test_new_validates_the_name(
    name: str, problem: str, course: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["new", name]) == 2
    err = capsys.readouterr().err
    assert f"assignment name {name!r} {problem}" in err
    assert "hint:" in err
    assert list(course.iterdir()) == []
