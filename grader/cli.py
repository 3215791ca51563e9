"""The ``grader`` command: parse arguments, call ``api``, render, return an exit code."""

from __future__ import annotations

import argparse
import sys
from enum import IntEnum
from pathlib import Path

from grader import api
from grader.assignments import list_assignments, load_assignment
from grader.errors import GraderError, OutputPathError
from grader.report import (
    render_json,
    render_text,
    require_output_file,
    require_output_folder,
    wants_colour,
    write_json_atomically,
)
from grader.results import GradingResult
from grader.sandbox import BACKEND_CHOICES

# The other commands' modules are imported by their handlers: `grader grade` starts its
# sandbox sooner without them (batch alone, with tqdm and the HTML report, is ~0.06 s).


class ExitCode(IntEnum):
    """Process exit codes, as in pytest and click."""

    OK = 0
    TESTS_FAILED = 1
    USAGE_ERROR = 2
    INTERNAL_ERROR = 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="grader",
        description="Autograder for deep-learning assignments: sandboxed, Gradescope-compatible.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    grade = commands.add_parser("grade", help="grade one submission with the hidden tests")
    grade.add_argument("submission", type=Path, help=".ipynb or .py file")
    grade.add_argument("--out", type=Path, help="write results.json here (default: stdout)")

    check = commands.add_parser("check", help="self-check: visible tests only, readable report")
    check.add_argument("submission", type=Path, help=".ipynb or .py file")
    check.add_argument(
        "--format",
        choices=["text", "json", "junit", "classroom"],
        default="text",
        help="text for people; json (results document), junit (XML) or classroom (GitHub "
        "Classroom's reporter, to $GITHUB_OUTPUT in Actions) for CI (default: text)",
    )

    batch = commands.add_parser("batch", help="grade a folder of submissions (a whole class)")
    batch.add_argument(
        "folder", type=Path, help="folder of .ipynb/.py files or sub-folders, or an LMS .zip"
    )
    batch.add_argument("--out", type=Path, required=True, help="folder for the results")
    batch.add_argument("--jobs", type=int, help="submissions graded at once (default: cores)")
    batch.add_argument("--force", action="store_true", help="regrade unchanged submissions too")
    batch.add_argument("--roster", type=Path, help="class list CSV (Canvas, Gradescope, plain)")
    batch.add_argument(
        "--absent",
        choices=["zero", "skip"],
        default="zero",
        help="roster students without a submission: 0 points, or left out (default: zero)",
    )

    for sub in (grade, check, batch):
        sub.add_argument("--assignment", help="assignment name (see `grader list`)")
        sub.add_argument(
            "--sandbox",
            choices=list(BACKEND_CHOICES),
            default="auto",
            help="isolation: auto picks bwrap, else landlock, else none (default: auto)",
        )

    commands.add_parser("list", help="list the available assignments")

    export = commands.add_parser("export", help="package an assignment for a grading platform")
    targets = export.add_subparsers(dest="target", required=True, metavar="TARGET")
    gradescope = targets.add_parser("gradescope", help="Gradescope autograder zip")
    release = commands.add_parser("release", help="what students get: template + visible tests")
    for sub in (gradescope, release):
        sub.add_argument("--assignment", help="assignment name (see `grader list`)")
    gradescope.add_argument("--out", type=Path, required=True, help="the zip to write")
    release.add_argument("--out", type=Path, required=True, help="a new (or empty) folder")
    doctor = commands.add_parser(
        "doctor", help="which sandboxes this machine offers, why not the others, the limits"
    )
    doctor.add_argument("--assignment", help="show this assignment's limits (default: defaults)")
    doctor.add_argument(
        "--summary", action="store_true", help="one line: the backend that grades (make grade)"
    )
    new = commands.add_parser("new", help="scaffold a new assignment that grades at once")
    new.add_argument("name", help="assignment name: a Python identifier")
    return parser


def _grade(args: argparse.Namespace) -> ExitCode:
    if args.out is not None:
        require_output_file(args.out)  # before grading: misuse costs no sandbox run
    try:
        result = api.grade(args.submission, assignment=args.assignment, sandbox=args.sandbox)
    except GraderError as exc:
        if exc.exit_code == ExitCode.INTERNAL_ERROR:  # a broken assignment folder, not misuse
            _emit(api.internal_failure(args.submission, args.assignment, exc), args.out)
        raise
    except Exception as exc:
        # Principle: a results document is always written, even when the grader fails.
        result = api.internal_failure(args.submission, args.assignment, exc)
        _emit(result, args.out)
        raise
    _emit(result, args.out)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return ExitCode.OK


def _emit(result: GradingResult, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(render_json(result))
    else:
        try:
            write_json_atomically(result, out)
        except OSError as exc:  # e.g. a read-only or pseudo file system: misuse, not a bug
            raise OutputPathError(
                f"cannot write --out {out}: {exc.strerror or exc}",
                "choose a path in a folder you can write",
            ) from exc


def _check(args: argparse.Namespace) -> ExitCode:
    result = api.check(args.submission, assignment=args.assignment, sandbox=args.sandbox)
    if args.format == "classroom":
        from grader.classroom import emit

        payload = emit(result)  # in Actions: to $GITHUB_OUTPUT, and the log gets the report
        if payload is None:
            sys.stdout.write(render_text(result, colour=False))  # warnings included
        else:
            sys.stdout.write(payload + "\n")
            for warning in result.warnings:
                print(f"warning: {warning}", file=sys.stderr)
    elif args.format == "text":
        sys.stdout.write(render_text(result, colour=wants_colour(sys.stdout)))
    else:
        from grader.junit import render_junit

        # Machine formats keep stdout parseable; warnings go to stderr (and into the document).
        sys.stdout.write(render_json(result) if args.format == "json" else render_junit(result))
        for warning in result.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    return ExitCode.OK if result.all_passed else ExitCode.TESTS_FAILED


def _export(args: argparse.Namespace) -> ExitCode:
    from grader.export import build_gradescope_zip

    require_output_file(args.out)
    out = build_gradescope_zip(args.out, assignment=args.assignment)
    print(f"wrote {out}: upload it as the autograder of a Gradescope programming assignment")
    return ExitCode.OK


def _release(args: argparse.Namespace) -> ExitCode:
    from grader.release import build_release

    made = build_release(args.out, assignment=args.assignment)
    print(
        f"wrote {len(made.files)} files to {made.folder} ({made.solutions_stripped} solution "
        f"blocks stripped); hand out {made.notebook.name} with the rest of the folder"
    )
    return ExitCode.OK


def _new(args: argparse.Namespace) -> ExitCode:
    from grader.scaffold import new_assignment

    made = new_assignment(args.name)
    here = Path.cwd()
    shown = [p.relative_to(here) if p.is_relative_to(here) else p for p in made.files]
    for path in shown:
        print(f"created {path}")
    template = next(p for p in shown if p.name == "template.ipynb")
    print(f"next: grader grade {template} --assignment {made.name}")
    return ExitCode.OK


def _batch(args: argparse.Namespace) -> ExitCode:
    from grader.batch import batch_progress, run_batch, summary_line

    require_output_folder(args.out)
    with batch_progress(sys.stderr) as (on_start, on_done):
        summary = run_batch(
            args.folder,
            args.out,
            assignment=args.assignment,
            jobs=args.jobs,
            force=args.force,
            sandbox=args.sandbox,
            on_start=on_start,
            on_done=on_done,
            roster=args.roster,
            absent=args.absent,
        )
    for warning in summary.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(summary_line(summary))
    return ExitCode.INTERNAL_ERROR if summary.internal_errors else ExitCode.OK


def _doctor(args: argparse.Namespace) -> ExitCode:
    from grader.doctor import diagnose, limits_of, render, summary_line

    found = diagnose(limits_of(args.assignment))
    if args.summary:
        print(summary_line(found))
    else:
        sys.stdout.write(render(found))
    return ExitCode.OK


def _list(args: argparse.Namespace) -> ExitCode:
    for name in list_assignments():
        print(f"{name}\t{load_assignment(name).title}")
    return ExitCode.OK


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``grader`` script; returns the process exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    handlers = {"grade": _grade, "check": _check, "batch": _batch, "list": _list}
    handlers.update(export=_export, release=_release, new=_new, doctor=_doctor)
    try:
        return int(handlers[args.command](args))
    except GraderError as exc:
        print(exc.show(), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        print(
            f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the "
            "traceback, and please report it)",
            file=sys.stderr,
        )
        return ExitCode.INTERNAL_ERROR
