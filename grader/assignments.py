"""Find ``assignments/<name>/`` and read its spec (``assignment.toml``).

A course folder holds ``assignments/`` (one folder per assignment) and ``reference/``
(reference solutions, never shown to students). Both are read only on the trusted side.

An assignment grades one function (the top-level keys name its tests) or several: one
``[[graded]]`` table per function, each with its own tests, catalogue, reference and points,
or ``include = "other_assignment"`` to reuse that assignment's files unchanged. Files in
``provided/`` (the course's helper modules, small data files) are put read-only in the
folder the submission runs in. The single-function spec is the case of one graded function.
"""

from __future__ import annotations

import ast
import os
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from grader.errors import (
    AmbiguousAssignmentError,
    AssignmentError,
    UnknownAssignmentError,
)
from grader.results import VISIBILITIES, Visibility
from grader.sandbox.limits import Limits

SPEC_FILE = "assignment.toml"
COURSE_ENV = "GRADER_COURSE_DIR"  # a course folder holding assignments/ and reference/
PY_ASSIGNMENT_COMMENT = "# grader: assignment=NAME"  # read by grader.submission


PROVIDED_FOLDER = "provided"  # assignments/<name>/provided/: course files the run can read
GRADED_KEYS = frozenset(
    {"function", "include", "reference", "visible_tests", "hidden_tests", "misconceptions"}
    | {"points", "requires"}
)


@dataclass(frozen=True)
class GradedFunction:
    """One graded function of an assignment: its tests, catalogue, reference and points."""

    function: str
    reference: Path
    visible_tests: Path
    hidden_tests: Path
    misconceptions: Path | None = None
    #: the hidden tests' points are scaled to total this; None keeps the tests' own points
    points: float | None = None
    #: other names the submission must define for it (helpers it calls, e.g. ``sigmoid``)
    requires: tuple[str, ...] = ()
    #: the assignment whose files these are (``include``), or "" for the assignment's own
    included_from: str = ""


@dataclass(frozen=True)
class Provided:
    """Course files placed read-only in the run's folder (``assignments/<name>/provided/``)."""

    folder: Path | None = None  #: None when the assignment provides nothing
    #: extra module names -> the provided module they are (``dnn_utils_v2`` -> ``dnn_utils``)
    aliases: dict[str, str] = field(default_factory=dict)
    #: course modules this assignment does not provide (named as such in messages)
    not_provided: tuple[str, ...] = ()

    def files(self) -> dict[str, Path]:
        """Name in the run's folder -> file or folder on this side, aliases included."""
        if self.folder is None:
            return {}
        entries = {
            p.name: p
            for p in sorted(self.folder.iterdir())
            if not p.name.startswith(".") and p.name != "__pycache__"
        }
        for alias, module in self.aliases.items():
            entries[f"{alias}.py"] = self.folder / f"{module}.py"
        return entries

    def defined_names(self) -> frozenset[str]:
        """Top-level functions and classes of the provided modules (read, never imported)."""
        names: set[str] = set()
        for path in self.files().values():
            if path.suffix != ".py" or not path.is_file():
                continue
            try:
                tree = ast.parse(path.read_text(errors="replace"))
            except (SyntaxError, ValueError, OSError):
                continue
            names.update(
                node.name
                for node in tree.body
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            )
        return frozenset(names)

    def modules(self) -> tuple[str, ...]:
        """Module names a submission can import from the provided files."""
        return tuple(sorted(n.removesuffix(".py") for n in self.files() if n.endswith(".py")))


@dataclass(frozen=True)
class Assignment:
    """Everything the trusted side needs to grade one assignment."""

    name: str
    title: str
    folder: Path
    functions: tuple[str, ...]  #: names the submission must define; the first is the main one
    reference: Path
    visible_tests: Path
    hidden_tests: Path
    template: Path | None
    hidden_visibility: Visibility
    limits: Limits
    misconceptions: Path | None = None
    options: dict[str, Any] = field(default_factory=dict)
    #: the graded functions in order; one built from the top-level keys for a single function
    graded: tuple[GradedFunction, ...] = ()
    provided: Provided = field(default_factory=Provided)

    @property
    def function(self) -> str:
        """The main function students implement."""
        return self.functions[0]

    @property
    def several(self) -> bool:
        """Whether it grades several functions (test names then start with the function's)."""
        return len(self.graded) > 1


def default_course_dir() -> Path:
    """``$GRADER_COURSE_DIR``, else the checkout this package lives in, else the cwd."""
    if os.environ.get(COURSE_ENV):
        return Path(os.environ[COURSE_ENV])
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "assignments").is_dir():
        return checkout
    return Path.cwd()


def list_assignments(course_dir: Path | None = None) -> list[str]:
    """Names of every folder under ``assignments/`` that has an ``assignment.toml``."""
    root = (course_dir or default_course_dir()) / "assignments"
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / SPEC_FILE).is_file())


def resolve_name(name: str | None, course_dir: Path | None = None) -> str:
    """The assignment to use: the one named, or the only one there is."""
    available = list_assignments(course_dir)
    if name is None:
        if len(available) == 1:
            return available[0]
        if not available:
            folder = (course_dir or default_course_dir()) / "assignments"
            raise UnknownAssignmentError(
                f"no assignments found under {folder}",
                f"run from a course folder or set {COURSE_ENV}",
            )
        raise AmbiguousAssignmentError(
            "several assignments exist; say which one",
            "pass --assignment NAME (one of: " + ", ".join(available) + ")",
        )
    if name not in available:
        raise UnknownAssignmentError(
            f"unknown assignment {name!r}",
            "available: " + (", ".join(available) or "none") + " (see `grader list`)",
        )
    return name


def resolve_assignment(
    requested: str | None,
    named: str | None = None,
    course_dir: Path | None = None,
    *,
    submission: str = "the submission",
) -> str:
    """The assignment that grades one submission; ``grade``, ``check`` and ``batch`` share it.

    ``requested`` (``--assignment``) wins; else the assignment the submission ``named``
    (notebook metadata, or a ``# grader: assignment=NAME`` line in a .py); else the only one.
    Raises UnknownAssignmentError or AmbiguousAssignmentError (usage errors, exit 2).
    """
    if requested is not None:
        return resolve_name(requested, course_dir)
    if named is None:
        available = list_assignments(course_dir)
        if len(available) > 1:
            raise AmbiguousAssignmentError(
                f"several assignments exist and none is named by {submission}",
                f"pass --assignment NAME, one of: {', '.join(available)}. (Notebooks made from "
                "a template name their assignment in their metadata; a .py file can start "
                f"with the line `{PY_ASSIGNMENT_COMMENT}`.)",
            )
        return resolve_name(None, course_dir)
    if named not in list_assignments(course_dir):
        raise UnknownAssignmentError(
            f"{submission} names assignment {named!r}, which does not exist here",
            "pass --assignment NAME to choose one (see `grader list`)",
        )
    return named


def resolve_common_assignment(
    requested: str | None,
    named: Iterable[str | None],
    course_dir: Path | None = None,
    *,
    submissions: str = "the submissions",
) -> str:
    """One assignment for many files (``batch``): as ``resolve_assignment``, where the files
    may name one assignment between them (files that name none go with it), never two."""
    if requested is not None:
        return resolve_name(requested, course_dir)
    names = sorted({n for n in named if n is not None})
    if len(names) > 1:
        raise AmbiguousAssignmentError(
            f"{submissions} name different assignments: {', '.join(names)}",
            "grade one assignment at a time: pass --assignment NAME (or split the folder)",
        )
    return resolve_assignment(None, names[0] if names else None, course_dir, submission=submissions)


def mismatch_note(named: str | None, used: str) -> str | None:
    """Feedback for a file made for another assignment than the one it was graded as."""
    if named is None or named == used:
        return None
    return (
        f"This file says it is for assignment {named!r} but was graded as {used!r}. If that "
        "is not what you meant, submit the notebook made from this assignment's template."
    )


def _path(folder: Path, value: object, key: str) -> Path:
    if not isinstance(value, str):
        raise AssignmentError(f"{folder / SPEC_FILE}: '{key}' must be a path string")
    path = (folder / value).resolve()
    if not path.is_file():
        raise AssignmentError(f"{folder / SPEC_FILE}: '{key}' points to missing file {path}")
    return path


def _read_spec(folder: Path) -> dict[str, Any]:
    try:
        return tomllib.loads((folder / SPEC_FILE).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise AssignmentError(f"cannot read {folder / SPEC_FILE}: {exc}") from exc


def _identifiers(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(
        isinstance(f, str) and f.isidentifier() for f in value
    ):
        raise AssignmentError(f"{where} must list Python identifiers")
    return tuple(value)


def _points(value: object, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise AssignmentError(f"{where}: 'points' must be a positive number")
    return float(value)


def _single(course: Path, folder: Path, name: str, spec: dict[str, Any]) -> GradedFunction:
    """The one graded function of a spec written with top-level keys."""
    misconceptions = spec.get("misconceptions")
    where = folder / SPEC_FILE
    functions = _identifiers(
        spec.get("functions", [spec.get("function", name)]), f"{where}: 'functions'"
    )
    if not functions:
        raise AssignmentError(f"{where}: 'functions' must list Python identifiers")
    return GradedFunction(
        function=functions[0],
        reference=_path(course, spec.get("reference", f"reference/{name}.py"), "reference"),
        visible_tests=_path(folder, spec.get("visible_tests", "test_visible.py"), "visible_tests"),
        hidden_tests=_path(folder, spec.get("hidden_tests", "test_hidden.py"), "hidden_tests"),
        misconceptions=_path(folder, misconceptions, "misconceptions") if misconceptions else None,
        requires=functions[1:],
    )


def _graded(
    course: Path, folder: Path, name: str, spec: dict[str, Any], entry: object
) -> GradedFunction:
    """One ``[[graded]]`` table: its own files, or those of the assignment it includes."""
    where = f"{folder / SPEC_FILE}: [[graded]]"
    if not isinstance(entry, dict):
        raise AssignmentError(f"{where} entries must be tables")
    unknown = sorted(set(entry) - GRADED_KEYS)
    if unknown:
        raise AssignmentError(
            f"{where}: unknown key(s) {', '.join(unknown)}",
            "allowed: " + ", ".join(sorted(GRADED_KEYS)),
        )
    points = _points(entry.get("points"), where)
    requires = _identifiers(entry.get("requires", []), f"{where}: 'requires'")
    include = entry.get("include")
    if include is not None:
        if not isinstance(include, str) or include == name:
            raise AssignmentError(f"{where}: 'include' must name another assignment")
        other_folder = course / "assignments" / include
        if not (other_folder / SPEC_FILE).is_file():
            raise AssignmentError(
                f"{where}: include = {include!r}, but {other_folder / SPEC_FILE} does not exist"
            )
        other_spec = _read_spec(other_folder)
        if "graded" in other_spec:
            raise AssignmentError(
                f"{where}: include = {include!r} grades several functions; include "
                "single-function assignments only"
            )
        other = _single(course, other_folder, include, other_spec)
        function = entry.get("function", other.function)
        if function != other.function:
            raise AssignmentError(
                f"{where}: include = {include!r} grades {other.function!r}, not {function!r}"
            )
        return GradedFunction(
            function=other.function,
            reference=other.reference,
            visible_tests=other.visible_tests,
            hidden_tests=other.hidden_tests,
            misconceptions=other.misconceptions,
            points=points,
            requires=tuple(dict.fromkeys((*other.requires, *requires))),
            included_from=include,
        )
    function = entry.get("function")
    if not isinstance(function, str) or not function.isidentifier():
        raise AssignmentError(f'{where}: each entry needs function = "name" (or include)')
    reference = entry.get("reference", spec.get("reference", f"reference/{name}.py"))
    misconceptions = entry.get("misconceptions")
    for key in ("visible_tests", "hidden_tests"):
        if key not in entry:
            raise AssignmentError(f"{where}: {function!r} needs {key} (or include)")
    return GradedFunction(
        function=function,
        reference=_path(course, reference, "reference"),
        visible_tests=_path(folder, entry["visible_tests"], "visible_tests"),
        hidden_tests=_path(folder, entry["hidden_tests"], "hidden_tests"),
        misconceptions=_path(folder, misconceptions, "misconceptions") if misconceptions else None,
        points=points,
        requires=requires,
    )


def _provided(folder: Path, spec: dict[str, Any]) -> Provided:
    table = spec.get("provided", {})
    where = f"{folder / SPEC_FILE}: [provided]"
    if not isinstance(table, dict) or set(table) - {"aliases", "not_provided"}:
        raise AssignmentError(f"{where} may only set 'aliases' and 'not_provided'")
    root = (folder / PROVIDED_FOLDER).resolve()
    aliases = table.get("aliases", {})
    if not isinstance(aliases, dict) or not all(
        isinstance(k, str) and k.isidentifier() and isinstance(v, str) for k, v in aliases.items()
    ):
        raise AssignmentError(f"{where}: aliases must map module names to provided modules")
    for alias, module in aliases.items():
        if not (root / f"{module}.py").is_file():
            raise AssignmentError(
                f"{where}: alias {alias!r} names {module!r}, but {root / (module + '.py')} "
                "does not exist"
            )
    not_provided = _identifiers(table.get("not_provided", []), f"{where}: 'not_provided'")
    return Provided(root if root.is_dir() else None, dict(aliases), not_provided)


def load_assignment(name: str | None = None, course_dir: Path | None = None) -> Assignment:
    """Read and validate ``assignments/<name>/assignment.toml``."""
    course = course_dir or default_course_dir()
    name = resolve_name(name, course)
    folder = course / "assignments" / name
    spec = _read_spec(folder)
    visibility = spec.get("hidden_visibility", "after_published")
    if visibility not in VISIBILITIES:
        raise AssignmentError(
            f"{folder / SPEC_FILE}: hidden_visibility must be one of {VISIBILITIES}"
        )
    try:
        limits = Limits().with_overrides(spec.get("limits", {}))
    except (ValueError, TypeError) as exc:
        raise AssignmentError(f"{folder / SPEC_FILE}: [limits]: {exc}") from exc
    if "graded" in spec:
        entries = spec["graded"]
        if not isinstance(entries, list) or not entries:
            raise AssignmentError(f"{folder / SPEC_FILE}: [[graded]] must list tables")
        if {"functions", "function", "visible_tests", "hidden_tests"} & set(spec):
            raise AssignmentError(
                f"{folder / SPEC_FILE}: with [[graded]] tables, name the tests in each table, "
                "not at the top level"
            )
        graded = tuple(_graded(course, folder, name, spec, e) for e in entries)
    else:
        graded = (_single(course, folder, name, spec),)
    names = [g.function for g in graded]
    if len(set(names)) != len(names):
        raise AssignmentError(f"{folder / SPEC_FILE}: a function is graded twice")
    functions = tuple(dict.fromkeys([*names, *(r for g in graded for r in g.requires)]))
    template = spec.get("template")
    first = graded[0]
    return Assignment(
        name=name,
        title=str(spec.get("title", name)),
        folder=folder,
        functions=functions,
        reference=first.reference,
        visible_tests=first.visible_tests,
        hidden_tests=first.hidden_tests,
        template=_path(folder, template, "template") if template else None,
        hidden_visibility=cast(Visibility, visibility),
        limits=limits,
        misconceptions=first.misconceptions,
        options=dict(spec.get("options", {})),
        graded=graded,
        provided=_provided(folder, spec),
    )
