"""`grader batch CLASS.zip --roster ROSTER.csv`: LMS downloads graded as if unpacked, matched to a
roster, gradebooks filled with the roster's IDs, absent and unmatched students accounted for.
"""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import pytest

from grader.batch import REPORT_FILE, SUMMARY_FILE
from grader.cli import main
from grader.gradebook import CANVAS_FILE, GRADESCOPE_FILE

pytestmark = [pytest.mark.sandbox]

ASSIGNMENT = "leaky_relu_backward"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "submissions"
CORRECT = (FIXTURES / "correct_where.ipynb").read_bytes()
BUGGY = (FIXTURES / "chain_rule_missing.ipynb").read_bytes()

CANVAS_ROSTER = (
    "Student,ID,SIS User ID,SIS Login ID,Section,Leaky ReLU (77)\n"
    "    Points Possible,,,,,100\n"
    '"Lovelace, Ada",101,S-101,ada,Sec A,\n'
    '"Turing, Alan",102,S-102,alan,Sec A,\n'
    '"Noether, Emmy",104,S-104,emmy,Sec B,\n'
    '"Student, Test",999,,,,\n'
)


def read_csv(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))


def batch(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["batch", *args, "--assignment", ASSIGNMENT, "--jobs", "1"])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def canvas_zip(tmp_path: Path) -> Path:
    path = tmp_path / "submissions.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("lovelaceada_101_9001_leaky_relu.ipynb", CORRECT)
        archive.writestr("turingalan_LATE_102_9002_leaky_relu.ipynb", BUGGY)
        archive.writestr("strangerdanger_555_9005_leaky_relu.ipynb", CORRECT)
        archive.writestr("../escape_1_2_x.ipynb", CORRECT)
    return path


def test_canvas_zip_with_canvas_gradebook_roster(
    canvas_zip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    roster = tmp_path / "gradebook.csv"
    roster.write_text(CANVAS_ROSTER)
    out = tmp_path / "out"
    code, stdout, err = batch(capsys, str(canvas_zip), "--out", str(out), "--roster", str(roster))
    assert code == 0, err
    assert not (tmp_path / "escape_1_2_x.ipynb").exists()
    assert "escape_1_2_x.ipynb (a path outside the folder)" in err
    # The graded documents are named as today, by the download's file stem.
    assert (out / "lovelaceada_101_9001_leaky_relu.json").is_file()
    canvas = read_csv(out / CANVAS_FILE)
    assert canvas[0][:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    assert canvas[1] == ["Points Possible", "", "", "", "", "100"]
    rows = {r[0]: r for r in canvas[2:]}
    assert list(rows) == ["Lovelace, Ada", "Turing, Alan", "Noether, Emmy"]  # roster order
    assert rows["Lovelace, Ada"] == ["Lovelace, Ada", "101", "S-101", "ada", "Sec A", "100"]
    assert rows["Turing, Alan"][1:5] == ["102", "S-102", "alan", "Sec A"]
    assert 0 < float(rows["Turing, Alan"][5]) < 100
    assert rows["Noether, Emmy"][5] == "0"  # absent: 0 points
    assert not any("stranger" in c for r in canvas for c in r)  # unmatched: in no gradebook
    gradescope = read_csv(out / GRADESCOPE_FILE)
    assert gradescope[1][:3] == ["Lovelace, Ada", "101", ""]
    # ... but listed in the summary line, summary.csv and the report.
    assert "3 of 3 students matched" not in stdout
    assert "2 of 3 students matched, 1 absent" in stdout
    assert "unmatched: strangerdanger_555_9005_leaky_relu" in stdout
    summary = read_csv(out / SUMMARY_FILE)
    header = summary[0]
    by_sub = {r[0]: dict(zip(header, r, strict=True)) for r in summary[1:]}
    assert by_sub["strangerdanger_555_9005_leaky_relu"]["roster"].startswith("unmatched")
    assert by_sub["lovelaceada_101_9001_leaky_relu"]["student_id"] == "101"
    absent = [r for r in summary[1:] if r[header.index("roster")] == "no submission"]
    assert [r[header.index("student")] for r in absent] == ["Noether, Emmy"]
    report = (out / REPORT_FILE).read_text()
    assert report.count('class="roster-row"') == 2  # the stranger, and Emmy's absence
    assert "strangerdanger_555_9005_leaky_relu" in report
    # Per-student feedback, under the roster's name, for every submission (matched or not).
    feedback = out / "feedback"
    page = (feedback / "turingalan_LATE_102_9002_leaky_relu.html").read_text()
    assert 'id="student">Turing, Alan<' in page
    assert "missing-chain-rule" in page
    assert "<script" not in page
    note = (feedback / "turingalan_LATE_102_9002_leaky_relu.md").read_text()
    assert note.startswith("# Leaky ReLU backward pass: feedback for Turing, Alan\n")
    assert sorted(p.name for p in feedback.iterdir()) == sorted(
        f"{n}.{ext}" for n in by_sub if n for ext in ("html", "md")
    )


def test_absent_skip_leaves_absent_students_out(
    canvas_zip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    roster = tmp_path / "gradebook.csv"
    roster.write_text(CANVAS_ROSTER)
    out = tmp_path / "out"
    code, _, err = batch(
        capsys, str(canvas_zip), "--out", str(out), "--roster", str(roster), "--absent", "skip"
    )
    assert code == 0, err
    names = [r[0] for r in read_csv(out / CANVAS_FILE)[2:]]
    assert names == ["Lovelace, Ada", "Turing, Alan"]
    summary = read_csv(out / SUMMARY_FILE)
    assert all(r[summary[0].index("roster")] != "no submission" for r in summary[1:])


def test_moodle_zip_with_a_plain_roster(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "moodle.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("Ada Lovelace_5001_assignsubmission_file_/hw/leaky.ipynb", CORRECT)
        archive.writestr("Ada Lovelace_5001_assignsubmission_onlinetext_/onlinetext.html", "hi")
        archive.writestr("Alan Turing_5002_assignsubmission_file_/leaky.ipynb", BUGGY)
    roster = tmp_path / "class.csv"
    roster.write_text("name,id,email\nAda Lovelace,s1,ada@uni.edu\nAlan Turing,s2,alan@uni.edu\n")
    out = tmp_path / "out"
    code, stdout, err = batch(capsys, str(path), "--out", str(out), "--roster", str(roster))
    assert code == 0, err
    assert "2 submissions" in stdout  # the online-text folder is not a submission
    assert "2 of 2 students matched" in stdout
    gradescope = read_csv(out / GRADESCOPE_FILE)
    assert gradescope[1] == ["Ada Lovelace", "s1", "ada@uni.edu", "", "100", "100"]
    assert gradescope[2][:3] == ["Alan Turing", "s2", "alan@uni.edu"]


def test_gradescope_export_zip_uses_its_metadata(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "export.zip"
    metadata = (
        "submission_301:\n  :submitters:\n  - :name: Ada Lovelace\n    :sid: '101'\n"
        "    :email: ada@uni.edu\n"
        "submission_302:\n  :submitters:\n  - :name: Alan Turing\n    :sid: '102'\n"
        "    :email: alan@uni.edu\n  - :name: Grace Hopper\n    :sid: '103'\n"
    )
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("assignment_9_export/submission_metadata.yml", metadata)
        archive.writestr("assignment_9_export/submission_301/leaky.ipynb", CORRECT)
        archive.writestr("assignment_9_export/submission_302/leaky.ipynb", BUGGY)
    out = tmp_path / "out"
    code, _, err = batch(capsys, str(path), "--out", str(out))
    assert code == 0, err
    gradescope = read_csv(out / GRADESCOPE_FILE)
    assert gradescope[1] == ["Ada Lovelace", "101", "ada@uni.edu", "301", "100", "100"]
    assert gradescope[2][:4] == ["Alan Turing", "102", "alan@uni.edu", "302"]
    # A group submission: a row for each member, with the group's score.
    assert gradescope[3][:4] == ["Grace Hopper", "103", "", "302"]
    assert gradescope[3][4] == gradescope[2][4]
    # With Gradescope's roster, the SID matches, whatever the folder is called.
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "First Name,Last Name,SID,Email,Role\nAlan,Turing,102,alan@uni.edu,Student\n"
        "Ada,Lovelace,101,ada@uni.edu,Student\n"
    )
    code, stdout, err = batch(
        capsys, str(path), "--out", str(tmp_path / "out2"), "--roster", str(roster)
    )
    assert code == 0, err
    assert "2 of 2 students matched" in stdout
    assert "group member Grace Hopper, 103 matches no roster row" in stdout
    rows = read_csv(tmp_path / "out2" / GRADESCOPE_FILE)
    assert [r[0] for r in rows[1:]] == ["Alan Turing", "Ada Lovelace"]
    assert rows[2][3] == "301"


def test_misuse_exits_2_before_grading(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake = tmp_path / "class.zip"
    fake.write_text("not a zip")
    code, _, err = batch(capsys, str(fake), "--out", str(tmp_path / "out"))
    assert code == 2
    assert "not a readable zip" in err
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "a.ipynb").write_bytes(CORRECT)
    code, _, err = batch(
        capsys, str(folder), "--out", str(tmp_path / "o"), "--roster", str(tmp_path / "no.csv")
    )
    assert code == 2
    assert "cannot read --roster" in err
    assert not (tmp_path / "o").exists()
