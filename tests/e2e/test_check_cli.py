"""`grader check`: the visible suite, a readable report, exit 0 only when every test passes.

Visible tests (assignments/leaky_relu_backward/test_visible.py, 1 point each):
positive values, negative values, Z == 0 uses the negative slope, chain rule on a 2x2,
shape and type, inputs unchanged. The expected results below follow from those inputs.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from grader import api
from grader.results import GradingResult

pytestmark = pytest.mark.sandbox

ASSIGNMENT = "leaky_relu_backward"
GRADER = Path(sys.executable).parent / "grader"  # the venv's console script
VISIBLE = (
    "test_positive_values",
    "test_negative_values",
    "test_zero_uses_negative_slope",
    "test_chain_rule_multiplies_dA",
    "test_keeps_shape",
    "test_inputs_unchanged",
)
NEGATIVE_SIDE = (
    "test_negative_values",
    "test_zero_uses_negative_slope",
    "test_chain_rule_multiplies_dA",
)

Grade = Callable[..., tuple[GradingResult, dict[str, Any]]]


def run_check(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(GRADER), "check", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_expected_names_are_the_visible_suite() -> None:
    prepared = api.prepare_assignment(ASSIGNMENT)
    assert [c.name for c in prepared.visible] == list(VISIBLE)
    assert {c.visibility for c in prepared.visible} == {"visible"}


@pytest.mark.parametrize(
    ("name", "failing"),
    [
        ("correct_mask_copy.ipynb", ()),
        ("correct_script.py", ()),
        ("chain_rule_missing.ipynb", NEGATIVE_SIDE),
        ("relu_slope_zero.ipynb", NEGATIVE_SIDE),
        # Z >= 0 differs only at Z == 0, which only one visible test contains.
        ("wrong_at_zero.ipynb", ("test_zero_uses_negative_slope",)),
        ("mutates_dA.py", ("test_inputs_unchanged",)),
        # Flattened: the 1-d input (Z == 0 test) keeps its shape, the 2-d ones do not.
        (
            "shape_changed.ipynb",
            (
                "test_positive_values",
                "test_negative_values",
                "test_chain_rule_multiplies_dA",
                "test_keeps_shape",
            ),
        ),
        ("returns_forward.ipynb", VISIBLE[:4]),
        ("stub_not_implemented.ipynb", VISIBLE),
        ("truncated.ipynb", VISIBLE),
    ],
)
def test_visible_results(grade_fixture: Grade, name: str, failing: tuple[str, ...]) -> None:
    """In-process api.check (suite="visible"): the exact failing visible tests."""
    _, document = grade_fixture(name, suite="visible")
    assert {t["name"] for t in document["tests"] if t["status"] == "failed"} == set(failing)
    assert document["score"] == 6 - len(failing)
    assert document["extra_data"]["suite"] == "visible"
    assert {t["visibility"] for t in document["tests"]} == {"visible"}


def test_visible_feedback_quotes_the_small_input(grade_fixture: Grade) -> None:
    _, document = grade_fixture("chain_rule_missing.ipynb", suite="visible")
    test = next(t for t in document["tests"] if t["name"] == "test_negative_values")
    assert "Z = [[-1. , -0.5, -4. ]]" in test["output"]
    assert "expected [[ 0.02 , -0.03 ,  0.005]]" in test["output"]
    assert "got      [[0.01, 0.01, 0.01]]" in test["output"]
    assert "[missing-chain-rule]" in test["output"]


def test_cli_check_correct_exits_0(submission: Callable[[str], Path]) -> None:
    proc = run_check(submission("correct_where.ipynb"), "--assignment", ASSIGNMENT)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"{ASSIGNMENT} — correct_where.ipynb"
    for name in VISIBLE:
        assert f"  PASS  {name}  1/1" in lines
    assert "FAIL" not in proc.stdout
    assert "Leaky ReLU backward pass: 6/6 points." in lines
    assert "\033[" not in proc.stdout, "no colour when stdout is not a terminal"


def test_cli_check_chain_rule_bug_exits_1_and_explains(submission: Callable[[str], Path]) -> None:
    proc = run_check(submission("chain_rule_missing.ipynb"), "--assignment", ASSIGNMENT)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    assert "  PASS  test_positive_values  1/1" in lines
    for name in NEGATIVE_SIDE:
        assert f"  FAIL  {name}  0/1" in lines
        assert f"✗ {name}" in lines
    assert "Leaky ReLU backward pass: 3/6 points." in lines
    assert "chain rule: dL/dZ = dL/dA · dA/dZ" in proc.stdout


def test_cli_check_broken_notebook_exits_1(submission: Callable[[str], Path]) -> None:
    proc = run_check(submission("binary_renamed.ipynb"), "--assignment", ASSIGNMENT)
    assert proc.returncode == 1
    assert "binary_renamed.ipynb is a ZIP archive" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


def test_cli_check_misuse_exits_2(tmp_path: Path) -> None:
    proc = run_check(tmp_path / "nothing_here.ipynb", "--assignment", ASSIGNMENT)
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert lines[0] == f"error: no such file: {tmp_path / 'nothing_here.ipynb'}"
    assert lines[1] == "  hint: check the path; pass a .ipynb or .py file"
    assert proc.stdout == ""
