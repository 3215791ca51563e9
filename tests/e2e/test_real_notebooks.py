"""Notebooks in the shapes real course notebooks have grade as a teacher would.

The fixtures (tests/fixtures/submissions/) are our own writing in the shapes found on public
copies of the course notebook "Building your Deep Neural Network: Step by Step": import
cells that fail in several places, both course generations' markers (``### START CODE
HERE ###`` and ``# YOUR CODE STARTS HERE``), Colab saves, a Python 2 kernel, stored error
outputs, ``%%writefile``, ``%%javascript`` and a notebook of another course.

Each is graded end to end (real child process, ``--sandbox auto``). A correct
``linear_backward`` scores 100 whatever failed around it.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from grader import api
from tests.conftest import FIXTURES, check_results

pytestmark = pytest.mark.sandbox


def grade(
    tmp_path: Path,
    name: str,
    assignment: str = "linear_backward",
    sandbox: api.BackendChoice = "auto",
) -> dict[str, Any]:
    path = tmp_path / name
    shutil.copyfile(FIXTURES / name, path)
    return check_results(api.grade(path, assignment=assignment, sandbox=sandbox))


def cell_errors(document: dict[str, Any]) -> dict[int, list[str]]:
    """cell -> its errors as extra_data.cells lists them (first, then more_errors)."""
    return {
        c["cell"]: [c["error"], *c.get("more_errors", [])]
        for c in document["extra_data"]["cells"]
        if c["status"] == "error"
    }


def test_a_failed_first_import_costs_a_correct_function_nothing(tmp_path: Path) -> None:
    """`import torch` on line 1 used to lose `import numpy as np` on line 2: 0/100."""
    document = grade(tmp_path, "course_imports_fail_in_several_places.ipynb")
    assert document["score"] == 100
    assert cell_errors(document)[2] == [
        "ModuleNotFoundError: No module named 'torch'",
        "line 3: ModuleNotFoundError: No module named 'h5py'",
        "line 4: ModuleNotFoundError: No module named 'matplotlib'",
        "line 5: ModuleNotFoundError: No module named 'testCases'",
        "line 6: ModuleNotFoundError: No module named 'dnn_utils'",
        "1 more statement(s) failed",  # public_tests; plt.rcParams is not reported again
    ]
    output = document["output"]
    assert "cell 2: ModuleNotFoundError at line 1: No module named 'torch'" in output
    assert "cell 2: line magic `%autoreload 2` not run (magics have no effect here)" in output
    # The stored error output of cell 5 is the student's old run, not this one's.
    assert "ipython-input" not in str(document)
    assert cell_errors(document)[5][0] == (
        "NameError: name 'linear_backward_test_case' is not defined"
    )


def test_a_failed_import_inside_the_graded_cell_costs_nothing(tmp_path: Path) -> None:
    """Old generation's markers, and the student's own import above the def."""
    document = grade(tmp_path, "course_old_markers_import_in_graded_cell.ipynb")
    assert document["score"] == 100
    assert cell_errors(document)[4] == ["ModuleNotFoundError: No module named 'testCases_v4a'"]


def test_a_python2_kernel_is_noted_and_its_print_statement_costs_its_cell_only(
    tmp_path: Path,
) -> None:
    document = grade(tmp_path, "python2_kernel_print_statements.ipynb")
    assert document["score"] == 100
    assert cell_errors(document) == {
        4: ["SyntaxError: Missing parentheses in call to 'print'. Did you mean print(...)?"]
    }
    assert (
        "saved by a Python 2 kernel (python2); it is graded with Python 3" in (document["output"])
    )


def test_a_colab_save_grades_and_only_installs_are_told_to_install(tmp_path: Path) -> None:
    document = grade(tmp_path, "colab_drive_mount_and_shell.ipynb")
    assert document["score"] == 100
    output = document["output"]
    assert "cell 2: ModuleNotFoundError at line 1: No module named 'google'" in output
    assert "cell 3: shell command `!pip install h5py` not run (install packages beforehand)" in (
        output
    )
    assert "cell 3: shell command `!ls` not run (shell commands do not run)" in output
    assert "cell 3: line magic `%cd /content/drive/MyDrive/deep-learning/week4` not run" in output


def test_writefile_writes_a_module_the_graded_function_imports(
    tmp_path: Path, backend: api.BackendChoice
) -> None:
    """On every backend: the run's own folder is writable and importable."""
    document = grade(tmp_path, "writefile_helper_then_import.ipynb", sandbox=backend)
    assert document["score"] == 100
    assert cell_errors(document) == {}
    assert (
        "cell 2: %%writefile layer_math.py: the file was written to the folder"
        in (document["output"])
    )


def test_javascript_and_html_cells_are_skipped_harmlessly(tmp_path: Path) -> None:
    document = grade(tmp_path, "javascript_and_html_cells.ipynb")
    assert document["score"] == 100
    assert [c["cell"] for c in document["extra_data"]["cells"]] == [3, 4]
    assert "cell 1: %%javascript cell not run (only Python cells are graded)" in document["output"]
    assert "cell 2: %%html cell not run (only Python cells are graded)" in document["output"]


# --- messages found on real notebooks -----------------------------------------------------


def test_a_notebook_of_another_course_is_called_the_wrong_notebook(tmp_path: Path) -> None:
    document = grade(tmp_path, "another_course_python_basics.ipynb")
    assert document["score"] == 0
    message = (
        "This does not look like the Linear layer backward pass notebook: it defines none of "
        "the functions this assignment grades (linear_backward). It defines basic_sigmoid, "
        "image2vector, normalize_rows, sigmoid_derivative, softmax. Check that you submitted "
        "the right file, with the function names from the template."
    )
    assert document["output"].splitlines()[1] == message
    assert all(t["output"].endswith(f"Not graded: {message}") for t in document["tests"])


def test_a_function_imported_from_a_missing_course_file_says_so(tmp_path: Path) -> None:
    document = grade(tmp_path, "imports_graded_function_from_course_file.ipynb", "relu_backward")
    assert document["score"] == 0
    assert document["output"].splitlines()[1] == (
        "relu_backward is not defined: your notebook imports it, and that import failed "
        "(cell 2: ModuleNotFoundError at line 2: No module named 'dnn_utils'). Define "
        "relu_backward in a cell of your notebook: the file it is imported from is not there "
        "when grading."
    )
    assert "Did you rename it?" not in document["output"]
