"""relu_backward and sigmoid_backward graded end to end: every fixture, exact scores and ids.

Each fixture (tests/fixtures/<assignment>/) goes through ``grader.api.grade`` in-process with
the real child process, and without ``--assignment``: the fixtures name their assignment
(the notebooks in metadata, as the templates write it; the scripts in a first-line
``# grader: assignment=NAME`` comment), so resolution is exercised too.

The expected scores are reasoned from the hidden suites, not copied from the grader. Both
suites give value tests 75 points and properties 25 (ndarray 4, shape 8, dA unchanged 6,
cache unchanged 7; a property is earned only by a call that returned an array).

relu_backward values: positive 10, negative 10, exact zeros 10, chain rule 10, shapes 4 x 5
(1x1 has Z < 0 and dA > 0; empty is always right), large 5, float32 5 (has zeros), mixed 5
(has zeros).
- a mistake only on the Z <= 0 side (leaky slope, dA returned unchanged) keeps positive and
  empty: 10 + 5 + 25 = 40;
- one only on the Z > 0 side (dA/dZ returned, forward returned) keeps negative, 1x1 and
  empty: 10 + 5 + 5 + 25 = 45;
- one on both sides (mask from dA, inverted mask) keeps only empty: 5 + 25 = 30;
- slope 1 at Z == 0 loses exact zeros, float32 and mixed: 100 - 20 = 80;
- flattening keeps the vector case and the properties but shape: 5 + 4 + 6 + 7 = 22; a
  list scores 0;
- mutating dA loses 6, mutating the cache loses 7.

sigmoid_backward values: zero 5, small 10, moderate 10, chain rule 10, shapes 4 x 5, large
10 (|Z| from 20 to 1000, half beyond 709.8), float32 5, mixed 5. Every value test but the
empty shape has a nonzero slope somewhere, so a wrong derivative keeps only empty:
5 + 25 = 30. Overflowing to NaN for Z > 709.8 fails only the large test: 90.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from grader import api, cli
from grader.results import GradingResult

pytestmark = pytest.mark.sandbox

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

CASES = {
    "relu_backward": [
        ("correct.ipynb", 100, ()),
        ("correct_copy.py", 100, ()),
        ("returns_local_derivative.py", 45, ("returns-local-derivative",)),
        ("relu_of_dA.py", 30, ("relu-of-dA",)),
        ("slope_one_at_zero.py", 80, ("slope-one-at-zero",)),
        ("mask_inverted.py", 30, ("mask-inverted",)),
        ("returns_dA.py", 40, ("returns-dA",)),
        ("leaky_slope.py", 40, ("leaky-slope",)),
        ("returns_forward.py", 45, ("returns-forward",)),
        ("mutates_dA.py", 94, ("mutates-dA",)),
        ("mutates_cache.py", 93, ("mutates-cache",)),
        ("shape_changed.py", 22, ("shape-changed",)),
        ("not_ndarray.py", 0, ("not-ndarray",)),
    ],
    "sigmoid_backward": [
        ("correct.ipynb", 100, ()),
        # np.exp(-Z) overflows (a RuntimeWarning in the child) yet s = 0 there is right:
        # values are graded, not warnings.
        ("correct_naive.py", 100, ()),
        ("returns_local_derivative.py", 30, ("returns-local-derivative",)),
        ("cache_used_as_activation.py", 30, ("cache-used-as-activation",)),
        ("missing_one_minus_s.py", 30, ("missing-one-minus-s",)),
        ("tanh_derivative.py", 30, ("tanh-derivative",)),
        ("returns_forward.py", 30, ("returns-forward",)),
        ("overflow_nan.py", 90, ("overflow-nan",)),
        ("mutates_dA.py", 94, ("mutates-dA",)),
        ("mutates_cache.py", 93, ("mutates-cache",)),
        ("shape_changed.py", 22, ("shape-changed",)),
        ("not_ndarray.py", 0, ("not-ndarray",)),
    ],
}
PARAMS = [
    pytest.param(name, fixture, score, ids, id=f"{name}/{fixture}")
    for name, rows in CASES.items()
    for fixture, score, ids in rows
]


def grade_copy(tmp_path: Path, assignment: str, fixture: str) -> GradingResult:
    """Grade a copy in tmp_path (nothing is ever written next to the fixtures)."""
    path = tmp_path / fixture
    shutil.copyfile(FIXTURES / assignment / fixture, path)
    return api.grade(path, sandbox="none")


@pytest.mark.parametrize(("assignment", "fixture", "score", "ids"), PARAMS)
def test_fixture_scores_and_named_mistakes(
    tmp_path: Path, assignment: str, fixture: str, score: float, ids: tuple[str, ...]
) -> None:
    result = grade_copy(tmp_path, assignment, fixture)
    assert result.assignment == assignment
    assert (result.score, result.max_score) == (score, 100)
    assert result.misconceptions == ids
    for test in result.tests:
        if test.status == "failed":
            # every failure carries its diagnosis where there is one
            assert set(test.misconceptions) <= set(ids)


@pytest.mark.parametrize("assignment", list(CASES))
def test_every_catalogue_entry_has_a_fixture(assignment: str) -> None:
    catalogue = {m.id for m in api.prepare_assignment(assignment).catalogue}
    shown = {i for _, _, ids in CASES[assignment] for i in ids}
    assert shown == catalogue
    on_disk = {p.name for p in (FIXTURES / assignment).iterdir()}
    assert on_disk == {fixture for fixture, _, _ in CASES[assignment]}


def test_feedback_names_the_mistake_and_its_fix(tmp_path: Path) -> None:
    result = grade_copy(tmp_path, "relu_backward", "mutates_dA.py")
    [failed] = [t for t in result.tests if t.status == "failed"]
    assert failed.name == "test_dA_unchanged"
    assert "dA was modified in place" in failed.output
    assert "Likely mistake [mutates-dA]: dA is modified in place" in failed.output
    assert "`dZ = dA` does not copy" in failed.output


def test_overflow_is_reported_where_it_happens(tmp_path: Path) -> None:
    result = grade_copy(tmp_path, "sigmoid_backward", "overflow_nan.py")
    [failed] = [t for t in result.tests if t.status == "failed"]
    assert failed.name == "test_large_inputs"
    # Z alternates in sign; exp(Z) overflows for the 6 positive of the 12 above 709.8
    assert "dZ is wrong at 6 of 24 elements" in failed.output
    assert "where |Z| > 700, beyond where exp(|Z|) overflows: 6 of 12 wrong" in failed.output
    assert "Likely mistake [overflow-nan]" in failed.output


def test_graded_as_another_assignment_says_so(tmp_path: Path) -> None:
    """--assignment wins over the file's own name, and the feedback points out the mismatch."""
    path = tmp_path / "correct.ipynb"
    shutil.copyfile(FIXTURES / "sigmoid_backward" / "correct.ipynb", path)
    result = api.grade(path, assignment="relu_backward", sandbox="none")
    assert (result.assignment, result.score) == ("relu_backward", 0)
    assert (
        "This file says it is for assignment 'sigmoid_backward' but was graded as "
        "'relu_backward'." in result.output
    )
    assert "relu_backward is not defined in your submission" in result.output


def test_check_uses_the_notebook_metadata(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`grader check` on a student's notebook needs no --assignment: exit 0, six passes."""
    path = tmp_path / "correct.ipynb"
    shutil.copyfile(FIXTURES / "relu_backward" / "correct.ipynb", path)
    assert cli.main(["check", str(path), "--sandbox", "none"]) == cli.ExitCode.OK
    out = capsys.readouterr().out
    assert out.count("test_") >= 6
    assert "relu" in out.lower()
