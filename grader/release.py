"""The student release: what students get, and nothing they must not see.

``grader release`` writes, into a new folder:

  <name>.ipynb                      the template: nbgrader-style solution blocks replaced by
                                    ``raise NotImplementedError``, outputs cleared
  assignments/<name>/               a student spec, the visible tests, and a stub module
                                    standing in for the reference (the loader wants one)
  <provided files>                  the course's files (assignments/<name>/provided/), next
                                    to the notebook as the student's Jupyter wants them
  grader-src/                       the grader itself, ``pip install ./grader-src``
  README.md                         how to self-check and what to hand in

so that ``grader check <name>.ipynb`` and the notebook's own check cell work on a student's
machine. Never copied: the hidden tests, the reference, the misconception catalogue (it is
matched against the reference's answers, so it is useless without it and only hints at
the hidden tests), the instructor's conftest.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

from grader.assignments import SPEC_FILE, Assignment, load_assignment
from grader.errors import AssignmentError, UsageError
from grader.export import TEMPLATES, grader_source_files

BEGIN_SOLUTION = re.compile(r"^\s*#+\s*BEGIN SOLUTION\s*$")
END_SOLUTION = re.compile(r"^\s*#+\s*END SOLUTION\s*$")
BEGIN_HIDDEN_TESTS = re.compile(r"^\s*#+\s*BEGIN HIDDEN TESTS\s*$")
END_HIDDEN_TESTS = re.compile(r"^\s*#+\s*END HIDDEN TESTS\s*$")
CODE_STUB = 'raise NotImplementedError("replace this line with your solution")'
MARKDOWN_STUB = "YOUR ANSWER HERE"
STUB_REFERENCE = "no_reference.py"


@dataclass(frozen=True)
class Release:
    """What ``build_release`` wrote."""

    folder: Path
    notebook: Path
    files: tuple[Path, ...]
    solutions_stripped: int  #: solution blocks replaced by a stub


def strip_solutions(source: str, *, code: bool, where: str) -> tuple[str, int]:
    """Replace each BEGIN/END SOLUTION block by a stub; drop BEGIN/END HIDDEN TESTS blocks.

    Returns the new source and the number of solution blocks replaced. Raises
    AssignmentError for an unbalanced marker rather than risk releasing a solution.
    """
    kept: list[str] = []
    blocks = 0
    inside: str | None = None  # "solution" or "hidden tests" while within a block
    for number, line in enumerate(source.splitlines(), start=1):
        if inside is None:
            if BEGIN_SOLUTION.match(line):
                inside = "solution"
                blocks += 1
                indent = line[: len(line) - len(line.lstrip())]
                kept.append(indent + (CODE_STUB if code else MARKDOWN_STUB))
            elif BEGIN_HIDDEN_TESTS.match(line):
                inside = "hidden tests"
            elif END_SOLUTION.match(line) or END_HIDDEN_TESTS.match(line):
                raise AssignmentError(
                    f"{where}, line {number}: an END marker without its BEGIN",
                    "pair every ### BEGIN SOLUTION with ### END SOLUTION",
                )
            else:
                kept.append(line)
        elif (inside == "solution" and END_SOLUTION.match(line)) or (
            inside == "hidden tests" and END_HIDDEN_TESTS.match(line)
        ):
            inside = None
        elif BEGIN_SOLUTION.match(line) or BEGIN_HIDDEN_TESTS.match(line):
            raise AssignmentError(
                f"{where}, line {number}: a BEGIN marker inside another {inside} block",
                "close each block with its END marker before opening the next",
            )
    if inside is not None:
        marker = "### END SOLUTION" if inside == "solution" else "### END HIDDEN TESTS"
        raise AssignmentError(
            f"{where}: a {inside} block is never closed",
            f"add `{marker}` after the block, or the solution would be released",
        )
    return "\n".join(kept), blocks


def release_notebook(path: Path) -> tuple[Any, int]:
    """The student's copy of a master notebook, and the number of solution blocks stripped."""
    import nbformat  # only `grader release` needs it here: kept out of every CLI start-up

    try:
        notebook = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    except Exception as exc:
        raise AssignmentError(f"cannot read the template {path}: {exc}") from exc
    blocks = 0
    for index, cell in enumerate(notebook.cells, start=1):
        if cell.cell_type not in ("code", "markdown"):
            continue
        where = f"{path.name}, cell {index}"
        cell.source, found = strip_solutions(
            cell.source, code=cell.cell_type == "code", where=where
        )
        blocks += found
        # nbgrader's cell ids and grade ids say which cells are graded; students need neither.
        cell.metadata.pop("nbgrader", None)
    # nbconvert's own preprocessor: outputs, execution counts and stale output metadata.
    # (Imported here: nbconvert costs ~0.7 s to import, which `grader grade` never pays.)
    from nbconvert.preprocessors import ClearOutputPreprocessor

    notebook, _ = ClearOutputPreprocessor().preprocess(notebook, {})  # type: ignore[no-untyped-call]
    return notebook, blocks


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string uses JSON's escapes
    raise AssignmentError(f"cannot write {value!r} into the student's {SPEC_FILE}")


def student_spec(assignment: Assignment, points: dict[str, float] | None = None) -> str:
    """The release's assignment.toml: visible tests only, limits kept.

    ``points``: each graded function's visible total (assignments with several).
    """
    original = tomllib.loads((assignment.folder / SPEC_FILE).read_text())
    lines = [
        f"# Student release of {assignment.name}, written by `grader release`.",
        "# It holds the visible tests only: the grader needs a reference and a hidden suite,",
        "# so both point at public files here, and `grader check` works on your machine.",
    ]
    if assignment.several:
        lines += _several_spec(assignment, points or {})
    else:
        lines += [
            f"title = {_toml_value(assignment.title)}",
            "functions = [" + ", ".join(_toml_value(f) for f in assignment.functions) + "]",
            f'reference = "assignments/{assignment.name}/{STUB_REFERENCE}"',
            'visible_tests = "test_visible.py"',
            'hidden_tests = "test_visible.py"',
            'hidden_visibility = "visible"',
        ]
    limits = original.get("limits", {})
    if isinstance(limits, dict) and limits:
        lines += ["", "[limits]"]
        lines += [f"{key} = {_toml_value(value)}" for key, value in limits.items()]
    return "\n".join(lines) + "\n"


def _several_spec(assignment: Assignment, points: dict[str, float]) -> list[str]:
    """The ``[[graded]]`` tables and ``[provided]`` of a release with several functions.

    Each function's visible tests stand in for its hidden ones, with ``points`` set to their
    scaled total, so ``grader check`` shows the points the instructor's check shows.
    """
    lines = [
        f"title = {_toml_value(assignment.title)}",
        f'reference = "assignments/{assignment.name}/{STUB_REFERENCE}"',
        'hidden_visibility = "visible"',
    ]
    for graded in assignment.graded:
        tests = _visible_name(assignment, graded.function)
        lines += [
            "",
            "[[graded]]",
            f"function = {_toml_value(graded.function)}",
            f"visible_tests = {_toml_value(tests)}",
            f"hidden_tests = {_toml_value(tests)}",
            f"points = {_toml_value(points[graded.function])}",
        ]
        if graded.requires:
            lines.append("requires = [" + ", ".join(_toml_value(r) for r in graded.requires) + "]")
    provided = assignment.provided
    if provided.aliases or provided.not_provided:
        lines += ["", "[provided]"]
        if provided.aliases:
            pairs = ", ".join(f"{k} = {_toml_value(v)}" for k, v in provided.aliases.items())
            lines.append(f"aliases = {{ {pairs} }}")
        if provided.not_provided:
            names = ", ".join(_toml_value(n) for n in provided.not_provided)
            lines.append(f"not_provided = [{names}]")
    return lines


def _visible_name(assignment: Assignment, function: str) -> str:
    return f"test_visible_{function}.py" if assignment.several else "test_visible.py"


def _stub_reference(assignment: Assignment) -> str:
    return (
        f'"""Stands in for the reference of {assignment.name}, which students do not get.\n\n'
        "The grader loads a reference module for every assignment; the visible tests do not\n"
        'use it, so an empty one lets `grader check` run here."""\n'
    )


def build_release(
    out: Path, *, assignment: str | None = None, course_dir: Path | None = None
) -> Release:
    """Write the student release of one assignment into the new folder ``out``.

    Raises UsageError if ``out`` exists and is not empty, AssignmentError if the assignment
    has no template or its solution markers are unbalanced.
    """
    spec = load_assignment(assignment, course_dir)
    if spec.template is None:
        raise AssignmentError(
            f"assignment {spec.name} has no template notebook to release",
            f'add `template = "template.ipynb"` to {spec.folder / SPEC_FILE}',
        )
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(
            f"{out} already exists and is not an empty folder",
            "choose a new --out folder (a release is never merged into old files)",
        )
    import nbformat

    notebook, blocks = release_notebook(spec.template)
    folder = f"assignments/{spec.name}"
    points: dict[str, float] = {}
    if spec.several:
        from grader.api import prepare_assignment

        for part in prepare_assignment(spec.name, course_dir).parts:
            points[part.function] = round(sum(c.points for c in part.visible), 6)
    texts: dict[str, str] = {
        f"{spec.name}.ipynb": nbformat.writes(notebook) + "\n",  # type: ignore[no-untyped-call]
        f"{folder}/{SPEC_FILE}": student_spec(spec, points),
        **{
            f"{folder}/{_visible_name(spec, g.function)}": g.visible_tests.read_text()
            for g in spec.graded
        },
        f"{folder}/{STUB_REFERENCE}": _stub_reference(spec),
        "README.md": Template((TEMPLATES / "release" / "README.md.tmpl").read_text()).substitute(
            name=spec.name, title=spec.title
        ),
    }
    files: dict[str, bytes] = {name: text.encode() for name, text in texts.items()}
    files.update(grader_source_files("grader-src"))
    # The course's files: next to the notebook for Jupyter, and in the spec's provided/ for
    # `grader check` (which places them in the run's folder as grading does).
    for name, source in spec.provided.files().items():
        paths = sorted(source.rglob("*")) if source.is_dir() else [source]
        for path in (p for p in paths if p.is_file() and "__pycache__" not in p.parts):
            inner = name if path == source else f"{name}/{path.relative_to(source).as_posix()}"
            files[inner] = path.read_bytes()
            if not (name.endswith(".py") and name[:-3] in spec.provided.aliases):
                files[f"{folder}/provided/{inner}"] = path.read_bytes()
    written = []
    for name in sorted(files):
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(files[name])
        written.append(path)
    return Release(out, out / f"{spec.name}.ipynb", tuple(written), blocks)
