"""A class roster (the LMS's own CSV export), and which submission belongs to which student.

Three layouts are read, told apart by their header (case and spacing ignored):

- Canvas's gradebook export: ``Student, ID, SIS User ID, SIS Login ID, Section, ...`` with
  ``Student`` as "Last, First"; its "Points Possible" row and the "Student, Test" row of
  Canvas's test student are not students.
- Gradescope's roster export: ``First Name, Last Name, SID, Email, ...`` (or ``Name``/``Full
  Name`` instead of the two name columns).
- A plain file: ``name, id, email`` (any of ``student``/``student id``/``e-mail`` too).

A submission matches a row when its name (file stem or folder name) equals, or its LMS
download name carries (see ``grader.lms``), the row's name, an id (ID, SIS User ID, SIS Login
ID, SID) or the e-mail. Names compare without case, spaces, punctuation or accents, and in
either order ("Lovelace, Ada" is Canvas's ``lovelaceada`` and Moodle's "Ada Lovelace").
Nothing is guessed: a submission that matches several rows, or a row that several submissions
match, is reported as ambiguous and matched to no one.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from grader.errors import UsageError
from grader.lms import Identity, normalise_name


class RosterError(UsageError):
    """The roster file cannot be read or has no column that identifies a student."""


@dataclass(frozen=True)
class Student:
    """One row of the roster."""

    name: str  #: as the roster writes it ("Lovelace, Ada" in Canvas)
    id: str = ""  #: Canvas's ID, Gradescope's SID, the plain file's id
    sis_user_id: str = ""
    sis_login_id: str = ""
    email: str = ""
    section: str = ""
    first: str = ""
    last: str = ""

    def name_keys(self) -> set[str]:
        """The normalised forms of the name, in both orders."""
        keys = {normalise_name(self.name)}
        if "," in self.name:  # "Last, First"
            last, _, first = self.name.partition(",")
            keys.add(normalise_name(first + last))
        else:
            words = self.name.split()
            if len(words) > 1:  # "First Last" -> Canvas's "lastfirst" too
                keys.add(normalise_name(words[-1] + "".join(words[:-1])))
        if self.first or self.last:
            keys.add(normalise_name(self.first + self.last))
            keys.add(normalise_name(self.last + self.first))
        return {k for k in keys if k}

    def id_keys(self) -> set[str]:
        """Every id the row carries (case folded)."""
        return {i.casefold() for i in (self.id, self.sis_user_id, self.sis_login_id) if i}


@dataclass(frozen=True)
class Roster:
    """The students, in file order, and where they came from."""

    students: tuple[Student, ...]
    layout: str  #: "canvas", "gradescope" or "plain"
    path: Path


HEADER_ALIASES = {
    "name": ("name", "student", "full name", "student name"),
    "first": ("first name", "firstname", "given name"),
    "last": ("last name", "lastname", "surname", "family name"),
    "id": ("id", "sid", "student id", "user id", "userid", "student number"),
    "sis_user_id": ("sis user id",),
    "sis_login_id": ("sis login id",),
    "email": ("email", "e-mail", "email address", "e-mail address"),
    "section": ("section", "sections"),
}


def _header_key(cell: str) -> str:
    return " ".join(cell.strip().lstrip("\ufeff").casefold().replace("_", " ").split())


def read_roster(path: Path) -> Roster:
    """Parse a roster CSV (see the module docstring); raise RosterError with the fix."""
    try:
        text = path.read_bytes().decode("utf-8-sig", errors="replace")
    except OSError as exc:
        raise RosterError(
            f"cannot read --roster {path}: {exc.strerror or exc}",
            "pass the CSV your LMS exported (a Canvas gradebook, a Gradescope roster) or a "
            "name,id,email file",
        ) from exc
    rows = [r for r in csv.reader(io.StringIO(text)) if any(c.strip() for c in r)]
    if not rows:
        raise RosterError(f"--roster {path} is empty", "export the roster again")
    header = [_header_key(c) for c in rows[0]]
    columns: dict[str, int] = {}
    for field, aliases in HEADER_ALIASES.items():
        for index, title in enumerate(header):
            if title in aliases and field not in columns:
                columns[field] = index
    if not ({"name", "first", "last", "id", "email"} & set(columns)):
        raise RosterError(
            f"--roster {path} has no name, id or e-mail column (header: {', '.join(rows[0])})",
            "the first row must name the columns, e.g. name,id,email",
        )
    layout = (
        "canvas"
        if "sis user id" in header or (header[:2] == ["student", "id"])
        else "gradescope"
        if {"first", "last"} <= set(columns) or "sid" in header
        else "plain"
    )

    def cell(row: Sequence[str], column: str) -> str:
        index = columns.get(column)
        return row[index].strip() if index is not None and index < len(row) else ""

    students: list[Student] = []
    for row in rows[1:]:
        name, first, last = cell(row, "name"), cell(row, "first"), cell(row, "last")
        if not name and (first or last):
            name = f"{first} {last}".strip()
        if layout == "canvas" and (
            name.strip().casefold() in ("points possible", "student, test", "test student")
        ):
            continue
        student = Student(
            name=name,
            id=cell(row, "id"),
            sis_user_id=cell(row, "sis_user_id"),
            sis_login_id=cell(row, "sis_login_id"),
            email=cell(row, "email").lower(),
            section=cell(row, "section"),
            first=first,
            last=last,
        )
        if student.name_keys() or student.id_keys() or student.email:
            students.append(student)
    return Roster(tuple(students), layout, path)


# --- matching ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Match:
    """The outcome of matching a class's submissions against a roster."""

    matched: tuple[tuple[str, Student], ...]  #: (submission name, student), roster order
    absent: tuple[Student, ...]  #: students with no submission
    unmatched: tuple[str, ...]  #: submissions that match no student
    ambiguous: tuple[tuple[str, str], ...]  #: (submission name, why it was not matched)
    #: students with several submissions, or who an ambiguous one may be: score left empty
    conflicts: tuple[tuple[Student, tuple[str, ...]], ...] = ()

    def student_of(self, submission: str) -> Student | None:
        """The student a submission was matched to, if any."""
        return next((s for name, s in self.matched if name == submission), None)

    def submission_of(self, student: Student) -> str | None:
        """The one submission matched to ``student``, if any."""
        return next((name for name, s in self.matched if s is student), None)

    def conflict_of(self, student: Student) -> tuple[str, ...]:
        """The submissions that all match ``student`` (none of them is used)."""
        return next((names for s, names in self.conflicts if s is student), ())


def _candidates(name: str, identity: Identity, roster: Roster) -> list[int]:
    plain = name.casefold()
    names = {normalise_name(name), *(normalise_name(n) for n in identity.names)} - {""}
    ids = {plain, *(i.casefold() for i in identity.ids)} - {""}
    emails = {plain, *identity.emails} - {""}
    found = []
    for index, student in enumerate(roster.students):
        if (
            names & student.name_keys()
            or ids & student.id_keys()
            or (student.email and student.email in emails)
        ):
            found.append(index)
    return found


def match_roster(submissions: Iterable[tuple[str, Identity]], roster: Roster) -> Match:
    """Match each (submission name, identity) to at most one student, never guessing."""
    claims: dict[int, list[str]] = {}
    maybe: dict[int, list[str]] = {}  # students an ambiguous submission may belong to
    unmatched: list[str] = []
    ambiguous: list[tuple[str, str]] = []
    for name, identity in submissions:
        # A group submission (Gradescope) belongs to each member: each is matched alone.
        people = identity.members or (identity,)
        plain = "" if identity.members else name
        outcomes = [_candidates(plain, person, roster) for person in people]
        if not any(outcomes):
            unmatched.append(name)
            continue
        for person, found in zip(people, outcomes, strict=True):
            if len(found) == 1:
                claims.setdefault(found[0], []).append(name)
            elif found:
                who = "; ".join(_describe(roster.students[i]) for i in found[:4])
                ambiguous.append((name, f"matches {len(found)} students ({who})"))
                for index in found:
                    maybe.setdefault(index, []).append(name)
            else:
                member = ", ".join((*person.names, *person.ids, *person.emails)) or "?"
                ambiguous.append((name, f"group member {member} matches no roster row"))
    matched: list[tuple[str, Student]] = []
    absent: list[Student] = []
    conflicts: list[tuple[Student, tuple[str, ...]]] = []
    for index, student in enumerate(roster.students):
        names = claims.get(index, [])
        if len(names) == 1:
            matched.append((names[0], student))
        elif names:
            why = f"{_describe(student)} has {len(names)} submissions ({', '.join(names)})"
            ambiguous.extend((n, why) for n in names)
            conflicts.append((student, tuple(names)))
        elif index in maybe:  # perhaps theirs: not "no submission" until resolved
            conflicts.append((student, tuple(maybe[index])))
        else:
            absent.append(student)
    return Match(
        tuple(matched), tuple(absent), tuple(unmatched), tuple(sorted(ambiguous)), tuple(conflicts)
    )


def _describe(student: Student) -> str:
    ids = ", ".join(i for i in (student.id, student.email) if i)
    return f"{student.name} ({ids})" if ids else student.name
