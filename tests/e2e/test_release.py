"""`grader release`: what students get, scanned for anything they must not get."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

import grader
from grader import api
from grader.assignments import Assignment, list_assignments, load_assignment
from grader.cli import main
from grader.errors import AssignmentError
from grader.release import (
    CODE_STUB,
    MARKDOWN_STUB,
    build_release,
    release_notebook,
    strip_solutions,
)
from grader.suite import collect_tests

ASSIGNMENT = "leaky_relu_backward"
MIN_SECRET_CHARS = 12  # shorter lines (`Z = cache`, `return dZ`) say nothing on their own


def code_lines(text: str) -> set[str]:
    return {line.strip() for line in text.splitlines()}


def secret_lines(path: Path) -> set[str]:
    """Lines of a hidden file that would give something away if they showed up elsewhere.

    Left out: imports, pytest markers (the visible tests share them), def lines (the
    signature is the contract students are given) and lines too short to mean much.
    """
    return {
        line
        for line in code_lines(path.read_text())
        if len(line) >= MIN_SECRET_CHARS
        and not re.match(r"(import |from \S+ import |@pytest\.mark\.|def |#\s*-+)", line)
    }


def public_lines(visible_tests: Path) -> set[str]:
    """What is public on purpose: the visible tests and the grader's own source."""
    lines = code_lines(visible_tests.read_text())
    for path in Path(grader.__file__).parent.rglob("*.py"):
        lines |= code_lines(path.read_text())
    return lines


def released_lines(folder: Path) -> dict[Path, set[str]]:
    found = {}
    for path in folder.rglob("*"):
        if path.is_file():
            text = path.read_text()
            if path.suffix == ".ipynb":
                # A notebook stores code as JSON strings: compare the cells' source lines.
                notebook = nbformat.reads(text, as_version=4)
                text = "\n".join(cell.source for cell in notebook.cells)
            found[path] = code_lines(text)
    return found


def leaks(spec: Assignment, out: Path) -> list[str]:
    """Every released line that is a secret line of the hidden tests or the reference."""
    secrets: set[str] = set()
    for graded in spec.graded:
        secrets |= secret_lines(graded.hidden_tests) | secret_lines(graded.reference)
    for graded in spec.graded:
        secrets -= public_lines(graded.visible_tests)
    assert len(secrets) > 5, "the scan would prove nothing"
    return [
        f"{path.relative_to(out)}: {line}"
        for path, lines in released_lines(out).items()
        for line in sorted(lines & secrets)
    ]


def test_the_scan_finds_a_planted_solution(tmp_path: Path) -> None:
    spec = load_assignment(ASSIGNMENT)
    release = build_release(tmp_path / "release", assignment=ASSIGNMENT)
    notebook = nbformat.read(release.notebook, as_version=4)
    solution = [line for line in spec.reference.read_text().splitlines() if "return" in line]
    notebook.cells[-1].source += "\n" + solution[-1]
    nbformat.write(notebook, release.notebook)
    assert leaks(spec, release.folder) == [f"{release.notebook.name}: {solution[-1].strip()}"]


@pytest.mark.parametrize("name", list_assignments())
def test_release_holds_no_line_of_the_hidden_tests_or_the_reference(
    name: str, tmp_path: Path
) -> None:
    spec = load_assignment(name)
    out = tmp_path / "release"
    assert main(["release", "--assignment", name, "--out", str(out)]) == 0
    assert leaks(spec, out) == []
    # Nothing is even named like the hidden files.
    names = {p.name for p in out.rglob("*")}
    for graded in spec.graded:
        assert graded.hidden_tests.name not in names
        assert graded.reference.name not in names
        assert graded.misconceptions is None or graded.misconceptions.name not in names


def test_release_layout_and_notebook(tmp_path: Path) -> None:
    spec = load_assignment(ASSIGNMENT)
    release = build_release(tmp_path / "release", assignment=ASSIGNMENT)
    own = {
        p.relative_to(release.folder).as_posix()
        for p in release.files
        if not p.relative_to(release.folder).as_posix().startswith("grader-src/")
    }
    assert own == {
        f"{ASSIGNMENT}.ipynb",
        "README.md",
        f"assignments/{ASSIGNMENT}/assignment.toml",
        f"assignments/{ASSIGNMENT}/test_visible.py",
        f"assignments/{ASSIGNMENT}/no_reference.py",
    }
    assert (release.folder / "grader-src" / "pyproject.toml").is_file()
    assert (release.folder / "grader-src" / "grader" / "cli.py").is_file()
    visible = release.folder / "assignments" / ASSIGNMENT / "test_visible.py"
    assert visible.read_bytes() == spec.visible_tests.read_bytes()
    notebook = nbformat.read(release.notebook, as_version=4)
    assert notebook.metadata["grader"]["assignment"] == ASSIGNMENT
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == []
            assert cell.execution_count is None


@pytest.mark.sandbox
def test_grader_check_runs_from_the_release_alone(
    tmp_path: Path, submission: Callable[[str], Path]
) -> None:
    spec = load_assignment(ASSIGNMENT)
    visible = collect_tests(spec.visible_tests, "visible", "visible")
    release = build_release(tmp_path / "release", assignment=ASSIGNMENT)
    stub = api.check(release.notebook, assignment=ASSIGNMENT, course_dir=release.folder)
    assert [t.name for t in stub.tests] == [c.name for c in visible]
    assert stub.score == 0
    assert stub.max_score == sum(c.points for c in visible)
    assert "NotImplementedError" in stub.tests[0].output
    correct = api.check(
        submission("correct_where.ipynb"), assignment=ASSIGNMENT, course_dir=release.folder
    )
    assert correct.all_passed
    assert correct.score == correct.max_score == stub.max_score


@pytest.mark.sandbox
def test_the_release_self_checks_through_the_portable_child(
    tmp_path: Path, submission: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What macOS and Windows run (GRADER_PORTABLE=1 takes the same paths here), from the
    release folder alone; its README tells students it works on all three systems."""
    release = build_release(tmp_path / "release", assignment=ASSIGNMENT)
    readme = (release.folder / "README.md").read_text()
    assert "Linux, macOS and Windows" in readme
    assert "not isolation" in readme
    monkeypatch.setenv("GRADER_PORTABLE", "1")
    stub = api.check(release.notebook, assignment=ASSIGNMENT, course_dir=release.folder)
    assert stub.sandbox == "none"
    assert any("not isolation" in w for w in stub.warnings)
    assert stub.score == 0
    assert "NotImplementedError" in stub.tests[0].output
    correct = api.check(
        submission("correct_where.ipynb"), assignment=ASSIGNMENT, course_dir=release.folder
    )
    assert correct.all_passed


def test_release_refuses_a_folder_that_is_not_empty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "release"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["release", "--assignment", ASSIGNMENT, "--out", str(out)]) == 2
    assert "already exists and is not an empty folder" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_solution_blocks_become_stubs_and_hidden_tests_vanish() -> None:
    source = "\n".join(
        [
            "def f(x):",
            '    """Doc."""',
            "    ### BEGIN SOLUTION",
            "    y = x * 2",
            "    return y",
            "    ### END SOLUTION",
            "",
            "assert f(1) == 2",
            "### BEGIN HIDDEN TESTS",
            "assert f(21) == 42",
            "### END HIDDEN TESTS",
        ]
    )
    stripped, blocks = strip_solutions(source, code=True, where="cell 3")
    assert blocks == 1
    assert stripped.splitlines() == [
        "def f(x):",
        '    """Doc."""',
        f"    {CODE_STUB}",
        "",
        "assert f(1) == 2",
    ]
    text, blocks = strip_solutions(
        "Why?\n### BEGIN SOLUTION\nBecause.\n### END SOLUTION", code=False, where="cell 4"
    )
    assert (text, blocks) == (f"Why?\n{MARKDOWN_STUB}", 1)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("### BEGIN SOLUTION\nreturn 1", "a solution block is never closed"),
        ("return 1\n### END SOLUTION", "line 2: an END marker without its BEGIN"),
        (
            "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION",
            "line 2: a BEGIN marker inside another solution block",
        ),
        ("### BEGIN HIDDEN TESTS\nassert 1", "a hidden tests block is never closed"),
    ],
)
def test_unbalanced_markers_refuse_to_release(source: str, message: str) -> None:
    with pytest.raises(AssignmentError, match=re.escape(message)) as raised:
        strip_solutions(source, code=True, where="template.ipynb, cell 2")
    assert raised.value.message.startswith("template.ipynb, cell 2")


def test_a_master_notebook_loses_its_outputs_and_solution(tmp_path: Path) -> None:
    """The bundled template has no outputs, so this master notebook brings some: the
    released copy must drop them (and the solution that produced them)."""
    cell = new_code_cell("### BEGIN SOLUTION\nprint(6 * 7)\n### END SOLUTION")
    cell.execution_count = 3
    cell.outputs = [new_output("stream", name="stdout", text="42\n")]
    master = tmp_path / "master.ipynb"
    nbformat.write(new_notebook(cells=[cell]), master)
    released, blocks = release_notebook(master)
    assert blocks == 1
    (code,) = released.cells
    assert (code.outputs, code.execution_count) == ([], None)
    assert "6 * 7" not in code.source
    assert code.source.strip() == CODE_STUB
