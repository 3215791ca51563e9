"""check(function): the in-notebook self-check, run live, never touching hidden tests."""

from __future__ import annotations

import json
import runpy
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pytest

from grader import GradingResult, NotebookReport, check
from grader.notebook import SANDBOX_ENV, SANDBOX_NOTE, SandboxNote, render_html
from grader.sandbox.parent import SCRUBBED_ENV

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests/fixtures/misconceptions"
ASSIGNMENT = "leaky_relu_backward"
VISIBLE = (
    "test_positive_values",
    "test_negative_values",
    "test_zero_uses_negative_slope",
    "test_chain_rule_multiplies_dA",
    "test_keeps_shape",
    "test_inputs_unchanged",
)


def load(name: str) -> Callable[..., Any]:
    fn: Callable[..., Any] = runpy.run_path(str(FIXTURES / f"{name}.py"))[ASSIGNMENT]
    return fn


def run_check(fn: Callable[..., Any], **kwargs: Any) -> NotebookReport:
    report = check(fn, assignment=ASSIGNMENT, **kwargs)
    assert isinstance(report, NotebookReport)
    return report


def test_seed_mistake_is_named_explained_and_shown() -> None:
    result = run_check(load("chain_rule_missing")).result
    assert [t.name for t in result.tests] == list(VISIBLE)
    assert result.score == 3.0
    assert result.max_score == 6.0
    assert result.misconceptions == ("missing-chain-rule",)
    failed = {t.name: t.misconceptions for t in result.tests if t.status == "failed"}
    assert failed == {
        "test_negative_values": ("missing-chain-rule",),
        "test_zero_uses_negative_slope": ("missing-chain-rule",),
        "test_chain_rule_multiplies_dA": ("missing-chain-rule",),
    }
    (entry,) = result.extra["diagnosis"]
    assert "chain rule" in entry["explanation"]
    assert "dL/dZ = dL/dA · dA/dZ" in entry["explanation"]
    # The smallest visible call that shows it: the 1x3 negative-values test.
    assert entry["counterexample"]["inputs"] == (
        "dA = [[ 2. , -3. ,  0.5]], cache = [[-1. , -0.5, -4. ]]"
    )


def test_html_contains_every_element_of_the_report() -> None:
    report = run_check(load("chain_rule_missing"))
    page = report._repr_html_()
    for name in VISIBLE:
        assert f"<code>{name}</code>" in page
    assert page.count("✓ PASS") == 3
    assert page.count("✗ FAIL") == 3
    assert "<b>[missing-chain-rule]</b>" in page
    assert "The local slope replaces dA instead of multiplying it" in page
    assert "dL/dZ = dL/dA · dA/dZ" in page
    assert "Where Z &lt;= 0 your dZ is the slope 0.01 itself" in page  # escaped, not raw
    assert "Smallest input that shows it: dA = [[ 2. , -3. ,  0.5]]" in page
    assert '<p class="score">Leaky ReLU backward pass: 3/6 points.</p>' in page
    assert page == render_html(report.result)


def test_text_repr_is_the_terminal_report() -> None:
    text = repr(run_check(load("chain_rule_missing")))
    assert "  FAIL  test_negative_values  0/1" in text.splitlines()
    assert "Mistakes found" in text.splitlines()
    assert "Leaky ReLU backward pass: 3/6 points." in text.splitlines()
    assert "\033[" not in text


@pytest.mark.parametrize(
    ("fixture", "ids", "score"),
    [
        ("correct_where", (), 6.0),
        ("correct_copy_multiply", (), 6.0),
        ("mutates_dA", ("mutates-dA",), 5.0),
        ("returns_list", ("not-ndarray",), 0.0),
        ("relu_slope_and_mutates_dA", ("relu-slope", "mutates-dA"), 2.0),
    ],
)
def test_live_diagnosis(fixture: str, ids: tuple[str, ...], score: float) -> None:
    report = run_check(load(fixture))
    assert report.result.misconceptions == ids
    assert report.result.score == score
    assert report.all_passed == (score == 6.0)
    assert ("Mistakes found" in report._repr_html_()) == bool(ids)


def test_stub_fails_with_the_fix() -> None:
    def leaky_relu_backward(dA: Any, cache: Any) -> Any:  # noqa: N803 -- the template's names
        raise NotImplementedError("leaky_relu_backward is not implemented yet")

    result = run_check(leaky_relu_backward).result
    assert result.score == 0.0
    assert result.misconceptions == ()
    assert "Replace the `raise NotImplementedError` stub" in result.tests[0].output


def test_assignment_is_found_from_the_function_name() -> None:
    fn = load("correct_where")
    report = check(fn)
    assert isinstance(report, NotebookReport)
    assert report.result.assignment == ASSIGNMENT


def test_never_imports_the_hidden_tests_or_the_reference(tmp_path: Path) -> None:
    course = tmp_path / "course"
    shutil.copytree(ROOT / "assignments" / ASSIGNMENT, course / "assignments" / ASSIGNMENT)
    (course / "reference").mkdir()
    poison = 'raise RuntimeError("imported by the notebook check")\n'
    (course / "reference" / f"{ASSIGNMENT}.py").write_text(poison)
    (course / "assignments" / ASSIGNMENT / "test_hidden.py").write_text(poison)
    report = run_check(load("chain_rule_missing"), course_dir=course)
    assert report.result.score == 3.0


def test_inside_the_grading_sandbox_it_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def leaky_relu_backward(da: np.ndarray, z: np.ndarray) -> np.ndarray:
        calls.append(1)
        return da

    monkeypatch.setenv(SANDBOX_ENV, "1")
    note = check(leaky_relu_backward)
    assert isinstance(note, SandboxNote)
    assert repr(note) == SANDBOX_NOTE
    assert calls == []


def test_the_sandbox_sets_the_variable_check_looks_for() -> None:
    assert SCRUBBED_ENV[SANDBOX_ENV] == "1"


def test_a_path_still_runs_the_sandboxed_check(tmp_path: Path) -> None:
    target = tmp_path / "chain_rule_missing.py"
    shutil.copyfile(FIXTURES / "chain_rule_missing.py", target)
    result = check(str(target), assignment=ASSIGNMENT, sandbox="none")
    assert isinstance(result, GradingResult)
    assert result.extra["suite"] == "visible"
    assert result.misconceptions == ("missing-chain-rule",)


def test_template_mentions_both_ways_and_ends_with_the_call() -> None:
    nb = nbformat.read(ROOT / "assignments" / ASSIGNMENT / "template.ipynb", as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert f"`grader check {ASSIGNMENT}.ipynb`" in text
    assert f"`check({ASSIGNMENT})`" in text
    last = nb.cells[-1]
    assert last.cell_type == "code"
    # The call is the cell's last expression, so Jupyter displays its HTML.
    assert last.source.splitlines()[-1] == f"check({ASSIGNMENT}) if check else None"


def test_template_cells_run_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    nb = nbformat.read(ROOT / "assignments" / ASSIGNMENT / "template.ipynb", as_version=4)
    namespace: dict[str, Any] = {}
    for cell in nb.cells:
        if cell.cell_type == "code":
            exec(compile(cell.source, "<cell>", "exec"), namespace)  # noqa: S102 -- our template
    report = eval(nb.cells[-1].source.splitlines()[-1], namespace)  # noqa: S307 -- same
    assert isinstance(report, NotebookReport)
    assert report.result.score == 0.0  # the stub raises NotImplementedError
    assert json.dumps(report.result.to_gradescope(), allow_nan=False)


# The hidden suite's verdicts for these fixtures (tests/e2e/test_assignments_linear.py):
# the self-check, which knows only the outputs its visible tests compared, names the same.
LINEAR_FIXTURES = {
    "correct_matmul": (),
    "missing_one_over_m": ("missing-one-over-m",),
    "dW_not_divided_by_m": ("dW-not-divided-by-m",),
    "db_not_divided_by_m": ("db-not-divided-by-m",),
    "dA_prev_divided_by_m": ("dA-prev-divided-by-m",),
    "db_without_keepdims": ("db-without-keepdims",),
    "db_summed_over_units": ("db-summed-over-units",),
    "dW_transposed": ("dW-transposed",),
    "dA_prev_transposed": ("dA-prev-transposed",),
    "mutates_dZ": ("mutates-dZ",),
    "mutates_cache": ("mutates-cache",),
    "divides_dZ_in_place": ("dA-prev-divided-by-m", "mutates-dZ"),
}


@pytest.mark.parametrize("name", sorted(LINEAR_FIXTURES))
def test_self_check_names_the_mistakes_of_a_function_with_several_outputs(name: str) -> None:
    fixture = runpy.run_path(str(ROOT / "tests/fixtures/linear_backward" / f"{name}.py"))
    report = check(fixture["linear_backward"], assignment="linear_backward")
    assert isinstance(report, NotebookReport)
    result = report.result
    assert sorted(result.misconceptions) == sorted(LINEAR_FIXTURES[name])
    assert (result.score == result.max_score) == (not LINEAR_FIXTURES[name])
    for entry in result.extra["diagnosis"]:
        # Each mistake comes with the smallest visible call that shows it, as text.
        assert entry["counterexample"] is not None, entry["id"]
        assert entry["counterexample"]["inputs"].startswith("dZ = ")
