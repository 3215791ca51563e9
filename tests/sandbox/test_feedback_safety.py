"""What a submission writes into feedback is valid for strict readers and leaks nothing.

Each hostile fixture runs under both backends. The documents are read the way jq, a browser
and an XML parser read them (``tests/strict_readers.py``), not the way Python's lenient
``json.loads`` does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hostile_support import ASSIGNMENT, FAST_LIMITS, grade_fixture, with_limits
from strict_readers import strict_json, strict_text, strict_xml

from grader.api import PreparedAssignment, prepare_assignment
from grader.junit import render_junit
from grader.report import render_json, render_text
from grader.sandbox import Returned, SandboxInfo
from grader.suite import SuiteRunner

pytestmark = [pytest.mark.sandbox]


def strings(value: Any) -> Iterator[str]:
    """Every string in a JSON document (keys and values)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def test_invalid_text_from_the_child_is_clean_in_every_format(
    prepared: PreparedAssignment, backend: SandboxInfo, tmp_path: Path
) -> None:
    """Lone surrogates, NUL, ESC, CR and bytes that are not UTF-8 never reach a writer."""
    result = grade_fixture(prepared, backend, "raises_invalid_text.py", tmp_path)
    document = strict_json(render_json(result).encode(), "the results document")
    # Graded like any submission: the small calls return, the larger ones raise.
    assert 0 < result.score < result.max_score
    raised = [t["output"] for t in document["tests"] if "raised" in t["output"]]
    assert any("raised ValueError: lone \ufffd and \ufffd, NUL \ufffd" in o for o in raised)
    # The exception class's name is a label: no markup, no newline, at most 40 characters.
    label = next(o for o in raised if " raised Err" in o).split(" raised ")[1].split(":")[0]
    assert label.startswith("Errscriptalert1script")
    assert len(label) <= 40
    # The cell error at load is in the overall message, clean.
    assert "RuntimeError" in document["output"]
    assert "\x1b" not in document["output"]
    assert "CR \n=cmd" in document["output"]
    # The bytes written to stdout: invalid ones replaced, controls too.
    output = document["extra_data"]["student_output"]
    assert output.startswith("not UTF-8: \ufffd\ufffd")
    assert "title \ufffd]0;pwned\ufffd" in output
    # The terminal report and the JUnit XML of the same result are clean too.
    strict_text(render_text(result, colour=False).encode(), "the text report")
    root = strict_xml(render_junit(result).encode(), "the JUnit report")
    assert root.tag == "testsuites"


def first_hidden_call(prepared: PreparedAssignment) -> list[np.ndarray]:
    """The arguments of the first call the hidden suite makes (what a submission sees first)."""
    calls: list[list[np.ndarray]] = []

    class Recorder:
        def call(self, function: str, args: Sequence[Any]) -> Returned:
            calls.append([np.array(a, copy=True) for a in args])
            correct = getattr(prepared.reference, function)(*args)
            return Returned(correct, tuple(args), 0.0)

    runner = SuiteRunner(Recorder(), prepared.reference, prepared.assignment.functions)  # type: ignore[arg-type]
    runner.run(prepared.hidden[0])
    return calls[0]


def test_the_overall_message_never_quotes_a_hidden_tests_inputs(
    prepared: PreparedAssignment, backend: SandboxInfo, tmp_path: Path
) -> None:
    """A submission that hands the first call's inputs back when it is probed: the overall
    message (shown at once) has the grader's own counterexample and nothing of them."""
    result = grade_fixture(prepared, backend, "returns_hidden_inputs.py", tmp_path)
    document = strict_json(render_json(result).encode(), "the results document")
    assert "not-ndarray" in document["extra_data"]["misconceptions"]
    assert "Smallest input that shows it" in document["output"]
    assert "got      list of (list, list)" in document["output"]
    # The first hidden call's values, as any writer would print them (full or 4 digits).
    hidden = [float(v) for a in first_hidden_call(prepared) for v in a.ravel()[:6]]
    secrets = [repr(v)[:6] for v in hidden if abs(v) >= 0.1]
    assert len(secrets) >= 6
    assert [s for s in secrets if s in document["output"]] == []
    for test in document["tests"]:
        if test["visibility"] != "visible":
            continue
        assert [s for s in secrets if s in test["output"]] == [], test["name"]


def test_a_returned_objects_repr_and_class_name_are_never_quoted(
    backend: SandboxInfo, tmp_path: Path, course_copy: Path
) -> None:
    """Under the fallback the submission can read the hidden tests; an object whose class
    name, module and repr are that text reaches feedback only as a short type label."""
    prepared = with_limits(prepare_assignment(ASSIGNMENT, course_copy), **FAST_LIMITS)
    result = grade_fixture(
        prepared,
        backend,
        "returns_hidden_tests_as_object.py",
        tmp_path,
        COURSE_DIR=str(course_copy),
    )
    document = strict_json(render_json(result).encode(), "the results document")
    assert result.score == 0
    texts = list(strings(document))
    protected = [
        line
        for path in (course_copy / "assignments" / ASSIGNMENT / "test_hidden.py",)
        for line in map(str.strip, path.read_text().splitlines())
        if len(line) >= 12
    ]
    leaked = [line for line in protected if any(line in text for text in texts)]
    assert leaked == []
    # Under bwrap the read fails, and the error message is the class name and repr instead.
    assert "cannot read" not in json.dumps(document)
    assert "Errno" not in json.dumps(document)
    typed = next(
        t["output"] for t in document["tests"] if "expected a numpy.ndarray" in t["output"]
    )
    label = typed.split("dZ is a", 1)[1].split(", expected", 1)[0].removeprefix("n").strip()
    assert len(label) <= 40
    assert " " not in label
