"""Turn a .ipynb or .py file into code cells: parsing only, nothing here executes student code.

A submission that cannot be read is not an exception but a ``Submission`` with ``problem``
set to a sentence for the student (what is wrong and what to do). Only grader misuse
(the path does not exist, or is a folder) raises.
"""

from __future__ import annotations

import ast
import json
import re
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

from grader.errors import SubmissionNotFoundError, UnsupportedSubmissionError
from grader.safetext import readable_name

# Cell magics whose body is ordinary Python that should still define things.
RUN_BODY_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug"})
# Cell magics that write their body to a file (the child writes it in the run's folder).
WRITE_FILE_CELL_MAGICS = frozenset({"writefile", "file"})
# Cell magics whose body is shell script (a `pip install` there gets its own advice).
SHELL_CELL_MAGICS = frozenset({"bash", "sh", "script", "system"})
# Line magics whose argument is a statement worth running once (its definitions matter);
# the child runs it (%timeit is not: IPython times it in a scope of its own).
RUN_STATEMENT_LINE_MAGICS = frozenset({"time"})
INSTALLERS = frozenset({"pip", "pip3", "conda", "mamba", "apt", "apt-get", "yum"})
# IPython's transformer re-reads the whole cell for each magic it converts (~0.25 ms a
# line each time, measured): a big cell full of magics would hold the trusted process for
# minutes. Cells are converted whole within these budgets (lines x (magic lines + 1)),
# line by line beyond them; real notebooks stay far below (54 cells of 30 lines: 3000).
FULL_TRANSFORM_COST = 3_000  #: one cell
NOTEBOOK_TRANSFORM_COST = 20_000  #: all cells of a notebook together
MAX_MAGIC_LINES = 500  #: magic and shell lines in one notebook (real ones: a few dozen)
# A line that may hold a magic, a shell escape or a help request (for the budgets only).
MAGIC_LINE = re.compile(r"^\s*(?:[%!]|[\w.\[\]'\", ]+=\s*[%!])|\?\s*$")
PY_CELL_MARKER = re.compile(r"^# (%%|In\[[ \d]*\]:)")
# A .py cannot carry notebook metadata, so it may name its assignment in a leading comment.
PY_ASSIGNMENT_LINE = re.compile(r"^#\s*grader:\s*assignment\s*=\s*([A-Za-z_][\w-]*)\s*$")
BINARY_SIGNATURES = {
    b"PK\x03\x04": "a ZIP archive",
    b"%PDF": "a PDF document",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"\x7fELF": "a Linux executable",
}
# Read in the trusted process before anything is capped: a bigger file is almost always
# saved outputs (plots, printed arrays), which the grader ignores anyway.
MAX_FILE_BYTES = 50 * 1024 * 1024
# The cells travel to the child in one JSON frame header (protocol.HEADER_CAP, 4 MiB);
# counted as JSON-escaped text, with room to spare for the rest of the request.
MAX_CODE_BYTES = 2 * 1024 * 1024
FIX_NOTEBOOK = (
    "Open it in Jupyter, save it (File > Save), download the .ipynb again and resubmit it."
)


@dataclass(frozen=True)
class Cell:
    """One code cell: ``index`` is its 1-based position among all cells of the notebook."""

    index: int
    source: str


@dataclass(frozen=True)
class Submission:
    """The code a submission holds, or why it holds none."""

    name: str  #: the file name (never the full path: results must not leak local paths)
    cells: tuple[Cell, ...]
    notes: tuple[str, ...] = ()  #: magics skipped and similar, for the feedback
    problem: str | None = None  #: set when nothing can be graded; written for the student
    #: the assignment the file names: notebook metadata {"grader": {"assignment": NAME}} (the
    #: template writes it) or a ``# grader: assignment=NAME`` comment heading a .py file
    assignment: str | None = None


def _describe_binary(data: bytes) -> str | None:
    for signature, kind in BINARY_SIGNATURES.items():
        if data.startswith(signature):
            return kind
    if b"\x00" in data[:1024]:
        return "a binary file"
    return None


def read_submission(path: Path) -> Submission:
    """Read ``path`` into cells. Raises only when the path is missing or not a file."""
    if not path.exists():
        raise SubmissionNotFoundError(
            f"no such file: {path}", "check the path; pass a .ipynb or .py file"
        )
    if not path.is_file():
        raise UnsupportedSubmissionError(
            f"{path} is not a file", "pass one .ipynb or .py file (use `grader batch` for a folder)"
        )
    name = readable_name(path.name)  # bytes that are not UTF-8, a newline: shown as escapes
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        return Submission(
            name,
            (),
            problem=f"{name} is {_megabytes(size)}, more than the {_megabytes(MAX_FILE_BYTES)} "
            "the grader reads; that is almost always saved output (plots, printed arrays). "
            "In Jupyter use Edit > Clear Outputs of All Cells, save, and resubmit.",
        )
    data = path.read_bytes()
    if not data.strip():
        return Submission(name, (), problem=f"{name} is empty (0 bytes of code). {FIX_NOTEBOOK}")
    binary = _describe_binary(data)
    if binary:
        return Submission(
            name,
            (),
            problem=f"{name} is {binary}, not a Jupyter notebook or Python file. "
            "Submit the .ipynb file itself (not a zip, PDF or screenshot).",
        )
    try:
        # utf-8-sig: Windows editors prepend a byte-order mark, which json and compile reject.
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return Submission(
            name, (), problem=f"{name} is not UTF-8 text (byte {exc.start}). {FIX_NOTEBOOK}"
        )
    suffix = path.suffix.lower()  # HW3.IPYNB from a case-insensitive file system
    if suffix == ".py":
        return _from_python(name, text)
    if suffix != ".ipynb":
        return Submission(
            name,
            (),
            problem=f"{name} is neither a .ipynb notebook nor a .py file; submit your notebook.",
        )
    return _from_notebook(name, text)


def _from_python(name: str, text: str) -> Submission:
    """Split a script on ``# %%`` / ``# In[ ]:`` markers: one failing part cannot stop the rest."""
    named = _named_in_python(text)
    chunks: list[list[str]] = [[]]
    for line in text.splitlines(keepends=True):
        if PY_CELL_MARKER.match(line) and any(s.strip() for s in chunks[-1]):
            chunks.append([])
        chunks[-1].append(line)
    cells = [Cell(i, "".join(lines)) for i, lines in enumerate(chunks, start=1)]
    return replace(_transform(name, cells), assignment=named)


def _named_in_python(text: str) -> str | None:
    """``NAME`` from a ``# grader: assignment=NAME`` line among the leading comments."""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            return None
        match = PY_ASSIGNMENT_LINE.match(stripped)
        if match:
            return match.group(1)
    return None


def _named_in_notebook(raw: dict[str, object]) -> str | None:
    """``metadata.grader.assignment`` of a notebook, if it is a plain name."""
    metadata = raw.get("metadata")
    grader = metadata.get("grader") if isinstance(metadata, dict) else None
    named = grader.get("assignment") if isinstance(grader, dict) else None
    return named if isinstance(named, str) and named.strip() else None


def _from_notebook(name: str, text: str) -> Submission:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        return Submission(
            name,
            (),
            problem=f"{name} is not valid notebook JSON (line {exc.lineno}, column {exc.colno}: "
            f"{exc.msg}); the file is probably truncated or was edited by hand. {FIX_NOTEBOOK}",
        )
    except RecursionError:  # e.g. [[[[...]]]] nested deeper than the parser's stack
        return Submission(
            name,
            (),
            problem=f"{name} is JSON nested too deeply to be a Jupyter notebook. {FIX_NOTEBOOK}",
        )
    if not isinstance(raw, dict) or "nbformat" not in raw:
        return Submission(
            name,
            (),
            problem=f"{name} is JSON but not a Jupyter notebook (it has no 'nbformat' field). "
            f"Submit the .ipynb file that Jupyter saved. {FIX_NOTEBOOK}",
        )
    named = _named_in_notebook(raw)
    # Imported here (~0.1 s, jsonschema with it): `grader grade` boots its sandbox meanwhile.
    import nbformat

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # nbformat warns about missing cell ids etc.
            notebook = nbformat.reads(text, as_version=4)  # type: ignore[no-untyped-call]
    except Exception as exc:  # nbformat raises many types for malformed notebooks
        return Submission(
            name,
            (),
            problem=f"{name} could not be read as a notebook ({type(exc).__name__}: "
            f"{str(exc)[:200]}). {FIX_NOTEBOOK}",
            assignment=named,
        )
    cells = [
        Cell(i, _source(cell.get("source", "")))
        for i, cell in enumerate(notebook.get("cells", []), start=1)
        if cell.get("cell_type") == "code"
    ]
    if not cells:
        return Submission(
            name,
            (),
            problem=f"{name} has no code cells, so there is nothing to grade. Make sure you "
            "submit the notebook you worked in and that it was saved.",
            assignment=named,
        )
    read = _transform(name, cells)
    python2 = _python2_kernel(raw)
    if python2:
        note = (
            f"this notebook was saved by a Python 2 kernel ({python2}); it is graded with "
            'Python 3, where Python 2 syntax (print "x", xrange) fails in its cell'
        )
        read = replace(read, notes=(note, *read.notes))
    return replace(read, assignment=named)


def _python2_kernel(raw: dict[str, object]) -> str | None:
    """The kernel's name when the notebook's metadata says Python 2, else None."""
    metadata = raw.get("metadata")
    if not isinstance(metadata, dict):
        return None
    spec, info = metadata.get("kernelspec"), metadata.get("language_info")
    name = spec.get("name") if isinstance(spec, dict) else None
    version = info.get("version") if isinstance(info, dict) else None
    if isinstance(name, str) and name.lower() in ("python2", "python 2"):
        return name
    if isinstance(version, str) and version.startswith("2."):
        return f"Python {version}"
    return None


def _source(value: object) -> str:
    if isinstance(value, list):
        return "".join(str(v) for v in value)
    return str(value)


def _compiles(source: str) -> bool:
    try:
        compile(source, "<cell>", "exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        # Nesting too deep for the compiler: the child reports it as that cell's error.
        return False
    return True


def _megabytes(size: int) -> str:
    return f"{size / 2**20:.1f} MB"


def _transform(name: str, cells: list[Cell]) -> Submission:
    """Neutralise IPython-only syntax in cells that are not valid Python as they stand."""
    code_bytes = sum(len(json.dumps(cell.source)) for cell in cells)
    if code_bytes > MAX_CODE_BYTES:
        return Submission(
            name,
            (),
            problem=f"The code cells of {name} hold {_megabytes(code_bytes)} of text, more than "
            f"the {_megabytes(MAX_CODE_BYTES)} the grader accepts. Remove data pasted into "
            "cells (load it from a file instead) and resubmit.",
        )
    notes: list[str] = []
    kept: list[Cell] = []
    pending = [cell for cell in cells if not _compiles(cell.source)]
    magic_lines = [sum(map(bool, map(MAGIC_LINE.search, c.source.splitlines()))) for c in pending]
    if sum(magic_lines) > MAX_MAGIC_LINES:
        return Submission(
            name,
            (),
            problem=f"{name} has {sum(magic_lines)} lines of IPython magics or shell commands, "
            f"more than the {MAX_MAGIC_LINES} the grader converts. Remove the ones your "
            "functions do not need and resubmit.",
        )
    converting = dict(zip((c.index for c in pending), magic_lines, strict=True))
    spent = 0
    for cell in cells:
        if cell.index not in converting:
            kept.append(cell)
            continue
        cost = (cell.source.count("\n") + 1) * (converting[cell.index] + 1)
        whole = cost <= FULL_TRANSFORM_COST and spent + cost <= NOTEBOOK_TRANSFORM_COST
        spent += cost if whole else 0
        source, cell_notes, skip = transform_cell(cell.source, whole=whole)
        notes.extend(f"cell {cell.index}: {note}" for note in cell_notes)
        if not skip:
            kept.append(Cell(cell.index, source))
    return Submission(name, tuple(kept), tuple(notes))


def transform_cell(source: str, *, whole: bool = True) -> tuple[str, list[str], bool]:
    """Convert magics and shell escapes as IPython does; returns (source, notes, skip).

    The conversion is IPython's own (``TransformerManager``, the one nbconvert's script
    exporter uses), so ``%matplotlib inline`` becomes ``get_ipython().run_line_magic(...)``
    and ``!pip install x`` ``get_ipython().system(...)``; the child's small ``get_ipython()``
    implements the harmless ones. Line numbers stay the cell's. A cell magic whose body is
    Python (``%%time``) runs its body as plain Python; ``%%writefile`` writes its file in the
    run's folder; any other cell magic (``%%javascript``, ``%%bash``) is skipped.
    Parsing only: nothing here runs the code. With ``whole=False`` (a cell too big to
    convert whole within the budget, see ``FULL_TRANSFORM_COST``) each line that looks
    like a magic is converted alone.
    """
    # ~0.15 s, and only for a notebook with a cell that is not plain Python.
    from IPython.core.inputtransformer2 import TransformerManager

    lines = source.splitlines()
    blank = next((i for i, line in enumerate(lines) if line.strip()), len(lines))
    # A .py file's cell starts with its `# %%` marker line: the cell magic may follow it.
    first = next(
        (i for i, line in enumerate(lines) if line.strip() and not PY_CELL_MARKER.match(line)),
        None,
    )
    if first is not None and lines[first].startswith("%%"):
        return _transform_cell_magic(source, lines, first, whole)
    if not whole:
        return _transform_lines(lines, source.endswith("\n"))
    converted = TransformerManager().transform_cell(source)  # type: ignore[no-untyped-call]
    # IPython drops leading blank lines; put them back so line numbers stay the cell's.
    converted = "\n" * blank + converted
    if not source.endswith("\n"):
        converted = converted.removesuffix("\n")
    return converted, _notes_for(converted), False


def _transform_lines(lines: list[str], newline: bool) -> tuple[str, list[str], bool]:
    """Each line that looks like a magic converted alone (linear time), indentation kept."""
    from IPython.core.inputtransformer2 import TransformerManager

    manager = TransformerManager()  # type: ignore[no-untyped-call]
    notes: list[str] = []
    for i, line in enumerate(lines):
        if MAGIC_LINE.search(line):
            converted = manager.transform_cell(line.strip() + "\n").rstrip("\n")
            if "\n" not in converted:
                lines[i] = line[: len(line) - len(line.lstrip())] + converted
                notes.extend(_notes_for(converted))
    return "\n".join(lines) + ("\n" if newline else ""), notes, False


def _transform_cell_magic(
    source: str, lines: list[str], first: int, whole: bool = True
) -> tuple[str, list[str], bool]:
    from IPython.core.inputtransformer2 import TransformerManager

    header = lines[first][2:].strip()
    magic, _, argument = header.partition(" ")
    body = "\n".join(lines[first + 1 :]) + ("\n" if source.endswith("\n") else "")
    if magic in RUN_BODY_CELL_MAGICS:
        # The body's own lines keep their numbers: the header becomes a blank line.
        rewritten, notes = body, [f"%%{magic} ignored; the cell's body ran as plain Python"]
        if not _compiles(body):
            rewritten, body_notes, _ = transform_cell(body, whole=whole)
            notes += body_notes
        return "\n" * (first + 1) + rewritten, notes, False
    if magic in WRITE_FILE_CELL_MAGICS:
        converted = TransformerManager().transform_cell(  # type: ignore[no-untyped-call]
            "\n".join(lines[first:]) + "\n"
        )
        note = (
            f"%%{magic} {argument.strip()}: the file was written to the folder the notebook "
            "runs in, so a later import finds it"
        )
        return "\n" * first + converted, [note], False
    note = f"%%{magic} cell not run (only Python cells are graded)"
    if magic in SHELL_CELL_MAGICS and any(_installs(line) for line in lines[first + 1 :]):
        note += "; install packages beforehand"
    return "", [note], True


def _installs(command: str) -> bool:
    """Whether a shell command installs packages (``pip install``, ``conda install`` ...)."""
    words = command.replace("%", " ").split()
    return any(
        word.rsplit("/", 1)[-1] in INSTALLERS and "install" in words[i + 1 : i + 3]
        for i, word in enumerate(words)
    )


def _ipython_call(node: ast.AST) -> tuple[str, list[str]] | None:
    """``get_ipython().METHOD('a', 'b')`` as (METHOD, ['a', 'b']); None for anything else."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
        return None
    owner = node.func.value
    if not (
        isinstance(owner, ast.Call)
        and isinstance(owner.func, ast.Name)
        and owner.func.id == "get_ipython"
    ):
        return None
    strings = [a.value for a in node.args if isinstance(a, ast.Constant)]
    return node.func.attr, [str(v) for v in strings]


def _notes_for(converted: str) -> list[str]:
    """A note for each magic and shell escape IPython converted, in the cell's order."""
    try:
        tree = ast.parse(converted)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []  # the child reports the cell's own error
    targets: dict[int, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            targets[id(node.value)] = ast.unparse(node.targets[0])
    found = sorted(
        (
            (node, call)
            for node in ast.walk(tree)
            if isinstance(node, ast.Call) and (call := _ipython_call(node)) is not None
        ),
        key=lambda pair: (pair[0].lineno, pair[0].col_offset),
    )
    notes = []
    for node, (method, args) in found:
        target = targets.get(id(node))
        text = " ".join(args)
        if method == "run_line_magic" and len(args) == 2:
            name, line = args
            magic = f"%{name} {line}".strip()
            if name in INSTALLERS:
                why = "install packages beforehand" if _installs(magic) else "not run"
                notes.append(f"line magic `{magic[:60]}` not run ({why})")
            elif name in RUN_STATEMENT_LINE_MAGICS:
                notes.append(f"%{name} ignored; its statement ran once")
            elif name in ("pinfo", "pinfo2"):
                notes.append(f"help request `{line}{'?' if name == 'pinfo' else '??'}` not run")
            else:
                notes.append(f"line magic `{magic[:60]}` not run (magics have no effect here)")
        elif method in ("system", "getoutput"):
            why = "install packages beforehand" if _installs(text) else "shell commands do not run"
            if target is not None:
                notes.append(f"`{target} = !{text[:60]}` not run ({why}); {target} set to []")
            else:
                notes.append(f"shell command `!{text[:60]}` not run ({why})")
        else:
            notes.append(f"`get_ipython().{method}(...)` not run (magics have no effect here)")
    return notes
