"""Untrusted text made safe for every file and terminal the grader writes to.

A submission controls much of the text the grader writes: exception messages, captured
output, type names, and (in a batch) its own file name. Whatever it put there, the files
must parse with strict readers (jq, a browser, Python's csv, an XML parser), a spreadsheet
must not run it as a formula, and a terminal must not obey it. One module owns those rules,
so every writer applies the same ones:

- ``clean_text``: valid Unicode for strict UTF-8 (no lone surrogates or non-characters), no
  control characters but tab and newline (a CR, ESC or NUL could rewrite a terminal line,
  end a C string, or make XML unparseable). Applied where child text enters (the sandbox
  parent) and again by every writer, as defence in depth.
- ``dumps_clean``: JSON text of a tree, as ``json.dumps`` of its ``clean_tree``, but fast.
- ``csv_cell`` / ``render_csv``: OWASP's CSV-injection rule, without turning numbers to text.
- ``escape_html``: ``html.escape`` of clean text.
- ``type_label``: the most of a submission-controlled type name feedback ever quotes.
- ``readable_name`` / ``safe_stem``: a file name as people read it, and as a file name the
  grader can derive from it and always write.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import os
import re
from collections.abc import Sequence
from typing import Any

REPLACEMENT = "\ufffd"
# Lone surrogates (a Python str may hold them; UTF-8 cannot), U+FFFE/U+FFFF (not XML), and
# control characters but tab/newline: C0, DEL and C1 (U+0080-U+009F, which terminals obey too).
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_NEWLINES = re.compile("\r\n?")

# OWASP "CSV Injection": a cell starting with one of these may be run as a formula. (A CR is
# a newline once the text is clean; both are refused at the start of a cell.)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")

TYPE_LABEL_CAP = 40  #: characters of a submission-controlled type name feedback may quote
_NOT_IDENTIFIER = re.compile(r"[^A-Za-z0-9_.]+")

STEM_CAP = 100  #: UTF-8 bytes of a derived output stem (NAME_MAX is 255, temp names add more)
HASH_CHARS = 10  #: hex digits of the hash that makes a changed or shortened name unique
_NOT_IN_FILE_NAMES = '<>:"/\\|?*'  # also unsafe on Windows, where results are often opened


def clean_text(text: str) -> str:
    """``text`` as valid, printable Unicode: CRLF and CR become LF, unsafe code points U+FFFD."""
    if text.isascii() and text.replace("\n", "").replace("\t", "").isprintable():
        return text  # the common case, checked in C: ASCII without controls but LF and tab
    if "\r" in text:
        text = _NEWLINES.sub("\n", text)
    return _UNSAFE.sub(REPLACEMENT, text)


def clean_tree(value: Any) -> Any:
    """A JSON-like tree (dicts, lists, strings, numbers) with every string, key included, clean."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_tree(k): clean_tree(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_tree(v) for v in value]
    return value


# What ``json.dumps`` (ASCII output) writes for a character ``clean_text`` would change: a
# \uXXXX escape of a control, DEL, C1, surrogate or non-character, or a short escape of CR, BS
# or FF. An escaped backslash before "u00..." also matches: a false alarm, harmless.
_UNCLEAN_IN_JSON = re.compile(r"\\u(?:00[01]|007[fF]|00[89]|[dD][89a-fA-F]|[fF]{3}[eEfF])|\\[rbf]")


def dumps_clean(value: Any, **options: Any) -> str:
    """``json.dumps(clean_tree(value), **options)``, without walking the tree when nothing in
    it needs cleaning (nearly always): dumped once, searched once, dumped again only if so."""
    if options.get("ensure_ascii", True) is not True:
        return json.dumps(clean_tree(value), **options)
    text = json.dumps(value, **options)
    if _UNCLEAN_IN_JSON.search(text):
        return json.dumps(clean_tree(value), **options)
    return text


def csv_cell(value: str) -> str:
    """A CSV cell that a spreadsheet shows as text: a leading ``'`` defuses a formula.

    Numbers (``-1.5``, ``+2``, ``1e-3``) are left alone: they cannot be formulas, and a
    gradebook column must stay numeric.
    """
    text = clean_text(value)
    if text.startswith(FORMULA_START) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def render_csv(rows: Sequence[Sequence[str]]) -> str:
    """RFC 4180 CSV text of clean, formula-safe cells (quoted where needed, CRLF line ends).

    Every CSV file the grader writes goes through here (summary.csv, both gradebooks).
    """
    buffer = io.StringIO()
    csv.writer(buffer).writerows([csv_cell(str(cell)) for cell in row] for row in rows)
    return buffer.getvalue()


def escape_html(text: str) -> str:
    """Text for an HTML page: clean, then escaped (quotes included, for attributes)."""
    return html.escape(clean_text(text))


def type_label(name: str) -> str:
    """A submission-controlled type name as feedback may quote it: identifier characters and
    dots only, at most ``TYPE_LABEL_CAP`` of them ("object" if nothing is left).

    A class can be given any ``__qualname__`` (a whole file's text); this keeps a name that
    says what was returned and drops anything that could carry more.
    """
    label = _NOT_IDENTIFIER.sub("", name)
    if len(label) > TYPE_LABEL_CAP:
        label = label[: TYPE_LABEL_CAP - 3] + "..."
    return label or "object"


def _raw(name: str) -> bytes:
    """The bytes of a name as the file system has them (non-UTF-8 bytes included)."""
    try:
        return os.fsencode(name)
    except UnicodeEncodeError:  # a surrogate that did not come from the file system
        return name.encode("utf-8", errors="surrogatepass")


def value_type_label(value: Any) -> str:
    """How feedback names the type of a value: ``type_label`` of its class, or of an opaque
    value's type name, except a description the grader wrote itself (an oversized array)."""
    name = getattr(value, "type_name", None)
    if name is None:
        return type_label(type(value).__name__)
    return str(name) if getattr(value, "described", False) else type_label(str(name))


def readable_name(name: str) -> str:
    """A file name as people read it: bytes that are not UTF-8 (which Python keeps as
    surrogate escapes) and unprintable characters shown as escapes (``caf\\xe9``, ``a\\nb``)."""
    text = _raw(name).decode("utf-8", errors="backslashreplace")
    return "".join(ch if ch.isprintable() or ch == " " else ascii(ch)[1:-1] for ch in text)


def _unsafe_in_file_name(ch: str) -> bool:
    # isprintable() is False for controls, format characters (bidi overrides), surrogates,
    # private-use and unassigned code points, and every space but " ".
    return ch in _NOT_IN_FILE_NAMES or not (ch.isprintable() or ch == " ")


def safe_stem(name: str, *, salt: str = "") -> str:
    """An output file stem derived from a submission's name, always writable and portable.

    Unchanged when ``name`` is already safe and short: printable, UTF-8, no path or Windows
    separators, not starting with ``-``, ``.`` or a space, at most ``STEM_CAP`` bytes.
    Otherwise the unsafe characters become ``_``, it is shortened, and ``-`` plus a hash of
    the original name (and ``salt``) is appended, so different names stay different.
    """
    safe = "".join("_" if _unsafe_in_file_name(ch) else ch for ch in name)
    safe = safe.rstrip(" .")  # Windows drops trailing dots and spaces
    if safe.startswith(("-", ".", " ")) or not safe:
        safe = "_" + safe
    if safe == name and len(_raw(name)) <= STEM_CAP and not salt:
        return name
    digest = hashlib.sha256(_raw(name) + b"\0" + _raw(salt)).hexdigest()[:HASH_CHARS]
    room = STEM_CAP - HASH_CHARS - 1
    shortened = safe.encode("utf-8")[:room].decode("utf-8", errors="ignore")
    return f"{shortened}-{digest}"
