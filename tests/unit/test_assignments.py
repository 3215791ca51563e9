"""Assignment resolution, and the course's assignments checked as data, in-process and fast.

- which assignment grades a submission: ``--assignment``, else the one the file names
  (notebook metadata or a ``# grader: assignment=NAME`` line), else the only one;
- every assignment folder has the shape the grader expects (template naming itself, a
  stub, tests worth 100 points with tags, a catalogue of at least four mistakes);
- every reference passes its own suites and a central finite-difference gradient check.
"""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from grader import api, cli
from grader.assignments import (
    list_assignments,
    load_assignment,
    mismatch_note,
    resolve_assignment,
    resolve_common_assignment,
)
from grader.diagnosis import CallRecord, Misconception, diagnose
from grader.errors import AmbiguousAssignmentError, UnknownAssignmentError
from grader.sandbox.outcomes import Returned
from grader.submission import read_submission
from grader.suite import SuiteName

REPO = Path(__file__).resolve().parents[2]


def make_course(root: Path, *names: str) -> Path:
    """A course folder whose assignments exist only as far as resolution looks."""
    for name in names:
        folder = root / "assignments" / name
        folder.mkdir(parents=True)
        (folder / "assignment.toml").write_text(f'title = "{name}"\n')
    return root


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def notebook(metadata: dict[str, object]) -> str:
    cell = {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None}
    return json.dumps(
        {
            "cells": [{**cell, "source": "x = 1"}],
            "metadata": metadata,
            "nbformat": 4,
            "nbformat_minor": 5,
        }
    )


# --- what a submission names ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "named"),
    [
        ("# grader: assignment=relu_backward\nimport numpy as np\n", "relu_backward"),
        ("#!/usr/bin/env python\n#grader:assignment = sigmoid_backward\n", "sigmoid_backward"),
        ("\n# a comment first\n# grader: assignment=linear_backward\n", "linear_backward"),
        ("import numpy as np\n# grader: assignment=relu_backward\n", None),  # after code: ignored
        ("# grader: assignment relu_backward\nx = 1\n", None),  # not the documented form
        ("x = 1\n", None),
    ],
    ids=["first-line", "after-shebang", "after-comments", "after-code", "malformed", "absent"],
)
def test_python_file_names_its_assignment_in_a_leading_comment(
    tmp_path: Path, source: str, named: str | None
) -> None:
    assert read_submission(write(tmp_path / "s.py", source)).assignment == named


@pytest.mark.parametrize(
    ("metadata", "named"),
    [
        ({"grader": {"assignment": "sigmoid_backward"}}, "sigmoid_backward"),
        ({"grader": {"assignment": 3}}, None),
        ({"grader": "sigmoid_backward"}, None),
        ({"kernelspec": {"name": "python3"}}, None),
    ],
    ids=["named", "not-a-string", "not-a-table", "absent"],
)
def test_notebook_names_its_assignment_in_metadata(
    tmp_path: Path, metadata: dict[str, object], named: str | None
) -> None:
    assert read_submission(write(tmp_path / "s.ipynb", notebook(metadata))).assignment == named


def test_unreadable_notebook_still_names_its_assignment(tmp_path: Path) -> None:
    """A notebook with no code cells is a score of 0 for *its* assignment, not a usage error."""
    text = json.dumps(
        {
            "cells": [],
            "metadata": {"grader": {"assignment": "relu_backward"}},
            "nbformat": 4,
            "nbformat_minor": 5,
        }
    )
    read = read_submission(write(tmp_path / "s.ipynb", text))
    assert read.problem is not None
    assert read.assignment == "relu_backward"


# --- resolution ----------------------------------------------------------------------------


def test_explicit_assignment_wins_over_the_one_named(tmp_path: Path) -> None:
    course = make_course(tmp_path, "a", "b")
    assert resolve_assignment("a", "b", course) == "a"


def test_named_assignment_is_used_when_none_is_requested(tmp_path: Path) -> None:
    course = make_course(tmp_path, "a", "b")
    assert resolve_assignment(None, "b", course) == "b"


def test_the_only_assignment_needs_no_name(tmp_path: Path) -> None:
    course = make_course(tmp_path, "only")
    assert resolve_assignment(None, None, course) == "only"


def test_ambiguity_is_a_usage_error_listing_the_names(tmp_path: Path) -> None:
    course = make_course(tmp_path, "b_two", "a_one")
    with pytest.raises(AmbiguousAssignmentError) as caught:
        resolve_assignment(None, None, course, submission="hw.py")
    error = caught.value
    assert error.exit_code == 2
    assert error.message == "several assignments exist and none is named by hw.py"
    assert error.hint.startswith("pass --assignment NAME, one of: a_one, b_two.")
    assert "# grader: assignment=NAME" in error.hint


@pytest.mark.parametrize(("requested", "named"), [("nope", None), (None, "nope")])
def test_unknown_assignment_is_a_usage_error(
    tmp_path: Path, requested: str | None, named: str | None
) -> None:
    course = make_course(tmp_path, "a", "b")
    with pytest.raises(UnknownAssignmentError) as caught:
        resolve_assignment(requested, named, course, submission="hw.ipynb")
    assert caught.value.exit_code == 2
    assert "'nope'" in caught.value.message
    assert "grader list" in caught.value.hint


@pytest.mark.parametrize(
    ("requested", "named", "chosen"),
    [
        ("a", ["b", "b"], "a"),
        (None, ["b", None, "b"], "b"),
        (None, [None, None], None),
        (None, ["a", "b"], None),
    ],
    ids=["requested-wins", "files-agree", "none-named", "files-disagree"],
)
def test_one_assignment_for_a_batch(
    tmp_path: Path, requested: str | None, named: list[str | None], chosen: str | None
) -> None:
    course = make_course(tmp_path, "a", "b")
    if chosen is not None:
        assert resolve_common_assignment(requested, named, course) == chosen
        return
    with pytest.raises(AmbiguousAssignmentError) as caught:
        resolve_common_assignment(requested, named, course, submissions="the files in class/")
    assert caught.value.message == (
        "the files in class/ name different assignments: a, b"
        if any(named)
        else "several assignments exist and none is named by the files in class/"
    )


def test_mismatch_note_only_when_the_file_names_another_assignment() -> None:
    assert mismatch_note(None, "a") is None
    assert mismatch_note("a", "a") is None
    assert mismatch_note("b", "a") == (
        "This file says it is for assignment 'b' but was graded as 'a'. If that is not what "
        "you meant, submit the notebook made from this assignment's template."
    )


@pytest.mark.parametrize("command", ["grade", "check"])
def test_cli_ambiguity_exits_2_and_lists_the_names(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: str,
) -> None:
    """Resolution fails before any sandbox starts: the file is never run."""
    monkeypatch.setenv("GRADER_COURSE_DIR", str(make_course(tmp_path / "course", "a", "b")))
    path = write(tmp_path / "hw.py", "def f():\n    pass\n")
    assert cli.main([command, str(path)]) == cli.ExitCode.USAGE_ERROR
    err = capsys.readouterr().err
    assert err.startswith(
        "error: several assignments exist and none is named by hw.py\n"
        "  hint: pass --assignment NAME, one of: a, b."
    )


def test_cli_list_prints_one_assignment_per_line_name_first(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["list"]) == cli.ExitCode.OK
    lines = capsys.readouterr().out.splitlines()
    names = list_assignments()
    assert [line.split("\t")[0] for line in lines] == names
    assert [line.split("\t", 1)[1] for line in lines] == [load_assignment(n).title for n in names]
    assert "leaky_relu_backward" in names


# --- the assignments as data ---------------------------------------------------------------

#: the assignments of issue 7; each has fixtures under tests/fixtures/<name>/
NEW_ASSIGNMENTS = ("relu_backward", "sigmoid_backward", "linear_backward")


def test_every_new_assignment_is_listed() -> None:
    assert set(NEW_ASSIGNMENTS) <= set(list_assignments())


@pytest.mark.parametrize("name", NEW_ASSIGNMENTS)
def test_template_names_its_assignment_and_holds_a_stub(name: str) -> None:
    assignment = load_assignment(name)
    assert assignment.template is not None
    template = read_submission(assignment.template)
    assert template.problem is None
    assert template.assignment == name
    stub = [c.source for c in template.cells if f"def {assignment.function}(" in c.source]
    assert len(stub) == 1
    assert "raise NotImplementedError" in stub[0]


@pytest.mark.parametrize("name", NEW_ASSIGNMENTS)
def test_suites_are_worth_100_points_with_tags_and_the_catalogue_has_four_entries(
    name: str,
) -> None:
    prepared = api.prepare_assignment(name)
    assert sum(case.points for case in prepared.hidden) == 100
    assert all(case.tags for case in (*prepared.visible, *prepared.hidden))
    assert len(prepared.visible) >= 4
    ids = [m.id for m in prepared.catalogue]
    assert len(ids) >= 4
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("name", NEW_ASSIGNMENTS)
@pytest.mark.parametrize("suite", ["visible", "hidden"])
def test_reference_passes_its_own_suites(name: str, suite: SuiteName) -> None:
    """Each test function called in-process with the reference as the student's function."""
    prepared = api.prepare_assignment(name)
    fixtures = {
        "reference": prepared.reference,
        "student": prepared.reference,
        **{f: getattr(prepared.reference, f) for f in prepared.assignment.functions},
    }
    for case in prepared.tests(suite):
        wanted = inspect.signature(case.function).parameters
        case.function(**{p: case.params.get(p, fixtures.get(p)) for p in wanted})


# --- central finite differences ------------------------------------------------------------


def numerical_gradient(loss: Callable[[np.ndarray], float], x: np.ndarray, h: float) -> np.ndarray:
    """Central differences, one coordinate at a time: (L(x + h·e_i) − L(x − h·e_i)) / 2h."""
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        saved = x[index]
        x[index] = saved + h
        above = loss(x)
        x[index] = saved - h
        below = loss(x)
        x[index] = saved
        grad[index] = (above - below) / (2 * h)
    return grad


def reference(name: str) -> ModuleType:
    return api.prepare_assignment(name).reference


def test_relu_reference_matches_finite_differences() -> None:
    module = reference("relu_backward")
    rng = np.random.default_rng(701)
    Z = rng.standard_normal((4, 5))
    Z[np.abs(Z) < 1e-2] = 0.5  # the kink: no derivative within h of 0
    G = rng.standard_normal(Z.shape)  # L = sum(G * relu(Z)), so dL/dA = G
    expected = numerical_gradient(lambda z: float(np.sum(G * module.relu_forward(z))), Z, 1e-6)
    np.testing.assert_allclose(module.relu_backward(G, Z), expected, rtol=1e-6, atol=1e-8)


def test_sigmoid_reference_matches_finite_differences() -> None:
    module = reference("sigmoid_backward")
    rng = np.random.default_rng(702)
    Z = rng.uniform(-8.0, 8.0, (4, 5))
    G = rng.standard_normal(Z.shape)
    expected = numerical_gradient(lambda z: float(np.sum(G * module.sigmoid(z))), Z, 1e-5)
    np.testing.assert_allclose(module.sigmoid_backward(G, Z), expected, rtol=1e-6, atol=1e-10)


@pytest.mark.parametrize(("n", "n_prev", "m"), [(3, 4, 5), (1, 2, 1), (4, 4, 4)])
def test_linear_reference_matches_finite_differences(n: int, n_prev: int, m: int) -> None:
    """With L = Σ dZ ⊙ Z over the batch: dA_prev = ∂L/∂A_prev, dW = ∂L/∂W / m, db = ∂L/∂b / m.

    dW and db are gradients of the cost averaged over the m examples; dA_prev is each
    example's own gradient, which the sum gives column by column.
    """
    module = reference("linear_backward")
    rng = np.random.default_rng(703 + n + n_prev + m)
    A_prev, W, b = (
        rng.standard_normal((n_prev, m)),
        rng.standard_normal((n, n_prev)),
        rng.standard_normal((n, 1)),
    )
    dZ = rng.standard_normal((n, m))

    def loss(a_prev: np.ndarray, w: np.ndarray, bias: np.ndarray) -> float:
        return float(np.sum(dZ * module.linear_forward(a_prev, w, bias)))

    dA_prev, dW, db = module.linear_backward(dZ.copy(), (A_prev.copy(), W.copy(), b.copy()))
    h = 1e-6
    numeric = (
        numerical_gradient(lambda x: loss(x, W, b), A_prev.copy(), h),
        numerical_gradient(lambda x: loss(A_prev, x, b), W.copy(), h) / m,
        numerical_gradient(lambda x: loss(A_prev, W, x), b.copy(), h) / m,
    )
    for name, got, expected in zip(
        ("dA_prev", "dW", "db"), (dA_prev, dW, db), numeric, strict=True
    ):
        assert got.shape == expected.shape, name
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-8, err_msg=name)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sigmoid_reference_is_stable_for_large_inputs(dtype: type[np.floating[Any]]) -> None:
    """No overflow, no NaN: finite, tiny values, and the true slope e^-|Z| where it is > 0."""
    module = reference("sigmoid_backward")
    Z = np.array([-1000.0, -600.0, -30.0, 30.0, 600.0, 1000.0], dtype=dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        dZ = module.sigmoid_backward(np.ones_like(Z), Z)
        s = module.sigmoid(Z)
    assert dZ.dtype == dtype
    assert np.all(np.isfinite(dZ))
    assert np.all(np.isfinite(s))
    np.testing.assert_array_equal(s[[0, 5]], np.array([0.0, 1.0], dtype=dtype))
    if dtype == np.float64:
        # slope = e^-|Z| / (1 + e^-|Z|)²; at |Z| = 30 that is e^-30 to 13 digits
        np.testing.assert_allclose(dZ[[2, 3]], np.exp(-30.0), rtol=1e-12)
        np.testing.assert_array_equal(dZ[[0, 5]], 0.0)


# --- engine: a "shape" entry with a predictor names only the shape it predicts -------------


def test_shape_entry_with_predictor_names_only_its_shape() -> None:
    """db of shape (n,) is the missing keepdims; (1, m) is a sum over the wrong axis.

    An entry without a predictor takes only what no predicting entry explains: (n,) is
    the keepdims mistake alone, not also "some shape change"."""
    catalogue = [
        Misconception(
            id="keepdims",
            title="t",
            explanation="x",
            kind="shape",
            output=1,
            predict=lambda args, correct, got: (None, np.sum(args[0], axis=1)),
        ),
        Misconception(id="any-shape", title="t", explanation="x", kind="shape", output=1),
    ]
    dZ = np.arange(6.0).reshape(2, 3)
    correct = (dZ.T, np.sum(dZ, axis=1, keepdims=True))

    def record(test: str, db: np.ndarray) -> CallRecord:
        return CallRecord(test, (dZ,), Returned((dZ.T, db), (dZ,), 0.0), correct)

    found = diagnose(
        [
            record("flat", correct[1].ravel()),
            record("axis", np.sum(dZ, axis=0, keepdims=True)),
            record("right", correct[1]),
        ],
        catalogue,
    )
    assert found == {"flat": ("keepdims",), "axis": ("any-shape",), "right": ()}


def test_plain_pytest_runs_every_assignment_suite_in_one_session() -> None:
    """`pytest assignments/`: same-named test files and conftests side by side, all green."""
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", "assignments/"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    for name in list_assignments(REPO):
        for graded in load_assignment(name, REPO).graded:
            for suite in (graded.visible_tests, graded.hidden_tests):
                where = suite.relative_to(REPO).as_posix()
                assert f"{where}::" in run.stdout, (name, where)
