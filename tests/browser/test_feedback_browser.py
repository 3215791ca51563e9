"""feedback/<name>.html in headless Chromium: the DOM as parsed, a phone-width layout, a screenshot.

Skips where Chromium is missing, except under CI (``CI`` set), where `.ci/run` installs it.
"""

from __future__ import annotations

import re
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from test_report_browser import chromium

from grader.batch_data import BatchEntry, BatchSummary
from grader.feedback import render_feedback_html
from grader.results import GradingResult, TestResult

pytestmark = [pytest.mark.browser]

PHONE = 360  # CSS pixels: a small phone held upright
LONG = "dZ is wrong at " + "x" * 300 + " elements; " + "averyveryverylongunbrokenword" * 12
BACKGROUND = (0xF5, 0xF7, 0xFA)
FAIL_RED = (0xB8, 0x3D, 0x2A)
PASS_GREEN = (0x2F, 0x7D, 0x57)


def page(tmp_path: Path) -> Path:
    tests = (
        TestResult("test_positive_inputs", 10.0, 10.0, "passed", "Passed.", ("x",), "visible"),
        TestResult(
            "test_negative_inputs",
            0.0,
            10.0,
            "failed",
            f"Checks: dZ.\n{LONG}\nSmallest input that shows it: dA = [0.5]",
            ("x",),
            "after_published",
            misconceptions=("missing-chain-rule",),
        ),
        TestResult("hidden_trace", 0.0, 0.0, "failed", "Traceback", (), "hidden"),
    )
    result = GradingResult(
        "leaky",
        tests,
        'Mistakes found: <img id="pwn" src=x onerror=alert(1)>',
        0.1,
        misconceptions=("missing-chain-rule",),
        submission="ada.ipynb",
    )
    entry = BatchEntry("ada", result, "graded")
    summary = BatchSummary(
        assignment="Leaky ReLU backward pass",
        entries=(entry,),
        test_names=tuple(t.name for t in tests),
        test_points=(10.0, 10.0, 0.0),
        misconceptions=(("missing-chain-rule", "The chain rule is missing"),),
        seconds=1.0,
        jobs=1,
        out=tmp_path,
    )
    path = tmp_path / "ada.html"
    path.write_text(render_feedback_html(entry, summary), encoding="utf-8")
    return path


def run_chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'profile'}",
        *args,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def test_dom_has_the_score_tests_and_no_injected_element(tmp_path: Path) -> None:
    path = page(tmp_path)
    dom = run_chromium(tmp_path, "--dump-dom", path.as_uri()).stdout
    assert re.search(r'id="score"><span class="value">10</span>', dom)
    assert len(re.findall(r'<div class="test (passed|failed)">', dom)) == 2
    assert dom.count('class="badge failed">FAIL<') == 1
    assert dom.count('class="badge passed">PASS<') == 1
    assert "hidden_trace" not in dom
    assert "The chain rule is missing" in dom
    # The submission's markup arrived as text: the parser made no element of it.
    assert 'id="pwn"' not in dom.replace("&quot;", '"').split("&lt;img")[0]
    assert "&lt;img id=" in dom
    assert "<img" not in dom
    assert "<script" not in path.read_text()


def test_phone_width_needs_no_horizontal_scrolling(tmp_path: Path) -> None:
    """Measured by the browser on a copy of the page with a probe (the page itself has no JS).

    Headless windows have a minimum width, so the copy pins the root element to a phone's
    width and the probe reports how far right any element, or the content overflowing it, reaches.
    """
    probe = tmp_path / "probe.html"
    text = page(tmp_path).read_text()
    text = text.replace("</head>", f"<style>html {{ width: {PHONE}px; }}</style></head>")
    text = text.replace(
        "</body>",
        "<script>var right = 0; document.querySelectorAll('body *').forEach(function (e) {"
        " var box = e.getBoundingClientRect();"
        " right = Math.max(right, box.right, box.left + e.scrollWidth); });"
        " document.body.setAttribute('data-right', String(Math.ceil(right)));</script></body>",
    )
    probe.write_text(text)
    dom = run_chromium(tmp_path, "--dump-dom", probe.as_uri()).stdout
    right = re.search(r'data-right="(\d+)"', dom)
    assert right is not None
    assert 300 < int(right.group(1)) <= PHONE, "something sticks out sideways on a phone"


def png_pixels(data: bytes) -> tuple[int, int, list[list[tuple[int, int, int]]]]:
    """Decode an 8-bit RGB/RGBA PNG (what Chromium writes): width, height, rows of pixels."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, channels = 8, b"", 0, 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8
            channels = {2: 3, 6: 4}[colour]
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[list[tuple[int, int, int]]] = []
    previous = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + pred) & 255
        rows.append([tuple(line[x * channels : x * channels + 3]) for x in range(width)])  # type: ignore[misc]
        previous = line
    return width, height, rows


def test_screenshot_on_a_phone_shows_the_badges_inside_the_margins(tmp_path: Path) -> None:
    path = page(tmp_path)
    shot = tmp_path / "phone.png"
    run_chromium(tmp_path, f"--window-size={PHONE},900", f"--screenshot={shot}", path.as_uri())
    width, height, rows = png_pixels(shot.read_bytes())
    assert (width, height) == (PHONE, 900)
    colours = {pixel for row in rows for pixel in row}

    def near(target: tuple[int, int, int]) -> bool:
        return any(all(abs(a - b) <= 6 for a, b in zip(c, target, strict=True)) for c in colours)

    assert near(FAIL_RED)  # the FAIL badge was drawn, with the page's own CSS
    assert near(PASS_GREEN)
    # The right margin (outside main's padding) is page background from top to bottom:
    # nothing, not even the 600-character unbroken line, ran past the cards.
    margin = {row[x] for row in rows for x in range(width - 8, width)}
    assert margin == {BACKGROUND}
