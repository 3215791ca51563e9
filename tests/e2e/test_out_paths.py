"""`--out` that cannot be written is misuse: exit 2, `error:` + `hint:`, nothing graded.

In-process (``cli.main``): the path is checked before any sandbox starts, so these are fast.
Found by the audit: a folder given as `grade --out` or `export --out`, or a file given as
`batch --out`, used to end in "internal error ... please report it" (exit 3).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from grader import api, batch, cli, export
from grader.results import GradingResult

ASSIGNMENT = "leaky_relu_backward"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    code = cli.main(argv)
    captured = capsys.readouterr()
    assert captured.out == ""
    return code, captured.err.splitlines()


@pytest.fixture
def no_grading(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any call to the grading entry points fails the test: the path check must come first."""

    def forbidden(*args: object, **kwargs: object) -> GradingResult:
        raise AssertionError("graded although --out was unusable")

    monkeypatch.setattr(api, "grade", forbidden)
    monkeypatch.setattr(batch, "run_batch", forbidden)
    monkeypatch.setattr(export, "build_gradescope_zip", forbidden)


@pytest.mark.usefixtures("no_grading")
@pytest.mark.parametrize("command", ["grade", "export"])
def test_a_folder_given_as_the_output_file(
    command: str,
    tmp_path: Path,
    submission: Callable[[str], Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = tmp_path / "results"
    folder.mkdir()
    argv = (
        ["grade", str(submission("correct_where.ipynb")), "--assignment", ASSIGNMENT]
        if command == "grade"
        else ["export", "gradescope", "--assignment", ASSIGNMENT]
    )
    code, err = run([*argv, "--out", str(folder)], capsys)
    assert code == cli.ExitCode.USAGE_ERROR
    assert err == [
        f"error: --out {folder} is a folder, not a file",
        f"  hint: name the file to write, e.g. --out {folder / 'results.json'}",
    ]
    assert list(folder.iterdir()) == []


@pytest.mark.usefixtures("no_grading")
def test_a_file_given_as_the_batch_output_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "class").mkdir()
    taken = tmp_path / "results.txt"
    taken.write_text("keep me\n")
    argv = ["batch", str(tmp_path / "class"), "--assignment", ASSIGNMENT, "--out", str(taken)]
    code, err = run(argv, capsys)
    assert code == cli.ExitCode.USAGE_ERROR
    assert err == [
        f"error: --out {taken} exists and is not a folder",
        "  hint: choose a new or existing folder for the results",
    ]
    assert taken.read_text() == "keep me\n"


@pytest.mark.usefixtures("no_grading")
def test_an_output_below_a_file(
    tmp_path: Path, submission: Callable[[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "notes.txt"
    blocker.write_text("")
    out = blocker / "sub" / "results.json"
    argv = ["grade", str(submission("correct_where.ipynb")), "--assignment", ASSIGNMENT]
    code, err = run([*argv, "--out", str(out)], capsys)
    assert code == cli.ExitCode.USAGE_ERROR
    assert err == [
        f"error: cannot write --out {out}: {blocker} is a file, not a folder",
        "  hint: choose a path whose parent folders are folders",
    ]


def test_a_write_that_fails_after_grading_is_misuse_not_an_internal_error(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    submission: Callable[[str], Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """E.g. `--out /proc/results.json`: the checks pass, the rename fails."""
    graded = api.internal_failure(Path("s.ipynb"), ASSIGNMENT, RuntimeError("stand-in"))
    monkeypatch.setattr(api, "grade", lambda *args, **kwargs: graded)

    def refuse(*args: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(cli, "write_json_atomically", refuse)
    out = tmp_path / "results.json"
    argv = ["grade", str(submission("correct_where.ipynb")), "--assignment", ASSIGNMENT]
    code, err = run([*argv, "--out", str(out)], capsys)
    assert code == cli.ExitCode.USAGE_ERROR
    assert err == [
        f"error: cannot write --out {out}: Permission denied",
        "  hint: choose a path in a folder you can write",
    ]
