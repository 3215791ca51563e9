"""Structural rules that keep the trust boundary visible in the source tree (STYLE 2.1).

- grader/sandbox/child.py runs inside the sandbox: it may import only the standard library,
  numpy and the modules copied beside it (protocol, landlock); the grader, the reference and
  the hidden tests do not exist there. protocol and landlock import the standard library
  (and protocol numpy) only.
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
#: modules copied next to child.py into each run's folder (parent.CHILD_SOURCES)
COPIED_BESIDE_CHILD = ("protocol", "landlock")
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
        if level or top in COPIED_BESIDE_CHILD:
            ok = module in COPIED_BESIDE_CHILD  # `from . import x` or the script-mode fallback
        else:
            ok = top in allowed_stdlib or top == "numpy"
        if not ok:
            offending.append(f"line {line}: {'.' * level}{module}")
    assert offending == [], f"child.py may import only stdlib, numpy, protocol: {offending}"


def test_child_imports_protocol() -> None:
    """Guards the test above against vacuity (e.g. the file moving)."""
    assert {m for _, m, _ in imports(CHILD)} >= {"protocol", "landlock", "numpy"}


def test_copied_child_modules_are_the_ones_parent_copies() -> None:
    from grader.sandbox.parent import CHILD_SOURCES

    assert sorted(CHILD_SOURCES) == sorted(["child.py", *(f"{m}.py" for m in COPIED_BESIDE_CHILD)])


def test_landlock_imports_only_stdlib() -> None:
    """landlock.py is copied next to child.py and imported by it: the standard library only."""
    found = imports(PACKAGE / "sandbox" / "landlock.py")
    assert {m for _, m, _ in found} >= {"ctypes", "os"}
    for line, module, level in found:
        assert level == 0, f"line {line}: relative import {module}"
        assert module.split(".")[0] in sys.stdlib_module_names, f"line {line}: {module}"


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
