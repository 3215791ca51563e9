"""deep_nn_step_by_step graded end to end: ten functions of one course notebook, one document.

Every fixture in tests/fixtures/deep_nn_step_by_step/ (written by its generate.py) is graded
once by ``grader batch`` (in-process, real child processes); the Gradescope package and the
student release are checked at the end.

The expected scores are reasoned from the assignment's suites, not copied from the grader.
Points per function: initialize_parameters 5, initialize_parameters_deep 5, linear_forward 5
(Z 2, a wide batch 1, one example 1, the cache 1), linear_activation_forward 8 (relu 3,
sigmoid 3, the cache 2), L_model_forward 10 (2 layers 3, 4 layers 4, caches 3), compute_cost 7
(3, 2, 2): the forward half is 40. linear_backward 15 (its own suite's 100 scaled by 0.15),
linear_activation_backward 15 (relu 5, sigmoid 5, wide 3, inputs unchanged 2),
L_model_backward 20 (2 layers 5, 3 layers 5, the narrow network 3, the dA keys 3, every
layer's keys 2, inputs unchanged 2), update_parameters 10 (4, 4, 2).
- A mistake in a helper also fails what calls it: linear_forward without b fails its three
  value tests (4), all of linear_activation_forward (8) and of L_model_forward (10): 78.
- Mistakes that mix up layers (dAL reused, caches off by one) fail on shapes on every network
  but the narrow one, where they are named: all of L_model_backward but none of its inputs
  (20, or 18 for grads not a dict, whose inputs test passes). Caches in forward order are
  right on a network with one hidden layer: 13.
- One branch wrong (relu's activation missing, the sigmoid's backward step skipped) costs only
  the tests that take that branch, and whatever calls it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from grader import api
from grader.assignments import load_assignment
from grader.batch import run_batch
from grader.cli import main
from grader.export import ROOT_ENV
from grader.release import build_release
from grader.results import GradingResult

pytestmark = pytest.mark.sandbox

ASSIGNMENT = "deep_nn_step_by_step"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / ASSIGNMENT
FORWARD = 40.0
# linear_backward's own suite gives 45/100 for 1/m missing: 6.75 of its 15 here; its callers
# lose linear_activation_backward's value tests (13) and L_model_backward's dW, db tests (13).
LB_FIXTURE_SCORE = 100 - (15 - 15 * 0.45) - 13 - 13

CASES = [
    ("correct_2021.ipynb", 100, ()),
    ("correct_2017.ipynb", 100, ()),
    ("forward_half_done.ipynb", FORWARD, ()),
    ("bias_missing.py", 78, ("bias-missing",)),
    ("activations_swapped.py", 84, ("activations-swapped",)),
    ("activation_not_applied.py", 87, ("activation-not-applied",)),
    ("activation_applied_to_input.py", 85, ("activation-applied-to-input",)),
    ("sigmoid_everywhere.py", 90, ("sigmoid-everywhere",)),
    ("relu_at_output.py", 93, ("relu-at-output",)),
    ("cost_without_1_over_m.py", 93, ("cost-without-1-over-m",)),
    ("cost_sign_flipped.py", 93, ("cost-sign-flipped",)),
    ("cost_missing_negative_class_term.py", 93, ("cost-missing-negative-class-term",)),
    ("cost_not_squeezed.py", 100, ()),  # a note, not a deduction (below)
    ("linear_backward_missing_one_over_m.py", LB_FIXTURE_SCORE, ("missing-one-over-m",)),
    ("backward_activations_swapped.py", 71, ("backward-activations-swapped",)),
    ("activation_backward_skipped.py", 76, ("activation-backward-skipped",)),
    ("cache_parts_swapped.py", 65, ("cache-parts-swapped",)),
    ("dAL_reused.py", 80, ("dAL-reused",)),
    ("sigmoid_backward_for_hidden_layers.py", 84, ("sigmoid-backward-for-hidden-layers",)),
    ("dAL_sign_flipped.py", 84, ("dAL-sign-flipped",)),
    ("caches_off_by_one.py", 80, ("caches-off-by-one",)),
    ("caches_in_forward_order.py", 87, ("caches-in-forward-order",)),
    ("grads_not_a_dict.py", 82, ("grads-not-a-dict",)),
    ("gradient_ascent.py", 90, ("gradient-ascent",)),
    ("learning_rate_missing.py", 90, ("learning-rate-missing",)),
    ("last_layer_not_updated.py", 90, ("last-layer-not-updated",)),
    ("first_layer_not_updated.py", 90, ("first-layer-not-updated",)),
]


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, GradingResult]:
    """Every fixture graded once, by `grader batch` (2 jobs): fixture file name -> result.

    Each document is the one `grader grade` writes for that file (README, Grading a whole
    class), and one batch grades the 27 notebooks in a fraction of 27 separate grades."""
    folder = tmp_path_factory.mktemp("class")
    for fixture, _, _ in CASES:
        shutil.copyfile(FIXTURES / fixture, folder / fixture)
    out = folder.parent / "out"
    summary = run_batch(folder, out, assignment=ASSIGNMENT, jobs=2, sandbox="none")
    assert len(summary.entries) == len(CASES)
    return {
        fixture: GradingResult.from_gradescope(
            json.loads((out / f"{Path(fixture).stem}.json").read_text())
        )
        for fixture, _, _ in CASES
    }


def by_function(result: GradingResult) -> dict[str, float]:
    scores: dict[str, float] = {}
    for test in result.tests:
        function = test.name.split(":", 1)[0]
        scores[function] = scores.get(function, 0.0) + test.score
    return scores


@pytest.mark.parametrize(("fixture", "score", "ids"), CASES, ids=[c[0] for c in CASES])
def test_fixture_scores_and_named_mistakes(
    graded: dict[str, GradingResult], fixture: str, score: float, ids: tuple[str, ...]
) -> None:
    result = graded[fixture]
    assert result.assignment == ASSIGNMENT
    assert result.max_score == pytest.approx(100)
    assert result.score == pytest.approx(score)
    assert result.misconceptions == ids


def test_every_catalogued_mistake_has_a_fixture() -> None:
    prepared = api.prepare_assignment(ASSIGNMENT)
    catalogue = {m.id for m in prepared.catalogue}
    named = {i for _, _, ids in CASES for i in ids}
    # linear_backward's catalogue is that assignment's, with its own fixtures; one is here.
    own = {i for i in catalogue if i in named or not i.startswith(("db-", "dW-", "dA-prev"))}
    assert own - {"mutates-dZ", "mutates-cache", "not-a-tuple-of-arrays"} <= named
    fixtures = {p.name for p in FIXTURES.iterdir()} - {"generate.py", "__pycache__"}
    assert fixtures == {fixture for fixture, _, _ in CASES}


def test_forward_half_earns_exactly_the_forward_functions(
    graded: dict[str, GradingResult],
) -> None:
    scores = by_function(graded["forward_half_done.ipynb"])
    forward = ("initialize_parameters", "initialize_parameters_deep", "linear_forward")
    forward += ("linear_activation_forward", "L_model_forward", "compute_cost")
    assert {f: scores[f] for f in forward} == {
        "initialize_parameters": 5, "initialize_parameters_deep": 5, "linear_forward": 5,
        "linear_activation_forward": 8, "L_model_forward": 10, "compute_cost": 7,
    }  # fmt: skip
    assert sum(v for f, v in scores.items() if f not in forward) == 0


def test_older_dA_keys_and_in_place_update_are_notes_not_deductions(
    graded: dict[str, GradingResult],
) -> None:
    result = graded["correct_2017.ipynb"]
    outputs = {t.name: t.output for t in result.tests}
    dA = next(o for n, o in outputs.items() if n.endswith("test_dA_keys_and_values"))
    assert "2017" in dA
    assert "accepted" in dA
    update = next(o for n, o in outputs.items() if n.startswith("update_parameters: test_two"))
    assert "changed the dict it was given" in update


def test_cost_not_squeezed_is_a_note(graded: dict[str, GradingResult]) -> None:
    result = graded["cost_not_squeezed.py"]
    cost_tests = [t for t in result.tests if t.name.startswith("compute_cost:")]
    assert all(t.status == "passed" for t in cost_tests)
    assert all("The cost is not squeezed" in t.output for t in cost_tests)


@pytest.mark.parametrize(
    ("fixture", "caller", "helper"),
    [
        ("backward_activations_swapped.py", "L_model_backward", "linear_activation_backward"),
        ("linear_backward_missing_one_over_m.py", "linear_activation_backward", "linear_backward"),
        ("bias_missing.py", "linear_activation_forward", "linear_forward"),
    ],
)
def test_a_function_wrong_only_through_its_helper_is_told_so(
    graded: dict[str, GradingResult], fixture: str, caller: str, helper: str
) -> None:
    result = graded[fixture]
    failed = [t for t in result.tests if t.name.startswith(f"{caller}:") and t.status == "failed"]
    assert failed
    assert all(helper in t.output for t in failed), [t.output for t in failed]


# --- the Gradescope package, dry run -----------------------------------------------------------


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export") / "autograder.zip"
    assert main(["export", "gradescope", "--assignment", ASSIGNMENT, "--out", str(out)]) == 0
    return out


def dry_run(autograder_zip: Path, root: Path, notebook: str) -> dict[str, Any]:
    """Unpack as Gradescope does, upload one notebook, run run_autograder (this venv on PATH)."""
    with zipfile.ZipFile(autograder_zip) as archive:
        archive.extractall(root / "source")
    script = root / "source" / "run_autograder"
    script.chmod(0o755)
    (root / "submission").mkdir()
    shutil.copyfile(FIXTURES / notebook, root / "submission" / f"{ASSIGNMENT}.ipynb")
    env = {
        ROOT_ENV: str(root),
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(root),
        "LANG": "C.UTF-8",
    }
    done = subprocess.run(
        [str(script)], env=env, capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, done.stderr
    document: dict[str, Any] = json.loads((root / "results" / "results.json").read_text())
    return document


def test_the_package_holds_what_the_notebook_needs(autograder_zip: Path) -> None:
    with zipfile.ZipFile(autograder_zip) as archive:
        names = set(archive.namelist())
    folder = f"course/assignments/{ASSIGNMENT}"
    assert f"{folder}/provided/dnn_utils.py" in names
    assert f"{folder}/test_hidden_l_model_backward.py" in names
    assert f"course/reference/{ASSIGNMENT}.py" in names
    # linear_backward's suite, catalogue and reference, included by reference, not copied.
    assert "course/assignments/linear_backward/test_hidden.py" in names
    assert "course/reference/linear_backward.py" in names


@pytest.mark.parametrize(
    ("notebook", "score"), [("correct_2021.ipynb", 100), ("forward_half_done.ipynb", FORWARD)]
)
def test_dry_run_of_the_package(
    autograder_zip: Path, tmp_path: Path, notebook: str, score: float
) -> None:
    document = dry_run(autograder_zip, tmp_path / "ag", notebook)
    assert document["extra_data"]["assignment"] == ASSIGNMENT
    assert (document["score"], document["max_score"]) == (score, 100)


# --- the student release --------------------------------------------------------------------


def test_release_gives_every_visible_suite_and_the_provided_module(tmp_path: Path) -> None:
    release = build_release(tmp_path / "release", assignment=ASSIGNMENT)
    own = {
        p.relative_to(release.folder).as_posix()
        for p in release.files
        if not p.relative_to(release.folder).as_posix().startswith("grader-src/")
    }
    spec = load_assignment(ASSIGNMENT)
    folder = f"assignments/{ASSIGNMENT}"
    assert own == {
        f"{ASSIGNMENT}.ipynb",
        "README.md",
        "dnn_utils.py",  # next to the notebook, where Jupyter imports it from
        "dnn_utils_v2.py",  # under the 2017 notebooks' name too
        f"{folder}/provided/dnn_utils.py",
        f"{folder}/assignment.toml",
        f"{folder}/no_reference.py",
    } | {f"{folder}/test_visible_{g.function}.py" for g in spec.graded}
    assert release.solutions_stripped == 15


@pytest.mark.parametrize(("notebook", "passed"), [("correct_2017.ipynb", True), (None, False)])
def test_grader_check_runs_from_the_release_alone(
    tmp_path: Path, notebook: str | None, passed: bool
) -> None:
    """The released spec grades a student's copy on the visible tests of all ten functions;
    the released template itself (every solution a stub) fails them all, with the reason."""
    release = build_release(tmp_path / "release", assignment=ASSIGNMENT)
    path = FIXTURES / notebook if notebook else release.notebook
    result = api.check(path, assignment=ASSIGNMENT, course_dir=release.folder, sandbox="none")
    functions = {t.name.split(":", 1)[0] for t in result.tests}
    assert functions == set(load_assignment(ASSIGNMENT).functions)
    assert result.all_passed is passed
    if not passed:
        assert result.score == 0
        assert all("NotImplementedError" in t.output for t in result.tests)
