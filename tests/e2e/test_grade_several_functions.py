"""An assignment with two graded functions, graded end to end on both sandbox backends.

The course ``tests/fixtures/courses/layers`` grades ``linear_backward`` (40 points, the
bundled assignment's own tests through ``include``) and ``layer_backward`` (60 points: a
dict result, a nested cache, a string argument, the course's ``dnn_utils`` as a provided
file). Fixture submissions are in ``tests/fixtures/layers/``.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from grader import api
from grader.scoring import INHERITED

REPO = Path(__file__).resolve().parents[2]
COURSE = REPO / "tests" / "fixtures" / "courses" / "layers"
FIXTURES = REPO / "tests" / "fixtures" / "layers"
PROVIDED = COURSE / "assignments" / "layer_backward" / "provided" / "dnn_utils.py"

Document = dict[str, Any]


@pytest.fixture
def grade(
    tmp_path: Path,
    backend: api.BackendChoice,
    validate_results: Callable[[Any], Document],
) -> Callable[..., Document]:
    def run(name: str, suite: api.SuiteName = "hidden") -> Document:
        path = tmp_path / name
        shutil.copyfile(FIXTURES / name, path)
        result = api.grade(path, sandbox=backend, suite=suite, course_dir=COURSE)
        return validate_results(result)

    return run


def by_function(document: Document) -> dict[str, tuple[float, float]]:
    totals: dict[str, tuple[float, float]] = {}
    for test in document["tests"]:
        score, max_score = totals.get(test["extra_data"]["function"], (0.0, 0.0))
        totals[test["extra_data"]["function"]] = (
            score + test["score"],
            max_score + test["max_score"],
        )
    return {f: (round(s, 6), round(m, 6)) for f, (s, m) in totals.items()}


def failed(document: Document, function: str) -> list[Document]:
    return [
        t
        for t in document["tests"]
        if t["status"] == "failed" and t["extra_data"]["function"] == function
    ]


def test_one_document_with_points_per_function(grade: Callable[..., Document]) -> None:
    document = grade("correct.py")
    assert document["score"] == document["max_score"] == 100.0
    assert by_function(document) == {
        "linear_backward": (40.0, 40.0),
        "layer_backward": (60.0, 60.0),
    }
    names = [t["name"] for t in document["tests"]]
    assert "linear_backward: test_dA_prev" in names  # the included suite, prefixed
    assert "layer_backward: test_relu_layer" in names
    assert document["output"].splitlines()[:3] == [
        "One layer's backward pass: 100/100 points.",
        "  linear_backward: 40/40",
        "  layer_backward: 60/60",
    ]


def test_visible_suite_is_scaled_by_the_same_factor(grade: Callable[..., Document]) -> None:
    document = grade("correct.py", suite="visible")
    totals = by_function(document)
    # linear_backward's own visible tests are worth 6 (its hidden ones 100): 2.4 of 40.
    assert totals["linear_backward"] == (2.4, 2.4)
    assert totals["layer_backward"] == (1.8, 1.8)  # 3 points of 100, scaled to 60


def test_failure_inherited_from_a_wrong_helper_names_the_helper(
    grade: Callable[..., Document],
) -> None:
    document = grade("db_not_averaged.py")
    assert "db-not-divided-by-m" in document["extra_data"]["misconceptions"]
    layer = failed(document, "layer_backward")
    assert {t["name"] for t in layer} == {
        "layer_backward: test_relu_layer",
        "layer_backward: test_sigmoid_layer",
        "layer_backward: test_wide_relu_layer",
    }
    expected = INHERITED.format(helper="linear_backward", function="layer_backward")
    for test in layer:
        assert expected in test["output"]
        assert test["extra_data"]["misconceptions"] == []  # not diagnosed as its own mistake
    assert (
        "  layer_backward: 15/60 (failures come from your linear_backward: fix that first)"
        in document["output"].splitlines()
    )


def test_own_mistake_of_the_caller_is_diagnosed(grade: Callable[..., Document]) -> None:
    document = grade("activation_swapped.py")
    assert by_function(document)["linear_backward"] == (40.0, 40.0)
    assert document["extra_data"]["misconceptions"] == ["activation-swapped"]
    assert all(INHERITED[:20] not in t["output"] for t in document["tests"])
    relu = next(t for t in document["tests"] if t["name"] == "layer_backward: test_relu_layer")
    # assert_close on a dict names every wrong key
    assert "grads['dA_prev'] is wrong" in relu["output"]
    assert "grads['db'] is wrong" in relu["output"]


def test_dict_expected_tuple_returned(grade: Callable[..., Document]) -> None:
    document = grade("returns_tuple.py")
    assert document["extra_data"]["misconceptions"] == ["returns-tuple"]
    assert by_function(document)["layer_backward"] == (9.0, 60.0)  # only the mutation test


def test_a_missing_function_fails_only_its_own_tests(grade: Callable[..., Document]) -> None:
    document = grade("layer_missing.py")
    assert by_function(document) == {
        "linear_backward": (40.0, 40.0),
        "layer_backward": (0.0, 60.0),
    }
    for test in failed(document, "layer_backward"):
        assert "layer_backward is not defined in your submission" in test["output"]
        assert "Did you rename it" not in test["output"]  # linear_backward is graded itself


def test_mutated_nested_cache_is_named(grade: Callable[..., Document]) -> None:
    document = grade("mutates_cache.py")
    test = next(
        t for t in document["tests"] if t["name"] == "layer_backward: test_inputs_unchanged"
    )
    assert test["status"] == "failed"
    assert "(dA, cache)[1][0][1] (12 element(s)) was modified in place" in test["output"]


def test_provided_module_under_its_alias(grade: Callable[..., Document]) -> None:
    assert grade("imports_dnn_utils_v2.py")["score"] == 100.0


def test_provided_files_are_read_only(grade: Callable[..., Document]) -> None:
    before = PROVIDED.read_bytes()
    document = grade("overwrites_provided.py")
    # The write failed in its cell; the course's relu_backward was used, not the student's.
    assert document["score"] == 100.0
    errors = [c["error"] for c in document["extra_data"]["cells"] if c["status"] == "error"]
    assert len(errors) == 1
    assert errors[0].split(":")[0] in {"PermissionError", "OSError"}
    assert "dnn_utils.py" in errors[0]
    assert PROVIDED.read_bytes() == before


def test_failed_imports_tell_packages_from_course_files(grade: Callable[..., Document]) -> None:
    document = grade("imports_course_files.py")
    assert document["score"] == 100.0
    output = document["output"]
    assert (
        "(h5py is not installed where your notebook is graded; it is not needed for the "
        "graded functions)"
    ) in output
    assert "(testCases is a course file this assignment does not provide;" in output


# --- a class of them: grader batch, its CSVs and report --------------------------------------


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    from grader.batch import run_batch

    root = tmp_path_factory.mktemp("several")
    folder = root / "class"
    folder.mkdir()
    for name in ("correct.py", "db_not_averaged.py", "layer_missing.py"):
        shutil.copyfile(FIXTURES / name, folder / name)
    out = root / "out"
    summary = run_batch(folder, out, assignment="layer_backward", jobs=2, course_dir=COURSE)
    return summary, out


def read_csv(path: Path) -> list[list[str]]:
    import csv

    with path.open(newline="") as handle:
        return list(csv.reader(handle))


def test_batch_writes_a_subtotal_per_function(batch: tuple[Any, Path]) -> None:
    summary, out = batch
    assert summary.functions == (("linear_backward", 40.0), ("layer_backward", 60.0))
    assert [e.status for e in summary.entries] == ["graded", "graded", "graded"]
    rows = read_csv(out / "summary.csv")
    assert rows[0][:5] == ["submission", "score", "max_score", "linear_backward", "layer_backward"]
    assert [r[:5] for r in rows[1:]] == [
        ["correct", "100", "100", "40", "60"],
        ["db_not_averaged", "39", "100", "24", "15"],
        ["layer_missing", "40", "100", "40", "0"],
    ]
    assert "linear_backward: test_dA_prev" in rows[0]


def test_gradebooks_and_report_show_the_subtotals(batch: tuple[Any, Path]) -> None:
    _, out = batch
    canvas = read_csv(out / "gradebook_canvas.csv")
    title = "One layer's backward pass"
    assert canvas[0][5:] == [title, f"{title}: linear_backward", f"{title}: layer_backward"]
    assert canvas[1][5:] == ["100", "40", "60"]
    assert canvas[3][5:] == ["39", "24", "15"]
    gradescope = read_csv(out / "gradebook_gradescope.csv")
    assert gradescope[0][-2:] == ["linear_backward", "layer_backward"]
    assert gradescope[3][-4:] == ["40", "100", "40", "0"]
    feedback = (out / "feedback" / "db_not_averaged.md").read_text()
    assert "- `linear_backward`: 24 / 40\n" in feedback
    assert "- `layer_backward`: 15 / 60\n" in feedback
    page = (out / "feedback" / "db_not_averaged.html").read_text()
    assert "<li><code>layer_backward</code> 15 / 60</li>" in page
    html = (out / "report.html").read_text()
    assert "Score per function" in html
    assert 'id="function-averages"' in html
    assert '<th class="num">layer_backward</th>' in html


# --- the package for Gradescope and the student release ---------------------------------------


def test_gradescope_package_holds_what_several_functions_need(tmp_path: Path) -> None:
    import zipfile

    from grader.export import build_gradescope_zip

    archive = build_gradescope_zip(
        tmp_path / "ag.zip", assignment="layer_backward", course_dir=COURSE
    )
    with zipfile.ZipFile(archive) as handle:
        handle.extractall(tmp_path / "ag")
    course = tmp_path / "ag" / "course"
    # The included assignment and both references travel with it; the package grades alone.
    assert (course / "assignments/linear_backward/test_hidden.py").is_file()
    assert (course / "reference/linear_backward.py").is_file()
    assert (course / "assignments/layer_backward/provided/dnn_utils.py").is_file()
    path = tmp_path / "db_not_averaged.py"
    shutil.copyfile(FIXTURES / "db_not_averaged.py", path)
    result = api.grade(path, sandbox="none", course_dir=course)
    assert (result.score, result.max_score) == (39.0, 100.0)
    assert result.subtotals() == {"linear_backward": (24.0, 40.0), "layer_backward": (15.0, 60.0)}


def test_release_gives_students_the_provided_files_and_every_visible_suite(
    tmp_path: Path,
) -> None:
    from grader.release import build_release

    release = build_release(tmp_path / "release", assignment="layer_backward", course_dir=COURSE)
    folder = release.folder
    assert (folder / "dnn_utils.py").read_bytes() == PROVIDED.read_bytes()  # next to the notebook
    assert (folder / "dnn_utils_v2.py").read_bytes() == PROVIDED.read_bytes()  # its alias
    spec = folder / "assignments" / "layer_backward"
    assert (spec / "test_visible_linear_backward.py").is_file()
    assert not (spec / "test_hidden_layer.py").exists()
    assert not list(folder.rglob("misconceptions*.py"))
    # The student's own `grader check` shows the points the instructor's check shows.
    path = tmp_path / "db_not_averaged.py"
    shutil.copyfile(FIXTURES / "db_not_averaged.py", path)
    student = api.check(path, sandbox="none", course_dir=folder)
    instructor = api.check(path, sandbox="none", course_dir=COURSE)
    assert (
        student.subtotals()
        == instructor.subtotals()
        == {
            "linear_backward": (1.6, 2.4),
            "layer_backward": (0.6, 1.8),
        }
    )


# --- provided files in each kind of sandbox, and nothing left behind -------------------------


@pytest.mark.parametrize("kind", ["none", "landlock", "bwrap-fresh", "bwrap-zygote"])
def test_provided_files_are_importable_read_only_and_cleaned_up(kind: str) -> None:
    from grader.sandbox.limits import Limits
    from grader.sandbox.parent import StudentProcess, bwrap_problem, landlock_problem
    from grader.sandbox.workers import Zygote, ZygoteStudentProcess

    problem = {"none": None, "landlock": landlock_problem()}.get(kind, bwrap_problem())
    if problem:
        pytest.skip(f"{kind} unavailable: {problem}")
    cells = [
        (1, "from dnn_utils_v2 import relu_backward"),
        (2, "open('dnn_utils.py', 'w').write('broken')"),
    ]
    provided = {"dnn_utils.py": PROVIDED, "dnn_utils_v2.py": PROVIDED}
    zygote = None
    process: StudentProcess
    if kind == "bwrap-zygote":
        zygote = Zygote(Limits())
        process = ZygoteStudentProcess(
            cells, ["relu_backward"], limits=Limits(), zygote=zygote, provided=provided
        )
    else:
        backend = "bwrap" if kind == "bwrap-fresh" else kind
        process = StudentProcess(
            cells, ["relu_backward"], backend=backend, limits=Limits(), provided=provided
        )
    try:
        report = process.load()
        assert report.functions == {"relu_backward": "callable"}
        assert [c.status for c in report.cells] == ["ok", "error"]
        assert report.cells[1].ename in {"PermissionError", "OSError"}
    finally:
        process.close()
        if zygote is not None:
            run_folder = zygote.provided_root / getattr(process, "run_id", "")
            assert not run_folder.exists()  # each run's copy goes when the run does
            zygote.stop()
            assert not zygote.provided_root.exists()
    assert not process.runtime.exists()
    assert PROVIDED.read_text().startswith('"""The course')
