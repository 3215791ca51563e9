"""Shared fixtures for the grader's own tests.

- ``submission("name.ipynb")`` copies ``tests/fixtures/submissions/name.ipynb`` into the
  test's ``tmp_path`` and returns the copy's path (graders never write next to fixtures).
- ``validate_results(doc_or_result)`` checks a results document against
  ``grader/results.schema.json`` plus the rules a schema cannot say (sums, unique names);
  returns the document as a dict. Call it on every document a test produces.
- ``grade_fixture("name.ipynb", sandbox="none")`` = copy + ``grader.api.grade`` with the
  assignment named explicitly + ``validate_results``; returns ``(GradingResult, dict)``.
- ``backend`` is parametrized over the sandbox backends ``none``, ``landlock`` and
  ``bwrap``; each of the last two skips, with the reason, where it cannot run.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from grader import api
from grader.results import GradingResult
from grader.sandbox.parent import bwrap_problem, landlock_problem

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "submissions"
SCHEMA_PATH = REPO / "grader" / "results.schema.json"
# Always named: with several assignments, omitting it is ambiguous for files that do not
# name their own.
ASSIGNMENT = "leaky_relu_backward"
# Course folders and assignments used as data (their test_*.py files are graded, not collected).
collect_ignore = ["fixtures"]

Document = dict[str, Any]


@cache
def _validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def check_results(document: Document | GradingResult) -> Document:
    """Validate one results document (or the result that renders to it); return the dict."""
    if isinstance(document, GradingResult):
        document = document.to_gradescope()
    # What a writer emits: strict JSON (no NaN/Infinity), so dump/load it first.
    document = json.loads(json.dumps(document, allow_nan=False))
    _validator().validate(document)
    tests = document["tests"]
    names = [t["name"] for t in tests]
    assert len(names) == len(set(names)), f"duplicate test names in {names}"
    for t in tests:
        assert 0 <= t["score"] <= t["max_score"], f"{t['name']}: score outside 0..max_score"
    assert math.isclose(document["score"], sum(t["score"] for t in tests), abs_tol=1e-6)
    assert math.isclose(document["max_score"], sum(t["max_score"] for t in tests), abs_tol=1e-6)
    return document


@pytest.fixture
def validate_results() -> Callable[[Document | GradingResult], Document]:
    """``validate_results(doc)``: schema + sums + unique names; returns the document."""
    return check_results


@pytest.fixture
def submission(tmp_path: Path) -> Callable[[str], Path]:
    """``submission("correct_where.ipynb")``: a private copy of a fixture submission."""

    def copy(name: str) -> Path:
        source = FIXTURES / name
        if not source.is_file():
            raise FileNotFoundError(f"no fixture submission {name!r} in {FIXTURES}")
        target = tmp_path / "submissions" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        return target

    return copy


@pytest.fixture
def grade_fixture(
    submission: Callable[[str], Path],
) -> Callable[..., tuple[GradingResult, Document]]:
    """``grade_fixture(name, sandbox="auto", suite="hidden")`` -> (result, validated doc)."""

    def run(
        name: str, *, sandbox: api.BackendChoice = "auto", suite: api.SuiteName = "hidden"
    ) -> tuple[GradingResult, Document]:
        result = api.grade(submission(name), assignment=ASSIGNMENT, sandbox=sandbox, suite=suite)
        return result, check_results(result)

    return run


@pytest.fixture(params=["none", "landlock", pytest.param("bwrap", marks=pytest.mark.bwrap)])
def backend(request: pytest.FixtureRequest) -> api.BackendChoice:
    """Each sandbox backend in turn; ``bwrap`` and ``landlock`` skip with the reason they
    cannot run here."""
    if request.param == "bwrap":
        problem = bwrap_problem()
        if problem:
            pytest.skip(f"bwrap backend unavailable: {problem}")
        return "bwrap"
    if request.param == "landlock":
        problem = landlock_problem()
        if problem:
            pytest.skip(f"landlock backend unavailable: {problem}")
        return "landlock"
    return "none"
