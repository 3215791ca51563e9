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
- ``{"kind": "ndarray", "shared": {"offset": o, "dtype": "<f8", "shape": [..]}, "type": ...}``
  (an argument of a call: its bytes are in the call's shared memory, see ``SharedLayout``)
- ``{"kind": "oversized", "type": ..., "dtype": "<f8", "shape": [...], "nbytes": n}`` (an array
  too large to send back: only what scoring needs of it, its shape and dtype)
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
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MAGIC = b"GRD1"
HEADER_CAP = 4 * 1024 * 1024  # bytes of JSON per frame
BLOB_CAP = 256 * 1024 * 1024  # bytes of all arrays in one frame
REPR_CAP = 300  # characters of repr() kept for values we cannot send as data
MAX_DEPTH = 8  # nesting of tuples/lists in a returned value
MAX_ITEMS = 64  # items of a returned tuple/list
MIB = 1024 * 1024
# What the trusted side holds of a child's replies (its own process stays far below 512 MiB
# whatever a submission sends): a reply's arrays arrive within REPLY_BLOB_CAP; each blob is
# decoded once however often the value refers to it; an array over VALUE_CAP, or past what is
# left of a run's RUN_DECODED_CAP, is kept as its shape and dtype only (``Oversized``).
REPLY_BLOB_CAP = 64 * MIB
VALUE_CAP = 16 * MIB
RUN_DECODED_CAP = 128 * MIB
PLAIN_ARRAY = "numpy.ndarray"
SHARED_ALIGN = 64  # byte alignment of each argument in a call's shared memory
MAX_FDS = 4  # descriptors accepted with one request


class ProtocolError(Exception):
    """The other side sent something that is not a well-formed frame within the caps."""


@dataclass(frozen=True)
class Opaque:
    """A value the child could not send as data (a custom object, an object array).

    Only its type name is kept (capped; feedback quotes at most ``safetext.type_label`` of
    it): the object itself never exists here, and its ``repr``, which the submission writes,
    is dropped on arrival.
    """

    type_name: str
    text: str = ""  #: always empty: a repr is never kept
    #: ``type_name`` is the grader's description of the value (``oversized``), not a type
    #: the child named; feedback may quote it in full
    described: bool = False

    def __repr__(self) -> str:
        return f"<{self.type_name} object>"


def oversized(type_name: str, dtype: str, shape: tuple[int, ...], nbytes: int) -> Opaque:
    """An array kept as its shape and dtype only (too large to send back, or to keep)."""
    size = f"{nbytes / MIB:.0f} MiB" if nbytes >= MIB else f"{nbytes} bytes"
    plain = dtype if re.fullmatch(r"[<>|=]?[biufc]\d{1,2}", dtype) else "?"  # the child's text
    return Opaque(
        f"an array of shape {shape} and dtype {plain} ({size}: too large to check)",
        "",
        described=True,
    )


# --- framing ---------------------------------------------------------------------------


def write_frame(
    fd: int, header: dict[str, Any], blobs: list[bytes] | None = None, fds: tuple[int, ...] = ()
) -> None:
    """Write one frame to a file descriptor (blocking until all of it is written).

    ``fds`` travel with the frame's first bytes (SCM_RIGHTS: ``fd`` must be a Unix socket).
    """
    blobs = blobs or []
    header = dict(header, blobs=[len(b) for b in blobs])
    data = json.dumps(header, allow_nan=True).encode()
    parts = [MAGIC, struct.pack(">I", len(data)), data, *blobs]
    view = memoryview(b"".join(parts))
    if fds:
        sock = socket.socket(fileno=fd)
        try:
            view = view[socket.send_fds(sock, [view], list(fds)) :]
        finally:
            sock.detach()
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


def parse_header_json(data: bytes) -> dict[str, Any]:
    """A frame header's JSON object; anything else (too deep, not an object) is a ProtocolError."""
    try:
        header = json.loads(data)
    except (ValueError, RecursionError) as exc:
        # json.loads recurses once per nesting level: 200,000 levels raise RecursionError.
        raise ProtocolError("unreadable frame header") from exc
    if not isinstance(header, dict):
        raise ProtocolError("frame header is not an object")
    return header


def parse_blob_sizes(header: dict[str, Any], blob_cap: int = BLOB_CAP) -> list[int]:
    """Check the header's blob list and return the sizes, refusing anything over the cap."""
    sizes = header.get("blobs", [])
    if not isinstance(sizes, list) or not all(
        isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in sizes
    ):
        raise ProtocolError("malformed blob list in frame header")
    if len(sizes) > 100_000:
        raise ProtocolError("too many arrays in one message")
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


def _first_bytes(fd: int, size: int) -> tuple[bytes, list[int]]:
    """Up to ``size`` bytes and any descriptors sent with them (none from a pipe)."""
    try:
        sock = socket.socket(fileno=fd)
    except OSError:  # not a socket
        return os.read(fd, size), []
    try:
        data, fds, _, _ = socket.recv_fds(sock, size, MAX_FDS)
    finally:
        sock.detach()
    return data, fds


def read_frame(fd: int) -> tuple[dict[str, Any], list[bytes], list[int]]:
    """Blocking read of one frame and the descriptors sent with it (used by the child)."""
    first, fds = _first_bytes(fd, 8)
    if not first:
        raise ProtocolError("the other side closed the pipe")
    length = parse_header(first + read_exact(fd, 8 - len(first)))
    header = json.loads(read_exact(fd, length))
    blobs = [read_exact(fd, size) for size in parse_blob_sizes(header)]
    return header, blobs, fds


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


def _npy_header(data: bytes) -> tuple[str, bool, tuple[int, ...], int] | None:
    """(dtype, Fortran order, shape, data offset) of a plain .npy header, else None."""
    if not data.startswith(_NPY_PREFIX) or len(data) < 10:
        return None
    (length,) = struct.unpack("<H", data[8:10])
    match = _NPY_HEADER.fullmatch(data[10 : 10 + length])
    if match is None:
        return None
    shape = tuple(int(n) for n in match.group(3).split(b",") if n.strip())
    return match.group(1).decode(), match.group(2) == b"True", shape, 10 + length


def _fast_array(data: bytes) -> np.ndarray | None:
    """A plain numeric .npy array parsed by a strict pattern, or None to use np.load."""
    header = _npy_header(data)
    if header is None:
        return None
    descr, fortran, shape, offset = header
    dtype = np.dtype(descr)
    if dtype.kind not in _NPY_KINDS or dtype.hasobject:
        return None
    count = 1
    for n in shape:
        count *= n
    if len(data) != offset + count * dtype.itemsize:
        return None
    flat = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
    if fortran:
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


#: Where a value is among a call's arguments: indexes into tuples and lists, keys of dicts.
ArgumentPath = tuple[int | str, ...]


class SharedLayout:
    """The arrays of one call's arguments, placed in a memfd that both sides map.

    The trusted side writes the arguments there, the child's function works on views of that
    memory, and after the call the trusted side reads the bytes back itself (with the run
    paused, ``parent.StudentProcess``): whatever the child then says, those bytes are what the
    call left in its arguments. The memfd is sealed against shrinking and growing, so the
    child can neither truncate it under the trusted side nor make it hold more memory.
    """

    def __init__(self) -> None:
        self.arrays: list[np.ndarray] = []  #: C-contiguous copies, in tree order
        self.offsets: list[int] = []
        self.paths: list[ArgumentPath] = []  #: where each array is in the argument list
        self.size = 0

    def place(self, array: np.ndarray, path: ArgumentPath) -> dict[str, Any]:
        """Reserve room for ``array``; the tree's ``shared`` entry that locates it."""
        plain = np.ascontiguousarray(array) if array.ndim else np.array(array)
        offset = -(-self.size // SHARED_ALIGN) * SHARED_ALIGN
        self.arrays.append(plain)
        self.offsets.append(offset)
        self.paths.append(path)
        self.size = offset + plain.nbytes
        return {"offset": offset, "dtype": plain.dtype.str, "shape": list(plain.shape)}

    def contents(self) -> bytearray:
        """The bytes of the block: every placed array at its offset."""
        buffer = bytearray(self.size)
        for array, offset in zip(self.arrays, self.offsets, strict=True):
            if array.nbytes:
                buffer[offset : offset + array.nbytes] = array.reshape(-1).view(np.uint8).data
        return buffer

    def create(self) -> int:
        """A sealed memfd holding every placed array; the caller closes it."""
        import fcntl  # here: the portable child (Windows has no fcntl) never shares memory

        fd = os.memfd_create("grader-arguments", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        try:
            view = memoryview(self.contents())
            while view:
                view = view[os.write(fd, view) :]
            seals = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, seals)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def read_back(self, fd: int) -> list[np.ndarray]:
        """The arrays as the memfd holds them now (copies), in placement order."""
        return self.arrays_in(os.pread(fd, self.size, 0))

    def arrays_in(self, data: bytes) -> list[np.ndarray]:
        """The arrays as ``data`` (the block's bytes after the call) holds them, as copies."""
        if len(data) != self.size:
            raise ProtocolError("the arguments' shared memory was truncated")
        return [
            np.frombuffer(data, dtype=a.dtype, count=a.size, offset=o).reshape(a.shape).copy()
            for a, o in zip(self.arrays, self.offsets, strict=True)
        ]


def with_leaves(value: Any, paths: list[ArgumentPath], leaves: list[Any]) -> Any:
    """``value`` (tuples, lists, dicts) with the item at each path replaced by its leaf."""
    replacements = dict(zip(paths, leaves, strict=True))

    def rebuild(item: Any, path: ArgumentPath) -> Any:
        if path in replacements:
            return replacements[path]
        if not any(p[: len(path)] == path for p in replacements):
            return item
        if type(item) in (tuple, list):
            items = [rebuild(v, (*path, i)) for i, v in enumerate(item)]
            return tuple(items) if type(item) is tuple else items
        if type(item) is dict:
            return {k: rebuild(v, (*path, k)) for k, v in item.items()}
        return item

    return rebuild(value, ())


def encode_value(
    value: object,
    blobs: list[bytes],
    depth: int = 0,
    *,
    shared: SharedLayout | None = None,
    path: ArgumentPath = (),
    room: list[int] | None = None,
) -> dict[str, Any]:
    """Encode ``value`` as a JSON tree, appending array bytes to ``blobs``.

    With ``shared`` (the trusted side encoding a call's arguments), numeric arrays go to that
    shared memory instead of ``blobs``; ``path`` locates ``value`` among the arguments. With
    ``room`` (the child encoding a reply: ``[bytes left]``), an array over ``VALUE_CAP`` or
    over what is left is sent as its shape and dtype only.
    """
    if value is None:
        return {"kind": "none"}
    if isinstance(value, np.ndarray):
        plain = np.asarray(value).view(np.ndarray)
        if plain.dtype.hasobject:
            return {"kind": "other", "type": "ndarray[object]", "repr": _capped_repr(value)}
        if shared is not None and plain.dtype.kind in _NPY_KINDS and plain.dtype.fields is None:
            location = shared.place(plain, path)
            return {"kind": "ndarray", "shared": location, "type": _type_name(value)}
        if room is not None:
            if plain.nbytes > min(VALUE_CAP, room[0]):
                return {
                    "kind": "oversized",
                    "type": _type_name(value),
                    "dtype": plain.dtype.str,
                    "shape": list(plain.shape),
                    "nbytes": int(plain.nbytes),
                }
            room[0] -= plain.nbytes
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
            return {
                "kind": kind,
                "items": [
                    encode_value(v, blobs, depth + 1, shared=shared, path=(*path, i), room=room)
                    for i, v in enumerate(items)
                ],
            }
    if type(value) is dict and depth < MAX_DEPTH and len(value) <= MAX_ITEMS:
        pairs = list(value.items())
        if all(type(k) is str and len(k) <= REPR_CAP for k, _ in pairs):
            return {
                "kind": "dict",
                "keys": [k for k, _ in pairs],
                "items": [
                    encode_value(v, blobs, depth + 1, shared=shared, path=(*path, k), room=room)
                    for k, v in pairs
                ],
            }
    return {"kind": "other", "type": _type_name(value), "repr": _capped_repr(value)}


@dataclass
class DecodeBudget:
    """Bytes of arrays the trusted side may still decode for one run (``RUN_DECODED_CAP``)."""

    left: int = RUN_DECODED_CAP
    memo: dict[int, Any] = field(default_factory=dict)  #: blob index -> decoded, per reply
    #: bytes of arrays one reply's value may still refer to, counting every reference:
    #: trusted code that turns a tuple of 4,096 references to one array into an array of
    #: its own (np.asarray) would otherwise build them all
    referable: int = REPLY_BLOB_CAP

    def next_reply(self) -> None:
        """Start on a new reply (the run's ``left`` carries over)."""
        self.memo = {}
        self.referable = REPLY_BLOB_CAP


def _shape(raw: Any) -> tuple[int, ...]:
    if not isinstance(raw, list) or len(raw) > 64:
        raise ProtocolError("malformed array shape")
    if not all(type(n) is int and 0 <= n < 2**62 for n in raw):
        raise ProtocolError("malformed array shape")
    return tuple(raw)


def _dtype_text(raw: Any) -> str:
    if not isinstance(raw, str) or not 0 < len(raw) <= 32:
        raise ProtocolError("malformed array dtype")
    return raw


def decode_value(
    tree: Any,
    blobs: list[bytes],
    depth: int = 0,
    *,
    shared: Any = None,
    budget: DecodeBudget | None = None,
) -> Any:
    """Rebuild a value from its JSON tree: arrays, numbers, tuples, lists, dicts or Opaque.

    ``shared`` is the mapped shared memory of a call (the child decoding its arguments); a
    reply has none. With ``budget`` (the trusted side), each blob is decoded once however
    many times the tree refers to it, and arrays past the run's budget are kept as their
    shape and dtype only.
    """
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
    if kind == "ndarray" and "shared" in tree:
        return _shared_array(tree["shared"], shared)
    if kind in ("ndarray", "scalar"):
        index = tree.get("blob")
        if type(index) is not int or not 0 <= index < len(blobs):
            raise ProtocolError("value refers to a missing array")
        array = _blob_array(index, blobs, budget)
        if kind == "scalar":
            if not isinstance(array, np.ndarray) or array.ndim != 0:
                raise ProtocolError("scalar must be a 0-d array")
            return array[()]
        return array
    if kind == "oversized":
        nbytes = tree.get("nbytes")
        return oversized(
            str(tree.get("type", "ndarray"))[:100],
            _dtype_text(tree.get("dtype")),
            _shape(tree.get("shape")),
            nbytes if type(nbytes) is int else 0,
        )
    if kind in ("tuple", "list"):
        items = tree.get("items")
        if not isinstance(items, list) or len(items) > MAX_ITEMS:
            raise ProtocolError("malformed sequence")
        decoded = [
            decode_value(item, blobs, depth + 1, shared=shared, budget=budget) for item in items
        ]
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
        return {
            k: decode_value(v, blobs, depth + 1, shared=shared, budget=budget)
            for k, v in zip(keys, items, strict=True)
        }
    if kind == "other":
        return Opaque(str(tree.get("type", "?"))[:100])  # the repr is dropped (see Opaque)
    raise ProtocolError(f"unknown value kind {str(kind)[:40]!r}")


def _blob_array(index: int, blobs: list[bytes], budget: DecodeBudget | None) -> Any:
    if budget is None:
        return array_from_bytes(blobs[index])
    data = blobs[index]
    value = budget.memo.get(index)
    if value is None:
        if len(data) > budget.left:
            value = _too_large(data)
        else:
            value = array_from_bytes(data)
            budget.left -= value.nbytes
        budget.memo[index] = value
    if isinstance(value, np.ndarray):
        if value.nbytes > budget.referable:
            return _too_large(data)
        budget.referable -= value.nbytes
    return value


def _too_large(data: bytes) -> Opaque:
    header = _fast_array_header(data)
    if header is None:
        return Opaque("an array too large to check", "", described=True)
    return oversized("ndarray", *header, len(data))


def _fast_array_header(data: bytes) -> tuple[str, tuple[int, ...]] | None:
    """(dtype, shape) from a plain .npy header, without reading the array."""
    header = _npy_header(data)
    return None if header is None else (header[0], header[2])


def _shared_array(location: Any, shared: Any) -> np.ndarray:
    """A view of the call's shared memory (the child's side of ``SharedLayout``)."""
    if shared is None or not isinstance(location, dict):
        raise ProtocolError("an array in shared memory, but no shared memory")
    offset = location.get("offset")
    dtype = np.dtype(_dtype_text(location.get("dtype")))
    shape = _shape(location.get("shape"))
    count = 1
    for n in shape:
        count *= n
    if type(offset) is not int or dtype.hasobject:
        raise ProtocolError("malformed shared array")
    return np.frombuffer(shared, dtype=dtype, count=count, offset=offset).reshape(shape)


# --- the state of the arguments after a call ----------------------------------------------


def argument_snapshot(value: Any) -> Any:
    """What the child notes of an argument before the call, to describe it afterwards."""
    if type(value) is np.ndarray:
        return (value.ctypes.data, value.shape, value.strides)
    if type(value) in (tuple, list):
        return (list(value), [argument_snapshot(v) for v in value])
    if type(value) is dict:
        return (dict(value), {k: argument_snapshot(v) for k, v in value.items()})
    return None


def argument_state(
    value: Any, snapshot: Any, blobs: list[bytes] | None = None, room: list[int] | None = None
) -> dict[str, Any]:
    """The child's report of one argument after the call (see ``argument_changes``).

    A list or dict whose items were replaced also carries its items now (``"now"``, encoded
    into ``blobs``): the caller holds the same container and would see them.
    """
    if type(value) is np.ndarray:
        data, shape, strides = snapshot
        return {
            "kind": "ndarray",
            "type": _type_name(value),
            "dtype": value.dtype.str,
            "shape": list(value.shape),
            "restrided": value.strides != strides and value.shape == shape,
            "moved": value.ctypes.data != data,
        }
    if type(value) in (tuple, list):
        items, snapshots = snapshot
        same = len(value) == len(items) and all(a is b for a, b in zip(value, items, strict=True))
        return {
            "kind": "list" if type(value) is list else "tuple",
            "same": same,
            "items": [
                argument_state(v, s, blobs, room) for v, s in zip(items, snapshots, strict=True)
            ],
            **_now(value, same, blobs, room),
        }
    if type(value) is dict:
        pairs, snapshots = snapshot
        same = value.keys() == pairs.keys() and all(value[k] is v for k, v in pairs.items())
        return {
            "kind": "dict",
            "same": same,
            "items": [argument_state(v, snapshots[k], blobs, room) for k, v in pairs.items()],
            **_now(value, same, blobs, room),
        }
    return {"kind": "fixed"}


def _now(
    value: Any, same: bool, blobs: list[bytes] | None, room: list[int] | None
) -> dict[str, Any]:
    if same or blobs is None or type(value) is tuple:
        return {}
    return {"now": encode_value(value, blobs, room=room)}


def replaced_items(
    tree: dict[str, Any], state: Any, path: ArgumentPath = ()
) -> list[tuple[ArgumentPath, Any]]:
    """(path, value tree) of each list or dict the child says now holds other items.

    ``state`` was checked by ``argument_changes``; the trees are the child's report.
    """
    if not isinstance(state, dict) or tree.get("kind") not in ("list", "dict", "tuple"):
        return []
    if "now" in state and state.get("same") is not True:
        return [(path, state["now"])]
    places: list[int | str] = (
        list(tree["keys"]) if tree["kind"] == "dict" else list(range(len(tree["items"])))
    )
    found: list[tuple[ArgumentPath, Any]] = []
    for place, item, item_state in zip(places, tree["items"], state["items"], strict=True):
        found += replaced_items(item, item_state, (*path, place))
    return found


def argument_changes(
    tree: dict[str, Any], state: Any, path: ArgumentPath = ()
) -> list[tuple[ArgumentPath, str]]:
    """How the child says the call changed one argument, as (path, what changed) pairs.

    ``tree`` is what the trusted side sent; ``state`` must describe that very argument
    (same kinds, same number of items): anything else is a ProtocolError, never a pass.
    The values of arrays in shared memory are not taken from here: the trusted side reads
    them itself (``SharedLayout.read_back``).
    """
    if not isinstance(state, dict):
        raise ProtocolError("malformed argument state")
    kind = tree.get("kind")
    if kind == "ndarray":
        if state.get("kind") != "ndarray":
            raise ProtocolError("the argument state does not match the arguments sent")
        sent = tree.get("shared") or {}
        changes: list[str] = []
        dtype, shape = _dtype_text(state.get("dtype")), _shape(state.get("shape"))
        if sent and dtype != sent["dtype"]:
            changes.append(f"its dtype changed from {sent['dtype']} to {dtype}")
        if sent and list(shape) != sent["shape"]:
            changes.append(f"its shape changed from {tuple(sent['shape'])} to {shape}")
        if state.get("type") != PLAIN_ARRAY:  # the child rebuilds every argument as one
            changes.append("its type changed")
        if state.get("restrided") is not False:
            changes.append("its strides changed")
        if state.get("moved") is not False:
            changes.append("it was made to refer to other memory")
        return [(path, "; ".join(changes))] if changes else []
    if kind in ("tuple", "list", "dict"):
        items = tree.get("items", [])
        got = state.get("items")
        if state.get("kind") != kind or not isinstance(got, list) or len(got) != len(items):
            raise ProtocolError("the argument state does not match the arguments sent")
        found: list[tuple[ArgumentPath, str]] = []
        if state.get("same") is not True:
            found.append((path, f"the {kind}'s items changed"))
        places: list[int | str] = list(tree["keys"]) if kind == "dict" else list(range(len(items)))
        for place, item, item_state in zip(places, items, got, strict=True):
            found += argument_changes(item, item_state, (*path, place))
        return found
    if state.get("kind") != "fixed":
        raise ProtocolError("the argument state does not match the arguments sent")
    return []


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
