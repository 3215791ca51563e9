"""``grader new NAME``: a new assignment that grades from the first minute.

Writes ``assignments/<name>/`` (spec, master notebook, visible and hidden tests, an empty
misconception catalogue, the pytest conftest) and ``reference/<name>.py`` into a course
folder. The placeholder exercise is ReLU, so ``grader grade`` works at once and the
instructor edits a working assignment instead of a blank page. The master notebook keeps
its solution between nbgrader-style markers, which ``grader release`` strips.
"""

from __future__ import annotations

import json
import keyword
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

from grader.assignments import SPEC_FILE, default_course_dir
from grader.errors import UsageError
from grader.export import TEMPLATES

# Fixture names the suite runner provides itself; a function called like one would clash.
RESERVED_NAMES = frozenset({"student", "reference", "rng", "solution", "request"})
FILES = {  # template file -> path inside assignments/<name>/
    "assignment.toml.tmpl": SPEC_FILE,
    "test_visible.py.tmpl": "test_visible.py",
    "test_hidden.py.tmpl": "test_hidden.py",
    "misconceptions.py.tmpl": "misconceptions.py",
    "conftest.py.tmpl": "conftest.py",
    "__init__.py.tmpl": "__init__.py",
}
SELF_CHECK_CELL = (  # the same last cell as the bundled assignments' templates
    "try:\n"
    "    from grader import check\n"
    "    check($name)\n"
    "except ImportError:\n"
    '    print("The grader package is not installed here; run `grader check <this notebook>` '
    'instead.")'
)


@dataclass(frozen=True)
class Scaffold:
    """What ``new_assignment`` wrote."""

    name: str
    folder: Path
    reference: Path
    files: tuple[Path, ...]


def validate_name(name: str) -> None:
    """Raise UsageError unless ``name`` can be a folder, a module and a function name."""
    problem = None
    if not name.isidentifier() or not name.isascii():
        problem = "is not a Python identifier"
    elif keyword.iskeyword(name) or keyword.issoftkeyword(name):
        problem = "is a Python keyword"
    elif name in RESERVED_NAMES or name.startswith("test"):
        problem = "clashes with a test fixture or test function name"
    if problem:
        raise UsageError(
            f"assignment name {name!r} {problem}",
            "use lowercase letters, digits and underscores, e.g. `grader new relu_forward`",
        )


def _cell(kind: str, source: str, cell_id: str) -> dict[str, Any]:
    cell: dict[str, Any] = {"cell_type": kind, "id": cell_id, "metadata": {}, "source": source}
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


def _notebook(name: str, title: str) -> str:
    """The master notebook as nbformat 4.5 JSON (written directly: it is small and fixed)."""
    sources = [
        (
            "markdown",
            f"# {title}\n\n"
            "Describe the exercise here: the maths, the shapes, and the rules (for example: "
            "return a new array, do not modify the inputs).\n\n"
            f"**Implement `{name}(Z)`**: the placeholder exercise is ReLU, "
            "A = max(Z, 0) elementwise.",
        ),
        ("code", "import numpy as np"),
        (
            "code",
            f"def {name}(Z):\n"
            '    """Return A = max(Z, 0) elementwise, as a new array with the shape of Z."""\n'
            "    ### BEGIN SOLUTION\n"
            "    return np.maximum(Z, 0.0)\n"
            "    ### END SOLUTION",
        ),
        (
            "markdown",
            "## Check your work before you hand in\n\n"
            f"- in a terminal: `grader check {name}.ipynb`\n"
            "- here, in the notebook: run the cell below (it uses your live function).",
        ),
        ("code", Template(SELF_CHECK_CELL).substitute(name=name)),
    ]
    notebook = {
        # Stable cell ids: a re-scaffold diffs cleanly.
        "cells": [_cell(k, src, f"{name[:40]}-{i}") for i, (k, src) in enumerate(sources, 1)],
        "metadata": {
            "grader": {"assignment": name},
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"


def new_assignment(name: str, *, course_dir: Path | None = None) -> Scaffold:
    """Create assignment ``name`` in the course folder; never overwrites anything.

    Raises UsageError for a bad name or when the assignment or its reference exists.
    """
    validate_name(name)
    course = course_dir or default_course_dir()
    folder = course / "assignments" / name
    reference = course / "reference" / f"{name}.py"
    for existing in (folder, reference):
        if existing.exists():
            raise UsageError(
                f"{existing} already exists: `grader new` never overwrites an assignment",
                "pick another name, or edit the existing assignment",
            )
    title = name.replace("_", " ").capitalize()
    texts = {
        folder / target: Template((TEMPLATES / "new" / source).read_text()).substitute(
            name=name, title=title
        )
        for source, target in FILES.items()
    }
    texts[folder / "template.ipynb"] = _notebook(name, title)
    texts[reference] = Template((TEMPLATES / "new" / "reference.py.tmpl").read_text()).substitute(
        name=name
    )
    folder.mkdir(parents=True)
    reference.parent.mkdir(parents=True, exist_ok=True)
    for path, text in texts.items():
        path.write_text(text)
    return Scaffold(name, folder, reference, tuple(sorted(texts)))
