"""Every fixture submission graded end to end with the hidden suite, and `grader grade` itself.

Most fixtures go through ``grader.api.grade`` in-process (the same call the CLI makes, with
the real sandboxed child): fast. A representative set goes through the real ``grader``
script as a subprocess, where the CLI (exit codes, --out, stderr) is the subject.

The expected scores are reasoned from assignments/leaky_relu_backward/test_hidden.py, not
copied from the grader: value tests carry 75 points (positive 10, negative 10, exact zeros
10, chain rule 10, four shapes at 5, large 5, float32 5, mixed 5), properties 25 (ndarray 4,
shape 8, dA unchanged 6, cache unchanged 7), and a property is earned only by a call that
returned an array.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from grader import api, cli
from grader.results import GradingResult

pytestmark = pytest.mark.sandbox

ASSIGNMENT = "leaky_relu_backward"
GRADER = Path(sys.executable).parent / "grader"  # the venv's console script
REPO = Path(__file__).resolve().parents[2]

Grade = Callable[..., tuple[GradingResult, dict[str, Any]]]

POSITIVE_SIDE = ("test_positive_inputs",)
NEGATIVE_SIDE = (
    "test_negative_inputs",
    "test_exact_zeros",
    "test_chain_rule",
    "test_shapes[1x1]",
    "test_shapes[vector]",
    "test_shapes[3d]",
    "test_large_magnitudes",
    "test_float32_inputs",
    "test_mixed_batch",
)
VALUE_TESTS = (*POSITIVE_SIDE, *NEGATIVE_SIDE, "test_shapes[empty]")
PROPERTY_TESTS = (
    "test_returns_ndarray",
    "test_shape_preserved",
    "test_dA_unchanged",
    "test_cache_unchanged",
)
ALL_TESTS = (*VALUE_TESTS, *PROPERTY_TESTS)


def failed(document: dict[str, Any]) -> set[str]:
    return {t["name"] for t in document["tests"] if t["status"] == "failed"}


def test_expected_names_are_the_hidden_suite() -> None:
    """The names below are the suite's: a renamed hidden test must update this file."""
    prepared = api.prepare_assignment(ASSIGNMENT)
    assert sorted(c.name for c in prepared.hidden) == sorted(ALL_TESTS)
    assert sum(c.points for c in prepared.hidden) == 100


# --- correct solutions: 100, whatever the style or file format --------------------------

CORRECT = [
    "correct_where.ipynb",  # np.where(Z > 0, dA, 0.01 * dA)
    "correct_mask_copy.ipynb",  # copy, then boolean-mask multiply in place on the copy
    "correct_piecewise.ipynb",  # np.piecewise
    "correct_float_slope.ipynb",  # float64 slope array: float32 inputs come back float64
    "correct_loop.ipynb",  # a Python loop over np.ndindex: slow style, still correct
    "correct_script.py",  # a jupytext percent script using np.choose
    "correct_nbformat_v3.ipynb",  # saved by an old Jupyter (worksheets), upgraded to v4
    "correct_with_magics.ipynb",  # %%time solution cell, %matplotlib, !pip, %%bash, ...
    "correct_utf8_bom.ipynb",  # starts with a UTF-8 byte-order mark (Windows editors)
]


@pytest.mark.parametrize("name", CORRECT)
def test_correct_styles_score_100(grade_fixture: Grade, name: str) -> None:
    _, document = grade_fixture(name)
    assert document["score"] == 100.0
    assert document["max_score"] == 100.0
    assert failed(document) == set()
    assert document["extra_data"]["misconceptions"] == []
    assert document["extra_data"]["submission"] == name
    assert document["output"].startswith("Leaky ReLU backward pass: 100/100 points.")
    assert "Mistakes found" not in document["output"]


def test_float64_result_for_float32_inputs_is_a_note_not_a_deduction(grade_fixture: Grade) -> None:
    _, document = grade_fixture("correct_float_slope.ipynb")
    test = next(t for t in document["tests"] if t["name"] == "test_float32_inputs")
    assert (test["status"], test["score"]) == ("passed", 5.0)
    assert "Note: dZ came back as float64 for float32 inputs" in test["output"]


def test_magics_are_noted_not_run(grade_fixture: Grade) -> None:
    _, document = grade_fixture("correct_with_magics.ipynb")
    output = document["output"]
    for expected in (
        "cell 2: line magic `%matplotlib inline` not run",
        "cell 2: line magic `%load_ext autoreload` not run",
        "cell 3: shell command `!pip install numpy` not run",
        "cell 4: %%time ignored; the cell's body ran as plain Python",
        "cell 6: %%bash cell not run",
    ):
        assert expected in output
    assert [c["status"] for c in document["extra_data"]["cells"]] == ["ok"] * 4


# --- errors in unrelated cells cost a correct solution nothing -----------------------------


@pytest.mark.parametrize(
    ("name", "reported"),
    [
        ("unrelated_import_testcases.ipynb", "cell 3: ModuleNotFoundError at line 1"),
        ("unrelated_name_error.ipynb", "cell 4: NameError at line 1"),
        ("unrelated_syntax_error.ipynb", "cell 4: SyntaxError at line 1"),
        ("unrelated_sys_exit.ipynb", "cell 3: SystemExit at line 3"),
    ],
)
def test_unrelated_cell_errors_cost_nothing(grade_fixture: Grade, name: str, reported: str) -> None:
    _, document = grade_fixture(name)
    assert document["score"] == 100.0
    assert failed(document) == set()
    assert "Cells that raised an error (the following cells still ran):" in document["output"]
    assert reported in document["output"]


def test_missing_course_module_is_explained(grade_fixture: Grade) -> None:
    _, document = grade_fixture("unrelated_import_testcases.ipynb")
    # A course file, not a package to install; every test passed, so it was not needed.
    assert (
        "(testCases is a course file this assignment does not provide; it is not needed for "
        "the graded functions)"
    ) in document["output"]


def test_cells_after_sys_exit_still_run(grade_fixture: Grade) -> None:
    _, document = grade_fixture("unrelated_sys_exit.ipynb")
    cells = document["extra_data"]["cells"]
    assert [(c["cell"], c["status"]) for c in cells] == [
        (2, "ok"),
        (3, "error"),
        (4, "ok"),
        (5, "ok"),
    ]
    assert cells[1]["error"].startswith("SystemExit")


# --- the classic bugs: exact scores, failing tests and the named mistake -----------------

BUGS = [
    # dZ[Z <= 0] = .01 on a copy: only the positive side and the empty batch hold values.
    ("chain_rule_missing.ipynb", 40.0, NEGATIVE_SIDE, ["missing-chain-rule"]),
    # ReLU's slope 0: the same tests fail as for the chain-rule bug (no dA where Z <= 0).
    ("relu_slope_zero.ipynb", 40.0, NEGATIVE_SIDE, ["relu-slope"]),
    # Z >= 0: wrong only where Z == 0 exactly (exact zeros, float32 and mixed have zeros).
    (
        "wrong_at_zero.ipynb",
        80.0,
        ("test_exact_zeros", "test_float32_inputs", "test_mixed_batch"),
        ["wrong-at-zero"],
    ),
    # Right values, but dA scaled in place: only the no-mutation property fails.
    ("mutates_dA.py", 94.0, ("test_dA_unchanged",), ["mutates-dA"]),
    # Flattened: only the 1-d shape case and the properties other than shape survive.
    (
        "shape_changed.ipynb",
        22.0,
        (*(t for t in VALUE_TESTS if t != "test_shapes[vector]"), "test_shape_preserved"),
        ["shape-changed"],
    ),
    # The forward activation: only the empty batch plus the 25 property points.
    (
        "returns_forward.ipynb",
        30.0,
        tuple(t for t in VALUE_TESTS if t != "test_shapes[empty]"),
        ["returns-forward"],
    ),
    (
        "returns_local_derivative.ipynb",
        30.0,
        tuple(t for t in VALUE_TESTS if t != "test_shapes[empty]"),
        ["returns-local-derivative"],
    ),
    # No call returns an array: nothing, properties included.
    ("returns_none.ipynb", 0.0, ALL_TESTS, ["not-ndarray"]),
    ("stub_not_implemented.ipynb", 0.0, ALL_TESTS, []),
]


@pytest.mark.parametrize(("name", "score", "failing", "mistakes"), BUGS)
def test_classic_bugs(
    grade_fixture: Grade, name: str, score: float, failing: tuple[str, ...], mistakes: list[str]
) -> None:
    _, document = grade_fixture(name)
    assert document["score"] == score
    assert failed(document) == set(failing)
    assert document["extra_data"]["misconceptions"] == mistakes
    assert document["output"].startswith(f"Leaky ReLU backward pass: {score:g}/100 points.")


def test_chain_rule_feedback_names_the_chain_rule(grade_fixture: Grade) -> None:
    _, document = grade_fixture("chain_rule_missing.ipynb")
    test = next(t for t in document["tests"] if t["name"] == "test_negative_inputs")
    assert "chain rule" in test["output"]
    assert "dL/dZ = dL/dA · dA/dZ" in test["output"]
    assert test["extra_data"]["misconceptions"] == ["missing-chain-rule"]
    # Hidden tests say where values are wrong, never what the inputs were.
    assert "where Z < 0: 20 of 20 wrong" in test["output"]
    assert "Input:" not in test["output"]
    assert test["visibility"] == "after_published"


def test_stub_feedback_says_replace_the_stub(grade_fixture: Grade) -> None:
    _, document = grade_fixture("stub_not_implemented.ipynb")
    for test in document["tests"]:
        assert "leaky_relu_backward raised NotImplementedError" in test["output"]
        assert "Replace the `raise NotImplementedError` stub" in test["output"]


def test_returning_none_asks_about_return(grade_fixture: Grade) -> None:
    _, document = grade_fixture("returns_none.ipynb")
    test = next(t for t in document["tests"] if t["name"] == "test_returns_ndarray")
    assert "dZ is None (did you forget `return`?), expected a numpy.ndarray." in test["output"]


def test_mutation_feedback(grade_fixture: Grade) -> None:
    _, document = grade_fixture("mutates_dA.py")
    test = next(t for t in document["tests"] if t["name"] == "test_dA_unchanged")
    assert "dA was modified in place" in test["output"]
    assert "Work on a copy" in test["output"]


# --- broken inputs: score 0, every test says why and what to do --------------------------

BROKEN = [
    ("truncated.ipynb", ["is not valid notebook JSON", "probably truncated", "resubmit"]),
    ("binary_renamed.ipynb", ["is a ZIP archive", "Submit the .ipynb file itself"]),
    ("empty.ipynb", ["empty.ipynb is empty", "resubmit"]),
    ("not_a_notebook.ipynb", ["is JSON but not a Jupyter notebook", "'nbformat'"]),
    ("no_cells.ipynb", ["has no code cells", "nothing to grade"]),
    (
        "function_missing.ipynb",
        ["leaky_relu_backward is not defined", "Keep the function name from the template"],
    ),
    ("function_renamed.ipynb", ["did you rename it?", "'leaky_relu_backwards'"]),
    (
        "syntax_error_cell3.ipynb",
        ["leaky_relu_backward is not defined", "cell 3: SyntaxError at line 4", "never closed"],
    ),
]


@pytest.mark.parametrize(("name", "words"), BROKEN)
def test_broken_inputs_score_0_with_a_clear_message(
    grade_fixture: Grade, name: str, words: list[str]
) -> None:
    _, document = grade_fixture(name)
    assert document["score"] == 0.0
    assert document["max_score"] == 100.0
    assert failed(document) == set(ALL_TESTS)
    for text in [document["output"], *(t["output"] for t in document["tests"])]:
        for word in words:
            assert word.lower() in text.lower(), f"{word!r} missing from {text!r}"
    assert all("Not graded: " in t["output"] for t in document["tests"])


# --- both sandbox backends, on a few key fixtures ----------------------------------------


@pytest.mark.parametrize(
    ("name", "score"),
    [
        ("correct_where.ipynb", 100.0),
        ("chain_rule_missing.ipynb", 40.0),
        ("mutates_dA.py", 94.0),
        ("unrelated_sys_exit.ipynb", 100.0),
        ("syntax_error_cell3.ipynb", 0.0),
    ],
)
def test_same_score_on_each_backend(
    grade_fixture: Grade, backend: api.BackendChoice, name: str, score: float
) -> None:
    _, document = grade_fixture(name, sandbox=backend)
    assert document["score"] == score
    assert document["extra_data"]["sandbox"] == backend


def test_same_submission_same_document(grade_fixture: Grade) -> None:
    """Fixed seeds: two gradings differ only in their timing."""
    _, first = grade_fixture("chain_rule_missing.ipynb")
    _, second = grade_fixture("chain_rule_missing.ipynb")
    for document in (first, second):
        document.pop("execution_time")
    assert first == second


# --- the `grader grade` command as a subprocess ------------------------------------------


def run_grader(
    *args: str | Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(GRADER), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


@pytest.mark.parametrize(
    ("name", "score"),
    [
        ("correct_where.ipynb", 100.0),
        ("chain_rule_missing.ipynb", 40.0),
        ("truncated.ipynb", 0.0),
    ],
)
def test_cli_grade_writes_the_document(
    submission: Callable[[str], Path],
    validate_results: Callable[[Any], dict[str, Any]],
    tmp_path: Path,
    name: str,
    score: float,
) -> None:
    out = tmp_path / "out" / "results.json"
    proc = run_grader("grade", submission(name), "--assignment", ASSIGNMENT, "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    document = validate_results(json.loads(out.read_text()))
    assert document["score"] == score
    assert not list(out.parent.glob(".*.tmp")), "the atomic write left a temp file behind"


def test_cli_grade_to_stdout_with_bwrap(
    submission: Callable[[str], Path], validate_results: Callable[[Any], dict[str, Any]]
) -> None:
    from grader.sandbox.parent import bwrap_problem

    if problem := bwrap_problem():
        pytest.skip(f"bwrap backend unavailable: {problem}")
    proc = run_grader(
        "grade", submission("mutates_dA.py"), "--assignment", ASSIGNMENT, "--sandbox", "bwrap"
    )
    assert proc.returncode == 0, proc.stderr
    document = validate_results(json.loads(proc.stdout))
    assert (document["score"], document["extra_data"]["sandbox"]) == (94.0, "bwrap")
    assert proc.stderr == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["grade", "{tmp}/missing.ipynb", "--assignment", ASSIGNMENT], "error: no such file"),
        (["grade", "{fixture}", "--assignment", "no_such_assignment"], "error: unknown assignment"),
        (["grade", "{tmp}", "--assignment", ASSIGNMENT], "is not a file"),
    ],
    ids=["no-such-file", "unknown-assignment", "a-folder"],
)
def test_cli_grade_misuse_exits_2_with_error_and_hint(
    submission: Callable[[str], Path], tmp_path: Path, args: list[str], message: str
) -> None:
    fixture = submission("correct_where.ipynb")
    out = tmp_path / "results.json"
    argv = [a.format(tmp=tmp_path, fixture=fixture) for a in args]
    proc = run_grader(*argv, "--out", out)
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("error: ")
    assert message in lines[0]
    assert lines[1].startswith("  hint: ")
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def one_assignment_course(tmp_path: Path) -> Path:
    """A course folder (for GRADER_COURSE_DIR) holding only this assignment and its reference."""
    course = tmp_path / "course"
    shutil.copytree(REPO / "assignments" / ASSIGNMENT, course / "assignments" / ASSIGNMENT)
    reference = f"reference/{ASSIGNMENT}.py"
    (course / "reference").mkdir()
    shutil.copyfile(REPO / reference, course / reference)
    return course


def test_cli_grade_without_assignment_when_only_one_exists(
    submission: Callable[[str], Path], tmp_path: Path
) -> None:
    """Omitting --assignment works while the course has one assignment.

    Pinned to a one-assignment course folder (GRADER_COURSE_DIR) so it keeps meaning that
    as the repository gains assignments; adapt it if that rule changes.
    """
    course = one_assignment_course(tmp_path)
    out = tmp_path / "results.json"
    env = {**os.environ, "GRADER_COURSE_DIR": str(course)}
    proc = run_grader("grade", submission("chain_rule_missing.ipynb"), "--out", out, env=env)
    assert proc.returncode == 0, proc.stderr
    document = json.loads(out.read_text())
    assert (document["extra_data"]["assignment"], document["score"]) == (ASSIGNMENT, 40.0)


def test_internal_error_still_writes_a_document(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    submission: Callable[[str], Path],
    validate_results: Callable[[Any], dict[str, Any]],
    tmp_path: Path,
) -> None:
    """In-process: a bug in the grader exits 3 and leaves a last-ditch results document."""

    def broken(*args: object, **kwargs: object) -> GradingResult:
        raise RuntimeError("simulated grader bug")

    monkeypatch.setattr(api, "grade", broken)
    out = tmp_path / "results.json"
    code = cli.main(["grade", str(submission("correct_where.ipynb")), "--out", str(out)])
    assert code == cli.ExitCode.INTERNAL_ERROR
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: simulated grader bug" in err
    assert "Traceback" not in err
    document = validate_results(json.loads(out.read_text()))
    assert [t["name"] for t in document["tests"]] == ["Autograder failed", "Autograder exception"]
    assert [t["visibility"] for t in document["tests"]] == ["visible", "hidden"]
    assert "simulated grader bug" in document["tests"][1]["output"]
    assert "simulated grader bug" not in document["tests"][0]["output"]


# --- the bundled examples that `make grade` grades ----------------------------------------


EXAMPLES = [
    ("correct.ipynb", 100.0, []),
    ("correct_script.py", 100.0, []),
    ("messy_but_correct.ipynb", 100.0, []),  # magics, a missing course module, a NameError
    ("chain_rule_missing.ipynb", 40.0, ["missing-chain-rule"]),
    ("wrong_at_zero.ipynb", 80.0, ["wrong-at-zero"]),
    ("mutates_dA.ipynb", 94.0, ["mutates-dA"]),
    ("not_started.ipynb", 0.0, []),  # the template as handed out
    ("broken.ipynb", 0.0, []),  # truncated JSON
]


def test_every_example_has_an_expected_score() -> None:
    on_disk = {p.name for p in (REPO / "examples").iterdir() if p.suffix in {".ipynb", ".py"}}
    assert on_disk == {name for name, _, _ in EXAMPLES}


@pytest.mark.parametrize(("name", "score", "mistakes"), EXAMPLES)
def test_examples(
    validate_results: Callable[[Any], dict[str, Any]], name: str, score: float, mistakes: list[str]
) -> None:
    result = api.grade(REPO / "examples" / name, assignment=ASSIGNMENT)
    document = validate_results(result)
    assert document["score"] == score
    assert document["extra_data"]["misconceptions"] == mistakes


def test_broken_assignment_exits_3_and_still_writes_a_document(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    submission: Callable[[str], Path],
    validate_results: Callable[[Any], dict[str, Any]],
    tmp_path: Path,
) -> None:
    """An instructor's hidden suite that does not import: exit 3, error + hint, a document."""
    course = one_assignment_course(tmp_path)
    (course / "assignments" / ASSIGNMENT / "test_hidden.py").write_text("import no_such_module\n")
    monkeypatch.setenv("GRADER_COURSE_DIR", str(course))
    out = tmp_path / "results.json"
    argv = ["grade", str(submission("correct_where.ipynb")), "--assignment", ASSIGNMENT]
    code = cli.main([*argv, "--out", str(out)])
    assert code == cli.ExitCode.INTERNAL_ERROR
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("error: ")
    assert "test_hidden.py failed to import: ModuleNotFoundError" in lines[0]
    assert lines[1].startswith("  hint: ")
    document = validate_results(json.loads(out.read_text()))
    assert document["tests"][0]["name"] == "Autograder failed"


def test_unreadable_unnamed_submission_still_gets_a_document(
    submission: Callable[[str], Path],
    tmp_path: Path,
    validate_results: Callable[[Any], dict[str, Any]],
) -> None:
    """Several assignments and a truncated notebook that cannot say which: a score of 0 with
    the reason (a broken submission is a score), not a usage error; the fix goes to stderr."""
    out = tmp_path / "results.json"
    proc = run_grader("grade", submission("truncated.ipynb"), "--out", out)
    assert proc.returncode == 0, proc.stderr
    document = json.loads(out.read_text())
    validate_results(document)
    assert (document["score"], document["max_score"], document["tests"]) == (0, 0, [])
    assert "is not valid notebook JSON" in document["output"]
    assert "pass --assignment NAME" in proc.stderr


def test_readable_unnamed_submission_is_still_misuse(
    submission: Callable[[str], Path], tmp_path: Path
) -> None:
    out = tmp_path / "results.json"
    proc = run_grader("grade", submission("correct_script.py"), "--out", out)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: several assignments exist")
    assert not out.exists()
