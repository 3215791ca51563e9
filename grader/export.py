"""The Gradescope autograder package: building the zip, and the grading run inside it.

Gradescope unpacks the zip into ``/autograder/source/``, runs ``setup.sh`` once to build
its image, then runs ``/autograder/run_autograder`` once per submission, in a container
where the student's files sit in ``/autograder/submission/`` and it expects
``/autograder/results/results.json``. The zip holds:

  setup.sh          installs Python, bubblewrap and the bundled grader into /opt/dl-grader
  run_autograder    finds the grader, calls ``python -m grader.export run``, and writes a
                    last-ditch results.json itself when the grader cannot even start
  grader-src/       the grader package and a generated pyproject.toml (pip-installable)
  course/           assignments/<name>/ and reference/<name>.py: one assignment only (and,
                    for several graded functions, the assignments it includes and their
                    references)

The submission runs in the same container as the reference and the hidden tests, so the
run uses the strongest sandbox that works there: bwrap, else landlock (Landlock + seccomp:
no user namespace needed, which Gradescope's Docker containers usually refuse), else the
fallback and its warning. ``run_autograder`` also makes ``source/`` readable by root only:
landlock and the fallback drop the student's process to ``nobody``, which then cannot read it.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from string import Template
from typing import cast

import grader
from grader import api
from grader.assignments import Assignment, GradedFunction, load_assignment
from grader.errors import AssignmentError
from grader.report import write_json_atomically
from grader.results import GradingResult
from grader.sandbox import BACKEND_CHOICES, BackendChoice
from grader.submission import Submission, read_submission

ROOT_ENV = "GRADER_AUTOGRADER_ROOT"  # overrides /autograder, for tests and local dry runs
DEFAULT_ROOT = Path("/autograder")
DISTRIBUTION = "dl-grader"
TEMPLATES = Path(__file__).parent / "templates"
# Fixed timestamp: the same course folder always gives the same zip, byte for byte.
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
SKIPPED_NAMES = frozenset({"__pycache__", ".ipynb_checkpoints", ".pytest_cache"})
SUBMISSION_SUFFIXES = (".ipynb", ".py")
NO_SUBMISSION = (
    "No notebook (.ipynb) or Python file (.py) was found in your submission. Upload your "
    "notebook itself (for example {name}.ipynb), not a screenshot, PDF or folder of other files."
)
SEVERAL_SUBMISSIONS = (
    "Your submission holds several files that could be the solution ({files}) and none is "
    "named {name}.ipynb. Resubmit only the notebook you want graded."
)


def _public_files(folder: Path) -> Iterator[Path]:
    """Files under ``folder`` worth shipping: no caches, checkpoints or hidden files."""
    for path in sorted(folder.rglob("*")):
        parts = path.relative_to(folder).parts
        if any(p in SKIPPED_NAMES or p.startswith(".") or p.endswith(".pyc") for p in parts):
            continue
        if path.is_file():
            yield path


def grader_pyproject() -> str:
    """A minimal pyproject.toml that installs the bundled ``grader`` package with pip.

    Generated from the installed distribution's metadata rather than copied, so it works
    from a wheel install too and carries no development extras.
    """
    meta = importlib.metadata.metadata(DISTRIBUTION)
    requires = importlib.metadata.requires(DISTRIBUTION) or []
    runtime = sorted(r for r in requires if "extra ==" not in r)
    return Template((TEMPLATES / "pyproject.toml.tmpl").read_text()).substitute(
        name=DISTRIBUTION,
        version=meta["Version"],
        requires_python=meta["Requires-Python"] or ">=3.11",
        dependencies="".join(f'    "{r}",\n' for r in runtime),
    )


def grader_source_files(prefix: str) -> dict[str, bytes]:
    """The grader package plus its pyproject.toml, keyed by archive path under ``prefix``."""
    package = Path(grader.__file__).parent
    files = {f"{prefix}/pyproject.toml": grader_pyproject().encode()}
    for path in _public_files(package):
        files[f"{prefix}/grader/{path.relative_to(package).as_posix()}"] = path.read_bytes()
    return files


def course_files(assignment: Assignment, course_dir: Path) -> dict[str, bytes]:
    """One assignment's folder and its reference, at their places in a course folder."""
    files: dict[str, bytes] = {}
    for path in _public_files(assignment.folder):
        files[f"assignments/{assignment.name}/{path.relative_to(assignment.folder).as_posix()}"] = (
            path.read_bytes()
        )
    reference = assignment.reference.resolve()
    try:
        where = reference.relative_to(course_dir.resolve()).as_posix()
    except ValueError:
        # A reference outside the course folder still has to be found by the same spec.
        where = f"reference/{assignment.name}.py"
    files[where] = reference.read_bytes()
    for graded in assignment.graded if assignment.several else ():
        _add_graded(files, graded, course_dir)
    return files


def _add_graded(files: dict[str, bytes], graded: GradedFunction, course_dir: Path) -> None:
    """The reference of one graded function, and the folder of the assignment it includes."""
    reference = graded.reference.resolve()
    try:
        where = reference.relative_to(course_dir.resolve()).as_posix()
    except ValueError:
        where = f"reference/{reference.name}"  # where a spec's default points
    files.setdefault(where, reference.read_bytes())
    if graded.included_from:
        folder = graded.hidden_tests.parent
        for path in _public_files(folder):
            inner = path.relative_to(folder).as_posix()
            files[f"assignments/{graded.included_from}/{inner}"] = path.read_bytes()


def _script(name: str, assignment: str) -> bytes:
    # A plain placeholder, not string.Template: the scripts are full of shell `$`.
    return (
        (TEMPLATES / "gradescope" / name).read_text().replace("@ASSIGNMENT@", assignment).encode()
    )


def _add(archive: zipfile.ZipFile, name: str, data: bytes, mode: int) -> None:
    info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
    info.external_attr = (0o100000 | mode) << 16  # a regular file; unzip restores the mode
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, data)


def build_gradescope_zip(
    out: Path, *, assignment: str | None = None, course_dir: Path | None = None
) -> Path:
    """Write the autograder zip for one assignment to ``out`` (atomically); return ``out``.

    Raises UnknownAssignmentError / AmbiguousAssignmentError (usage) or AssignmentError.
    """
    spec = load_assignment(assignment, course_dir)
    if not spec.name.isidentifier():
        # The name is pasted into a shell script; an identifier needs no quoting.
        raise AssignmentError(
            f"assignment folder name {spec.name!r} is not a Python identifier",
            "rename the folder (letters, digits and underscores)",
        )
    course = course_dir or spec.folder.parent.parent
    files: dict[str, tuple[bytes, int]] = {
        "setup.sh": (_script("setup.sh", spec.name), 0o755),
        "run_autograder": (_script("run_autograder", spec.name), 0o755),
    }
    for name, data in grader_source_files("grader-src").items():
        files[name] = (data, 0o644)
    for name, data in course_files(spec, course).items():
        files[f"course/{name}"] = (data, 0o644)
    out.parent.mkdir(parents=True, exist_ok=True)
    temp = out.with_name(f".{out.name}.tmp")
    try:
        with zipfile.ZipFile(temp, "w") as archive:
            for name in sorted(files):
                data, mode = files[name]
                _add(archive, name, data, mode)
        os.replace(temp, out)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return out


# --- inside the container ------------------------------------------------------------------


def find_submission(folder: Path, assignment: str) -> Path | str:
    """The file to grade in Gradescope's submission folder, or a message saying why none.

    Uploads arrive as loose files or as the contents of a zip (possibly in a sub-folder).
    Notebooks win over .py files; among several, the one named after the assignment.
    """
    candidates = [p for p in _public_files(folder) if p.suffix in SUBMISSION_SUFFIXES]
    for suffix in SUBMISSION_SUFFIXES:
        found = [p for p in candidates if p.suffix == suffix]
        if len(found) == 1:
            return found[0]
        if found:
            named = [p for p in found if p.stem == assignment]
            if len(named) == 1:
                return named[0]
            files = ", ".join(p.relative_to(folder).as_posix() for p in found)
            return SEVERAL_SUBMISSIONS.format(files=files, name=assignment)
    return NO_SUBMISSION.format(name=assignment)


def run_autograder(
    root: Path, assignment: str, *, sandbox: BackendChoice = "auto"
) -> GradingResult:
    """Grade what is in ``root/submission`` and write ``root/results/results.json``.

    Never raises for anything the submission does or lacks; a fault of the grader itself
    becomes the visible "Autograder failed" document, which is still written.
    """
    results = root / "results" / "results.json"
    folder = root / "submission"
    submission = (
        find_submission(folder, assignment)
        if folder.is_dir()
        else NO_SUBMISSION.format(name=assignment)
    )
    where = submission if isinstance(submission, Path) else Path("(no submission)")
    try:
        prepared = api.prepare_assignment(assignment, root / "source" / "course")
        info = api.resolve_sandbox(sandbox)
        read = (
            read_submission(submission)
            if isinstance(submission, Path)
            else Submission(where.name, (), problem=submission)
        )
        result = api.grade_submission(prepared, read, sandbox=info)
    except Exception as exc:
        result = api.internal_failure(where, assignment, exc)
    write_json_atomically(result, results)
    return result


def main(argv: list[str] | None = None) -> int:
    """``python -m grader.export run``: what ``run_autograder`` calls; exit 0 once written."""
    parser = argparse.ArgumentParser(prog="python -m grader.export")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="grade the Gradescope submission folder")
    run.add_argument("--root", type=Path, default=None, help=f"default: ${ROOT_ENV} or /autograder")
    run.add_argument("--assignment", required=True)
    run.add_argument("--sandbox", choices=list(BACKEND_CHOICES), default="auto")
    args = parser.parse_args(argv)
    root = args.root or Path(os.environ.get(ROOT_ENV) or DEFAULT_ROOT)
    result = run_autograder(root, args.assignment, sandbox=cast(BackendChoice, args.sandbox))
    # Gradescope shows this log to instructors only.
    print(f"{result.submission}: {result.score:g}/{result.max_score:g} ({result.sandbox})")
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
