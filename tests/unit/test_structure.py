"""Structural rules that keep the trust boundary visible in the source tree (STYLE 2.1).

- grader/sandbox/child.py runs inside the sandbox: it may import only the standard library,
  numpy and the sandbox's protocol module (the grader, the reference and the hidden tests
  do not exist there).
- Nothing imports pickle, dill, marshal or shelve: unpickling child data would be code
  execution on the trusted side.
- grader/__init__.py exports exactly its __all__; the library never imports the CLI.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import grader

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "grader"
CHILD = PACKAGE / "sandbox" / "child.py"
BANNED = {"pickle", "dill", "marshal", "shelve", "cloudpickle", "joblib"}
CHECKED_TREES = ("grader", "assignments", "reference", "tests", "examples")


def imports(path: Path) -> list[tuple[int, str, int]]:
    """(line, module, relative level) for every import statement in a file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name, 0) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.module is None:  # from . import x
                found.extend((node.lineno, alias.name, node.level) for alias in node.names)
            else:
                found.append((node.lineno, node.module, node.level))
    return found


def test_child_imports_only_stdlib_numpy_and_protocol() -> None:
    allowed_stdlib = set(sys.stdlib_module_names) - BANNED
    offending = []
    for line, module, level in imports(CHILD):
        top = module.split(".")[0]
        if level or top == "protocol":
            ok = module == "protocol"  # `from . import protocol` or the script-mode fallback
        else:
            ok = top in allowed_stdlib or top == "numpy"
        if not ok:
            offending.append(f"line {line}: {'.' * level}{module}")
    assert offending == [], f"child.py may import only stdlib, numpy and protocol: {offending}"


def test_child_imports_protocol() -> None:
    """Guards the test above against vacuity (e.g. the file moving)."""
    assert {m for _, m, _ in imports(CHILD)} >= {"protocol", "numpy"}


def test_protocol_imports_only_stdlib_and_numpy() -> None:
    """protocol.py is copied next to child.py inside the sandbox, so it has the same limits."""
    for line, module, level in imports(PACKAGE / "sandbox" / "protocol.py"):
        top = module.split(".")[0]
        assert level == 0, f"line {line}: relative import {module}"
        assert top in sys.stdlib_module_names or top == "numpy", f"line {line}: {module}"


def python_files() -> list[Path]:
    files = []
    for tree in CHECKED_TREES:
        files.extend(p for p in (REPO / tree).rglob("*.py") if "fixtures" not in p.parts)
    return sorted(files)


@pytest.mark.parametrize("path", python_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_no_pickle_family_imports(path: Path) -> None:
    banned = [
        f"line {line}: {module}"
        for line, module, _ in imports(path)
        if module.split(".")[0] in BANNED
    ]
    assert banned == [], "never across the sandbox: use grader.sandbox.protocol"


def test_public_api_matches_all() -> None:
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    imported = {
        alias.asname or alias.name
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module != "__future__"
        for alias in node.names
    }
    defined = {
        node.name
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
    }
    public = {n for n in imported | defined if not n.startswith("_")}
    assert sorted(grader.__all__) == sorted(public)
    assert len(grader.__all__) == len(set(grader.__all__))
    for name in grader.__all__:
        assert getattr(grader, name) is not None
    assert {"grade", "check", "GradingResult", "GraderError"} <= set(grader.__all__)


def test_library_never_imports_the_cli() -> None:
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name in {"cli.py", "__main__.py"}:
            continue
        for line, module, _ in imports(path):
            assert module != "grader.cli", f"{path.relative_to(REPO)}:{line} imports grader.cli"
