"""Typed values the sandbox hands to the trusted side: how the cells ran, what each call did.

They are built in ``parent.py`` from frames the child sent, after validation; nothing in them
is an object the child constructed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class Frame:
    """One traceback frame inside the submission's own cells."""

    cell: int
    line: int | None
    function: str
    code: str


@dataclass(frozen=True)
class CellError:
    """One failed top-level statement of a cell (its later statements still ran)."""

    cell: int
    ename: str
    evalue: str
    frames: tuple[Frame, ...] = ()
    #: names the statement would have defined (``from dnn_utils import relu_backward``), so a
    #: missing function can be traced to the statement that failed to define it
    binds: tuple[str, ...] = ()

    @property
    def line(self) -> int | None:
        """The line in its cell where the error surfaced, if known."""
        here = [f for f in self.frames if f.cell == self.cell]
        return here[-1].line if here else None


@dataclass(frozen=True)
class CellRun:
    """How one code cell ran; ``ename``/``evalue``/``frames`` describe its first error."""

    index: int  #: 1-based position among the notebook's cells (markdown included)
    status: Literal["ok", "error"]
    ename: str = ""
    evalue: str = ""
    frames: tuple[Frame, ...] = ()
    seconds: float = 0.0
    #: every reported error in order, the first included (empty for a cell that ran cleanly)
    errors: tuple[CellError, ...] = ()
    dropped: int = 0  #: further failed statements, not reported one by one

    @property
    def line(self) -> int | None:
        """The line in this cell where the (first) error surfaced, if known."""
        here = [f for f in self.frames if f.cell == self.index]
        return here[-1].line if here else None


@dataclass(frozen=True)
class LoadReport:
    """The result of running all cells in document order."""

    cells: tuple[CellRun, ...]
    functions: dict[str, str]  #: wanted name -> "callable" | "missing" | "not callable: T"
    defined_callables: tuple[str, ...] = ()
    failure: str | None = None  #: set when loading never finished (timeout, crash)
    output: str = ""  #: capped stdout+stderr of the submission while loading


@dataclass(frozen=True)
class Returned:
    """The call returned; ``value`` and ``args_after`` were rebuilt from plain data.

    The arrays of ``args_after`` hold the bytes the trusted side read back from the call's
    shared memory; ``changes`` lists what else the call changed in the arguments (an
    in-place reshape, a new dtype, a list's items), as (path into the arguments, what).
    """

    value: Any
    args_after: tuple[Any, ...]
    seconds: float
    changes: tuple[tuple[tuple[int | str, ...], str], ...] = ()


@dataclass(frozen=True)
class Raised:
    """The student's function raised an exception."""

    ename: str
    evalue: str
    frames: tuple[Frame, ...] = ()


@dataclass(frozen=True)
class TimedOut:
    """The call did not return within its time limit."""

    seconds: float


@dataclass(frozen=True)
class Crashed:
    """The process died or broke the protocol; ``reason`` is written for students."""

    reason: str


CallOutcome = Returned | Raised | TimedOut | Crashed


@dataclass(frozen=True)
class SandboxInfo:
    """Which isolation actually ran, for the results document."""

    backend: str
    warnings: tuple[str, ...] = field(default_factory=tuple)
