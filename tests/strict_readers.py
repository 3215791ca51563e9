"""Strict readers of what the grader writes: what jq, a browser and a spreadsheet would accept.

Each function raises AssertionError (with the offending file) when a reader would refuse the
bytes, and returns what it parsed. ``jq`` is used when it is installed (Debian's ``jq``);
Python with strict UTF-8 decoding always checks the same.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def strict_text(data: bytes, what: str) -> str:
    """UTF-8 text with no code point a strict reader refuses (surrogates, controls)."""
    try:
        text = data.decode("utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise AssertionError(f"{what} is not valid UTF-8: {exc}") from exc
    bad = [ch for ch in text if _unsafe(ch)]
    assert not bad, f"{what} holds unsafe code points {bad[:5]!r}"
    return text


def _unsafe(ch: str) -> bool:
    code = ord(ch)
    return (
        (code < 0x20 and ch not in "\t\n\r")
        or 0x7F <= code <= 0x9F
        or 0xD800 <= code <= 0xDFFF
        or code in (0xFFFE, 0xFFFF)
    )


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def strict_json(data: bytes, what: str = "document") -> Any:
    """Parse JSON as jq would: valid UTF-8, no escaped lone surrogate, no NaN."""
    text = strict_text(data, what)

    def refuse(constant: str) -> Any:
        raise AssertionError(f"{what} holds {constant}, which strict JSON readers refuse")

    document = json.loads(text, parse_constant=refuse)
    for value in _strings(document):
        strict_text(value.encode("utf-8", errors="surrogatepass"), f"a string in {what}")
    jq = shutil.which("jq")
    if jq is not None:
        run = subprocess.run([jq, "-e", "."], input=data, capture_output=True, check=False)
        assert run.returncode == 0, f"jq refuses {what}: {run.stderr.decode(errors='replace')}"
    return document


def strict_csv(data: bytes, what: str = "CSV") -> list[list[str]]:
    """Rows of a CSV file; no cell a spreadsheet would run as a formula (numbers allowed)."""
    rows = list(csv.reader(io.StringIO(strict_text(data, what), newline="")))
    for row in rows:
        for cell in row:
            if cell.startswith(FORMULA_START):
                try:
                    float(cell)
                except ValueError as exc:
                    raise AssertionError(f"{what} has a formula cell {cell!r}") from exc
    return rows


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def strict_html(data: bytes, what: str = "page") -> tuple[str, list[str]]:
    """(visible text, start tags) of an HTML page that is valid UTF-8 without controls."""
    parser = _Collector()
    parser.feed(strict_text(data, what))
    parser.close()
    return "".join(parser.text), parser.tags


def strict_xml(data: bytes, what: str = "XML") -> ET.Element:
    """An XML document that parses (XML 1.0 refuses most control characters)."""
    strict_text(data, what)
    return ET.fromstring(data)  # noqa: S314 -- our own output, parsed to check it


def check_output_folder(out: Path) -> dict[str, Any]:
    """Every JSON, CSV, HTML and Markdown file under a batch's OUTDIR, read strictly, by
    path relative to OUTDIR (``summary.csv``, ``feedback/alice.html``)."""
    parsed: dict[str, Any] = {}
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        data = path.read_bytes()
        name = path.relative_to(out).as_posix()
        if name.endswith(".json"):
            parsed[name] = strict_json(data, name)
        elif name.endswith(".csv"):
            parsed[name] = strict_csv(data, name)
        elif name.endswith(".html"):
            parsed[name] = strict_html(data, name)
        elif name.endswith(".md"):
            parsed[name] = strict_text(data, name)
    return parsed
