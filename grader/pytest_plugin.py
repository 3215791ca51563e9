"""Fixtures that let instructors run an assignment's tests with plain pytest.

An assignment's ``conftest.py`` calls ``install_fixtures(globals(), __file__)``. The
function fixtures then resolve to the reference solution, or to a solution file given
with ``--solution PATH`` (a .py, imported in-process: for instructors' own files only).
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np
import pytest

from grader.assignments import load_assignment
from grader.suite import import_file


def install_fixtures(namespace: dict[str, Any], conftest_file: str) -> None:
    """Define ``reference``, ``student``, ``rng`` and one fixture per wanted function.

    In an assignment with several graded functions, ``reference`` is the reference of the
    function whose test file asks for it (each ``[[graded]]`` table may name its own).
    """
    folder = Path(conftest_file).resolve().parent
    name = folder.name
    assignment = load_assignment(name, folder.parent.parent)
    functions = assignment.functions
    references = {
        path: graded.reference
        for graded in assignment.graded
        for path in (graded.hidden_tests, graded.visible_tests)
    }

    @pytest.fixture
    def reference(request: pytest.FixtureRequest) -> ModuleType:
        path = references.get(Path(request.path).resolve(), assignment.reference)
        return import_file(path, f"grader_reference_{name}_{path.stem}")

    @pytest.fixture
    def solution(request: pytest.FixtureRequest, reference: ModuleType) -> ModuleType:
        path = request.config.getoption("--solution", default=None)
        return import_file(Path(path), f"grader_solution_{name}") if path else reference

    @pytest.fixture
    def student(solution: ModuleType) -> SimpleNamespace:
        return SimpleNamespace(**{f: getattr(solution, f) for f in functions})

    @pytest.fixture
    def rng(request: pytest.FixtureRequest) -> np.random.Generator:
        return np.random.default_rng(zlib.crc32(request.node.name.encode()))

    def function_fixture(function: str) -> Callable[..., Any]:
        @pytest.fixture(name=function)
        def fixture(solution: ModuleType) -> Any:
            return getattr(solution, function)

        return fixture

    namespace.update(reference=reference, solution=solution, student=student, rng=rng)
    for function in functions:
        namespace[f"_fixture_{function}"] = function_fixture(function)


def add_options(parser: pytest.Parser) -> None:
    """Register ``--solution`` (call from ``pytest_addoption`` in the conftest).

    Several assignments' conftests in one session (``pytest assignments/``) all call this:
    the first registers the option, the others find it there.
    """
    with contextlib.suppress(ValueError):  # "option names {'--solution'} already added"
        parser.addoption(
            "--solution", default=None, help="a .py solution to test instead of the reference"
        )
