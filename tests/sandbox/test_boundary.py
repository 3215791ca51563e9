"""The trust boundary's static rules and the redaction of protected lines."""

from __future__ import annotations

import ast
import io
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

from grader.sandbox import protocol
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
    """The sandbox holds child.py, protocol.py, landlock.py and zygote.py only: no grader.*,
    no reference."""
    allowed = set(sys.stdlib_module_names) | {"numpy", "protocol", "landlock", "child", "."}
    for name in ("child.py", "protocol.py", "landlock.py", "zygote.py"):
        assert _imports(SANDBOX / name) - allowed == set(), name
    assert "child" in _imports(SANDBOX / "zygote.py")  # not vacuous: the zygote runs the child


@pytest.mark.parametrize(
    "array",
    [
        np.arange(20.0).reshape(4, 5),
        np.zeros((0, 3), dtype=np.float32),
        np.array(2.5),
        np.array([True, False]),
        np.arange(6, dtype=">i4").reshape(2, 3),
        np.array([1 + 2j]),
    ],
    ids=["2d", "empty", "0d", "bool", "big-endian", "complex"],
)
def test_npy_fast_path_writes_what_numpy_writes_and_reads_it_back(array: np.ndarray) -> None:
    data = protocol.array_to_bytes(array)
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=False)
    assert data == buffer.getvalue()
    back = protocol.array_from_bytes(data)
    assert (back.dtype, back.shape, back.flags.writeable) == (array.dtype, array.shape, True)
    assert np.array_equal(back, array)
    fortran = io.BytesIO()
    np.save(fortran, np.asfortranarray(np.arange(6.0).reshape(2, 3)))
    assert np.array_equal(
        protocol.array_from_bytes(fortran.getvalue()), np.arange(6.0).reshape(2, 3)
    )


def _npy(header: str, body: bytes) -> bytes:
    text = header + " " * (-(10 + len(header) + 1) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode() + body


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_npy("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", b"\0" * 8), "pickle"),
        (_npy("{'descr': '<f8', 'fortran_order': False, 'shape': (4,), }", b"\0" * 8), "malformed"),
        (
            _npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), 'x': 1}", b"\0" * 16),
            "correct keys",
        ),
        (b"\x93NUMPY\x01", "malformed"),
    ],
    ids=["object", "short-body", "extra-key", "truncated"],
)
def test_npy_that_is_not_a_plain_numeric_array_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(protocol.ProtocolError, match=message):
        protocol.array_from_bytes(data)


def test_nothing_crosses_as_pickle() -> None:
    for path in SANDBOX.glob("*.py"):
        text = path.read_text()
        assert "allow_pickle=True" not in text, path.name
        assert not {"pickle", "marshal", "dill", "shelve"} & _imports(path), path.name


def test_redact_replaces_lines_repeating_a_protected_file(tmp_path: Path) -> None:
    hidden = tmp_path / "test_hidden.py"
    hidden.write_text("    expected = reference.secret_formula(dA, Z)\nx = 1\n")
    lines = protected_lines([hidden, tmp_path / "missing.py"])
    assert lines == ("expected = reference.secret_formula(dA, Z)",)
    text = "hello\n>>>     expected = reference.secret_formula(dA, Z) <<<\nx = 1\n"
    assert redact(text, lines) == f"hello\n{REDACTED}\nx = 1\n"
    assert redact("nothing to hide", lines) == "nothing to hide"
