"""grader.submission: files -> code cells, broken files -> a problem sentence. Nothing runs."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from grader.errors import SubmissionNotFoundError, UnsupportedSubmissionError
from grader.sandbox.protocol import HEADER_CAP
from grader.submission import (
    FIX_NOTEBOOK,
    FULL_TRANSFORM_COST,
    MAX_CODE_BYTES,
    MAX_FILE_BYTES,
    MAX_MAGIC_LINES,
    read_submission,
    transform_cell,
)


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def notebook(*cells: dict[str, object], nbformat: int = 4) -> str:
    return json.dumps(
        {"nbformat": nbformat, "nbformat_minor": 5, "metadata": {}, "cells": list(cells)}
    )


def code(source: str | list[str]) -> dict[str, object]:
    return {"cell_type": "code", "metadata": {}, "outputs": [], "source": source}


# --- reading ------------------------------------------------------------------------------


def test_notebook_cells_keep_their_position_among_all_cells(
    submission: Callable[[str], Path],
) -> None:
    read = read_submission(submission("correct_where.ipynb"))
    assert read.problem is None
    assert read.name == "correct_where.ipynb"
    # Cell 1 is markdown: code cells are numbered as the student sees them in Jupyter.
    assert [c.index for c in read.cells] == [2, 3, 4]
    assert read.cells[0].source == "import numpy as np"
    assert read.cells[1].source.startswith("def leaky_relu_backward(dA, cache):")


def test_nbformat_v3_is_upgraded(submission: Callable[[str], Path]) -> None:
    read = read_submission(submission("correct_nbformat_v3.ipynb"))
    assert read.problem is None
    assert [c.index for c in read.cells] == [2, 3]
    assert "return dA * slope" in read.cells[1].source


def test_py_splits_on_percent_markers_without_losing_text(
    submission: Callable[[str], Path],
) -> None:
    path = submission("correct_script.py")
    read = read_submission(path)
    assert read.problem is None
    assert [c.index for c in read.cells] == [1, 2, 3, 4]
    assert [c.source.splitlines()[0] for c in read.cells[1:]] == ["# %%"] * 3
    assert "".join(c.source for c in read.cells) == path.read_text()


def test_py_without_markers_is_one_cell(submission: Callable[[str], Path]) -> None:
    path = submission("mutates_dA.py")
    read = read_submission(path)
    assert [(c.index, c.source) for c in read.cells] == [(1, path.read_text())]


def test_in_prompt_markers_split_too(tmp_path: Path) -> None:
    text = "# In[1]:\nx = 1\n\n# In[ ]:\ny = 2\n"
    read = read_submission(write(tmp_path, "exported.py", text))
    assert [c.source for c in read.cells] == ["# In[1]:\nx = 1\n\n", "# In[ ]:\ny = 2\n"]


@pytest.mark.parametrize("name", ["bom.py", "BOM.PY"])
def test_byte_order_mark_and_upper_case_suffix(tmp_path: Path, name: str) -> None:
    read = read_submission(write(tmp_path, name, "\ufeffx = 1\n".encode()))
    assert read.problem is None
    assert [c.source for c in read.cells] == ["x = 1\n"]


def test_notebook_with_byte_order_mark(submission: Callable[[str], Path]) -> None:
    path = submission("correct_utf8_bom.ipynb")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    read = read_submission(path)
    assert read.problem is None
    assert [c.index for c in read.cells] == [2, 3, 4]


def test_source_as_a_list_of_lines_is_joined(tmp_path: Path) -> None:
    path = write(tmp_path, "lines.ipynb", notebook(code(["x = 1\n", "y = 2"])))
    assert read_submission(path).cells[0].source == "x = 1\ny = 2"


# --- broken inputs become a problem for the student, never an exception -------------------


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("truncated.ipynb", ["is not valid notebook JSON (line", "probably truncated"]),
        ("binary_renamed.ipynb", ["is a ZIP archive, not a Jupyter notebook"]),
        ("empty.ipynb", ["empty.ipynb is empty"]),
        ("not_a_notebook.ipynb", ["is JSON but not a Jupyter notebook", "'nbformat'"]),
        ("no_cells.ipynb", ["has no code cells, so there is nothing to grade"]),
    ],
)
def test_broken_fixture_files(
    submission: Callable[[str], Path], name: str, words: list[str]
) -> None:
    read = read_submission(submission(name))
    assert read.cells == ()
    assert read.problem is not None
    for word in words:
        assert word in read.problem
    assert read.problem.startswith(name)  # names the file, never a full path
    assert str(submission(name).parent) not in read.problem


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("blank.py", "\n  \n", ["blank.py is empty"]),
        ("latin1.py", "x = 'caf\xe9'".encode("latin-1"), ["is not UTF-8 text (byte 8)"]),
        ("scan.ipynb", b"%PDF-1.7\n...", ["is a PDF document"]),
        ("shot.ipynb", b"\x89PNG\r\n\x1a\n....", ["is a PNG image"]),
        ("nul.ipynb", b"{\x00\x00", ["is a binary file"]),
        ("answer.txt", "def f(): pass", ["neither a .ipynb notebook nor a .py file"]),
        ("list.ipynb", "[1, 2, 3]", ["is JSON but not a Jupyter notebook"]),
        ("future.ipynb", '{"nbformat": 99, "cells": []}', ["could not be read as a notebook"]),
        (
            "cells_not_a_list.ipynb",
            '{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": "oops"}',
            ["could not be read as a notebook"],
        ),
        (
            "markdown_only.ipynb",
            notebook({"cell_type": "markdown", "metadata": {}, "source": "hi"}),
            ["has no code cells"],
        ),
    ],
)
def test_broken_inputs(tmp_path: Path, name: str, content: str | bytes, words: list[str]) -> None:
    read = read_submission(write(tmp_path, name, content))
    assert read.cells == ()
    assert read.problem is not None
    for word in words:
        assert word in read.problem


def test_unreadable_notebooks_say_how_to_fix_them(submission: Callable[[str], Path]) -> None:
    read = read_submission(submission("truncated.ipynb"))
    assert read.problem is not None
    assert read.problem.endswith(FIX_NOTEBOOK)


def test_missing_file_is_misuse(tmp_path: Path) -> None:
    with pytest.raises(SubmissionNotFoundError) as info:
        read_submission(tmp_path / "nope.ipynb")
    assert info.value.exit_code == 2
    assert info.value.message == f"no such file: {tmp_path / 'nope.ipynb'}"
    assert "pass a .ipynb or .py file" in info.value.hint


def test_folder_is_misuse(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedSubmissionError) as info:
        read_submission(tmp_path)
    assert info.value.exit_code == 2
    assert "is not a file" in info.value.message


# --- magics and shell escapes -------------------------------------------------------------


def test_valid_python_is_never_rewritten(tmp_path: Path) -> None:
    source = 'print("%d%%" % 3)\nx = "!not a shell escape"'
    read = read_submission(write(tmp_path, "ok.ipynb", notebook(code(source))))
    assert read.cells[0].source == source
    assert read.notes == ()


def test_magics_are_converted_by_ipython_keeping_line_numbers() -> None:
    """IPython's own transformer (nbconvert's script exporter) converts; lines stay put."""
    source = (
        "\n%matplotlib inline\nimport numpy as np\n!pip install numpy\n"
        "for i in range(2):\n    %time f(i)\n"
    )
    rewritten, notes, skip = transform_cell(source)
    assert not skip
    assert rewritten.splitlines() == [
        "",
        "get_ipython().run_line_magic('matplotlib', 'inline')",
        "import numpy as np",
        "get_ipython().system('pip install numpy')",
        "for i in range(2):",
        "    get_ipython().run_line_magic('time', 'f(i)')",
    ]
    assert rewritten.endswith("\n")
    compile(rewritten, "<cell>", "exec")
    assert notes == [
        "line magic `%matplotlib inline` not run (magics have no effect here)",
        "shell command `!pip install numpy` not run (install packages beforehand)",
        "%time ignored; its statement ran once",
    ]


@pytest.mark.parametrize(
    ("line", "advice"),
    [
        ("!pip install -q h5py", "install packages beforehand"),
        ("!python -m pip install torch", "install packages beforehand"),
        ("!conda install -y numpy", "install packages beforehand"),
        ("!wget https://example.invalid/train.h5", "shell commands do not run"),
        ("!ls -l", "shell commands do not run"),
        ("!pip list", "shell commands do not run"),
    ],
)
def test_only_installs_are_told_to_install_beforehand(line: str, advice: str) -> None:
    _, notes, _ = transform_cell(f"{line}\nx = 1\n")
    assert notes == [f"shell command `{line}` not run ({advice})"]


def test_time_cell_magic_runs_its_body() -> None:
    rewritten, notes, skip = transform_cell("%%time\ndef f():\n    return 1\n")
    assert not skip
    assert rewritten == "\ndef f():\n    return 1\n"
    assert notes == ["%%time ignored; the cell's body ran as plain Python"]


def test_a_cell_magic_after_a_py_cell_marker_is_still_a_cell_magic() -> None:
    rewritten, _, skip = transform_cell("# %%\n%%capture\nx = 1\n%matplotlib inline\n")
    assert not skip
    assert rewritten.splitlines() == [
        "",
        "",
        "x = 1",
        "get_ipython().run_line_magic('matplotlib', 'inline')",
    ]


@pytest.mark.parametrize("magic", ["%%bash", "%%html", "%%javascript", "%%capture_x"])
def test_other_cell_magics_are_skipped(magic: str) -> None:
    rewritten, notes, skip = transform_cell(f"{magic}\necho hi\n")
    assert skip
    assert rewritten == ""
    assert notes == [f"%%{magic[2:].split()[0]} cell not run (only Python cells are graded)"]


def test_a_shell_cell_that_installs_says_so() -> None:
    _, notes, skip = transform_cell("%%bash\npip install h5py\n")
    assert skip
    assert notes == [
        "%%bash cell not run (only Python cells are graded); install packages beforehand"
    ]


def test_writefile_becomes_a_call_the_child_carries_out() -> None:
    rewritten, notes, skip = transform_cell("\n%%writefile helper.py\ndef g():\n    return 1\n")
    assert not skip
    assert rewritten == (
        "\nget_ipython().run_cell_magic('writefile', 'helper.py', 'def g():\\n    return 1\\n')\n"
    )
    assert notes == [
        "%%writefile helper.py: the file was written to the folder the notebook runs in, "
        "so a later import finds it"
    ]


def test_captured_shell_output_and_help_requests() -> None:
    rewritten, notes, _ = transform_cell("files = !ls\nnp.where?\nx = 1")
    assert rewritten.splitlines() == [
        "files = get_ipython().getoutput('ls')",
        "get_ipython().run_line_magic('pinfo', 'np.where')",
        "x = 1",
    ]
    assert notes == [
        "`files = !ls` not run (shell commands do not run); files set to []",
        "help request `np.where?` not run",
    ]


def test_a_cell_too_big_to_convert_whole_is_converted_line_by_line(tmp_path: Path) -> None:
    """IPython re-reads the whole cell per magic: past the budget, lines go one by one
    (linear time), with the same conversion, line numbers and notes."""
    filler = "x = 1\n" * FULL_TRANSFORM_COST
    source = "for i in range(2):\n    %time f(i)\n" + filler + "!pip install h5py\n"
    read = read_submission(write(tmp_path, "big.ipynb", notebook(code(source))))
    lines = read.cells[0].source.splitlines()
    assert len(lines) == len(source.splitlines())
    assert lines[1] == "    get_ipython().run_line_magic('time', 'f(i)')"
    assert lines[-1] == "get_ipython().system('pip install h5py')"
    assert read.notes == (
        "cell 1: %time ignored; its statement ran once",
        "cell 1: shell command `!pip install h5py` not run (install packages beforehand)",
    )


def test_a_cell_full_of_magics_cannot_hold_the_trusted_process(tmp_path: Path) -> None:
    """Converted whole, 400 magics in 1400 lines cost IPython ~560,000 line reads (minutes);
    past the budget the conversion is linear."""
    source = "%time x\n" * 400 + "x = 1\n" * 1000
    started = time.monotonic()
    read = read_submission(write(tmp_path, "magics.ipynb", notebook(code(source))))
    assert time.monotonic() - started < 10.0  # ~0.3 s; generous for a busy machine
    assert len(read.notes) == 400


def test_more_magic_lines_than_the_grader_converts_is_a_problem(tmp_path: Path) -> None:
    source = "%time x\n" * (MAX_MAGIC_LINES + 1)
    read = read_submission(write(tmp_path, "magics.ipynb", notebook(code(source))))
    assert read.cells == ()
    assert read.problem == (
        f"magics.ipynb has {MAX_MAGIC_LINES + 1} lines of IPython magics or shell commands, "
        f"more than the {MAX_MAGIC_LINES} the grader converts. Remove the ones your functions "
        "do not need and resubmit."
    )


def test_notes_name_their_cell(submission: Callable[[str], Path]) -> None:
    read = read_submission(submission("correct_with_magics.ipynb"))
    assert read.problem is None
    assert "cell 3: shell command `!pip install numpy` not run (install packages beforehand)" in (
        read.notes
    )
    # The %%bash cell (6) is dropped; the %%time cell (4) keeps its body.
    assert [c.index for c in read.cells] == [2, 3, 4, 5]
    assert read.cells[2].source.splitlines()[1] == "def leaky_relu_backward(dA, cache):"


# --- sizes and nesting the trusted process must survive (found by the audit) --------------


def test_a_file_over_the_size_cap_is_a_problem_not_a_read(tmp_path: Path) -> None:
    """A sparse 60 MB file: the cap is checked on its size, before a byte is read."""
    path = tmp_path / "huge.ipynb"
    with path.open("wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)
    read = read_submission(path)
    assert read.cells == ()
    assert read.problem == (
        "huge.ipynb is 50.0 MB, more than the 50.0 MB the grader reads; that is almost always "
        "saved output (plots, printed arrays). In Jupyter use Edit > Clear Outputs of All "
        "Cells, save, and resubmit."
    )


def test_more_code_than_one_request_carries_is_a_problem(tmp_path: Path) -> None:
    """The cells go to the child in one frame header (HEADER_CAP): refuse them here, clearly."""
    pasted = "DATA = '" + "x" * MAX_CODE_BYTES + "'\n"
    read = read_submission(write(tmp_path, "pasted.ipynb", notebook(code("x = 1"), code(pasted))))
    assert read.cells == ()
    assert read.problem is not None
    assert read.problem.startswith("The code cells of pasted.ipynb hold 2.0 MB of text, more ")
    assert read.problem.endswith(
        "Remove data pasted into cells (load it from a file instead) and resubmit."
    )
    assert MAX_CODE_BYTES < HEADER_CAP


def test_json_nested_too_deeply_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    read = read_submission(write(tmp_path, "deep.ipynb", "[" * 200_000 + "]" * 200_000))
    assert read.problem == (
        f"deep.ipynb is JSON nested too deeply to be a Jupyter notebook. {FIX_NOTEBOOK}"
    )


def test_code_too_deep_to_compile_is_left_for_the_child(tmp_path: Path) -> None:
    """compile() raises MemoryError on this in the trusted process; the cell is kept as is."""
    deep = "x = " + "-" * 100_000 + "1\n"
    read = read_submission(write(tmp_path, "deep.py", f"# %%\n{deep}# %%\ny = 2\n"))
    assert read.problem is None
    assert [c.source for c in read.cells] == [f"# %%\n{deep}", "# %%\ny = 2\n"]
