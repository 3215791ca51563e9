"""The wire format between the trusted grader and the sandboxed child: all that crosses.

This module is imported on both sides of the trust boundary, so it uses only the standard
library and numpy, and it never unpickles: arrays travel as ``.npy`` bytes read back with
``np.load(allow_pickle=False)``, everything else as plain JSON.

A frame is ``MAGIC``, a 4-byte big-endian header length, a UTF-8 JSON header, and then
the binary blobs the header lists in ``"blobs"`` (their byte lengths), back to back. Every
length is checked against a cap *before* anything is read, so a hostile child cannot make
the parent allocate more than the caps allow.

Values are encoded as small JSON trees:

- ``{"kind": "none"}``, ``{"kind": "json", "value": ...}`` (bool, int, float, str)
- ``{"kind": "ndarray", "blob": i, "type": "ndarray"}`` (numeric arrays, any ndarray subclass)
- ``{"kind": "scalar", "blob": i, "type": "float64"}`` (numpy scalars, as 0-d arrays)
- ``{"kind": "tuple" | "list", "items": [...]}``
- ``{"kind": "dict", "keys": ["dW", ...], "items": [...]}`` (a dict with str keys only, e.g.
  ``grads``; its key order is kept)
- ``{"kind": "other", "type": "module.Class", "repr": "..."}`` (anything else; never rebuilt)
"""

from __future__ import annotations

import io
import json
import os
import re
import struct
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

MAGIC = b"GRD1"
HEADER_CAP = 4 * 1024 * 1024  # bytes of JSON per frame
BLOB_CAP = 256 * 1024 * 1024  # bytes of all arrays in one frame
REPR_CAP = 300  # characters of repr() kept for values we cannot send as data
MAX_DEPTH = 8  # nesting of tuples/lists in a returned value
MAX_ITEMS = 64  # items of a returned tuple/list


class ProtocolError(Exception):
    """The other side sent something that is not a well-formed frame within the caps."""


@dataclass(frozen=True)
class Opaque:
    """A value the child could not send as data (a custom object, an object array).

    Only its type name and a capped ``repr`` crossed; the object itself never exists here.
    """

    type_name: str
    text: str

    def __repr__(self) -> str:
        return f"<{self.type_name}: {self.text}>"


# --- framing ---------------------------------------------------------------------------


def write_frame(fd: int, header: dict[str, Any], blobs: list[bytes] | None = None) -> None:
    """Write one frame to a file descriptor (blocking until all of it is written)."""
    blobs = blobs or []
    header = dict(header, blobs=[len(b) for b in blobs])
    data = json.dumps(header, allow_nan=True).encode()
    parts = [MAGIC, struct.pack(">I", len(data)), data, *blobs]
    view = memoryview(b"".join(parts))
    while view:
        written = os.write(fd, view)
        view = view[written:]


def parse_header(prefix: bytes, header_cap: int = HEADER_CAP) -> int:
    """Validate the 8-byte frame prefix and return the JSON header's length."""
    if prefix[:4] != MAGIC:
        raise ProtocolError("the child wrote something that is not a grader frame")
    length: int = struct.unpack(">I", prefix[4:8])[0]
    if length > header_cap:
        raise ProtocolError(f"frame header of {length} bytes exceeds the cap of {header_cap}")
    return length


def parse_blob_sizes(header: dict[str, Any], blob_cap: int = BLOB_CAP) -> list[int]:
    """Check the header's blob list and return the sizes, refusing anything over the cap."""
    sizes = header.get("blobs", [])
    if not isinstance(sizes, list) or not all(
        isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in sizes
    ):
        raise ProtocolError("malformed blob list in frame header")
    if sum(sizes) > blob_cap:
        raise ProtocolError(f"the arrays in one message exceed the cap of {blob_cap} bytes")
    return sizes


def read_exact(fd: int, size: int) -> bytes:
    """Read exactly ``size`` bytes from a blocking descriptor; EOF is a ProtocolError."""
    chunks: list[bytes] = []
    remaining = size
    while remaining:
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            raise ProtocolError("the other side closed the pipe mid-message")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int) -> tuple[dict[str, Any], list[bytes]]:
    """Blocking read of one frame (used by the child, which trusts its parent)."""
    length = parse_header(read_exact(fd, 8))
    header = json.loads(read_exact(fd, length))
    blobs = [read_exact(fd, size) for size in parse_blob_sizes(header)]
    return header, blobs


# --- values ------------------------------------------------------------------------------


# The .npy header of a plain numeric array, as numpy writes it (format 1.0). Arrays with such
# a header are read by the fast path below; anything else goes through np.load.
_NPY_PREFIX = b"\x93NUMPY\x01\x00"
_NPY_HEADER = re.compile(
    rb"\{'descr': '([<>|=][biufc]\d{1,2})', 'fortran_order': (True|False), "
    rb"'shape': \(((?:\d{1,12}, )*(?:\d{1,12},?)?)\), \} *\n"
)
_NPY_KINDS = "biufc"  # bool, signed, unsigned, float, complex: no objects, no strings


def array_to_bytes(array: np.ndarray) -> bytes:
    """Serialise a numeric array as .npy bytes (refuses object arrays: they need pickle)."""
    # ascontiguousarray makes a 0-d array 1-d, and a scalar must stay 0-d.
    plain = np.ascontiguousarray(array) if array.ndim else np.array(array)
    if plain.dtype.kind not in _NPY_KINDS or plain.dtype.fields is not None:
        buffer = io.BytesIO()
        np.lib.format.write_array(buffer, plain, allow_pickle=False)
        return buffer.getvalue()
    # What np.lib.format.write_array writes, without its per-call overhead (hot: every
    # argument and result of every call).
    header = f"{{'descr': '{plain.dtype.str}', 'fortran_order': False, 'shape': {plain.shape!r}, }}"
    padding = -(len(_NPY_PREFIX) + 2 + len(header) + 1) % 64
    text = (header + " " * padding + "\n").encode("latin1")
    return _NPY_PREFIX + struct.pack("<H", len(text)) + text + plain.tobytes()


def _fast_array(data: bytes) -> np.ndarray | None:
    """A plain numeric .npy array parsed by a strict pattern, or None to use np.load."""
    if not data.startswith(_NPY_PREFIX) or len(data) < 10:
        return None
    (length,) = struct.unpack("<H", data[8:10])
    match = _NPY_HEADER.fullmatch(data[10 : 10 + length])
    if match is None:
        return None
    dtype = np.dtype(match.group(1).decode())
    if dtype.kind not in _NPY_KINDS or dtype.hasobject:
        return None
    shape = tuple(int(n) for n in match.group(3).split(b",") if n.strip())
    count = 1
    for n in shape:
        count *= n
    if len(data) != 10 + length + count * dtype.itemsize:
        return None
    flat = np.frombuffer(data, dtype=dtype, count=count, offset=10 + length)
    if match.group(2) == b"True":
        return flat.reshape(shape, order="F").copy(order="K")
    return flat.reshape(shape).copy()


def array_from_bytes(data: bytes) -> np.ndarray:
    """Parse .npy bytes without ever unpickling; raises ProtocolError on anything else."""
    fast = _fast_array(data)
    if fast is not None:
        return fast
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except Exception as exc:  # numpy raises several types for malformed input
        raise ProtocolError(f"malformed array data: {exc}") from exc
    if not isinstance(array, np.ndarray) or array.dtype.hasobject:
        raise ProtocolError("array data must be a plain numeric .npy array")
    return array


def _type_name(value: object) -> str:
    cls = type(value)
    module = getattr(cls, "__module__", "") or ""
    name = getattr(cls, "__qualname__", cls.__name__)
    return name if module in ("builtins", "") else f"{module}.{name}"


def _capped_repr(value: object) -> str:
    try:
        text = repr(value)
    except BaseException:  # a hostile __repr__ must not break encoding
        text = "<repr failed>"
    return text if len(text) <= REPR_CAP else text[: REPR_CAP - 3] + "..."


def encode_value(value: object, blobs: list[bytes], depth: int = 0) -> dict[str, Any]:
    """Encode ``value`` as a JSON tree, appending array bytes to ``blobs``."""
    if value is None:
        return {"kind": "none"}
    if isinstance(value, np.ndarray):
        plain = np.asarray(value).view(np.ndarray)
        if plain.dtype.hasobject:
            return {"kind": "other", "type": "ndarray[object]", "repr": _capped_repr(value)}
        blobs.append(array_to_bytes(plain))
        return {"kind": "ndarray", "blob": len(blobs) - 1, "type": _type_name(value)}
    if isinstance(value, np.generic) and not isinstance(value, np.object_):
        blobs.append(array_to_bytes(np.asarray(value)))
        return {"kind": "scalar", "blob": len(blobs) - 1, "type": _type_name(value)}
    if isinstance(value, (bool, int, float, str)) and type(value) in (bool, int, float, str):
        if isinstance(value, str) and len(value) > REPR_CAP:
            value = value[:REPR_CAP]
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**63:
            return {"kind": "other", "type": "int", "repr": _capped_repr(value)}
        return {"kind": "json", "value": value}
    if type(value) in (tuple, list) and depth < MAX_DEPTH:
        items = list(value)  # type: ignore[call-overload]
        if len(items) <= MAX_ITEMS:
            kind = "tuple" if isinstance(value, tuple) else "list"
            return {"kind": kind, "items": [encode_value(v, blobs, depth + 1) for v in items]}
    if type(value) is dict and depth < MAX_DEPTH and len(value) <= MAX_ITEMS:
        pairs = list(value.items())
        if all(type(k) is str and len(k) <= REPR_CAP for k, _ in pairs):
            return {
                "kind": "dict",
                "keys": [k for k, _ in pairs],
                "items": [encode_value(v, blobs, depth + 1) for _, v in pairs],
            }
    return {"kind": "other", "type": _type_name(value), "repr": _capped_repr(value)}


def decode_value(tree: Any, blobs: list[bytes], depth: int = 0) -> Any:
    """Rebuild a value from its JSON tree: arrays, numbers, tuples, lists, dicts or Opaque."""
    if not isinstance(tree, dict) or depth > MAX_DEPTH:
        raise ProtocolError("malformed value")
    kind = tree.get("kind")
    if kind == "none":
        return None
    if kind == "json":
        value = tree.get("value")
        if type(value) not in (bool, int, float, str):
            raise ProtocolError("malformed JSON value")
        return value
    if kind in ("ndarray", "scalar"):
        index = tree.get("blob")
        if not isinstance(index, int) or not 0 <= index < len(blobs):
            raise ProtocolError("value refers to a missing array")
        array = array_from_bytes(blobs[index])
        if kind == "scalar":
            if array.ndim != 0:
                raise ProtocolError("scalar must be a 0-d array")
            return array[()]
        return array
    if kind in ("tuple", "list"):
        items = tree.get("items")
        if not isinstance(items, list) or len(items) > MAX_ITEMS:
            raise ProtocolError("malformed sequence")
        decoded = [decode_value(item, blobs, depth + 1) for item in items]
        return tuple(decoded) if kind == "tuple" else decoded
    if kind == "dict":
        keys, items = tree.get("keys"), tree.get("items")
        if (
            not isinstance(keys, list)
            or not isinstance(items, list)
            or len(keys) != len(items)
            or len(items) > MAX_ITEMS
            or not all(isinstance(k, str) and len(k) <= REPR_CAP for k in keys)
            or len(set(keys)) != len(keys)
        ):
            raise ProtocolError("malformed dict")
        return {k: decode_value(v, blobs, depth + 1) for k, v in zip(keys, items, strict=True)}
    if kind == "other":
        return Opaque(str(tree.get("type", "?"))[:100], str(tree.get("repr", ""))[:REPR_CAP])
    raise ProtocolError(f"unknown value kind {kind!r}")


# --- the clock of every time limit -----------------------------------------------------
# A limit counts the seconds a run's main thread spends running, or waiting for anything
# but a CPU: wall time less its run-queue delay (the kernel's schedstat). That is about the
# time the same code takes on an idle machine, so a batch that keeps every core busy gives
# the score `grader grade` gives on a quiet one. Both sides read the same counter: the child
# to interrupt its own cell or call, the trusted parent to kill a child that ignores that.
# Waits are discounted only while the run is one process with one thread: a submission that
# starts busy helpers would otherwise starve its own main thread to stretch its limits (and
# hold the batch's cores that much longer).

OWN_SCHEDSTAT = "/proc/thread-self/schedstat"


def proc_stat(pid: int | str) -> list[bytes] | None:
    """The fields of ``/proc/PID/stat`` after the command name (state first); None if gone.

    Field ``i`` of proc(5) is at index ``i - 3``: parent pid 1, process group 2, threads 17.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields if len(fields) > 17 else None


def cpu_wait_seconds(schedstat: str) -> float | None:
    """Seconds the thread whose ``schedstat`` file this is has waited for a CPU; None if unknown."""
    try:
        with open(schedstat, "rb") as handle:
            return int(handle.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


class LimitClock:
    """Time spent against one limit: wall time less waits for a CPU, and a cap on wall time.

    Without a readable ``schedstat`` (a kernel without CONFIG_SCHED_INFO, a thread that
    has gone), every wall second counts: the strict reading, never a lenient one.
    """

    def __init__(self, limit: float, wall_factor: float, schedstat: str | None = None) -> None:
        self.limit = limit
        self.started = time.monotonic()
        self.wall_cap = limit * max(wall_factor, 1.0)
        self.schedstat: str | None = None
        self.waited: float | None = None
        if schedstat:
            self.attach(schedstat)

    def attach(self, schedstat: str) -> None:
        """Discount this thread's waits from now on (earlier ones count as used)."""
        self.waited = cpu_wait_seconds(schedstat)
        self.schedstat = schedstat if self.waited is not None else None

    @property
    def discounting(self) -> bool:
        """Whether waits for a CPU are still being discounted."""
        return self.schedstat is not None

    def beyond_limit_in_wall_time(self) -> bool:
        return time.monotonic() - self.started >= self.limit

    def detach(self) -> None:
        """Count every wall second from the start, waits included (the strict reading)."""
        self.schedstat = None
        self.waited = None

    def used(self) -> float:
        """Seconds counted against the limit so far."""
        elapsed = time.monotonic() - self.started
        if self.schedstat is not None and self.waited is not None:
            waited = cpu_wait_seconds(self.schedstat)
            if waited is not None:
                return elapsed - max(0.0, waited - self.waited)
        return elapsed

    def left(self) -> float:
        """Seconds before the limit or the wall cap is reached; 0 or less once it is."""
        return min(self.limit - self.used(), self.wall_cap - (time.monotonic() - self.started))
