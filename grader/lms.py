"""LMS downloads: unpacking a submissions zip safely, and who a submission's name says it is.

What the LMSs download (the names are all the identity they carry):

- Canvas, "Download Submissions": one flat zip, one file per submitted file, named
  ``<student>_<user id>_<attachment id>_<file name>`` (``<student>_LATE_<user id>_...`` when
  late), where ``<student>`` is the sortable name run together in lower case
  (``lovelaceada``); the user id is the gradebook's ``ID`` column.
- Moodle, "Download all submissions": one folder per student and plugin,
  ``<Full Name>_<participant id>_assignsubmission_file_/`` holding the uploaded files
  (``..._assignsubmission_onlinetext_/`` holds online text: never gradable, so skipped).
- Gradescope, "Export Submissions": a folder (``assignment_<id>_export/``) holding
  ``submission_metadata.yml`` and one ``submission_<id>/`` folder per submission; the
  metadata maps each folder to its ``:submitters:`` (``:name:``, ``:sid:``, ``:email:``).

The zip is untrusted input (students name their files): members that would land outside the
destination (absolute paths, ``..``), links and devices are never created, and the member
count, each member's size and the total are capped while *writing*, not trusted from the
zip's own headers (a zip bomb lies in them).
"""

from __future__ import annotations

import re
import shutil
import stat
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from grader.errors import UsageError
from grader.safetext import readable_name

MAX_MEMBERS = 20_000  #: a class of 2000 with ten files each
MAX_MEMBER_BYTES = 256 * 1024**2  #: one notebook with large outputs
MAX_TOTAL_BYTES = 4 * 1024**3  #: the whole download, unpacked
CHUNK = 1024**2
GRADESCOPE_METADATA = "submission_metadata.yml"
# Folders the unpacked zip may hold that are no submission: macOS resource forks.
JUNK = frozenset({"__MACOSX", ".DS_Store"})

CANVAS_NAME = re.compile(
    r"^(?P<student>.+?)_(?P<late>LATE_)?(?P<id>\d+)_(?P<attachment>\d+)(?:_(?P<file>.*))?$"
)
MOODLE_NAME = re.compile(r"^(?P<student>.+)_(?P<id>\d+)_assignsubmission_(?P<plugin>[a-z]+)_?$")
GRADESCOPE_NAME = re.compile(r"^submission_(?P<id>\d+)$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class UnsafeArchiveError(UsageError):
    """The zip cannot be unpacked safely (too big, too many members, or not a zip at all)."""


@dataclass(frozen=True)
class Identity:
    """Who a submission's name (or the LMS's metadata) says submitted it."""

    source: str  #: "canvas", "moodle", "gradescope" or "name" (a plain file/folder name)
    names: tuple[str, ...] = ()  #: student names as the LMS wrote them
    ids: tuple[str, ...] = ()  #: LMS user ids, participant ids or student ids (SID)
    emails: tuple[str, ...] = ()
    submission_id: str = ""  #: Gradescope's submission id, Canvas's attachment id
    late: bool = False
    #: a group submission's members, one identity each (Gradescope's metadata lists them)
    members: tuple[Identity, ...] = ()


@dataclass(frozen=True)
class Unpacked:
    """What ``unpack`` did: where the submissions are, and what it left out (and why)."""

    folder: Path  #: the folder to grade (inside the destination)
    skipped: tuple[str, ...] = ()  #: member names not extracted, each with its reason


def _member_path(name: str) -> PurePosixPath | None:
    """The member's relative path, or None when it would escape the destination."""
    name = name.replace("\\", "/")  # zips made on Windows
    path = PurePosixPath(name)
    if path.is_absolute() or re.match(r"^[A-Za-z]:", name):
        return None
    parts = [p for p in path.parts if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts):
        return None
    return PurePosixPath(*parts)


def unpack(archive: Path, dest: Path) -> Unpacked:
    """Unpack an LMS download into the empty folder ``dest``; return the folder to grade.

    Raises UnsafeArchiveError (a usage error) when the file is not a zip or breaks a limit;
    members that would escape ``dest`` or are links are skipped and listed, never created.
    """
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UnsafeArchiveError(
            f"{archive} is not a readable zip file: {exc}",
            "pass the .zip exactly as the LMS downloaded it, or a folder of submissions",
        ) from exc
    skipped: list[str] = []
    total = 0
    with zf:
        members = zf.infolist()
        if len(members) > MAX_MEMBERS:
            raise UnsafeArchiveError(
                f"{archive} holds {len(members)} members, more than the {MAX_MEMBERS} allowed",
                "unpack it yourself and pass the folder, after checking what it holds",
            )
        for info in members:
            relative = _member_path(info.filename)
            mode = info.external_attr >> 16
            if relative is None:
                skipped.append(f"{readable_name(info.filename)} (a path outside the folder)")
                continue
            if relative.parts[0] in JUNK or relative.name in JUNK:
                continue
            kind = stat.S_IFMT(mode)  # 0 when the zip was made without Unix modes
            if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
                skipped.append(f"{readable_name(info.filename)} (a link or special file)")
                continue
            target = dest.joinpath(*relative.parts)
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            written = 0
            with zf.open(info) as source, target.open("xb") as sink:
                while chunk := source.read(CHUNK):
                    written += len(chunk)
                    total += len(chunk)
                    if written > MAX_MEMBER_BYTES or total > MAX_TOTAL_BYTES:
                        what = "one member" if written > MAX_MEMBER_BYTES else "the whole zip"
                        limit = MAX_MEMBER_BYTES if written > MAX_MEMBER_BYTES else MAX_TOTAL_BYTES
                        raise UnsafeArchiveError(
                            f"{archive}: {what} unpacks to more than {limit // 1024**2} MiB "
                            f"(at {readable_name(info.filename)})",
                            "a submissions download is never that large: check the zip",
                        )
                    sink.write(chunk)
    return Unpacked(_submissions_root(dest), tuple(skipped))


def _visible_entries(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name not in JUNK and not p.name.startswith(".")]


def _submissions_root(folder: Path) -> Path:
    """Descend through lone wrapper folders (``assignment_123_export/``) to the submissions."""
    while True:
        entries = _visible_entries(folder)
        if len(entries) != 1 or not entries[0].is_dir():
            return folder
        inner = _visible_entries(entries[0])
        if len(inner) > 1 or (entries[0] / GRADESCOPE_METADATA).is_file():
            folder = entries[0]
        else:
            return folder


def drop_moodle_extras(folder: Path) -> list[str]:
    """Remove Moodle's non-file plugin folders (online text: HTML, never gradable)."""
    removed = []
    for path in sorted(folder.iterdir()):
        match = MOODLE_NAME.match(path.name)
        if path.is_dir() and match and match["plugin"] != "file":
            shutil.rmtree(path)
            removed.append(path.name)
    return removed


# --- identities -------------------------------------------------------------------------------


def normalise_name(name: str) -> str:
    """Lower case letters and digits only, accents dropped: "Lovelace, Ada" -> "lovelaceada"."""
    decomposed = unicodedata.normalize("NFKD", name)
    return "".join(c for c in decomposed.casefold() if c.isalnum() and not unicodedata.combining(c))


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def gradescope_metadata(folder: Path) -> dict[str, Identity]:
    """``submission_metadata.yml`` of a Gradescope export: folder name -> its submitters."""
    path = folder / GRADESCOPE_METADATA
    if not path.is_file():
        return {}
    import yaml  # only a Gradescope export needs it

    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8", errors="replace"))
    except yaml.YAMLError as exc:
        raise UsageError(
            f"{path} is not valid YAML: {exc}",
            "use the export exactly as Gradescope wrote it",
        ) from exc
    identities: dict[str, Identity] = {}
    if not isinstance(document, dict):
        return identities
    for folder_name, entry in document.items():
        submitters = entry.get(":submitters", []) if isinstance(entry, dict) else []
        people = (
            [s for s in submitters if isinstance(s, dict)] if isinstance(submitters, list) else []
        )
        match = GRADESCOPE_NAME.match(str(folder_name))
        members = tuple(
            Identity(
                source="gradescope",
                names=tuple(n for n in [_text(p.get(":name"))] if n),
                ids=tuple(i for i in [_text(p.get(":sid"))] if i),
                emails=tuple(e.lower() for e in [_text(p.get(":email"))] if e),
            )
            for p in people
        )
        identities[str(folder_name)] = Identity(
            source="gradescope",
            names=tuple(n for m in members for n in m.names),
            ids=tuple(i for m in members for i in m.ids),
            emails=tuple(e for m in members for e in m.emails),
            submission_id=match["id"] if match else "",
            members=members if len(members) > 1 else (),
        )
    return identities


def identity_of(name: str, metadata: dict[str, Identity] | None = None) -> Identity:
    """What a submission's name says: a Canvas file name, a Moodle folder, a Gradescope one."""
    if metadata and name in metadata:
        return metadata[name]
    match = MOODLE_NAME.match(name)
    if match:
        return Identity("moodle", names=(match["student"],), ids=(match["id"],))
    match = CANVAS_NAME.match(name)
    if match:
        return Identity(
            "canvas",
            names=(match["student"],),
            ids=(match["id"],),
            submission_id=match["attachment"],
            late=bool(match["late"]),
        )
    match = GRADESCOPE_NAME.match(name)
    if match:
        return Identity("gradescope", submission_id=match["id"])
    if EMAIL.match(name):
        return Identity("name", emails=(name.lower(),))
    return Identity("name", names=(name,))
