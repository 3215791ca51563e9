"""Gradebook exports of a batch: one CSV shaped for Canvas's grade import, one for Gradescope's.

Both identify a student only by what the submission's name says (the grader has no roster):

- Canvas's "Download Submissions" names files ``<student>_<user id>_<attachment id>_<file>``
  (``<student>_LATE_<user id>_...`` when late). The Canvas export parses that into ``Student``
  and ``ID``, the column Canvas matches rows on; other names leave ``ID`` empty to fill in.
- Gradescope's "Export Submissions" has one ``submission_<id>`` folder per submission. The
  Gradescope export keeps that id in ``Submission ID``; a name that is an e-mail address also
  fills ``Email``, which Gradescope's score upload matches on (as it does on ``SID``).

The column layouts are documented in the README (section "Grading a whole class").
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from grader.batch_data import BatchSummary

CANVAS_FILE = "gradebook_canvas.csv"
GRADESCOPE_FILE = "gradebook_gradescope.csv"
CANVAS_IDENTITY = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
GRADESCOPE_HEADER = ("Name", "SID", "Email", "Submission ID", "Total Score", "Max Points")
CANVAS_NAME = re.compile(r"^(?P<student>[^_]+)_(?:LATE_)?(?P<id>\d+)_\d+(?:_|$)")
GRADESCOPE_NAME = re.compile(r"^submission_(?P<id>\d+)$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def canvas_identity(name: str) -> tuple[str, str]:
    """(Student, ID) from a Canvas download name; (name, "") for any other name."""
    match = CANVAS_NAME.match(name)
    if match is None:
        return name, ""
    return match["student"], match["id"]


def canvas_rows(summary: BatchSummary) -> list[list[str]]:
    """Canvas's import layout: identity columns, then one column named after the assignment."""
    max_score = max((e.result.max_score for e in summary.entries), default=0.0)
    rows = [
        [*CANVAS_IDENTITY, summary.assignment],
        # Canvas's own exports carry this row; on import it sets the points of a new column.
        ["Points Possible", "", "", "", "", f"{max_score:g}"],
    ]
    for entry in summary.entries:
        student, user_id = canvas_identity(entry.name)
        rows.append([student, user_id, "", "", "", f"{entry.result.score:g}"])
    return rows


def gradescope_rows(summary: BatchSummary) -> list[list[str]]:
    """Gradescope's score-upload layout: who (Name/SID/Email), then the total and maximum."""
    rows = [list(GRADESCOPE_HEADER)]
    for entry in summary.entries:
        match = GRADESCOPE_NAME.match(entry.name)
        email = entry.name if EMAIL.match(entry.name) else ""
        rows.append(
            [
                entry.name,
                "",
                email,
                match["id"] if match else "",
                f"{entry.result.score:g}",
                f"{entry.result.max_score:g}",
            ]
        )
    return rows
