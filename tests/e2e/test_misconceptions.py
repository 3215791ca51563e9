"""Every catalogue id, end to end: a behaviour-named submission graded through the sandbox
carries exactly that id (top level and on the failing tests it explains), with its smallest
counterexample; correct submissions carry none; two mistakes carry both."""

from __future__ import annotations

import dataclasses
import io
import re
import shutil
import time
from collections.abc import Callable
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import nbformat
import pytest

from grader import api, cli
from grader.results import GradingResult
from grader.sandbox.outcomes import SandboxInfo
from grader.sandbox.parent import bwrap_problem
from grader.submission import read_submission

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "misconceptions"
ASSIGNMENT = "leaky_relu_backward"
NONE = SandboxInfo("none")

EXPECTED = {
    "chain_rule_missing": ("missing-chain-rule",),
    "returns_local_derivative": ("returns-local-derivative",),
    "slope_one_at_zero": ("wrong-at-zero",),
    "relu_slope": ("relu-slope",),
    "slopes_swapped": ("slope-on-positive-side",),
    "returns_forward": ("returns-forward",),
    "wrong_slope_value": ("wrong-slope-value",),
    "mutates_dA": ("mutates-dA",),
    "mutates_cache": ("mutates-cache",),
    "shape_changed": ("shape-changed",),
    "returns_list": ("not-ndarray",),
    "correct_where": (),
    "correct_copy_multiply": (),
    "relu_slope_and_mutates_dA": ("relu-slope", "mutates-dA"),
    "chain_rule_missing_and_slope_one_at_zero": ("missing-chain-rule", "wrong-at-zero"),
}


@pytest.fixture(scope="module")
def prepared() -> api.PreparedAssignment:
    return api.prepare_assignment(ASSIGNMENT)


Grade = Callable[..., tuple[GradingResult, dict[str, Any]]]


@pytest.fixture
def grade(
    prepared: api.PreparedAssignment,
    tmp_path: Path,
    validate_results: Callable[[GradingResult], dict[str, Any]],
) -> Grade:
    def run(
        name: str,
        suite: api.SuiteName = "hidden",
        sandbox: SandboxInfo = NONE,
        assignment: api.PreparedAssignment | None = None,
    ) -> tuple[GradingResult, dict[str, Any]]:
        copy = tmp_path / f"{name}.py"
        shutil.copyfile(FIXTURES / f"{name}.py", copy)
        result = api.grade_submission(
            assignment or prepared, read_submission(copy), sandbox=sandbox, suite=suite
        )
        return result, validate_results(result)

    return run


def test_every_catalogue_id_has_a_fixture(prepared: api.PreparedAssignment) -> None:
    covered = {i for ids in EXPECTED.values() for i in ids}
    assert covered == {m.id for m in prepared.catalogue}


@pytest.mark.parametrize(("name", "ids"), EXPECTED.items(), ids=list(EXPECTED))
def test_results_carry_exactly_the_ids(name: str, ids: tuple[str, ...], grade: Grade) -> None:
    _, document = grade(name)
    assert document["extra_data"]["misconceptions"] == list(ids)
    failing = [t for t in document["tests"] if t["status"] == "failed"]
    passing = [t for t in document["tests"] if t["status"] == "passed"]
    assert all(t["extra_data"]["misconceptions"] == [] for t in passing)
    # Each failing test is explained by some of the ids, and together they name all of them.
    named = {i for t in failing for i in t["extra_data"]["misconceptions"]}
    assert named == set(ids)
    if not ids:
        assert document["score"] == 100.0
        assert "diagnosis" not in document["extra_data"]
        return
    diagnosis = document["extra_data"]["diagnosis"]
    assert [d["id"] for d in diagnosis] == list(ids)
    for entry in diagnosis:
        assert entry["counterexample"] is not None, entry["id"]
        # Shrunk to one element per argument (a 1x1 for the shape mistake).
        values = re.findall(r"-?\d+\.\d*", entry["counterexample"]["inputs"])
        assert len(values) == 2, entry["counterexample"]["inputs"]
    # Hidden tests name the mistake but never print inputs, their own or the counterexample.
    for test in failing:
        assert "Input:" not in test["output"]
        assert "Smallest input" not in test["output"]
        assert "Likely mistake [" in test["output"]


def test_seed_mistake_end_to_end(grade: Grade) -> None:
    _, document = grade("chain_rule_missing")
    assert document["score"] == 40.0
    assert document["extra_data"]["misconceptions"] == ["missing-chain-rule"]
    negative = next(t for t in document["tests"] if t["name"] == "test_negative_inputs")
    assert negative["extra_data"]["misconceptions"] == ["missing-chain-rule"]
    assert "chain rule" in negative["output"]
    assert "dL/dZ = dL/dA · dA/dZ" in negative["output"]
    # The counterexample, in the overall message: one element, and a dA that is not 1.
    match = re.search(
        r"Smallest input that shows it: dA = \[(-?[\d.]+)\], cache = \[(-?[\d.]+)\]\n"
        r"\s+expected \[(-?[\d.]+)\]\n\s+got      \[0\.01\]",
        document["output"],
    )
    assert match, document["output"]
    dA, Z, expected = (float(g) for g in match.groups())
    assert dA != 1.0
    assert Z <= 0
    assert expected == pytest.approx(0.01 * dA)


def test_visible_tests_show_the_counterexample(grade: Grade) -> None:
    _, document = grade("chain_rule_missing", suite="visible")
    negative = next(t for t in document["tests"] if t["name"] == "test_negative_values")
    assert "Input:\n  Z = [[-1. , -0.5, -4. ]]" in negative["output"]
    assert "Smallest input that shows it: dA = [" in negative["output"]


def test_grader_check_prints_the_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "chain_rule_missing.py"
    shutil.copyfile(FIXTURES / "chain_rule_missing.py", target)
    monkeypatch.setenv("NO_COLOR", "1")
    out = io.StringIO()
    with redirect_stdout(out):
        code = cli.main(["check", str(target), "--assignment", ASSIGNMENT, "--sandbox", "none"])
    text = out.getvalue()
    assert code == 1
    assert "\033[" not in text
    lines = text.splitlines()
    assert "  FAIL  test_negative_values  0/1" in lines
    assert "  PASS  test_positive_values  1/1" in lines
    mistakes = lines.index("Mistakes found")
    assert lines[mistakes + 1].startswith("  [missing-chain-rule] The local slope replaces dA")
    assert any(line.startswith("    Smallest input that shows it: dA = [") for line in lines)
    assert "Leaky ReLU backward pass: 3/6 points." in lines
    assert text.count("dL/dZ = dL/dA · dA/dZ") == 1  # explained once, not under every test


def test_a_submission_that_hangs_on_small_inputs_stays_bounded(
    prepared: api.PreparedAssignment, grade: Grade
) -> None:
    # Short per-call timeout so the hang costs under a second; probing must stop at it.
    limits = dataclasses.replace(prepared.assignment.limits, test_timeout=0.5, kill_grace=0.5)
    quick = dataclasses.replace(
        prepared, assignment=dataclasses.replace(prepared.assignment, limits=limits)
    )
    started = time.monotonic()
    _, document = grade("hangs_on_vectors", assignment=quick)
    assert time.monotonic() - started < 15
    assert document["extra_data"]["misconceptions"] == ["relu-slope"]
    (entry,) = document["extra_data"]["diagnosis"]
    # The first probe (a 1x1) showed it; flattening to (1,) hung, so shrinking stopped there.
    assert entry["counterexample"]["inputs"].startswith("dA = [[")


def test_template_check_cell_is_harmless_when_graded(tmp_path: Path) -> None:
    nb = nbformat.read(REPO / "assignments" / ASSIGNMENT / "template.ipynb", as_version=4)
    stub = next(c for c in nb.cells if "raise NotImplementedError" in c.source)
    stub.source = (
        "def leaky_relu_backward(dA, cache):\n"
        "    Z = cache\n"
        "    return np.where(Z > 0, dA, 0.01 * dA)\n"
    )
    path = tmp_path / "solved.ipynb"
    nbformat.write(nb, path)
    result = api.check(path, assignment=ASSIGNMENT, sandbox="none")
    assert result.score == 6.0
    assert all(c["status"] == "ok" for c in result.extra["cells"])


@pytest.mark.bwrap
@pytest.mark.skipif(bwrap_problem() is not None, reason=f"bwrap unavailable: {bwrap_problem()}")
def test_probing_works_through_bubblewrap(grade: Grade) -> None:
    _, document = grade("relu_slope", sandbox=SandboxInfo("bwrap"))
    assert document["extra_data"]["sandbox"] == "bwrap"
    (entry,) = document["extra_data"]["diagnosis"]
    assert entry["id"] == "relu-slope"
    assert entry["counterexample"]["outcome"][1] == "got      [0.]"
