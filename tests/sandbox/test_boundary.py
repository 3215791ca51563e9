"""The trust boundary's static rules and the redaction of protected lines."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from grader.sandbox.redact import REDACTED, protected_lines, redact

SANDBOX = Path(__file__).resolve().parent.parent.parent / "grader" / "sandbox"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add("." * node.level + (node.module or "").split(".")[0])
    return names


def test_child_side_imports_only_stdlib_numpy_and_protocol() -> None:
    """The sandbox holds child.py and protocol.py only: no grader.*, no reference."""
    allowed = set(sys.stdlib_module_names) | {"numpy", "protocol", "."}
    for name in ("child.py", "protocol.py"):
        assert _imports(SANDBOX / name) - allowed == set(), name


def test_nothing_crosses_as_pickle() -> None:
    for path in SANDBOX.glob("*.py"):
        text = path.read_text()
        assert "allow_pickle=True" not in text, path.name
        assert not {"pickle", "marshal", "dill", "shelve"} & _imports(path), path.name


def test_redact_replaces_lines_repeating_a_protected_file(tmp_path: Path) -> None:
    hidden = tmp_path / "test_hidden.py"
    hidden.write_text('    expected = reference.secret_formula(dA, Z)\nx = 1\n')
    lines = protected_lines([hidden, tmp_path / "missing.py"])
    assert lines == ("expected = reference.secret_formula(dA, Z)",)
    text = "hello\n>>>     expected = reference.secret_formula(dA, Z) <<<\nx = 1\n"
    assert redact(text, lines) == f"hello\n{REDACTED}\nx = 1\n"
    assert redact("nothing to hide", lines) == "nothing to hide"
