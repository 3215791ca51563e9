"""linear_backward graded end to end: a tuple cache in, three outputs back, each diagnosed.

Every fixture in tests/fixtures/linear_backward/ goes through ``grader.api.grade`` in-process
with the real child process; the fixtures name their assignment themselves.

The expected scores are reasoned from assignments/linear_backward/test_hidden.py, not copied
from the grader. Values 75: dA_prev 15, dW 15, db 10 (each alone, n=3, n_prev=4, m=5), then
all three outputs on a single example 5 (m = 1, where 1/m changes nothing), a single unit 5,
a wide layer 10, a large batch 10 and float32 5. Properties 25: three arrays 4, the shape
of dA_prev 4, of dW 4, of db 4, dZ unchanged 4, cache unchanged 5.
- a wrong scale on one output fails its own test and the four all-output tests with m > 1
  (single unit, wide, large, float32: 30): dW 100 - 15 - 30 = 55, db 100 - 10 - 30 = 60,
  dA_prev 55; both dW and db 100 - 25 - 30 = 45;
- a transposed dW or dA_prev fails its own test, every all-output test (m = 1 too: the
  shapes differ) and its shape test: 100 - 15 - 35 - 4 = 46;
- db summed over units, shape (1, m), fails like that: 100 - 10 - 35 - 4 = 51;
- db without keepdims is graded on its values, so only its shape test fails: 96;
- returning (dW, db) scores 0; mutating dZ costs 4 and the cache 5; dividing dZ in place
  first is dA_prev averaged (55) and dZ mutated (4): 51.
- db summed over everything, shape (1, 1), is right only for one unit (n = 1): it fails
  like the wrong axis but passes the single-unit test: 51 + 5 = 56;
- db summed into one float fails every test (each needs three arrays): 0;
- db squeezed is (n,) for n > 1 (graded on values, its shape test fails: 4) and a float for
  n = 1 (the single-unit test fails: 5): 91;
- db reshaped to (3, 1) raises for every n but 3, so only the four n = 3 tests pass: 45.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from grader import api
from grader.results import GradingResult

pytestmark = pytest.mark.sandbox

ASSIGNMENT = "linear_backward"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / ASSIGNMENT

CASES = [
    ("correct.ipynb", 100, ()),
    ("correct_matmul.py", 100, ()),
    ("missing_one_over_m.py", 45, ("missing-one-over-m",)),
    ("dW_not_divided_by_m.py", 55, ("dW-not-divided-by-m",)),
    ("db_not_divided_by_m.py", 60, ("db-not-divided-by-m",)),
    ("dA_prev_divided_by_m.py", 55, ("dA-prev-divided-by-m",)),
    ("db_without_keepdims.py", 96, ("db-without-keepdims",)),
    ("db_summed_over_units.py", 51, ("db-summed-over-units",)),
    ("dW_transposed.py", 46, ("dW-transposed",)),
    ("dA_prev_transposed.py", 46, ("dA-prev-transposed",)),
    ("not_a_tuple_of_arrays.py", 0, ("not-a-tuple-of-arrays",)),
    ("mutates_dZ.py", 96, ("mutates-dZ",)),
    ("mutates_cache.py", 95, ("mutates-cache",)),
    ("divides_dZ_in_place.py", 51, ("dA-prev-divided-by-m", "mutates-dZ")),
    ("db_summed_over_everything.py", 56, ("db-summed-over-everything",)),
    ("db_summed_to_scalar.py", 0, ("db-summed-to-scalar",)),
    ("db_squeezed.py", 91, ("db-squeezed",)),
    ("db_reshaped_to_test_case.py", 45, ()),
]


def grade_copy(tmp_path: Path, fixture: str) -> GradingResult:
    """Grade a copy in tmp_path (nothing is ever written next to the fixtures)."""
    path = tmp_path / fixture
    shutil.copyfile(FIXTURES / fixture, path)
    return api.grade(path, sandbox="none")


@pytest.mark.parametrize(("fixture", "score", "ids"), CASES, ids=[c[0] for c in CASES])
def test_fixture_scores_and_named_mistakes(
    tmp_path: Path, fixture: str, score: float, ids: tuple[str, ...]
) -> None:
    result = grade_copy(tmp_path, fixture)
    assert result.assignment == ASSIGNMENT
    assert (result.score, result.max_score) == (score, 100)
    assert result.misconceptions == ids


def test_every_catalogue_entry_has_a_fixture() -> None:
    catalogue = {m.id for m in api.prepare_assignment(ASSIGNMENT).catalogue}
    assert {i for _, _, ids in CASES for i in ids} == catalogue
    assert {p.name for p in FIXTURES.iterdir()} == {fixture for fixture, _, _ in CASES}


def test_each_output_is_checked_and_named_on_its_own(tmp_path: Path) -> None:
    """dW alone is wrong: dA_prev and db pass, the dW test names the mistake."""
    result = grade_copy(tmp_path, "dW_not_divided_by_m.py")
    by_name = {t.name: t for t in result.tests}
    assert by_name["test_dA_prev"].status == "passed"
    assert by_name["test_db"].status == "passed"
    dW = by_name["test_dW"]
    assert "dW is wrong at 12 of 12 elements." in dW.output
    assert dW.misconceptions == ("dW-not-divided-by-m",)
    assert by_name["test_large_batch"].output.splitlines()[1] == (
        "dW is wrong at 35 of 35 elements."
    )


def test_db_without_keepdims_is_graded_on_values_with_a_note(tmp_path: Path) -> None:
    result = grade_copy(tmp_path, "db_without_keepdims.py")
    by_name = {t.name: t for t in result.tests}
    assert by_name["test_db"].status == "passed"
    assert "Note: db has shape (3,); b, and so db, has shape (3, 1)." in by_name["test_db"].output
    shape = by_name["test_db_shape"]
    assert shape.status == "failed"
    assert "db has shape (2,), expected (2, 1): the shape of b (n, 1)." in shape.output
    assert "keepdims=True" in shape.output


def test_db_summed_over_everything_keeps_the_dimensions_that_tell_it_apart(
    tmp_path: Path,
) -> None:
    """m = 1 makes np.sum(dZ, keepdims=True) look like the wrong axis, (1, m) = (1, 1): the
    diagnosis goes by every call, and the counterexample keeps n and m above 1."""
    result = grade_copy(tmp_path, "db_summed_over_everything.py")
    single = next(t for t in result.tests if t.name == "test_single_example")
    assert single.misconceptions == ("db-summed-over-everything",)
    example = result.output.split("[db-summed-over-everything]", 1)[1]
    lines = example.splitlines()
    assert lines[1].startswith("    Smallest input that shows it: dZ = [[")
    dZ_rows = lines[1].split("dZ = ", 1)[1].split(", cache")[0]
    assert dZ_rows.count("[") == 3  # two rows (n = 2) ...
    assert dZ_rows.split("]")[0].count(",") == 1  # ... of two examples (m = 2)
    assert lines[2].strip().startswith("db: expected an array of shape (2, 1): ")
    # What the submission returned is described, not quoted (it could carry hidden inputs).
    assert lines[3].strip() == "db: got      an array of shape (1, 1)"


def test_db_as_a_float_names_db_not_the_tuple(tmp_path: Path) -> None:
    result = grade_copy(tmp_path, "db_summed_to_scalar.py")
    assert "Every test failed the same way: db is a float, expected a numpy.ndarray of shape " in (
        result.output
    )
    assert "not-a-tuple-of-arrays" not in result.output
    assert "      db: got      a single number (float64)" in result.output.splitlines()


def test_squeezed_db_is_one_mistake_not_two(tmp_path: Path) -> None:
    """(n,) on most calls and a float where n = 1: np.squeeze, not a missing keepdims."""
    result = grade_copy(tmp_path, "db_squeezed.py")
    single_unit = next(t for t in result.tests if t.name == "test_single_unit")
    assert "db is a float, expected a numpy.ndarray of shape (n, 1)." in single_unit.output
    assert single_unit.misconceptions == ("db-squeezed",)
    assert "      db: got      a single number (float64)" in result.output.splitlines()


def test_the_main_reason_of_a_partial_failure_is_said_up_top(tmp_path: Path) -> None:
    result = grade_copy(tmp_path, "db_reshaped_to_test_case.py")
    # The tests are hidden until published: up top, the built-in exception only, not its
    # message (which a submission writes, and could fill with a hidden test's inputs).
    assert (
        result.output.splitlines()[1] == "10 of 14 tests failed: linear_backward raised ValueError"
    )
    failed = [t.output for t in result.tests if t.status == "failed"]
    assert sum("raised ValueError: cannot reshape array of size" in o for o in failed) == 10


def test_wrong_axis_is_not_called_keepdims(tmp_path: Path) -> None:
    """Both are 'db has the wrong shape'; only (n,) is the missing keepdims."""
    result = grade_copy(tmp_path, "db_summed_over_units.py")
    shape = next(t for t in result.tests if t.name == "test_db_shape")
    assert "db has shape (1, 4), expected (2, 1)" in shape.output
    assert shape.misconceptions == ("db-summed-over-units",)
