"""The ``grader`` command: parse arguments, call ``api``, render, return an exit code."""

from __future__ import annotations

import argparse
import sys
from enum import IntEnum
from pathlib import Path

from grader import api
from grader.assignments import list_assignments, load_assignment
from grader.errors import GraderError
from grader.report import render_json, render_text, wants_colour, write_json_atomically
from grader.results import GradingResult


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

    for sub in (grade, check):
        sub.add_argument("--assignment", help="assignment name (see `grader list`)")
        sub.add_argument(
            "--sandbox",
            choices=["auto", "bwrap", "none"],
            default="auto",
            help="isolation: auto picks bwrap when it works (default: auto)",
        )

    commands.add_parser("list", help="list the available assignments")
    return parser


def _grade(args: argparse.Namespace) -> ExitCode:
    try:
        result = api.grade(args.submission, assignment=args.assignment, sandbox=args.sandbox)
    except GraderError:
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
        write_json_atomically(result, out)


def _check(args: argparse.Namespace) -> ExitCode:
    result = api.check(args.submission, assignment=args.assignment, sandbox=args.sandbox)
    sys.stdout.write(render_text(result, colour=wants_colour(sys.stdout)))
    return ExitCode.OK if result.all_passed else ExitCode.TESTS_FAILED


def _list(args: argparse.Namespace) -> ExitCode:
    for name in list_assignments():
        print(f"{name}\t{load_assignment(name).title}")
    return ExitCode.OK


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``grader`` script; returns the process exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    handlers = {"grade": _grade, "check": _check, "list": _list}
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
