"""`grader check --format classroom` and docs/ci/classroom.yml, against Classroom's reporter.

What the reporter expects, from its source
(github-education-resources/autograding-grading-reporter):

- ``src/main.js`` ``parseRunnerResults``: for each id in the ``runners`` input (comma-separated),
  ``process.env[`${runner.trim().toUpperCase()}_RESULTS`]`` is base64-decoded, then
  ``JSON.parse``d. ``results.status === "fail"`` (or ``"error"``) fails the job.
- ``src/helpers/test-helpers.js``: ``results.max_score`` (number, ``|| 0``) and
  ``results.tests[].status === "pass"`` give the runner's score in its table, as
  ``passed / tests.length * max_score`` (so ``tests`` must not be empty).
- ``src/notify-classroom.js``: a runner counts only when ``results.max_score`` is truthy; the
  points posted to Classroom are ``sum(results.tests[].score)`` out of ``sum(max_score)``.
- ``src/console-results.js``: prints ``tests[].name``, ``" - line " + tests[].line_no`` unless it
  is 0, ``tests[].message`` for a test whose status is ``"error"``, and ``tests[].test_code``.

And the runner side that writes it (github-education-resources/autograding-command-grader,
``src/main.js``): ``generateResult`` builds ``{version: 1, status, max_score, tests: [{name,
status, score, message, test_code, filename, line_no, duration}]}`` and
``core.setOutput('result', btoa(JSON.stringify(result)))``: the step output ``result``.
"""

from __future__ import annotations

import base64
import json
import math
import re
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_check_formats import shell_commands

from grader import api
from grader.classroom import MESSAGE_LIMIT, classroom_document, render_classroom
from grader.cli import _parser, main
from grader.results import GradingResult, TestResult

ASSIGNMENT = "leaky_relu_backward"
WORKFLOW = Path(__file__).resolve().parents[2] / "docs" / "ci" / "classroom.yml"
TEST_FIELDS = {
    "name": str,
    "status": str,
    "score": (int, float),
    "message": str,
    "test_code": str,
    "filename": str,
    "line_no": int,
    "duration": (int, float),
}


def reporter_reads(payload: str) -> dict[str, Any]:
    """What ``parseRunnerResults`` does with one runner's env value, then the type checks."""
    results = json.loads(base64.b64decode(payload, validate=True).decode("utf-8"))
    assert set(results) == {"version", "status", "max_score", "tests"}
    assert results["version"] == 1
    assert results["status"] in {"pass", "fail", "error"}
    assert isinstance(results["max_score"], (int, float))
    assert not isinstance(results["max_score"], bool)
    assert isinstance(results["tests"], list)
    assert results["tests"], "the reporter divides by len(tests)"
    for test in results["tests"]:
        assert set(test) == set(TEST_FIELDS), test
        for key, kind in TEST_FIELDS.items():
            assert isinstance(test[key], kind), (key, test[key])
            assert not isinstance(test[key], bool)
        assert test["status"] in {"pass", "fail", "error"}
    return results


def reporter_points(results: dict[str, Any]) -> tuple[float, float]:
    """notify-classroom.js: (sum of tests' score, max_score) when max_score is truthy."""
    return sum(t["score"] for t in results["tests"]), results["max_score"]


def no_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.delenv("GITHUB_OUTPUT", raising=False)


@pytest.mark.sandbox
def test_payload_on_stdout_has_every_visible_test_with_its_points(
    submission: Callable[[str], Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    no_actions(monkeypatch)
    path = submission("chain_rule_missing.ipynb")
    code = main(["check", str(path), "--assignment", ASSIGNMENT, "--format", "classroom"])
    out, _ = capsys.readouterr()
    expected = api.check(path, assignment=ASSIGNMENT)
    assert code == 1  # the same exit code as --format text/json/junit
    assert out.endswith("\n")
    assert out.count("\n") == 1
    results = reporter_reads(out.strip())
    assert results["status"] == "fail"
    assert [t["name"] for t in results["tests"]] == [t.name for t in expected.tests]
    by_name = {t.name: t for t in expected.tests}
    for test in results["tests"]:
        mine = by_name[test["name"]]
        assert test["score"] == mine.score
        assert test["status"] == ("pass" if mine.status == "passed" else "fail")
        assert test["message"] == mine.output
        assert test["filename"] == path.name
    failed = [t for t in results["tests"] if t["status"] == "fail"]
    assert failed
    assert any("dZ is wrong" in t["message"] for t in failed)
    score, max_score = reporter_points(results)
    assert max_score == expected.max_score > 0
    assert math.isclose(score, expected.score)
    assert score < max_score


@pytest.mark.sandbox
def test_in_actions_the_payload_goes_to_github_output_and_the_log_gets_the_report(
    submission: Callable[[str], Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    outputs = tmp_path / "github_output"
    outputs.write_text("earlier=1\n")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    path = submission("correct_where.ipynb")
    code = main(["check", str(path), "--assignment", ASSIGNMENT, "--format", "classroom"])
    out, _ = capsys.readouterr()
    assert code == 0
    assert "PASS" in out  # the readable report, for the student reading the log
    lines = outputs.read_text().splitlines()
    assert lines[0] == "earlier=1"  # appended, never truncated
    assert len(lines) == 2
    name, _, value = lines[1].partition("=")
    assert name == "result"
    results = reporter_reads(value)
    assert results["status"] == "pass"
    assert all(t["status"] == "pass" for t in results["tests"])
    score, max_score = reporter_points(results)
    assert score == max_score > 0


def test_unwritable_github_output_is_a_usage_error(
    submission: Callable[[str], Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "no" / "such" / "folder" / "out"))
    path = submission("correct_where.ipynb")
    argv = ["check", str(path), "--assignment", ASSIGNMENT, "--format", "classroom"]
    code = main([*argv, "--sandbox", "none"])
    _, err = capsys.readouterr()
    assert code == 2
    assert "GITHUB_OUTPUT" in err
    assert "hint:" in err


def test_misuse_exits_2_with_nothing_on_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    no_actions(monkeypatch)
    code = main(["check", str(tmp_path / "missing.ipynb"), "--format", "classroom"])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert "no such file" in err


def result_of(*tests: TestResult, output: str = "") -> GradingResult:
    return GradingResult(ASSIGNMENT, tests, output, 0.1, submission="hw.ipynb")


def test_a_result_without_tests_is_an_error_runner_with_the_reason() -> None:
    results = reporter_reads(render_classroom(result_of(output="cell 3: SyntaxError at line 2")))
    assert results["status"] == "error"
    assert results["max_score"] == 0
    assert len(results["tests"]) == 1
    assert results["tests"][0]["status"] == "error"
    assert "SyntaxError" in results["tests"][0]["message"]


def test_long_and_non_ascii_messages_survive_the_encoding() -> None:
    long = "é" * (MESSAGE_LIMIT * 3)
    result = result_of(
        TestResult("t1", 0.5, 2.0, "failed", long, ("x",), suite="visible"),
        TestResult("t2 ∂L/∂x", 1.0, 1.0, "passed", "ok ✓", ("x",), suite="visible"),
    )
    results = reporter_reads(render_classroom(result))
    assert len(results["tests"][0]["message"]) == MESSAGE_LIMIT
    assert results["tests"][1]["name"] == "t2 ∂L/∂x"
    assert results["tests"][1]["message"] == "ok ✓"
    assert reporter_points(results) == (1.5, 3.0)  # partial credit travels as points
    assert classroom_document(result)["status"] == "fail"


# --- the workflow --------------------------------------------------------------------------


def workflow() -> dict[Any, Any]:
    loaded = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_workflow_is_valid_and_calls_real_grader_commands() -> None:
    flow = workflow()
    assert flow["name"] == "Autograding Tests"  # notify-classroom.js looks up this check run
    triggers = flow.get("on", flow.get(True))
    assert "push" in triggers
    steps = flow["jobs"]["run-autograding-tests"]["steps"]
    env = {k: str(v) for k, v in flow["env"].items()}
    env["NOTEBOOK"] = "notebook.ipynb"
    calls = []
    for step in steps:
        assert "run" in step or "uses" in step, step
        for words in shell_commands(step.get("run", "")):
            if words[0] != "grader":
                continue
            argv = [re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), "x"), w) for w in words]
            try:
                args = _parser().parse_args(argv[1:])
            except SystemExit as exc:
                pytest.fail(f"the workflow runs {shlex.join(words)!r}; the CLI rejects it: {exc}")
            calls.append((step.get("id"), args.command, args.format))
    assert calls == [("grader", "check", "classroom")]
    assert all("@v" in step["uses"] for step in steps if "uses" in step)


def test_workflow_wires_the_grader_step_to_the_reporter() -> None:
    steps = workflow()["jobs"]["run-autograding-tests"]["steps"]
    reporter = next(s for s in steps if "autograding-grading-reporter" in s.get("uses", ""))
    runners = [r.strip() for r in reporter["with"]["runners"].split(",")]
    ids = {s.get("id") for s in steps}
    for runner in runners:
        assert runner in ids
        variable = f"{runner.upper()}_RESULTS"  # parseRunnerResults' name for it
        assert reporter["env"][variable] == f"${{{{ steps.{runner}.outputs.result }}}}"
    grader_step = next(s for s in steps if s.get("id") == "grader")
    assert "always()" in reporter["if"]  # a failed test must still be reported
    assert "set +e" in grader_step["run"]


@pytest.mark.sandbox
def test_workflow_payload_decodes_to_what_the_reporter_expects(
    submission: Callable[[str], Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """Run the step's command as Actions would, then read it back as the reporter does."""
    steps = workflow()["jobs"]["run-autograding-tests"]["steps"]
    grader_step = next(s for s in steps if s.get("id") == "grader")
    words = next(w for w in shell_commands(grader_step["run"]) if w[0] == "grader")
    path = submission("chain_rule_missing.ipynb")
    argv = [str(path) if w == "$NOTEBOOK" else w for w in words[1:]]
    outputs = tmp_path / "github_output"
    outputs.touch()
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    assert main([*argv, "--assignment", ASSIGNMENT]) == 1
    capsys.readouterr()
    step_outputs = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
    reporter = next(s for s in steps if "autograding-grading-reporter" in s.get("uses", ""))
    environment = {
        name: step_outputs["result"] if "steps.grader.outputs.result" in value else value
        for name, value in reporter["env"].items()
    }
    for runner in reporter["with"]["runners"].split(","):
        results = reporter_reads(environment[f"{runner.strip().upper()}_RESULTS"])
        assert results["status"] == "fail"
        assert results["max_score"] > 0
