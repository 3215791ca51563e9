"""`grader batch` gives every submission the score `grade` gives it, fixture set by fixture set.

In a batch, each worker sandbox (one zygote) grades many submissions one after another; `grade`
starts a sandbox of its own. The fixture sets hold correct, broken, mutating, hanging and
renamed submissions, so a leak from one submission into the next (a namespace, a file, a
process, a seed) would show up as a different score or different feedback.
"""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from grader import api
from grader.batch import run_batch
from grader.sandbox.parent import bwrap_problem
from grader.submission import read_submission

pytestmark = [pytest.mark.sandbox, pytest.mark.bwrap]

REPO = Path(__file__).resolve().parents[2]
ASSIGNMENT = "leaky_relu_backward"
FIXTURE_SETS = ("submissions", "misconceptions")


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private course whose call limit is 1 s, so the hanging fixture costs seconds."""
    if bwrap_problem():
        pytest.skip(f"bwrap backend not testable here: {bwrap_problem()}")
    course = tmp_path_factory.mktemp("course")
    shutil.copytree(
        REPO / "assignments" / ASSIGNMENT,
        course / "assignments" / ASSIGNMENT,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    (course / "reference").mkdir()
    shutil.copy(REPO / "reference" / f"{ASSIGNMENT}.py", course / "reference")
    spec = course / "assignments" / ASSIGNMENT / "assignment.toml"
    spec.write_text(spec.read_text().split("[limits]")[0] + "[limits]\ntest_timeout = 1.0\n")
    return course


def graded_alone(prepared: api.PreparedAssignment, path: Path) -> dict[str, Any]:
    """What `grade` writes: a sandbox of its own for this one submission."""
    info = api.resolve_sandbox("bwrap")
    result = api.grade_submission(prepared, read_submission(path), sandbox=info)
    return result.to_gradescope()


@pytest.mark.parametrize("fixture_set", FIXTURE_SETS)
def test_batch_scores_equal_grade_scores(course: Path, tmp_path: Path, fixture_set: str) -> None:
    folder = REPO / "tests" / "fixtures" / fixture_set
    files = sorted(p for p in folder.iterdir() if p.suffix in (".ipynb", ".py"))
    out = tmp_path / "out"
    # Two workers: each serves about half the set, one submission after another.
    summary = run_batch(folder, out, assignment=ASSIGNMENT, jobs=2, course_dir=course)
    assert len(summary.entries) == len(files)
    prepared = api.prepare_assignment(ASSIGNMENT, course)
    with ThreadPoolExecutor(2) as pool:
        alone = dict(zip(files, pool.map(lambda p: graded_alone(prepared, p), files), strict=True))
    scores = set()
    for path, single in alone.items():
        batch = json.loads((out / f"{path.stem}.json").read_text())
        scores.add(single["score"])
        for key in ("score", "max_score", "tests"):
            assert batch[key] == single[key], (path.name, key)
        assert batch["extra_data"]["misconceptions"] == single["extra_data"]["misconceptions"]
    assert len(scores) >= 4  # the set really mixes outcomes
