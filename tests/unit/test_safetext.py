"""safetext: the rules every writer applies to text a submission controls."""

from __future__ import annotations

import csv
import io
import json
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from grader.safetext import (
    HASH_CHARS,
    STEM_CAP,
    TYPE_LABEL_CAP,
    clean_text,
    clean_tree,
    csv_cell,
    dumps_clean,
    escape_html,
    readable_name,
    render_csv,
    safe_stem,
    type_label,
)


def test_clean_text_leaves_ordinary_text_alone() -> None:
    text = "dZ is wrong at 3 of 20 elements\n\tcafé — ✓ 漢字 😀"
    assert clean_text(text) is text or clean_text(text) == text


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("a\ud800b", "a\ufffdb"),  # lone surrogates: no UTF-8 encoding exists
        ("z\udfff", "z\ufffd"),
        ("nul\x00", "nul\ufffd"),
        ("\x1b[2J\x1b]0;title\x07", "\ufffd[2J\ufffd]0;title\ufffd"),  # terminal escapes
        ("line\r\nnext\rlast", "line\nnext\nlast"),  # CR would overwrite a terminal line
        ("c1 \x85 \x9b", "c1 \ufffd \ufffd"),
        ("\ufffe\uffff", "\ufffd\ufffd"),  # not allowed in XML
    ],
)
def test_clean_text_replaces_what_strict_readers_refuse(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean
    clean.encode("utf-8")  # strict


def test_clean_tree_cleans_keys_and_nested_values() -> None:
    tree = {"k\ud800": ["v\x00", {"n": 1.5, "s": "\x1b"}], "t": (True, None)}
    assert clean_tree(tree) == {
        "k\ufffd": ["v\ufffd", {"n": 1.5, "s": "\ufffd"}],
        "t": [True, None],
    }


# Every code point class clean_text treats differently, and text that looks like an escape.
_TRICKY = st.lists(
    st.one_of(
        st.characters(codec=None),
        st.sampled_from(["\ud800", "\udfff", "\x7f", "\x85", "\r\n", "\\u0000", "\\r", "\ufffe"]),
    ),
    max_size=12,
).map("".join)


@given(
    st.recursive(
        _TRICKY | st.integers() | st.floats(allow_nan=False),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TRICKY, inner, max_size=3),
        max_leaves=8,
    )
)
def test_dumps_clean_is_json_dumps_of_the_clean_tree(tree: object) -> None:
    expected = json.dumps(clean_tree(tree), indent=2)
    assert dumps_clean(tree, indent=2) == expected
    json.loads(expected.encode("utf-8").decode("utf-8", errors="strict"))


@pytest.mark.parametrize(
    "char",
    # chr(): ruff reads two lone surrogates in literals as one value
    [
        "\x00",
        "\x08",
        "\x0c",
        "\r",
        "\x1b",
        "\x7f",
        "\x85",
        "\x9f",
        chr(0xD800),
        chr(0xDFFF),
        "\ufffe",
    ],
)
@pytest.mark.parametrize("where", ["key", "value"])
def test_dumps_clean_cleans_each_kind_of_unsafe_character(char: str, where: str) -> None:
    text = f"a{char}b"
    tree = {text: "v"} if where == "key" else {"k": [text]}
    assert dumps_clean(tree) == json.dumps(clean_tree(tree)) != json.dumps(tree)


def test_dumps_clean_cleans_what_a_submission_raised() -> None:
    text = dumps_clean({"output": "bad \ud800 \x1b[2J\r\n", "ok": "caf\u00e9"})
    assert json.loads(text) == {"output": "bad \ufffd \ufffd[2J\n", "ok": "caf\u00e9"}


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        (
            '=HYPERLINK("http://127.0.0.1/?x","click")',
            '\'=HYPERLINK("http://127.0.0.1/?x","click")',
        ),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\n=1"),
        # Numbers stay numbers: a gradebook column must remain numeric.
        ("-1.5", "-1.5"),
        ("-3", "-3"),
        ("+2", "+2"),
        ("1e-05", "1e-05"),
        ("-.5", "-.5"),
        ("alice", "alice"),
        ("", ""),
    ],
)
def test_csv_cells_never_start_a_formula(cell: str, written: str) -> None:
    assert csv_cell(cell) == written


def test_render_csv_round_trips_through_the_csv_module() -> None:
    rows = [["name", "score"], ["=1+1", "-1.5"], ['a,b\n"c"', "100"], ["x\ud800", "0"]]
    text = render_csv(rows)
    text.encode("utf-8")
    assert list(csv.reader(io.StringIO(text, newline=""))) == [
        ["name", "score"],
        ["'=1+1", "-1.5"],
        ['a,b\n"c"', "100"],
        ["x\ufffd", "0"],
    ]


def test_escape_html_cleans_then_escapes() -> None:
    assert escape_html('<b a="1">\ud800') == "&lt;b a=&quot;1&quot;&gt;\ufffd"


def test_type_label_is_short_and_plain() -> None:
    assert type_label("numpy.ndarray") == "numpy.ndarray"
    assert type_label("list") == "list"
    hostile = "import numpy as np\nEXPECTED = [0.7, -2.9]\n<script>" * 20
    label = type_label(hostile)
    assert len(label) <= TYPE_LABEL_CAP
    assert " " not in label
    assert "\n" not in label
    assert "<" not in label
    assert type_label("\n\x00 ") == "object"


def test_readable_name_shows_bytes_and_controls_as_escapes() -> None:
    assert readable_name("alice.ipynb") == "alice.ipynb"
    assert readable_name("josé.py") == "josé.py"
    assert readable_name(os.fsdecode(b"b_caf\xe9.py")) == "b_caf\\xe9.py"
    assert readable_name("new\nline.py") == "new\\nline.py"
    assert readable_name("rtl\u202ecod.py") == "rtl\\u202ecod.py"


def test_safe_stem_keeps_safe_names_and_hashes_changed_ones() -> None:
    for name in ("alice", "Jane Doe", "josé", "doejane_12345_678901_hw", "a@b.edu", "=1+1"):
        assert safe_stem(name) == name
    changed = {
        name: safe_stem(name)
        for name in ("-rf", ".hidden", "a/b", "a\nb", os.fsdecode(b"caf\xe9"), "x" * 240, "a:b")
    }
    for name, stem in changed.items():
        assert stem != name
        assert len(stem.encode()) <= STEM_CAP
        assert not stem.startswith(("-", ".", " "))
        assert stem[-HASH_CHARS - 1] == "-"
        assert all(ch.isprintable() and ch not in '/\\:<>"|?*' for ch in stem)
        stem.encode("utf-8")
    assert len(set(changed.values())) == len(changed)
    # Different names that clean to the same text stay different; the same name, the same stem.
    assert safe_stem("a\nb") != safe_stem("a\tb")
    assert safe_stem("a\nb") == safe_stem("a\nb")
    assert safe_stem("alice", salt="1:alice.py") != safe_stem("alice", salt="1:alice.ipynb")
