"""Gradebook exports of a batch: one CSV shaped for Canvas's grade import, one for Gradescope's.

With a roster (``grader batch --roster``), the rows are the roster's students, in its order,
with the IDs, SIS IDs and e-mails the roster gives: each matched student gets the score of
their submission, a student with none gets 0 (or no row with ``--absent skip``), and a student
matched by several submissions gets an empty score (import leaves it unchanged) until the
instructor picks one. Submissions matching no student are never written here: they are listed
in the summary and the report.

Without a roster a student is known only by what the submission's name says (``grader.lms``):

- Canvas's "Download Submissions" names files ``<student>_<user id>_<attachment id>_<file>``
  (``<student>_LATE_<user id>_...`` when late). The Canvas export parses that into ``Student``
  and ``ID``, the column Canvas matches rows on; other names leave ``ID`` empty to fill in.
- Gradescope's "Export Submissions" has one ``submission_<id>`` folder per submission, and
  its ``submission_metadata.yml`` names the submitters. The Gradescope export keeps that id in
  ``Submission ID``, and the metadata's SID and e-mail (or a name that is an e-mail address)
  in ``SID`` and ``Email``, which Gradescope's score upload matches on.

The column layouts are documented in the README (section "Grading a whole class").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from grader.lms import CANVAS_NAME

if TYPE_CHECKING:
    from grader.batch_data import BatchSummary

CANVAS_FILE = "gradebook_canvas.csv"
GRADESCOPE_FILE = "gradebook_gradescope.csv"
CANVAS_IDENTITY = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
GRADESCOPE_HEADER = ("Name", "SID", "Email", "Submission ID", "Total Score", "Max Points")


def canvas_identity(name: str) -> tuple[str, str]:
    """(Student, ID) from a Canvas download name; (name, "") for any other name."""
    match = CANVAS_NAME.match(name)
    if match is None:
        return name, ""
    return match["student"], match["id"]


def _max_score(summary: BatchSummary) -> float:
    return max((e.result.max_score for e in summary.entries), default=0.0)


def roster_scores(summary: BatchSummary) -> list[tuple[int, str, str]]:
    """(student index, submission name or "", score text) per roster row to write.

    The score is the matched submission's, "0" for a student with none (left out with
    ``--absent skip``), "" for a student several submissions match.
    """
    report = summary.roster
    if report is None:
        return []
    scores = {e.name: e.result.score for e in summary.entries}
    rows: list[tuple[int, str, str]] = []
    for index, student in enumerate(report.roster.students):
        submission = report.match.submission_of(student)
        if submission is not None:
            rows.append((index, submission, f"{scores[submission]:g}"))
        elif report.match.conflict_of(student):
            rows.append((index, "", ""))
        elif report.absent == "zero":
            rows.append((index, "", "0"))
    return rows


def _subtotals(summary: BatchSummary, submission: str, score: str) -> list[str]:
    """The per-function columns of one row (several graded functions only)."""
    if not summary.functions:
        return []
    entry = next((e for e in summary.entries if e.name == submission), None)
    if entry is None:  # a roster student with no submission: 0 (or "" like the total)
        return [score for _ in summary.functions]
    return [f"{summary.subtotal(entry, f):g}" for f, _ in summary.functions]


def canvas_rows(summary: BatchSummary) -> list[list[str]]:
    """Canvas's import layout: identity columns, then one column named after the assignment.

    With several graded functions, one more column per function (``<title>: <function>``):
    Canvas makes each a gradebook column of its own on import.
    """
    functions = [f"{summary.assignment}: {f}" for f, _ in summary.functions]
    rows = [
        [*CANVAS_IDENTITY, summary.assignment, *functions],
        # Canvas's own exports carry this row; on import it sets the points of a new column.
        [
            "Points Possible",
            "",
            "",
            "",
            "",
            f"{_max_score(summary):g}",
            *(f"{points:g}" for _, points in summary.functions),
        ],
    ]
    if summary.roster is not None:
        students = summary.roster.roster.students
        for index, submission, score in roster_scores(summary):
            s = students[index]
            rows.append(
                [
                    s.name,
                    s.id,
                    s.sis_user_id,
                    s.sis_login_id,
                    s.section,
                    score,
                    *_subtotals(summary, submission, score),
                ]
            )
        return rows
    for entry in summary.entries:
        # The name as downloaded: an output name may have been shortened or made unique.
        identity = summary.identity(entry.name)
        canvas = identity.source == "canvas" and identity.names and identity.ids
        student, user_id = (identity.names[0], identity.ids[0]) if canvas else (entry.name, "")
        score = f"{entry.result.score:g}"
        rows.append([student, user_id, "", "", "", score, *_subtotals(summary, entry.name, score)])
    return rows


def gradescope_rows(summary: BatchSummary) -> list[list[str]]:
    """Gradescope's score-upload layout: who (Name/SID/Email), then the total and maximum.

    With several graded functions, one more column per function after those.
    """
    rows = [[*GRADESCOPE_HEADER, *(f for f, _ in summary.functions)]]
    max_score = f"{_max_score(summary):g}"
    if summary.roster is not None:
        students = summary.roster.roster.students
        for index, submission, score in roster_scores(summary):
            s = students[index]
            sub_id = summary.identity(submission).submission_id if submission else ""
            rows.append(
                [
                    s.name,
                    s.id or s.sis_user_id,
                    s.email,
                    sub_id,
                    score,
                    max_score,
                    *_subtotals(summary, submission, score),
                ]
            )
        return rows
    for entry in summary.entries:
        identity = summary.identity(entry.name)
        from_metadata = identity.source == "gradescope"
        for person in identity.members or (identity,):  # a group: one row per member
            rows.append(
                [
                    person.names[0] if from_metadata and person.names else entry.name,
                    person.ids[0] if from_metadata and person.ids else "",
                    person.emails[0] if person.emails else "",
                    identity.submission_id if from_metadata else "",
                    f"{entry.result.score:g}",
                    f"{entry.result.max_score:g}",
                    *_subtotals(summary, entry.name, f"{entry.result.score:g}"),
                ]
            )
    return rows
