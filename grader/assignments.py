"""Find ``assignments/<name>/`` and read its spec (``assignment.toml``).

A course folder holds ``assignments/`` (one folder per assignment) and ``reference/``
(reference solutions, never shown to students). Both are read only on the trusted side.
"""

from __future__ import annotations

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

    @property
    def function(self) -> str:
        """The main function students implement."""
        return self.functions[0]


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


def load_assignment(name: str | None = None, course_dir: Path | None = None) -> Assignment:
    """Read and validate ``assignments/<name>/assignment.toml``."""
    course = course_dir or default_course_dir()
    name = resolve_name(name, course)
    folder = course / "assignments" / name
    try:
        spec = tomllib.loads((folder / SPEC_FILE).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise AssignmentError(f"cannot read {folder / SPEC_FILE}: {exc}") from exc
    functions = spec.get("functions", [spec.get("function", name)])
    if not functions or not all(isinstance(f, str) and f.isidentifier() for f in functions):
        raise AssignmentError(f"{folder / SPEC_FILE}: 'functions' must list Python identifiers")
    visibility = spec.get("hidden_visibility", "after_published")
    if visibility not in VISIBILITIES:
        raise AssignmentError(
            f"{folder / SPEC_FILE}: hidden_visibility must be one of {VISIBILITIES}"
        )
    try:
        limits = Limits().with_overrides(spec.get("limits", {}))
    except (ValueError, TypeError) as exc:
        raise AssignmentError(f"{folder / SPEC_FILE}: [limits]: {exc}") from exc
    template = spec.get("template")
    misconceptions = spec.get("misconceptions")
    return Assignment(
        name=name,
        title=str(spec.get("title", name)),
        folder=folder,
        functions=tuple(functions),
        reference=_path(course, spec.get("reference", f"reference/{name}.py"), "reference"),
        visible_tests=_path(folder, spec.get("visible_tests", "test_visible.py"), "visible_tests"),
        hidden_tests=_path(folder, spec.get("hidden_tests", "test_hidden.py"), "hidden_tests"),
        template=_path(folder, template, "template") if template else None,
        hidden_visibility=cast(Visibility, visibility),
        limits=limits,
        misconceptions=_path(folder, misconceptions, "misconceptions") if misconceptions else None,
        options=dict(spec.get("options", {})),
    )
