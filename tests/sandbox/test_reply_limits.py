"""The trusted side's resources are bounded whatever a submission sends or does.

Replies are decoded within caps (one blob referenced thousands of times is one array),
malformed replies are protocol errors of that submission (never a grader failure), and a
results document stays under 1 MB. Each case runs on both backends (``backend`` fixture).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hostile_support import ASSIGNMENT, CHECKOUT, copy_fixture, grade_fixture, with_limits

from grader.api import PreparedAssignment
from grader.batch import run_batch
from grader.report import render_json
from grader.sandbox import SandboxInfo

pytestmark = pytest.mark.sandbox

SCHEMA = json.loads((CHECKOUT / "grader" / "results.schema.json").read_text())
GRADER_RSS_CAP = 512 * 1024 * 1024
DOCUMENT_CAP = 1_000_000
# The grader measures itself: the largest resident set its own process ever had.
MEASURE = """
import resource, sys
from grader.cli import main
code = main(sys.argv[1:])
print("maxrss", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, file=sys.stderr)
sys.exit(code)
"""


def grade_cli(submission: Path, backend: str, out: Path) -> tuple[int, int, dict[str, Any]]:
    """(exit code, the grader's peak RSS in bytes, document) of `grader grade` in a subprocess.

    Its address space is capped at 4 GiB, so a grader that does blow up fails the test
    instead of the machine.
    """

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))

    command = [sys.executable, "-c", MEASURE, "grade", str(submission), "--out", str(out)]
    command += ["--assignment", ASSIGNMENT, "--sandbox", backend]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=600, preexec_fn=cap, check=False
    )
    peak = [line for line in done.stderr.splitlines() if line.startswith("maxrss ")]
    assert peak, done.stderr[-2000:]
    document = json.loads(out.read_text()) if out.exists() else {}
    return done.returncode, int(peak[-1].split()[1]), document


@pytest.mark.parametrize("mode", ["one_blob", "huge", "many"])
def test_a_flood_of_replies_keeps_the_grader_under_512_mib(
    backend: SandboxInfo, tmp_path: Path, mode: str
) -> None:
    submission = copy_fixture("floods_the_grader.py", tmp_path, MODE=mode)
    code, peak, document = grade_cli(submission, backend.backend, tmp_path / "out.json")
    assert code == 0
    assert peak < GRADER_RSS_CAP, f"the grader peaked at {peak / 2**20:.0f} MiB"
    jsonschema.validate(document, SCHEMA)
    assert document["score"] == 0
    if mode == "huge":
        failure = document["tests"][0]["output"]
        assert "an array of shape (8388608,) and dtype <f8 (64 MiB: too large to check)" in failure


MALFORMED = {
    "load_deep": (
        "the process broke the grading protocol (unreadable frame header) while running cell 1"
    ),
    "load_wrong_types": "the process sent an unexpected message",
    "load_bad_lengths": "the process broke the grading protocol (the arrays in one message exceed",
    "call_deep": "the process broke the grading protocol (unreadable frame header)",
    "call_wrong_types": "the process broke the grading protocol (the reply does not describe",
    "call_bad_lengths": "the process broke the grading protocol (the arrays in one message exceed",
}


@pytest.mark.parametrize("mode", sorted(MALFORMED))
def test_a_malformed_reply_is_a_protocol_error_of_that_submission(
    prepared: PreparedAssignment, backend: SandboxInfo, tmp_path: Path, mode: str
) -> None:
    result = grade_fixture(prepared, backend, "malformed_replies.py", tmp_path, MODE=mode)
    document = json.loads(render_json(result))
    jsonschema.validate(document, SCHEMA)
    assert result.score == 0
    assert MALFORMED[mode] in result.tests[0].output


def test_a_reply_nested_200000_deep_while_loading_still_writes_the_document(
    backend: SandboxInfo, tmp_path: Path
) -> None:
    submission = copy_fixture("malformed_replies.py", tmp_path, MODE="load_deep")
    code, _, document = grade_cli(submission, backend.backend, tmp_path / "out.json")
    assert code == 0
    jsonschema.validate(document, SCHEMA)
    assert MALFORMED["load_deep"] in document["output"]
    assert "Autograder" not in json.dumps(document)


def raising_cells(folder: Path, count: int) -> Path:
    """A script whose first cell is right and whose ``count`` next cells each raise 500 chars."""
    head = (
        "import numpy as np\n"
        "def leaky_relu_backward(dA, cache):\n"
        "    return dA * np.where(cache > 0, 1.0, 0.01)\n"
        "def fail():\n"
        "    raise ValueError('x' * 500)\n"
    )
    path = folder / f"raises_in_{count}_cells.py"
    path.write_text("# %%\n" + head + "# %%\nfail()\n" * count)
    return path


@pytest.mark.parametrize("count", [5000, 60000])
def test_the_results_document_stays_under_1_mb_whatever_the_cells_raise(
    prepared: PreparedAssignment, backend: SandboxInfo, tmp_path: Path, count: int
) -> None:
    from grader.api import grade_submission
    from grader.submission import read_submission

    # Enough time for thousands of cells; the 60,000 are cut short by the limit (its own time,
    # so on a busy machine the wall time is longer), which changes nothing of what is checked.
    quick = with_limits(prepared, load_timeout=12.0 if count <= 5000 else 4.0)
    path = raising_cells(tmp_path, count)
    result = grade_submission(quick, read_submission(path), sandbox=backend)
    text = render_json(result)
    assert len(text.encode()) < DOCUMENT_CAP
    document = json.loads(text)
    jsonschema.validate(document, SCHEMA)
    extra = document["extra_data"]
    assert len(extra["cells"]) == 200
    assert all(cell["status"] == "error" for cell in extra["cells"])
    assert extra["cells"][0] == {"cell": 2, "status": "error", "error": "ValueError: " + "x" * 500}
    ran = len(result.extra["cells"]) + sum(extra["cells_not_listed"].values())
    assert extra["cells_not_listed"]["ok"] == 1
    assert ran > 1000


def test_grader_batch_bounds_every_hostile_submission_too(
    backend: SandboxInfo, tmp_path: Path
) -> None:
    """The same fixtures through `grader batch`: same scores as `grade`, valid small files."""
    folder = tmp_path / "class"
    folder.mkdir()
    copy_fixture("hides_mutation_by_reshaping.py", folder)
    copy_fixture("forges_argument_state.py", folder, MODE="fewer")
    copy_fixture("malformed_replies.py", folder, MODE="load_deep")
    copy_fixture("floods_the_grader.py", folder, MODE="one_blob")
    raising_cells(folder, 5000)
    out = tmp_path / "out"
    summary = run_batch(folder, out, assignment=ASSIGNMENT, jobs=2, sandbox=backend.backend)
    scores = {entry.name: entry.result.score for entry in summary.entries}
    assert scores["forges_argument_state"] == 0
    assert scores["malformed_replies"] == 0
    assert scores["floods_the_grader"] == 0
    assert scores["hides_mutation_by_reshaping"] <= 87
    for name in scores:
        path = out / f"{name}.json"
        assert path.stat().st_size < DOCUMENT_CAP
        jsonschema.validate(json.loads(path.read_text()), SCHEMA)
    mutation = json.loads((out / "hides_mutation_by_reshaping.json").read_text())
    failed = {t["name"] for t in mutation["tests"] if t["status"] == "failed"}
    assert {"test_dA_unchanged", "test_cache_unchanged"} <= failed
    assert os.path.exists(out / "summary.csv")


def test_the_disk_a_run_writes_in_its_folder_is_bounded(
    prepared: PreparedAssignment, backend: SandboxInfo, tmp_path: Path
) -> None:
    """bwrap: its folder is the private /tmp; landlock, none: a tmpfs the supervisor mounts
    (as root)."""
    if backend.backend != "bwrap" and os.getuid() != 0:
        pytest.skip("run by a normal user, the supervisor cannot mount (SECURITY.md says so)")
    small = with_limits(prepared, tmp_bytes=16 * 1024 * 1024)
    result = grade_fixture(small, backend, "fills_its_folder.py", tmp_path)
    output = str(result.extra.get("student_output", ""))
    assert "in HOME; error: No space left on device" in output
    written = int(output.split("wrote ", 1)[1].split(" MiB", 1)[0])
    assert written <= 16
    assert result.score == 100  # a full folder is only the submission's own problem
