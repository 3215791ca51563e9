"""LMS zips unpacked safely, LMS download names, roster CSVs, and matching without guessing."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import pytest

from grader import lms
from grader.lms import UnsafeArchiveError, gradescope_metadata, identity_of, unpack
from grader.roster import RosterError, match_roster, read_roster


def make_zip(path: Path, members: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return path


# --- unpacking --------------------------------------------------------------------------------


def test_traversal_absolute_and_link_members_are_never_created(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    archive = make_zip(
        tmp_path / "class.zip",
        {
            "ok_1_2_hw.ipynb": b"{}",
            "../outside/evil.ipynb": b"x",
            "sub/../../outside/evil2.ipynb": b"x",
            "/abs/evil3.ipynb": b"x",
            "C:\\windows\\evil4.ipynb": b"x",
            "nested\\win_5_6_hw.ipynb": b"{}",
            "__MACOSX/._ok_1_2_hw.ipynb": b"junk",
        },
        links={"link_7_8_hw.ipynb": "/etc/passwd", "dirlink": "../outside"},
    )
    dest = tmp_path / "dest"
    dest.mkdir()
    result = unpack(archive, dest)
    assert list(outside.iterdir()) == []
    created = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*"))
    assert created == ["nested", "nested/win_5_6_hw.ipynb", "ok_1_2_hw.ipynb"]
    assert not any(p.is_symlink() for p in dest.rglob("*"))
    assert result.folder == dest
    reasons = " ".join(result.skipped)
    assert "evil.ipynb (a path outside the folder)" in reasons
    assert "/abs/evil3.ipynb" in reasons
    assert "evil4" in reasons
    assert "link_7_8_hw.ipynb (a link or special file)" in reasons
    assert "dirlink" in reasons


def test_a_member_larger_than_its_header_says_is_stopped_while_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lms, "MAX_MEMBER_BYTES", 1000)
    archive = make_zip(tmp_path / "bomb.zip", {"big.ipynb": b"0" * 5000})
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(UnsafeArchiveError, match="more than 0 MiB") as caught:
        unpack(archive, dest)
    assert caught.value.exit_code == 2
    assert sum(p.stat().st_size for p in dest.rglob("*") if p.is_file()) <= 1000 + lms.CHUNK


def test_the_whole_zip_and_the_member_count_are_capped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = make_zip(tmp_path / "many.zip", {f"s{i}.py": b"x = 1\n" * 100 for i in range(5)})
    monkeypatch.setattr(lms, "MAX_MEMBERS", 4)
    with pytest.raises(UnsafeArchiveError, match="5 members"):
        unpack(archive, tmp_path)
    monkeypatch.setattr(lms, "MAX_MEMBERS", 100)
    monkeypatch.setattr(lms, "MAX_TOTAL_BYTES", 1500)
    (tmp_path / "d").mkdir()
    with pytest.raises(UnsafeArchiveError, match="the whole zip"):
        unpack(archive, tmp_path / "d")


def test_not_a_zip_is_a_usage_error(tmp_path: Path) -> None:
    fake = tmp_path / "class.zip"
    fake.write_text("not a zip")
    with pytest.raises(UnsafeArchiveError) as caught:
        unpack(fake, tmp_path)
    assert caught.value.exit_code == 2
    assert "hint" in caught.value.show()


def test_a_gradescope_export_folder_is_descended_into(tmp_path: Path) -> None:
    archive = make_zip(
        tmp_path / "export.zip",
        {
            "assignment_42_export/submission_metadata.yml": b"{}",
            "assignment_42_export/submission_1/hw.ipynb": b"{}",
        },
    )
    dest = tmp_path / "dest"
    dest.mkdir()
    assert unpack(archive, dest).folder == dest / "assignment_42_export"


# --- names and metadata -----------------------------------------------------------------------


def test_canvas_moodle_and_gradescope_names() -> None:
    canvas = identity_of("lovelace_ada_101_9001_hw1")
    assert (canvas.source, canvas.names, canvas.ids) == ("canvas", ("lovelace_ada",), ("101",))
    assert canvas.submission_id == "9001"
    late = identity_of("turingalan_LATE_102_9002_hw1")
    assert (late.names, late.ids, late.late) == (("turingalan",), ("102",), True)
    moodle = identity_of("Ada Lovelace_5001_assignsubmission_file_")
    assert (moodle.source, moodle.names, moodle.ids) == ("moodle", ("Ada Lovelace",), ("5001",))
    assert identity_of("submission_77").submission_id == "77"
    assert identity_of("Ada@Uni.edu").emails == ("ada@uni.edu",)
    assert identity_of("alice").names == ("alice",)


def test_gradescope_metadata_names_each_folders_submitters(tmp_path: Path) -> None:
    (tmp_path / "submission_metadata.yml").write_text(
        "submission_77:\n"
        "  :submitters:\n"
        "  - :name: Ada Lovelace\n"
        "    :sid: '101'\n"
        "    :email: Ada@Uni.edu\n"
        "  :created_at: 2026-11-30 10:00:00.000000000 -08:00\n"
        "  :score: 0.0\n"
    )
    identity = gradescope_metadata(tmp_path)["submission_77"]
    assert identity.names == ("Ada Lovelace",)
    assert identity.ids == ("101",)
    assert identity.emails == ("ada@uni.edu",)
    assert identity.submission_id == "77"


# --- rosters ----------------------------------------------------------------------------------

CANVAS = (
    "Student,ID,SIS User ID,SIS Login ID,Section,HW1 (1234)\n"
    "    Points Possible,,,,,100\n"
    '"Lovelace, Ada",101,S-1,ada,Sec A,\n'
    '"Turing, Alan",102,S-2,alan,Sec A,\n'
    '"Student, Test",999,,,,\n'
)


def test_canvas_gradebook_export(tmp_path: Path) -> None:
    path = tmp_path / "gradebook.csv"
    path.write_text("\ufeff" + CANVAS)
    roster = read_roster(path)
    assert roster.layout == "canvas"
    assert [(s.name, s.id, s.sis_user_id, s.sis_login_id) for s in roster.students] == [
        ("Lovelace, Ada", "101", "S-1", "ada"),
        ("Turing, Alan", "102", "S-2", "alan"),
    ]


def test_gradescope_roster_and_plain_files(tmp_path: Path) -> None:
    path = tmp_path / "roster.csv"
    path.write_text("First Name,Last Name,SID,Email,Role\nAda,Lovelace,101,ADA@uni.edu,Student\n")
    roster = read_roster(path)
    assert roster.layout == "gradescope"
    (ada,) = roster.students
    assert (ada.name, ada.id, ada.email) == ("Ada Lovelace", "101", "ada@uni.edu")
    path.write_text("name,id,email\nAda Lovelace,101,ada@uni.edu\n")
    assert read_roster(path).layout == "plain"


def test_a_roster_without_identifying_columns_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "roster.csv"
    path.write_text("colour,size\nred,3\n")
    with pytest.raises(RosterError, match="no name, id or e-mail column") as caught:
        read_roster(path)
    assert caught.value.exit_code == 2
    with pytest.raises(RosterError, match="cannot read"):
        read_roster(tmp_path / "missing.csv")


def test_matching_by_name_in_either_order_by_id_and_by_email(tmp_path: Path) -> None:
    path = tmp_path / "gradebook.csv"
    path.write_text(CANVAS + '"Hopper, Grace",103,S-3,grace,Sec B,\n"Noether, Emmy",104,,,,\n')
    roster = read_roster(path)
    subs = {
        name: identity_of(name)
        for name in (
            "lovelaceada_101_9001_hw",  # Canvas: name and id agree
            "Alan Turing_5002_assignsubmission_file_",  # Moodle: the name, other order
            "S-3",  # a file named after the SIS user id
            "stranger_999999_1_hw",  # matches no one
        )
    }
    match = match_roster(subs.items(), roster)
    assert {n: s.name for n, s in match.matched} == {
        "lovelaceada_101_9001_hw": "Lovelace, Ada",
        "Alan Turing_5002_assignsubmission_file_": "Turing, Alan",
        "S-3": "Hopper, Grace",
    }
    assert match.unmatched == ("stranger_999999_1_hw",)
    assert [s.name for s in match.absent] == ["Noether, Emmy"]
    assert match.ambiguous == ()


def test_ambiguous_matches_are_reported_never_guessed(tmp_path: Path) -> None:
    path = tmp_path / "roster.csv"
    path.write_text(
        "name,id,email\nAda Lovelace,101,ada1@uni.edu\nAda Lovelace,202,ada2@uni.edu\n"
        "Alan Turing,102,alan@uni.edu\n"
    )
    roster = read_roster(path)
    subs = [
        ("adalovelace", identity_of("adalovelace")),  # two students of that name
        ("alan@uni.edu", identity_of("alan@uni.edu")),
        ("102", identity_of("102")),  # the same student again, by id
    ]
    match = match_roster(subs, roster)
    assert match.matched == ()
    reasons = dict(match.ambiguous)
    assert set(reasons) == {"adalovelace", "alan@uni.edu", "102"}
    assert "matches 2 students" in reasons["adalovelace"]
    assert "has 2 submissions" in reasons["102"]
    # Nobody is scored "no submission" while a submission may be theirs.
    assert match.absent == ()
    assert {s.name for s, _ in match.conflicts} == {"Ada Lovelace", "Alan Turing"}


def test_a_name_match_that_contradicts_the_id_is_ambiguous(tmp_path: Path) -> None:
    path = tmp_path / "gradebook.csv"
    path.write_text(CANVAS)
    # Canvas name says Ada, the user id says Alan: two candidates, no guess.
    match = match_roster([("x", identity_of("lovelaceada_102_9001_hw"))], read_roster(path))
    assert match.matched == ()
    assert match.ambiguous[0][0] == "x"


def test_a_gradescope_group_submission_counts_for_each_member(tmp_path: Path) -> None:
    (tmp_path / "submission_metadata.yml").write_text(
        "submission_group:\n"
        "  :submitters:\n"
        "  - :name: Pair One\n    :sid: '200'\n    :email: one@uni.edu\n"
        "  - :name: Pair Two\n    :sid: '201'\n    :email: two@uni.edu\n"
        "submission_solo:\n"
        "  :submitters:\n"
        "  - :name: Solo Student\n    :sid: '100'\n"
    )
    metadata = gradescope_metadata(tmp_path)
    assert len(metadata["submission_group"].members) == 2
    assert metadata["submission_solo"].members == ()
    roster_file = tmp_path / "roster.csv"
    roster_file.write_text(
        "Name,SID,Email\nPair One,200,one@uni.edu\nPair Two,201,two@uni.edu\n"
        "Solo Student,100,\nNobody Here,999,\n"
    )
    match = match_roster(metadata.items(), read_roster(roster_file))
    assert sorted((n, s.name) for n, s in match.matched) == [
        ("submission_group", "Pair One"),
        ("submission_group", "Pair Two"),
        ("submission_solo", "Solo Student"),
    ]
    assert match.ambiguous == ()
    assert [s.name for s in match.absent] == ["Nobody Here"]


def test_gradebooks_use_the_name_as_downloaded_not_the_output_name() -> None:
    from grader.batch_data import BatchEntry, BatchSummary
    from grader.gradebook import canvas_rows
    from grader.results import GradingResult, TestResult

    result = GradingResult("a", (TestResult("t", 3.0, 4.0, "failed", "", ()),), "", 0.1)
    summary = BatchSummary(
        assignment="A",
        entries=(BatchEntry("lovelaceada_1f3e", result, "graded"),),  # a shortened output name
        test_names=("t",),
        test_points=(4.0,),
        misconceptions=(),
        seconds=1.0,
        jobs=1,
        out=Path("out"),
        identities={"lovelaceada_1f3e": identity_of("lovelaceada_101_9001_" + "x" * 300)},
    )
    assert canvas_rows(summary)[2] == ["lovelaceada", "101", "", "", "", "3"]


def test_names_shown_to_the_instructor_carry_no_terminal_control_codes(tmp_path: Path) -> None:
    from grader.batch import roster_lines
    from grader.batch_data import BatchSummary, RosterReport

    archive = make_zip(tmp_path / "c.zip", {"../\x1b[2Jevil.ipynb": b"x"})
    (tmp_path / "d").mkdir()
    (skipped,) = unpack(archive, tmp_path / "d").skipped
    assert "\x1b" not in skipped
    assert "\\x1b[2Jevil.ipynb" in skipped
    roster_file = tmp_path / "roster.csv"
    roster_file.write_text("name,id\nAda Lovelace,1\n")
    roster = read_roster(roster_file)
    name = "\x1b]0;owned\x07stranger"
    summary = BatchSummary(
        assignment="A",
        entries=(),
        test_names=(),
        test_points=(),
        misconceptions=(),
        seconds=1.0,
        jobs=1,
        out=tmp_path,
        roster=RosterReport(roster, match_roster([(name, identity_of(name))], roster)),
    )
    text = roster_lines(summary)
    assert "unmatched: \\x1b]0;owned\\x07stranger" in text
    assert "\x1b" not in text
    assert "\x07" not in text
