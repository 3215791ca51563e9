"""The spec of an assignment with several graded functions (``[[graded]]``), read as data."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from grader.assignments import load_assignment
from grader.errors import AssignmentError

REPO = Path(__file__).resolve().parents[2]
LAYERS = REPO / "tests" / "fixtures" / "courses" / "layers"


def test_two_graded_functions_in_order_with_points_and_include() -> None:
    spec = load_assignment("layer_backward", LAYERS)
    assert spec.several
    assert spec.functions == ("linear_backward", "layer_backward")
    first, second = spec.graded
    # include: the other assignment's own files, not copies
    assert first.included_from == "linear_backward"
    assert first.hidden_tests == (REPO / "assignments/linear_backward/test_hidden.py").resolve()
    assert first.reference == (REPO / "reference/linear_backward.py").resolve()
    assert (first.points, second.points) == (40.0, 60.0)
    assert second.reference.name == "layer_backward.py"  # the top-level default
    assert second.misconceptions is not None
    assert second.misconceptions.name == "misconceptions_layer.py"


def test_provided_files_with_aliases() -> None:
    provided = load_assignment("layer_backward", LAYERS).provided
    files = provided.files()
    assert files["dnn_utils_v2.py"] == files["dnn_utils.py"]
    assert provided.modules() == ("dnn_utils", "dnn_utils_v2")
    assert provided.not_provided == ("testCases", "public_tests")


@pytest.mark.parametrize("name", ["linear_backward", "relu_backward"])
def test_single_function_spec_is_one_graded_function(name: str) -> None:
    spec = load_assignment(name, REPO)
    assert not spec.several
    (only,) = spec.graded
    assert (only.function, only.hidden_tests, only.points) == (name, spec.hidden_tests, None)
    assert spec.provided.folder is None
    assert spec.provided.files() == {}


def course_with(tmp_path: Path, toml: str) -> Path:
    course = tmp_path / "course"
    shutil.copytree(LAYERS, course, symlinks=False)
    (course / "assignments" / "layer_backward" / "assignment.toml").write_text(toml)
    return course


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[[graded]]\nfunction = "f"\nvisible_tests = "test_visible_layer.py"\n', "hidden_tests"),
        ('[[graded]]\ninclude = "nope"\n', "does not exist"),
        (
            '[[graded]]\ninclude = "linear_backward"\nfunction = "other"\n',
            "grades 'linear_backward'",
        ),
        ('[[graded]]\ninclude = "linear_backward"\npoints = 0\n', "positive"),
        ('[[graded]]\ninclude = "linear_backward"\nweight = 2\n', "unknown key(s) weight"),
        (
            '[[graded]]\ninclude = "linear_backward"\n[[graded]]\ninclude = "linear_backward"\n',
            "graded twice",
        ),
        (
            'functions = ["x"]\n[[graded]]\ninclude = "linear_backward"\n',
            "not at the top level",
        ),
        (
            '[[graded]]\ninclude = "linear_backward"\n[provided]\naliases = { a = "missing" }\n',
            "alias 'a'",
        ),
    ],
)
def test_spec_mistakes_are_named(tmp_path: Path, toml: str, message: str) -> None:
    with pytest.raises(AssignmentError, match=None) as info:
        load_assignment("layer_backward", course_with(tmp_path, toml))
    assert message in str(info.value.message)
