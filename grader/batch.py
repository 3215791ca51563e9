"""Grade a whole class: find the submissions in a folder, grade each in its own sandbox, report.

``run_batch`` prepares the assignment once, then grades every submission with
``api.grade_submission`` on a thread pool. Threads are enough: each submission runs in its own
sandboxed child process (isolation between submissions is the sandbox's, not the pool's), and
the trusted side of one grade is a few milliseconds of numpy between waits on that child.

Outputs in OUTDIR: ``<name>.json`` (the document ``grader grade`` writes, written atomically by
the main thread), ``summary.csv``, ``report.html``, two gradebook CSVs, and ``.grader-batch.json``
(content hashes, so a re-run skips unchanged submissions). Ctrl-C kills the running children,
discards their half-finished grades and leaves only complete result files.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import hashlib
import json
import multiprocessing
import os
import signal
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Generator, Iterator, Mapping, MutableSequence, Sequence
from concurrent.futures import (
    FIRST_COMPLETED,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from grader import api
from grader.batch_data import (
    NO_SUBMISSION,
    Absent,
    BatchEntry,
    BatchSummary,
    RosterReport,
    Status,
)
from grader.errors import SubmissionNotFoundError, UsageError
from grader.gradebook import CANVAS_FILE, GRADESCOPE_FILE, canvas_rows, gradescope_rows
from grader.lms import (
    GRADESCOPE_METADATA,
    MOODLE_NAME,
    Identity,
    gradescope_metadata,
    identity_of,
    unpack,
)
from grader.report import render_json
from grader.results import GradingResult
from grader.roster import Roster, match_roster, read_roster
from grader.safetext import clean_text, clean_tree, readable_name, render_csv, safe_stem
from grader.sandbox import (
    BackendChoice,
    CallOutcome,
    Crashed,
    Limits,
    LoadReport,
    Sandbox,
    SandboxInfo,
    StudentProcess,
    TimedOut,
)
from grader.sandbox.parent import bwrap_problem
from grader.sandbox.workers import (
    ZygotePool,
    ZygoteStudentProcess,
    child_pids,
    clean_up_after_workers,
    reaping_what_workers_leave,
)
from grader.scoring import missing_function_message
from grader.submission import Submission, read_submission

# Worker processes import this module too, but grade only: what only the batch process needs
# (the class files, the progress bar, the version) is imported where it is used (~60 ms less
# of every worker's start).
if TYPE_CHECKING:
    from tqdm import tqdm

SUFFIXES = (".ipynb", ".py")
STATE_FILE = ".grader-batch.json"  # a dot-file: never mistaken for a submission's <name>.json
SUMMARY_FILE = "summary.csv"
REPORT_FILE = "report.html"
STATE_FLUSH_SECONDS = 2.0  # rewrite the skip-state at most this often (plus at the end)
INTERRUPTED = "the batch was interrupted"
KILL_PATIENCE_SECONDS = 10.0  # after Ctrl-C, how long to keep killing children that start
# A submission graded for longer (most take well under 0.1 s) is probably waiting out a time
# limit: it stops counting against --jobs, so the class goes on around it.
LONG_RUNNING_SECONDS = 0.5
# At most this many times --jobs submissions at once: each still gets a third of a core from
# the batch, well above what the time limits' wall cap needs (``Limits.wall_factor``).
LONG_RUNNING_CAPACITY = 3
# A submission whose worker process dies this many times (each time a fresh pool grades it
# again) gets an error document instead of another try.
WORKER_TRIES = 2


@dataclass(frozen=True)
class BatchItem:
    """One submission found in the class folder."""

    #: file stem, or the sub-folder's name, made safe (``safetext.safe_stem``) and unique in
    #: the class; names OUTDIR/<name>.json
    name: str
    path: Path  #: the file to grade (or the sub-folder, when ``problem`` is set)
    problem: str | None = None  #: set when the sub-folder holds no single gradable file


# --- finding submissions ----------------------------------------------------------------------


def _visible(path: Path) -> bool:
    return not path.name.startswith((".", "__")) and path.name != "__pycache__"


def _folder_item(folder: Path) -> BatchItem:
    """A sub-folder is one submission: its one notebook, else its one .py file."""
    files = [
        p
        for p in sorted(folder.rglob("*"))
        if p.is_file()
        and p.suffix.lower() in SUFFIXES
        and all(_visible(part) for part in (p.relative_to(folder).parents[0], p))
        and ".ipynb_checkpoints" not in p.parts
    ]
    notebooks = [p for p in files if p.suffix.lower() == ".ipynb"]
    chosen = notebooks or files
    if len(chosen) == 1:
        return BatchItem(folder.name, chosen[0])
    shown = readable_name(folder.name)
    if not chosen:
        problem = (
            f"the folder {shown}/ holds no .ipynb or .py file, so there is nothing to "
            "grade. Submit your notebook (.ipynb)."
        )
    else:
        listed = ", ".join(readable_name(str(p.relative_to(folder))) for p in chosen[:5])
        problem = (
            f"the folder {shown}/ holds {len(chosen)} candidate files ({listed}), so the "
            "grader cannot tell which one to grade. Submit exactly one notebook."
        )
    return BatchItem(folder.name, folder, problem)


def unique_names(items: Sequence[BatchItem], root: Path) -> list[BatchItem]:
    """The items renamed so that every output name is safe and unique, by construction.

    A file is named by its stem, unless another submission has that stem or name (then by
    its full file name: ``alice.ipynb``, ``alice.py``, ``alice.py.ipynb``). Each name is then
    made safe (``safetext.safe_stem``: long names shortened, unsafe characters replaced, with
    a hash), and names that still clash, ignoring case (``Bob.py`` and ``bob.py``, for a
    case-insensitive disk), get a hash of their path. No result can overwrite another's.
    """

    def taken(name: str) -> str:
        return name.casefold()

    natural = [i.name for i in items]
    while True:  # a file whose stem is taken is named by its file name, which may take another's
        counts = Counter(taken(n) for n in natural)
        changed = [
            i.path.name if counts[taken(n)] > 1 and i.path.parent == root else n
            for i, n in zip(items, natural, strict=True)
        ]
        if changed == natural:
            break
        natural = changed
    names = [safe_stem(n) for n in natural]
    for attempt in range(1, 4):
        counts = Counter(taken(n) for n in names)
        if all(n == 1 for n in counts.values()):
            return [replace(i, name=n) for i, n in zip(items, names, strict=True)]
        names = [
            safe_stem(original, salt=f"{attempt}:{item.path.relative_to(root)}")
            if counts[taken(name)] > 1
            else name
            for item, original, name in zip(items, natural, names, strict=True)
        ]
    raise AssertionError("submission names could not be made unique")  # hashes 2**40 apart


def find_submissions(folder: Path, *, exclude: Path | None = None) -> list[BatchItem]:
    """Each ``*.ipynb``/``*.py`` directly in ``folder``, and each sub-folder, is one submission.

    Names come from the file stem or the folder name, made unique and safe as output file
    names (``unique_names``): ``a.ipynb``, ``a.py`` and ``a.py.ipynb`` are three submissions.
    """
    if not folder.exists():
        raise SubmissionNotFoundError(
            f"no such folder: {folder}", "pass the folder that holds the class's submissions"
        )
    if not folder.is_dir():
        raise UsageError(
            f"{folder} is not a folder", "use `grader grade` for one file, `batch` for a folder"
        )
    items: list[BatchItem] = []
    for path in _top_level(folder, exclude):
        moodle = MOODLE_NAME.match(path.name)
        if path.is_dir() and moodle and moodle["plugin"] != "file":
            continue  # Moodle's online-text (HTML) folder beside the files: never gradable
        if path.is_dir():
            items.append(_folder_item(path))
        # HW3.IPYNB from a case-insensitive file system is a notebook too.
        elif path.is_file() and path.suffix.lower() in SUFFIXES:
            items.append(BatchItem(path.stem, path))
    items = unique_names(items, folder)
    if not items:
        raise UsageError(
            f"no submissions found in {folder}",
            "put each submission there as a .ipynb/.py file or a sub-folder holding one",
        )
    return sorted(items, key=lambda i: i.name)


def _top_level(folder: Path, exclude: Path | None) -> list[Path]:
    """What a batch looks at directly in ``folder``: visible entries, but not ``exclude``."""
    skip = exclude.resolve() if exclude is not None else None
    return [
        path
        for path in sorted(folder.iterdir())
        if _visible(path) and (skip is None or path.resolve() != skip)
    ]


LEFT_OUT_LISTED = 10  #: files not graded that a batch names one by one (then a count)


def left_out_files(folder: Path, *, exclude: Path | None = None) -> list[str]:
    """What a batch says it did not grade: files directly in ``folder`` that are not
    submissions (a .pdf, a .zip or a .txt a student uploaded instead of the notebook), as
    warnings. Hidden files and the Gradescope export's metadata are not mentioned."""
    names = [
        path.name
        for path in _top_level(folder, exclude)
        if path.is_file()
        and path.suffix.lower() not in SUFFIXES
        and path.name != GRADESCOPE_METADATA
    ]
    notes = [
        f"left out: {readable_name(name)} (not a .ipynb or .py file, so not graded)"
        for name in names[:LEFT_OUT_LISTED]
    ]
    if len(names) > LEFT_OUT_LISTED:
        notes.append(
            f"left out: {len(names) - LEFT_OUT_LISTED} more files that are not .ipynb or .py"
        )
    return notes


# --- skipping unchanged submissions -----------------------------------------------------------


def _digest(paths: Sequence[Path], root: Path, salt: str = "") -> str:
    hasher = hashlib.sha256(salt.encode())
    for path in paths:
        hasher.update(str(path.relative_to(root)).encode() + b"\0")
        hasher.update(path.read_bytes() + b"\0")
    return hasher.hexdigest()


def assignment_key(prepared: api.PreparedAssignment, backend: str) -> str:
    """Changes whenever anything that could change a score changes: tests, reference, grader."""
    assignment = prepared.assignment
    files = sorted(
        p
        for p in assignment.folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and _visible(p)
    )
    from importlib.metadata import PackageNotFoundError, version

    try:
        grader_version = version("dl-grader")
    except PackageNotFoundError:
        grader_version = "unknown"
    reference = _digest([assignment.reference], assignment.reference.parent)
    for graded in assignment.graded:
        # Several graded functions: their references, and the folders they include, too.
        if graded.reference != assignment.reference:
            reference += _digest([graded.reference], graded.reference.parent)
        if graded.included_from:
            folder = graded.hidden_tests.parent
            included = sorted(p for p in folder.rglob("*") if p.is_file() and _visible(p))
            reference += _digest([p for p in included if "__pycache__" not in p.parts], folder)
    return _digest(files, assignment.folder, f"{grader_version}\0{backend}\0{reference}")


def submission_key(item: BatchItem) -> str:
    """The submission's content hash (a listing for a folder that could not be resolved)."""
    if item.problem is not None:
        return hashlib.sha256(item.problem.encode()).hexdigest()
    return hashlib.sha256(item.path.read_bytes()).hexdigest()


class _State:
    """``.grader-batch.json``: which content each result in OUTDIR was graded from."""

    def __init__(self, out: Path, key: str) -> None:
        self.path = out / STATE_FILE
        self.key = key
        self.entries: dict[str, dict[str, Any]] = {}
        self.written = time.monotonic()
        try:
            raw = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return
        if isinstance(raw, dict) and raw.get("assignment") == key:
            entries = raw.get("entries")
            self.entries = entries if isinstance(entries, dict) else {}

    def unchanged(self, item: BatchItem, digest: str, out: Path) -> BatchEntry | None:
        """The previous entry, if this exact submission was graded for this exact assignment."""
        old = self.entries.get(item.name)
        if not isinstance(old, dict) or old.get("sha256") != digest:
            return None
        try:
            document = json.loads((out / f"{item.name}.json").read_text())
            result = GradingResult.from_gradescope(document)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None
        status = old.get("status")
        return BatchEntry(
            name=item.name,
            result=result,
            status=status if status in ("graded", "error", "timeout") else "error",
            reason=str(old.get("reason", "")),
            skipped=True,
            internal_error=bool(old.get("internal_error", False)),
        )

    def record(self, entry: BatchEntry, digest: str) -> None:
        self.entries[entry.name] = {
            "sha256": digest,
            "status": entry.status,
            "reason": entry.reason,
            "internal_error": entry.internal_error,
        }

    def flush(self, *, force: bool = False) -> None:
        if not force and time.monotonic() - self.written < STATE_FLUSH_SECONDS:
            return
        document = clean_tree({"assignment": self.key, "entries": self.entries})
        write_text_atomically(self.path, json.dumps(document, indent=1, sort_keys=True))
        self.written = time.monotonic()


def write_text_atomically(path: Path, text: str) -> None:
    """Temp file + rename, like ``report.write_json_atomically``: never half a file.

    Every writer hands clean text (``safetext``); should one miss a lone surrogate, it is
    written as "?" rather than ending the batch before its class files.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="replace", newline="") as handle:
            handle.write(text)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


# --- grading one submission, watched ----------------------------------------------------------


@dataclass
class _Watch:
    """What the sandbox of one submission did: enough to tell errors and timeouts apart."""

    load: LoadReport | None = None
    timeouts: list[TimedOut] = field(default_factory=list)
    crashes: list[Crashed] = field(default_factory=list)


class _Children:
    """The live sandboxes of a batch, so Ctrl-C can kill them all at once."""

    def __init__(self, pool: ZygotePool | None = None) -> None:
        self.lock = threading.Lock()
        self.live: set[StudentProcess] = set()
        self.cancelled = threading.Event()
        self.pool = pool  #: the workers' sandboxes under bwrap (one zygote per job)

    def kill_all(self) -> None:
        """SIGKILL every running child; the worker threads then see it exit and return."""
        self.cancelled.set()
        with self.lock:
            processes = list(self.live)
        for process in processes:
            process.abort()


class _WatchedSandbox:
    """A ``StudentProcess`` that records its load report and failed calls."""

    def __init__(self, inner: StudentProcess, watch: _Watch, children: _Children) -> None:
        self.inner = inner
        self.watch = watch
        self.children = children

    def load(self) -> LoadReport:
        if self.children.cancelled.is_set():
            return LoadReport(cells=(), functions={}, failure=INTERRUPTED)
        report = self.inner.load()
        self.watch.load = report
        return report

    def call(self, function: str, args: Sequence[Any]) -> CallOutcome:
        if self.children.cancelled.is_set():
            return Crashed(INTERRUPTED)
        outcome = self.inner.call(function, args)
        if isinstance(outcome, TimedOut):
            self.watch.timeouts.append(outcome)
        elif isinstance(outcome, Crashed):
            self.watch.crashes.append(outcome)
        return outcome

    @property
    def captured_output(self) -> str:
        return self.inner.captured_output

    def close(self) -> None:
        with self.children.lock:
            self.children.live.discard(self.inner)
        self.inner.close()


def classify(
    submission: Submission, watch: _Watch, functions: Sequence[str], graded: Sequence[str] = ()
) -> tuple[Status, str]:
    """Graded, or errored/timed out with the reason, from what the sandbox reported.

    With several ``graded`` functions, one that is missing only costs its own points: the
    submission is an error only when none of them is defined.
    """
    if submission.problem:
        return "error", submission.problem
    load = watch.load
    if load is not None and load.failure:
        status: Status = "timeout" if "timed out" in load.failure else "error"
        return status, f"the notebook did not run to the end: {load.failure}"
    if load is not None and len(graded) > 1:
        if all(missing_function_message(f, load, graded) for f in graded):
            return "error", "none of " + ", ".join(graded) + " is defined"
    elif load is not None:
        for function in functions:
            message = missing_function_message(function, load)
            if message:
                return "error", message
    if watch.timeouts:
        seconds = watch.timeouts[0].seconds
        n = len(watch.timeouts)
        return "timeout", f"{functions[0]} timed out after {seconds:g} s ({n} call(s))"
    if watch.crashes:
        return "error", f"calling {functions[0]} failed: {watch.crashes[0].reason}"
    return "graded", ""


def _grade_one(
    item: BatchItem,
    prepared: api.PreparedAssignment,
    info: SandboxInfo,
    children: _Children,
) -> BatchEntry:
    """Never raises for anything the submission does; a grader fault becomes its document."""
    watch = _Watch()

    leased: list[ZygoteStudentProcess] = []  # holds this worker's zygote while it grades

    def start(
        cells: Sequence[tuple[int, str]],
        functions: Sequence[str],
        backend: str,
        limits: Limits,
        /,
        *,
        provided: Mapping[str, Path] | None = None,
    ) -> _WatchedSandbox:
        inner: Sandbox
        if children.pool is not None and backend == "bwrap":
            zygote = children.pool.take()
            inner = ZygoteStudentProcess(
                cells, functions, limits=limits, zygote=zygote, provided=provided
            )
            leased.append(inner)
        else:
            inner = api.start_student_process(cells, functions, backend, limits, provided=provided)
        if not isinstance(inner, StudentProcess):  # Ctrl-C needs the real process to kill it
            raise TypeError(f"expected a StudentProcess, got {type(inner).__name__}")
        with children.lock:
            children.live.add(inner)
        return _WatchedSandbox(inner, watch, children)

    try:
        if item.problem is not None:
            submission = Submission(readable_name(item.path.name), (), problem=item.problem)
        else:
            submission = read_submission(item.path)
        result = api.grade_submission(prepared, submission, sandbox=info, start_sandbox=start)
    except Exception as exc:
        result = api.internal_failure(item.path, prepared.assignment.name, exc)
        reason = f"internal error of the grader: {type(exc).__name__}: {exc}"[:500]
        return BatchEntry(item.name, result, "error", reason, internal_error=True)
    finally:
        for process in leased:  # its zygote, or the replacement of one that broke meanwhile
            if children.pool is not None and process.zygote is not None:
                children.pool.give_back(process.zygote)
    graded = [g.function for g in prepared.assignment.graded]
    status, reason = classify(submission, watch, prepared.assignment.functions, graded)
    return BatchEntry(item.name, result, status, reason)


# --- the batch --------------------------------------------------------------------------------


def default_jobs() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def run_batch(
    folder: Path,
    out: Path,
    *,
    assignment: str | None = None,
    jobs: int | None = None,
    force: bool = False,
    sandbox: BackendChoice = "auto",
    course_dir: Path | None = None,
    on_start: Callable[[int, int], None] | None = None,
    on_done: Callable[[BatchEntry], None] | None = None,
    roster: Path | None = None,
    absent: Absent = "zero",
    _notes: tuple[str, ...] = (),
    _started: float | None = None,
) -> BatchSummary:
    """Grade every submission in ``folder`` into ``out``, then write the class-level files.

    ``folder`` may also be an LMS download (``.zip``: Canvas, Moodle, Gradescope), unpacked
    safely into a temporary folder for the run. With ``roster`` (a CSV), each submission is
    matched to a student (``grader.roster``) and the gradebooks list the roster's students.
    ``on_start(to_grade, skipped)`` and ``on_done(entry)`` are called on the calling thread
    (for a progress bar). Raises ``GraderError`` only for misuse; KeyboardInterrupt propagates
    after the running children were killed and only complete results were kept.
    """
    started = time.monotonic() if _started is None else _started
    if jobs is not None and jobs < 1:
        raise UsageError(f"--jobs must be at least 1 (got {jobs})", "omit it to use every core")
    class_roster = read_roster(roster) if roster is not None else None  # misuse before work
    if folder.is_file() and folder.suffix.lower() == ".zip":
        with tempfile.TemporaryDirectory(prefix="grader-batch-") as temp:
            unpacked = unpack(folder, Path(temp))
            notes = tuple(f"left out of {folder.name}: {s}" for s in unpacked.skipped)
            return run_batch(
                unpacked.folder,
                out,
                assignment=assignment,
                jobs=jobs,
                force=force,
                sandbox=sandbox,
                course_dir=course_dir,
                on_start=on_start,
                on_done=on_done,
                roster=roster,
                absent=absent,
                _notes=notes,
                _started=started,
            )
    if not folder.is_dir():
        raise SubmissionNotFoundError(
            f"no such folder or .zip: {folder}",
            "pass the folder of submissions, or the .zip your LMS downloaded",
        )
    workers = jobs or default_jobs()
    # With one job, this process grades (its worker sandbox imports numpy meanwhile); with
    # more, each job is a worker process with a worker sandbox of its own (_grade_in_processes).
    warm = workers == 1 and sandbox != "none" and bwrap_problem() is None
    pool = ZygotePool(1) if warm else None
    try:
        summary = _run_batch(
            folder,
            out,
            assignment,
            workers,
            force,
            sandbox,
            course_dir,
            on_start,
            on_done,
            pool,
            started,
            (class_roster, absent, _notes),
        )
    finally:
        if pool is not None:
            pool.close()
    # Graded submissions got their feedback pages as their results came in; unchanged ones
    # get theirs again (the roster, and so the names shown, may have changed since).
    write_class_files(summary, feedback_for=[e for e in summary.entries if e.skipped])
    return summary


def _downloaded_name(item: BatchItem, folder: Path) -> str:
    """The submission's name as the LMS wrote it: its file's stem, or its top folder's name."""
    top = item.path.relative_to(folder).parts[0]
    return Path(top).stem if (folder / top).is_file() else top


def class_identities(
    items: Sequence[BatchItem], folder: Path, roster: Roster | None, absent: Absent
) -> tuple[dict[str, Identity], RosterReport | None]:
    """Who submitted what: LMS names and metadata, and the roster's match.

    Identities are read from the names as downloaded (the file stem or the top folder's
    name), not from the output names, which may have been shortened or made unique.
    """
    metadata = gradescope_metadata(folder)
    identities = {
        item.name: identity_of(_downloaded_name(item, folder), metadata) for item in items
    }
    report = None
    if roster is not None:
        report = RosterReport(roster, match_roster(identities.items(), roster), absent)
    return identities, report


def _run_batch(
    folder: Path,
    out: Path,
    assignment: str | None,
    workers: int,
    force: bool,
    sandbox: BackendChoice,
    course_dir: Path | None,
    on_start: Callable[[int, int], None] | None,
    on_done: Callable[[BatchEntry], None] | None,
    pool: ZygotePool | None,
    started: float,
    who: tuple[Roster | None, Absent, Sequence[str]],
) -> BatchSummary:
    items = find_submissions(folder, exclude=out)
    prepared = api.prepare_assignment(assignment, course_dir)
    info = api.resolve_sandbox(sandbox)
    roster, absent, notes = who
    notes = (*notes, *left_out_files(folder, exclude=out))
    identities, roster_report = class_identities(items, folder, roster, absent)
    # The class-level facts a feedback page shows, known before any result: each
    # submission's pages are written as its result comes in, while the rest are graded.
    view = BatchSummary(
        assignment=prepared.assignment.title,
        entries=(),
        test_names=tuple(case.name for case in prepared.hidden),
        test_points=tuple(case.points for case in prepared.hidden),
        misconceptions=tuple((m.id, m.title) for m in prepared.catalogue),
        functions=tuple(
            (p.function, round(sum(c.points for c in p.hidden), 6)) for p in prepared.parts
        ),
        seconds=0.0,
        jobs=workers,
        out=out,
        warnings=(*info.warnings, *notes),
        identities=identities,
        roster=roster_report,
    )
    out.mkdir(parents=True, exist_ok=True)
    state = _State(out, assignment_key(prepared, info.backend))
    entries: dict[str, BatchEntry] = {}
    todo: list[tuple[BatchItem, str]] = []
    for item in items:
        digest = submission_key(item)
        previous = None if force else state.unchanged(item, digest, out)
        if previous is not None:
            entries[item.name] = previous
        else:
            todo.append((item, digest))
    if on_start is not None:
        on_start(len(todo), len(entries))
    children = _Children(pool if info.backend == "bwrap" else None)
    graded = (
        _grade_in_processes(todo, prepared.assignment.name, course_dir, sandbox, workers)
        if workers > 1 and len(todo) > 1
        else _grade_all(todo, prepared, info, children, workers)
    )
    try:
        # closing(): an interrupt in this loop reaches the generator now, which kills children.
        with contextlib.closing(graded):
            for graded_entry, digest, document in graded:
                entry = _write_result(view, graded_entry, document)
                if entry is graded_entry:  # a result that is not on disk is regraded next time
                    state.record(entry, digest)
                state.flush()
                entries[entry.name] = entry
                if on_done is not None:
                    on_done(entry)
    finally:
        state.flush(force=True)
    return dataclasses.replace(
        view,
        entries=tuple(entries[name] for name in sorted(entries)),
        seconds=time.monotonic() - started,
    )


Graded = Generator[tuple[BatchEntry, str, str], None, None]  #: entry, its digest, its document


def _write_result(view: BatchSummary, entry: BatchEntry, document: str) -> BatchEntry:
    """Write OUTDIR/<name>.json and the feedback pages; an OS error (a full disk, a folder
    in the way) is that submission's error, with the score it was given, never the end of
    the batch."""
    from grader.feedback import feedback_files

    problems = []
    # The pages first: a result file on disk means its submission is done (a re-run after
    # Ctrl-C skips it), so it is written last.
    try:
        for relative, text in feedback_files(view, [entry]).items():
            write_text_atomically(view.out / relative, clean_text(text))
    except OSError as exc:
        problems.append(f"its feedback pages could not be written ({exc.strerror or exc})")
    path = view.out / f"{entry.name}.json"
    try:
        write_text_atomically(path, document)
    except OSError as exc:
        problems.append(
            f"its result file {path.name} could not be written ({exc.strerror or exc}); "
            "the score shown was computed but is not saved"
        )
    if not problems:
        return entry
    reason = "; ".join(problems) + ": fix the output folder and re-run"
    return replace(entry, status="error", reason=f"{reason}. {entry.reason}".rstrip(". "))


def _grade_all(
    todo: Sequence[tuple[BatchItem, str]],
    prepared: api.PreparedAssignment,
    info: SandboxInfo,
    children: _Children,
    workers: int,
) -> Graded:
    """Yield finished grades as they complete, at most ``workers`` sandboxes at a time."""
    pending: dict[Future[BatchEntry], str] = {}
    queue = list(reversed(todo))
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="grade")
    try:
        while queue or pending:
            # Submit lazily: a Ctrl-C then has at most `workers` grades to abandon.
            while queue and len(pending) < workers:
                item, digest = queue.pop()
                pending[pool.submit(_grade_one, item, prepared, info, children)] = digest
            done, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=lambda f: f.result().name):
                entry = future.result()
                yield entry, pending.pop(future), render_json(entry.result)
    except BaseException:
        # Ctrl-C (or a failed write): kill the children and discard their unfinished grades.
        # Kill repeatedly: a worker may have been starting a child while we killed the others.
        pool.shutdown(wait=False, cancel_futures=True)
        give_up = time.monotonic() + KILL_PATIENCE_SECONDS
        while any(not f.done() for f in pending) and time.monotonic() < give_up:
            children.kill_all()
            time.sleep(0.05)
        raise
    pool.shutdown(wait=True)


# One worker process per job: the trusted side of grading (the tests, the reference, the
# diagnosis, the JSON) is CPU work under the GIL, so threads of one process share one core.
_worker: tuple[api.PreparedAssignment, SandboxInfo, _Children] | None = None
# Shared with the batch process: when this worker began grading the submission in each slot
# (0.0: not begun). A worker's own start (imports, its worker sandbox: ~1 s) is not the
# submission's time, so only grading counts towards ``LONG_RUNNING_SECONDS``.
_begun: MutableSequence[float] | None = None


def _start_worker(
    assignment: str,
    course_dir: Path | None,
    sandbox: BackendChoice,
    begun: MutableSequence[float] | None = None,
) -> None:
    """Initialise a worker process: the assignment, the backend, and one worker sandbox."""
    global _worker, _begun
    # Ctrl-C reaches the whole foreground group: the parent alone handles it (kills workers).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    prepared = api.prepare_assignment(assignment, course_dir)
    info = api.resolve_sandbox(sandbox)
    pool = ZygotePool(1) if info.backend == "bwrap" else None
    if pool is not None:
        atexit.register(pool.close)
    _worker = (prepared, info, _Children(pool))
    _begun = begun


def _grade_in_worker(item: BatchItem, slot: int | None = None) -> tuple[str, Status, str, bool]:
    """(document, status, reason, internal error) of one submission, in a worker process."""
    if _worker is None:
        raise RuntimeError("worker process not initialised")
    if _begun is not None and slot is not None:
        _begun[slot] = time.monotonic()
    entry = _grade_one(item, *_worker)
    return render_json(entry.result), entry.status, entry.reason, entry.internal_error


def _grade_in_processes(
    todo: Sequence[tuple[BatchItem, str]],
    assignment: str,
    course_dir: Path | None,
    sandbox: BackendChoice,
    workers: int,
) -> Graded:
    """Like ``_grade_all``, on worker processes grading one submission at a time each.

    ``workers`` submissions are graded at once, plus up to twice as many more while some
    have run for over ``LONG_RUNNING_SECONDS``: a hanging submission waits out its limits
    without holding a job the rest of the class needs. Only plain data comes back (the
    rendered document and strings): the same bytes the in-process path writes.

    A worker process that dies (SIGKILL, the OOM killer) breaks its pool: the submissions
    that were in it are graded again on a fresh pool, and one lost ``WORKER_TRIES`` times
    gets an error document. Returns (or raises) only once every worker is joined and every
    sandbox the workers started is dead and reaped (``reaping_what_workers_leave``).
    """
    queue = list(reversed(todo))
    tries: dict[str, int] = {}
    with reaping_what_workers_leave() as own_children:
        while queue:
            lost: list[tuple[BatchItem, str, str]] = []
            yield from _grade_on_one_pool(
                queue, lost, assignment, course_dir, sandbox, workers, own_children
            )
            clean_up_after_workers(own_children)  # a broken pool's sandboxes, before the next
            for item, digest, why in reversed(lost):
                tries[item.name] = tries.get(item.name, 0) + 1
                if tries[item.name] < WORKER_TRIES:
                    queue.append((item, digest))
                    continue
                entry = _lost_entry(item, assignment, tries[item.name], why)
                yield entry, digest, render_json(entry.result)


def _grade_on_one_pool(
    queue: list[tuple[BatchItem, str]],
    lost: list[tuple[BatchItem, str, str]],
    assignment: str,
    course_dir: Path | None,
    sandbox: BackendChoice,
    workers: int,
    own_children: set[int],
) -> Graded:
    """Grade from ``queue`` (popped from the end) until it is empty or the pool breaks.

    Submissions a broken pool lost are appended to ``lost`` (with why it broke); its workers
    are joined before this returns or raises.
    """
    pending: dict[Future[tuple[str, Status, str, bool]], tuple[BatchItem, str, int]] = {}
    capacity = min(LONG_RUNNING_CAPACITY * workers, len(queue))
    context = multiprocessing.get_context("spawn")  # never fork a threaded process
    begun = context.Array("d", capacity, lock=False)  # per slot, see ``_begun``
    free = list(range(capacity))
    pool = ProcessPoolExecutor(
        max_workers=capacity,
        mp_context=context,
        initializer=_start_worker,
        initargs=(assignment, course_dir, sandbox, begun),
    )
    # multiprocessing's resource tracker, started with the pool: a child, not an orphan.
    own_children.update(child_pids())
    broken = False
    try:
        while (queue and not broken) or pending:
            now = time.monotonic()
            # A submission holds a job until it has been graded for LONG_RUNNING_SECONDS;
            # one still waiting for a worker (starting, or busy) holds it too.
            running = sum(
                1
                for *_, slot in pending.values()
                if not begun[slot] or now - begun[slot] < LONG_RUNNING_SECONDS
            )
            while queue and not broken and running < workers and len(pending) < capacity:
                item, digest = queue.pop()
                slot = free.pop()
                begun[slot] = 0.0
                try:
                    pending[pool.submit(_grade_in_worker, item, slot)] = (item, digest, slot)
                except BrokenProcessPool:
                    queue.append((item, digest))
                    free.append(slot)
                    broken = True
                running += 1
            done, _ = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=lambda f: pending[f][0].name):
                item, digest, slot = pending.pop(future)
                free.append(slot)
                try:
                    document, status, reason, internal = future.result()
                except BrokenProcessPool as exc:
                    lost.append((item, digest, str(exc)))
                    broken = True
                    continue
                result = GradingResult.from_gradescope(json.loads(document))
                entry = BatchEntry(item.name, result, status, reason, internal_error=internal)
                yield entry, digest, document
    except BaseException:
        # Ctrl-C (or a failed write): kill the workers; their sandboxes see them go and end.
        _kill_pool(pool)
        raise
    pool.shutdown(wait=True)


def _kill_pool(pool: ProcessPoolExecutor) -> None:
    """SIGKILL every worker process of ``pool`` and join them (reaped: no zombie is left)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        with contextlib.suppress(OSError, ValueError):
            process.kill()
    for process in processes:
        with contextlib.suppress(OSError, ValueError, AssertionError):
            process.join(timeout=KILL_PATIENCE_SECONDS)


def _lost_entry(item: BatchItem, assignment: str, tries: int, why: str) -> BatchEntry:
    """The error document of a submission whose worker process died every time it was graded."""
    reason = (
        f"the grader's worker process died while grading this submission ({tries} times, "
        f"e.g. killed by the system for memory; {why[:200]}): grade it alone with "
        "`grader grade` to see why"
    )
    result = api.internal_failure(item.path, assignment, RuntimeError(reason))
    return BatchEntry(item.name, result, "error", reason, internal_error=True)


# --- class-level files ------------------------------------------------------------------------


def summary_rows(summary: BatchSummary) -> list[list[str]]:
    """summary.csv: submission, score, max_score, one column per graded function (several
    only), one per test, one per misconception."""
    header = [
        "submission",
        "score",
        "max_score",
        *(function for function, _ in summary.functions),
        *summary.test_names,
        *(mid for mid, _ in summary.misconceptions),
    ]
    rows = [header]
    for entry in summary.entries:
        result = entry.result
        scores = {t.name: t.score for t in result.tests}
        found = set(result.misconceptions)
        rows.append(
            [
                entry.name,
                f"{result.score:g}",
                f"{result.max_score:g}",
                *(f"{summary.subtotal(entry, f):g}" for f, _ in summary.functions),
                *(f"{scores[n]:g}" if n in scores else "" for n in summary.test_names),
                *("1" if mid in found else "0" for mid, _ in summary.misconceptions),
            ]
        )
    if summary.roster is not None:
        _add_roster_columns(summary, rows)
    return rows


ROSTER_COLUMNS = ("student", "student_id", "email", "roster")


def _add_roster_columns(summary: BatchSummary, rows: list[list[str]]) -> None:
    """With --roster: who each submission is, whether it matched; then the absent students."""
    report = summary.roster
    if report is None:
        return
    match = report.match
    ambiguous = dict(match.ambiguous)
    rows[0].extend(ROSTER_COLUMNS)
    for row in rows[1:]:
        name = row[0]
        student = match.student_of(name)
        if student is not None:
            row.extend([student.name, student.id or student.sis_user_id, student.email, "matched"])
        elif name in ambiguous:
            row.extend(["", "", "", f"ambiguous: {ambiguous[name]}"])
        else:
            row.extend(["", "", "", "unmatched: no roster row has this name, id or e-mail"])
    if report.absent == "skip":
        return
    width = len(rows[0]) - len(ROSTER_COLUMNS)
    max_score = max((e.result.max_score for e in summary.entries), default=0.0)
    for student in match.absent:
        row = ["", "0", f"{max_score:g}", *[""] * (width - 3)]
        row.extend([student.name, student.id or student.sis_user_id, student.email, NO_SUBMISSION])
        rows.append(row)


def write_class_files(
    summary: BatchSummary, feedback_for: Sequence[BatchEntry] | None = None
) -> None:
    """summary.csv, report.html, the gradebook exports, and the feedback pages of
    ``feedback_for`` (default: every submission), each written atomically."""
    from grader.feedback import feedback_files
    from grader.html_report import render_report

    write_text_atomically(summary.out / SUMMARY_FILE, render_csv(summary_rows(summary)))
    write_text_atomically(summary.out / REPORT_FILE, render_report(summary))
    write_text_atomically(summary.out / CANVAS_FILE, render_csv(canvas_rows(summary)))
    write_text_atomically(summary.out / GRADESCOPE_FILE, render_csv(gradescope_rows(summary)))
    for relative, text in feedback_files(summary, feedback_for).items():
        write_text_atomically(summary.out / relative, clean_text(text))


def summary_line(summary: BatchSummary) -> str:
    """The one line printed at the end: graded, errors, timeouts, time."""
    total = len(summary.entries)
    fresh = total - summary.skipped
    rate = fresh / summary.seconds if summary.seconds > 0 else 0.0
    skipped = f" ({summary.skipped} unchanged, skipped)" if summary.skipped else ""
    internal = f", {summary.internal_errors} internal errors" if summary.internal_errors else ""
    plural = "" if total == 1 else "s"
    line = (
        f"{total} submission{plural}{skipped}: {summary.count('graded')} graded, "
        f"{summary.count('error')} errors, {summary.count('timeout')} timeouts{internal} "
        f"in {summary.seconds:.1f} s ({rate:.1f}/s, {summary.jobs} jobs) -> {summary.out}"
    )
    return line + roster_lines(summary)


def roster_lines(summary: BatchSummary) -> str:
    """With --roster: the match counts, then every submission that matched no one, and why."""
    report = summary.roster
    if report is None:
        return ""
    match = report.match
    absent = "left out" if report.absent == "skip" else "scored 0, no submission"
    lines = [
        f"\nroster {report.roster.path.name}: {len(match.matched)} of "
        f"{len(report.roster.students)} students matched, {len(match.absent)} absent ({absent}), "
        f"{len(match.unmatched)} unmatched and {len(match.ambiguous)} ambiguous submissions"
    ]
    # Names are the students' (file names): shown escaped, never as terminal control codes.
    lines += [
        f"\n  unmatched: {readable_name(name)} (matches no roster row)" for name in match.unmatched
    ]
    lines += [
        f"\n  ambiguous: {readable_name(name)}: {readable_name(why)}"
        for name, why in match.ambiguous
    ]
    return "".join(lines)


@contextlib.contextmanager
def batch_progress(
    stream: TextIO,
) -> Iterator[tuple[Callable[[int, int], None], Callable[[BatchEntry], None]]]:
    """``run_batch`` callbacks that draw a progress bar (rate, ETA) on a terminal only."""
    from tqdm import tqdm

    bars: list[tqdm[Any]] = []

    def on_start(to_grade: int, skipped: int) -> None:
        if skipped:
            print(f"skipping {skipped} unchanged submissions (use --force to regrade)", file=stream)
        if stream.isatty() and to_grade:
            bars.append(tqdm(total=to_grade, file=stream, unit="sub", dynamic_ncols=True))

    def on_done(entry: BatchEntry) -> None:
        for bar in bars:
            bar.set_postfix_str(entry.name[:24], refresh=False)
            bar.update(1)

    try:
        yield on_start, on_done
    finally:
        for bar in bars:
            bar.close()
