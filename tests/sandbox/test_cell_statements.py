"""A cell runs statement by statement: a failed top-level statement loses only itself.

Jupyter stops a cell at its first error; a real notebook whose import cell starts with
`import torch` (not installed) then lost its `import numpy as np`, and a correct function
scored 0. These tests run real child processes (the fallback backend: what they check is
the child's cell loop, not the isolation).
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from grader.sandbox import LoadReport, Returned, StudentProcess
from grader.sandbox.limits import Limits
from grader.scoring import cell_entry, describe_cell_errors
from grader.submission import transform_cell

pytestmark = pytest.mark.sandbox

IMPORTS = "import torch_not_installed\nimport json\nimport h5py_not_installed\nimport math\n"


def load(cells: Sequence[str], function: str = "f", **limits: float) -> tuple[LoadReport, object]:
    """Run ``cells`` (indexed 1, 2, ...) and call ``function()`` if it exists."""
    settings = Limits(cell_timeout=5.0).with_overrides(limits)
    indexed = list(enumerate(cells, start=1))
    with StudentProcess(indexed, [function], backend="none", limits=settings) as process:
        report = process.load()
        value = None
        if report.functions[function] == "callable":
            outcome = process.call(function, [])
            value = outcome.value if isinstance(outcome, Returned) else outcome
        return report, value


def test_statements_after_a_failed_import_still_run() -> None:
    report, value = load([IMPORTS + "def f():\n    return math.sqrt(16) + len(json.dumps([]))\n"])
    assert value == 6.0  # math (line 4) and json (line 2) were imported, f defined
    cell = report.cells[0]
    assert cell.status == "error"
    assert [(e.ename, e.line) for e in cell.errors] == [
        ("ModuleNotFoundError", 1),
        ("ModuleNotFoundError", 3),
    ]
    assert (cell.ename, cell.line) == ("ModuleNotFoundError", 1)  # the first, as before


def test_each_failure_is_reported_with_its_cell_and_line() -> None:
    report, _ = load(["x = 1", "y = 1 / 0\nz = 2\nw = undefined_name\n"])
    assert describe_cell_errors(report.cells[1]) == [
        "cell 2: ZeroDivisionError at line 1: division by zero",
        "cell 2: NameError at line 3: name 'undefined_name' is not defined",
    ]
    entry = cell_entry(report.cells[1])
    assert entry["error"] == "ZeroDivisionError: division by zero"
    assert entry["more_errors"] == ["line 3: NameError: name 'undefined_name' is not defined"]
    assert "more_errors" not in cell_entry(report.cells[0])


def test_a_name_error_caused_by_an_earlier_failure_is_not_reported_again() -> None:
    cell = (
        "import torch_not_installed as torch\nt = torch.zeros(3)\nu = t + 1\n"
        "def f():\n    return 1\n"
    )
    report, value = load([cell])
    assert value == 1
    assert [e.evalue for e in report.cells[0].errors] == ["No module named 'torch_not_installed'"]


def test_failed_statements_say_what_they_would_have_defined() -> None:
    report, _ = load(["from dnn_utils_missing import relu_backward, sigmoid as sg\nx = 1\n"])
    assert report.cells[0].errors[0].binds == ("relu_backward", "sg")


def test_a_cell_that_does_not_compile_runs_not_at_all() -> None:
    """As in Jupyter: nothing of it runs, and its defs are named for the message."""
    report, _ = load(["x = 1\ndef f():\n    return 2\nprint 'python 2'\n"])
    cell = report.cells[0]
    assert (cell.ename, cell.line) == ("SyntaxError", 4)
    assert report.functions["f"] == "missing"
    assert cell.errors[0].binds == ("f",)
    report, _ = load(["x = 1\nreturn x\ndef f():\n    return 2\n"])  # a compiler-only error
    assert report.cells[0].ename == "SyntaxError"
    assert report.functions["f"] == "missing"


def test_line_numbers_in_call_tracebacks_stay_the_cells() -> None:
    report, value = load(["import nope_missing\n\n\ndef f():\n    x = 1\n    return x / 0\n"])
    assert report.cells[0].line == 1
    assert not isinstance(value, int)
    assert getattr(value, "frames", ())[-1].line == 6


def test_future_imports_hold_for_the_rest_of_the_cell() -> None:
    report, value = load(
        ["from __future__ import annotations\ndef f() -> UndefinedType:\n    return 3\n"]
    )
    assert report.cells[0].status == "ok"
    assert value == 3


def test_the_time_limit_covers_the_whole_cell_not_each_statement() -> None:
    # CPU time, not wall time: the limit discounts waits for a CPU on a busy machine.
    spin = (
        "import time\nt0 = time.process_time()\n"
        "while time.process_time() - t0 < 0.6:\n    pass\n"
    )
    report, _ = load([spin * 4 + "def f():\n    return 1\n"], cell_timeout=1.0)
    cell = report.cells[0]
    assert cell.ename == "TimeoutError"
    assert len(cell.errors) == 1  # the statements after the limit did not get a limit of their own
    assert report.functions["f"] == "missing"


def test_errors_per_cell_are_capped() -> None:
    report, value = load(
        ["".join(f"v{i} = 1 / 0\n" for i in range(30)) + "def f():\n    return 5\n"]
    )
    cell = report.cells[0]
    assert value == 5
    assert len(cell.errors) == 5
    assert cell.dropped == 25
    assert cell_entry(cell)["more_errors"][-1] == "25 more statement(s) failed"


# --- get_ipython(): what IPython's converted magics call in the child ----------------------


def converted(*cells: str) -> list[str]:
    """Cells as the trusted side sends them (IPython's conversion; skipped cells dropped)."""
    kept = []
    for cell in cells:
        source, _, skip = transform_cell(cell)
        if not skip:
            kept.append(source)
    return kept


def test_writefile_writes_a_module_a_later_cell_imports() -> None:
    report, value = load(
        converted(
            "%%writefile course_helper.py\ndef twice(x):\n    return 2 * x\n",
            "from course_helper import twice\ndef f():\n    return twice(21)\n",
        )
    )
    assert [c.status for c in report.cells] == ["ok", "ok"]
    assert value == 42


def test_writefile_outside_the_runs_folder_is_refused() -> None:
    report, value = load(
        converted("%%writefile ../escaped.py\nx = 1\n", "def f():\n    return 1\n")
    )
    assert report.cells[0].ename == "PermissionError"
    assert "only inside the folder the notebook runs in" in report.cells[0].evalue
    assert value == 1


def test_harmless_magics_do_nothing_and_time_runs_its_statement() -> None:
    report, value = load(
        converted(
            "%matplotlib inline\n%load_ext autoreload\n%autoreload 2\n!pip install torch\n"
            "listing = !ls\nbase = %time 40 + 1\n%time extra = 1\n%timeit never = 1\n"
            "def f():\n    return (base + extra, listing, 'never' in globals(),"
            " repr(get_ipython()))\n"
        )
    )
    assert report.cells[0].status == "ok"
    assert value == (42, [], False, "<grader notebook shell>")


def test_a_failing_time_statement_reports_the_magics_line() -> None:
    report, _ = load(converted("x = 1\n\n%time y = 1 / 0\n"))
    assert (report.cells[0].ename, report.cells[0].line) == ("ZeroDivisionError", 3)
