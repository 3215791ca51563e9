"""grader.results and its JSON Schema: the one converter each way, and what the schema rejects."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from grader import api
from grader.results import GradingResult, TestResult

SCHEMA = json.loads((Path(api.__file__).parent / "results.schema.json").read_text())


def make_result(**overrides: Any) -> GradingResult:
    tests = (
        TestResult(
            "test_negative_inputs",
            0.0,
            10.0,
            "failed",
            "Checks: dZ = 0.01 * dA where Z < 0.\ndZ is wrong at 20 of 20 elements.",
            ("negative", "chain-rule"),
            "after_published",
            misconceptions=("missing-chain-rule",),
        ),
        TestResult("test_returns_ndarray", 4.0, 4.0, "passed", "Passed.", ("return-type",)),
        TestResult("test_shapes[3d]", 2.5, 5.0, "passed", "Passed.", ("shape",), "hidden"),
    )
    fields: dict[str, Any] = {
        "assignment": "leaky_relu_backward",
        "tests": tests,
        "output": "Leaky ReLU backward pass: 6.5/19 points.",
        "execution_time": 0.4166,
        "misconceptions": ("missing-chain-rule",),
        "sandbox": "bwrap",
        "warnings": ("a warning",),
        "submission": "chain_rule_missing.ipynb",
        "extra": {"suite": "hidden", "cells": [{"cell": 2, "status": "ok", "error": ""}]},
    }
    return GradingResult(**{**fields, **overrides})


def test_scores_are_sums_over_tests() -> None:
    result = make_result()
    assert result.score == 6.5
    assert result.max_score == 19.0
    assert not result.all_passed


def test_all_passed_needs_at_least_one_test() -> None:
    assert not make_result(tests=()).all_passed
    passing = tuple(t for t in make_result().tests if t.status == "passed")
    assert make_result(tests=passing).all_passed


def test_to_gradescope_shape(validate_results: Callable[[Any], dict[str, Any]]) -> None:
    document = validate_results(make_result())
    assert (document["score"], document["max_score"]) == (6.5, 19.0)
    assert document["execution_time"] == 0.417
    assert document["tests"][0] == {
        "name": "test_negative_inputs",
        "score": 0.0,
        "max_score": 10.0,
        "status": "failed",
        "output": "Checks: dZ = 0.01 * dA where Z < 0.\ndZ is wrong at 20 of 20 elements.",
        "tags": ["negative", "chain-rule"],
        "visibility": "after_published",
        "extra_data": {"misconceptions": ["missing-chain-rule"], "suite": "hidden"},
    }
    assert document["extra_data"] == {
        "assignment": "leaky_relu_backward",
        "submission": "chain_rule_missing.ipynb",
        "sandbox": "bwrap",
        "warnings": ["a warning"],
        "misconceptions": ["missing-chain-rule"],
        "suite": "hidden",
        "cells": [{"cell": 2, "status": "ok", "error": ""}],
    }


def test_round_trip() -> None:
    document = make_result().to_gradescope()
    again = GradingResult.from_gradescope(json.loads(json.dumps(document)))
    assert again.to_gradescope() == document
    assert again == make_result(execution_time=0.417)


def test_internal_failure_document_is_valid(
    validate_results: Callable[[Any], dict[str, Any]],
) -> None:
    result = api.internal_failure(Path("/home/me/hw.ipynb"), None, ValueError("boom"))
    document = validate_results(result)
    assert document["extra_data"]["submission"] == "hw.ipynb"
    assert (document["score"], document["max_score"]) == (0.0, 0.0)
    assert [t["visibility"] for t in document["tests"]] == ["visible", "hidden"]
    assert "ValueError: boom" in document["tests"][1]["output"]


# --- the schema -------------------------------------------------------------------------


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


DELETE = object()  # marks a key to remove in mutate()


def mutate(path: list[str | int], value: Any) -> dict[str, Any]:
    document = copy.deepcopy(make_result().to_gradescope())
    target: Any = document
    for key in path[:-1]:
        target = target[key]
    if value is DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return document


@pytest.mark.parametrize(
    ("path", "value", "complaint"),
    [
        (["score"], DELETE, "'score' is a required property"),
        (["tests"], DELETE, "'tests' is a required property"),
        (["score"], "40", "'40' is not of type 'number'"),
        (["tests", 0, "status"], "error", "'error' is not one of ['passed', 'failed']"),
        (["tests", 0, "visibility"], "public", "'public' is not one of"),
        (["tests", 0, "tags"], [], "should be non-empty"),
        (["tests", 0, "name"], DELETE, "'name' is a required property"),
        (["tests", 0, "max_score"], -1, "-1 is less than the minimum of 0"),
        (["tests", 0, "weight"], 3, "Additional properties are not allowed ('weight'"),
        (["scroe"], 3, "Additional properties are not allowed ('scroe'"),
        (["extra_data", "submission"], "/home/me/hw.ipynb", "does not match"),
        (["extra_data", "misconceptions"], ["Chain rule!"], "does not match"),
        (["extra_data", "sandbox"], DELETE, "'sandbox' is a required property"),
    ],
)
def test_schema_rejects(path: list[str | int], value: Any, complaint: str) -> None:
    validator = jsonschema.Draft202012Validator(SCHEMA)
    errors = [e.message for e in validator.iter_errors(mutate(path, value))]
    assert any(complaint in e for e in errors), errors


def test_schema_accepts_gradescope_keys_we_do_not_write() -> None:
    document = make_result().to_gradescope()
    document.update(stdout_visibility="hidden", output_format="md")
    document["tests"][0].update(number="1.1", output_format="text")
    jsonschema.Draft202012Validator(SCHEMA).validate(document)


def test_validate_results_checks_the_sums(
    validate_results: Callable[[Any], dict[str, Any]],
) -> None:
    document = make_result().to_gradescope()
    document["score"] = 100.0
    with pytest.raises(AssertionError):
        validate_results(document)
