"""What a submission writes into feedback is valid for strict readers and leaks nothing.

Each hostile fixture runs under both backends. The documents are read the way jq, a browser
and an XML parser read them (``tests/strict_readers.py``), not the way Python's lenient
``json.loads`` does.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hostile_support import grade_fixture
from strict_readers import strict_json, strict_text, strict_xml

from grader.api import PreparedAssignment
from grader.junit import render_junit
from grader.report import render_json, render_text
from grader.sandbox import SandboxInfo

pytestmark = [pytest.mark.sandbox]


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
