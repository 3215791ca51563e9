"""render_text(): the `grader check` report: tests, failures, each mistake once, the score."""

from __future__ import annotations

import io

import pytest

from grader.report import (
    BOLD,
    GREEN,
    RED,
    SAME_AS_ABOVE,
    VISIBLE_NOTE,
    failure_detail,
    render_text,
    summary_lines,
    wants_colour,
)
from grader.results import GradingResult, TestResult

EXPLANATION = "Backpropagation uses the chain rule: dL/dZ = dL/dA · dA/dZ."
OUTPUT = (
    "Checks: Where Z < 0 the slope is 0.01.\n"
    "dZ is wrong at 3 of 3 elements.\n"
    "Input:\n  Z = [-1.]\n  dA = [2.]\n  expected [0.02]\n  got      [0.01]\n"
    "Likely mistake [missing-chain-rule]: The slope replaces dA\n"
    f"{EXPLANATION}\n"
    "Smallest input that shows it: dA = [2.], cache = [-1.]\n"
    "  expected [0.02]\n  got      [0.01]\n"
    "Note: dZ came back as float64."
)
RESULT = GradingResult(
    assignment="leaky_relu_backward",
    tests=(
        TestResult("test_positive", 1.0, 1.0, "passed", "Checks: x\nPassed.", (), suite="visible"),
        TestResult(
            "test_negative",
            0.0,
            1.0,
            "failed",
            OUTPUT,
            (),
            misconceptions=("missing-chain-rule",),
            suite="visible",
        ),
    ),
    output=(
        "Leaky ReLU backward pass: 1/2 points.\n"
        "Mistakes found:\n"
        "  [missing-chain-rule] The slope replaces dA\n"
        "    Smallest input that shows it: dA = [2.], cache = [-1.]\n"
        "Notes:\n  magics removed"
    ),
    execution_time=0.1,
    misconceptions=("missing-chain-rule",),
    submission="nb.ipynb",
    extra={
        "diagnosis": [
            {
                "id": "missing-chain-rule",
                "title": "The slope replaces dA",
                "explanation": EXPLANATION,
                "counterexample": {
                    "inputs": "dA = [2.], cache = [-1.]",
                    "outcome": ["expected [0.02]", "got      [0.01]"],
                },
            }
        ]
    },
)


def test_plain_report_layout() -> None:
    lines = render_text(RESULT).splitlines()
    assert lines[:3] == [
        "leaky_relu_backward — nb.ipynb",
        "  PASS  test_positive  1/1",
        "  FAIL  test_negative  0/1",
    ]
    assert lines[4:12] == [
        "✗ test_negative",
        "    dZ is wrong at 3 of 3 elements.",
        "    Input:",
        "      Z = [-1.]",
        "      dA = [2.]",
        "      expected [0.02]",
        "      got      [0.01]",
        "    Note: dZ came back as float64.",
    ]
    assert lines[12] == "    → likely mistake [missing-chain-rule] (below)"
    mistakes = lines.index("Mistakes found")
    assert lines[mistakes + 1 : mistakes + 6] == [
        "  [missing-chain-rule] The slope replaces dA",
        f"    {EXPLANATION}",
        "    Smallest input that shows it: dA = [2.], cache = [-1.]",
        "      expected [0.02]",
        "      got      [0.01]",
    ]
    assert lines[-4:] == [
        "Leaky ReLU backward pass: 1/2 points.",
        "Notes:",
        "  magics removed",
        VISIBLE_NOTE,
    ]
    # Each mistake is explained once, not under every test.
    assert render_text(RESULT).count(EXPLANATION) == 1


def test_colour_only_when_asked() -> None:
    plain = render_text(RESULT)
    coloured = render_text(RESULT, colour=True)
    assert "\033[" not in plain
    assert f"{GREEN}PASS" in coloured
    assert f"{RED}FAIL" in coloured
    assert f"{BOLD}Mistakes found" in coloured


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_colour_needs_a_terminal_and_respects_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert wants_colour(FakeTerminal())
    assert not wants_colour(io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not wants_colour(FakeTerminal())


def test_failure_detail_and_summary_drop_the_repeated_diagnosis() -> None:
    assert failure_detail(OUTPUT)[0] == "dZ is wrong at 3 of 3 elements."
    assert not any("Likely mistake" in line for line in failure_detail(OUTPUT))
    assert summary_lines(RESULT.output) == [
        "Leaky ReLU backward pass: 1/2 points.",
        "Notes:",
        "  magics removed",
    ]


def test_a_message_every_test_shares_is_printed_once() -> None:
    """A stub fails every test with the same words: the first says them, the rest point up."""
    stub = "Checks: x\nleaky_relu_backward raised NotImplementedError. Replace the stub."
    other = "Checks: y\ndZ is wrong at 1 of 1 elements."
    tests = tuple(
        TestResult(name, 0.0, 1.0, "failed", output, (), suite="visible")
        for name, output in [("t1", stub), ("t2", stub), ("t3", other), ("t4", stub)]
    )
    result = GradingResult("a", tests, "A: 0/4 points.", 0.1, submission="nb.ipynb")
    lines = render_text(result).splitlines()
    start = lines.index("✗ t1")
    assert lines[start : start + 8] == [
        "✗ t1",
        "    leaky_relu_backward raised NotImplementedError. Replace the stub.",
        "✗ t2",
        f"    {SAME_AS_ABOVE}",
        "✗ t3",
        "    dZ is wrong at 1 of 1 elements.",
        "✗ t4",  # not the same as the test just above it: said again
        "    leaky_relu_backward raised NotImplementedError. Replace the stub.",
    ]
