"""`grader check --format text|json|junit`, and the GitHub Actions workflow in docs/ci/.

The CLI is the subject, but it runs in-process (``main(argv)``): the same code path as the
script, without a subprocess per case.
"""

from __future__ import annotations

import json
import re
import shlex
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from grader import api
from grader.cli import _parser, main
from grader.junit import render_junit
from grader.results import GradingResult, TestResult

ASSIGNMENT = "leaky_relu_backward"
WORKFLOW = Path(__file__).resolve().parents[2] / "docs" / "ci" / "grader-check.yml"
Validate = Callable[[Any], dict[str, Any]]


def parse_xml(text: str) -> ET.Element:
    return ET.fromstring(text.encode())  # noqa: S314 -- the grader's own output, not a download


def run_check(path: Path, fmt: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["check", str(path), "--assignment", ASSIGNMENT, "--format", fmt])
    out, err = capsys.readouterr()
    return code, out, err


def without_time(document: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k != "execution_time"}


@pytest.mark.sandbox
def test_json_is_the_visible_results_document(
    submission: Callable[[str], Path],
    capsys: pytest.CaptureFixture[str],
    validate_results: Validate,
) -> None:
    path = submission("chain_rule_missing.ipynb")
    code, out, _ = run_check(path, "json", capsys)
    document = validate_results(json.loads(out))
    expected = api.check(path, assignment=ASSIGNMENT).to_gradescope()
    assert code == 1
    assert without_time(document) == without_time(expected)
    assert {t["extra_data"]["suite"] for t in document["tests"]} == {"visible"}
    assert document["score"] < document["max_score"]
    assert "missing-chain-rule" in document["extra_data"]["misconceptions"]


@pytest.mark.sandbox
def test_junit_counts_and_feedback(
    submission: Callable[[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = submission("chain_rule_missing.ipynb")
    code, out, _ = run_check(path, "junit", capsys)
    result = api.check(path, assignment=ASSIGNMENT)
    failed = {t.name: t for t in result.tests if t.status == "failed"}
    root = parse_xml(out)
    assert code == 1
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert len(suites) == 1
    suite = suites[0]
    assert suite.get("name") == ASSIGNMENT
    assert suite.get("tests") == str(len(result.tests))
    assert suite.get("failures") == str(len(failed))
    assert suite.get("errors") == "0"
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [t.name for t in result.tests]
    for case in cases:
        failure = case.find("failure")
        if case.get("name") in failed:
            assert failure is not None
            assert failure.text == failed[case.get("name", "")].output
            assert failure.get("type") == "missing-chain-rule"
            assert "dZ is wrong" in failure.get("message", "")
        else:
            assert failure is None
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["score"] == f"{result.score:g}"
    assert properties["max_score"] == f"{result.max_score:g}"


@pytest.mark.sandbox
@pytest.mark.parametrize("fmt", ["text", "json", "junit"])
def test_a_correct_notebook_exits_0_in_every_format(
    fmt: str, submission: Callable[[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_check(submission("correct_where.ipynb"), fmt, capsys)
    assert code == 0
    if fmt == "json":
        document = json.loads(out)
        assert document["score"] == document["max_score"] > 0
    elif fmt == "junit":
        suite = parse_xml(out).find("testsuite")
        assert suite is not None
        assert suite.get("failures") == "0"
        assert int(suite.get("tests", "0")) > 0
    else:
        assert "FAIL" not in out
        assert "PASS" in out


@pytest.mark.parametrize("fmt", ["text", "json", "junit"])
def test_misuse_exits_2_with_nothing_on_stdout(
    fmt: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_check(tmp_path / "missing.ipynb", fmt, capsys)
    assert code == 2
    assert out == ""
    assert "no such file" in err


def test_junit_survives_control_characters_and_markup() -> None:
    hostile = 'printed \x1b[31mred\x1b[0m and \x00 then </failure> & "quotes"'
    result = GradingResult(
        assignment=ASSIGNMENT,
        tests=(
            TestResult("test_a", 0.0, 1.0, "failed", hostile, ("x",), suite="visible"),
            TestResult("test_b", 1.0, 1.0, "passed", "Passed.", ("x",), suite="visible"),
        ),
        output=hostile,
        execution_time=0.5,
    )
    root = parse_xml(render_junit(result))
    failure = root.find("testsuite/testcase/failure")
    assert failure is not None
    assert failure.text is not None
    assert '</failure> & "quotes"' in failure.text
    assert "\x1b" not in failure.text
    assert root.get("tests") == "2"
    assert root.get("failures") == "1"


# --- the workflow --------------------------------------------------------------------------


def shell_commands(script: str) -> list[list[str]]:
    """Simple commands of a run: script, as words: split on ; | || && ( ), redirections cut."""
    commands: list[list[str]] = []
    for line in script.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words: list[str] = []
        redirected = False
        for token in lexer:
            if token in {";", "|", "||", "&&", "&", "(", ")"}:
                commands.append(words)
                words, redirected = [], False
            elif token in {">", ">>", "<", ">&"}:
                redirected = True  # `grader check nb > report.xml`: the rest is not argv
            elif not redirected:
                words.append(token)
        commands.append(words)
    return [c for c in commands if c]


def test_shell_commands_splits_pipes_and_redirections() -> None:
    assert shell_commands('grader check "$NB" --format junit > out.xml || echo x | tee y') == [
        ["grader", "check", "$NB", "--format", "junit"],
        ["echo", "x"],
        ["tee", "y"],
    ]


def test_workflow_is_valid_and_calls_real_grader_commands() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    # YAML 1.1 reads the bare key `on` as True; GitHub reads it as "on".
    triggers = workflow.get("on", workflow.get(True))
    assert "push" in triggers
    steps = workflow["jobs"]["check"]["steps"]
    env = {k: str(v) or "notebook.ipynb" for k, v in workflow["env"].items()}
    env["NOTEBOOK"] = "notebook.ipynb"
    grader_calls = []
    for step in steps:
        assert "run" in step or "uses" in step, step
        for words in shell_commands(step.get("run", "")):
            if words[0] != "grader":
                continue
            argv = [re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), "x"), w) for w in words]
            try:
                args = _parser().parse_args(argv[1:])
            except SystemExit as exc:  # argparse's way of rejecting a command line
                pytest.fail(
                    f"the workflow runs {shlex.join(words)!r}, which the CLI rejects: {exc}"
                )
            grader_calls.append((args.command, getattr(args, "format", None)))
    assert ("check", "junit") in grader_calls
    assert ("check", "text") in grader_calls
    used = {step["uses"].split("@")[0] for step in steps if "uses" in step}
    assert used == {"actions/checkout", "actions/setup-python", "actions/upload-artifact"}
    assert all("@v" in step["uses"] for step in steps if "uses" in step)
    assert ("doctor", None) in grader_calls


def test_workflow_runs_on_linux_macos_and_windows() -> None:
    job = yaml.safe_load(WORKFLOW.read_text())["jobs"]["check"]
    assert job["strategy"]["matrix"]["os"] == ["ubuntu-latest", "macos-latest", "windows-latest"]
    assert job["strategy"]["fail-fast"] is False
    assert job["runs-on"] == "${{ matrix.os }}"
    assert job["defaults"]["run"]["shell"] == "bash"  # the scripts are bash, Windows included
    upload = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/upload"))
    assert "${{ matrix.os }}" in upload["with"]["name"]  # one artifact per runner
