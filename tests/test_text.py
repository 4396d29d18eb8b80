"""text.py: what a stranger's text loses before it is stored, logged or shown."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feedsvc.text import (
    AUTHOR_LIMIT,
    CONTENT_LIMIT,
    CORRECTION_LIMIT,
    SUMMARY_LIMIT,
    TITLE_LIMIT,
    error_line,
    one_line,
    os_reason,
    shortened,
    stripped,
    without_controls,
    without_markup,
)


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("plain words", 200, "plain words"),
        ("  line one\r\nline two\n", 200, "line one line two"),
        ("NUL\x00and\x1b[2Jescape", 200, "NUL and [2Jescape"),
        ("tab\tand\u2028separator\u00a0nbsp", 200, "tab and separator nbsp"),
        ("abcdef", 5, "abcd…"),
        ("abcde", 5, "abcde"),
        ("", 5, ""),
    ],
)
def test_one_line(text: str, limit: int, expected: str) -> None:
    assert one_line(text, limit) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("  A title \n", "A title"),
        ("inner  spaces stay", "inner  spaces stay"),
        (" \t\n ", None),
        ("", None),
        (None, None),
        (42, None),
        (["a list"], None),
        ({"value": "a dict"}, None),
    ],
)
def test_stripped_is_a_string_or_none(value: object, expected: str | None) -> None:
    """What parsers and forms hand over may be of any type; only text with something in
    it is a value."""
    assert stripped(value) == expected


@given(st.text(), st.integers(min_value=1, max_value=300))
def test_one_line_is_one_short_printable_line(text: str, limit: int) -> None:
    line = one_line(text, limit)
    assert len(line) <= limit
    assert line.isprintable()
    assert line == line.strip() and "  " not in line


def test_one_line_reads_only_what_it_can_keep() -> None:
    """A megabyte of junk costs a bounded scan, and still says it was cut."""
    assert one_line("x" * 50 + " " * 1_000_000 + "tail", 100).endswith("…")


def test_error_line_names_a_silent_exception_by_its_type() -> None:
    assert error_line(ValueError("bad\nthing")) == "bad thing"
    assert error_line(KeyError()) == "KeyError"


def test_os_reason_is_the_system_message() -> None:
    assert os_reason(ConnectionRefusedError(111, "Connection refused")) == "Connection refused"
    assert os_reason(OSError()) == "OSError"


def test_without_controls_keeps_layout_and_drops_the_rest() -> None:
    text = "a\r\nb\rc\td\x00e\x85f\x7fg\ud800h\u200bi"
    assert without_controls(text) == "a\nb\nc\tdefgh\u200bi"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Plain title", "Plain title"),
        ("<b>Bold</b> move", "Bold move"),
        ("x<script>alert(1)</script>", "xalert(1)"),
        ("<scr<b>ipt>alert(1)</script>", "alert(1)"),  # pieces never join into a tag
        ("Photo <img src=x onerror=alert(1)", "Photo "),  # unclosed, to the end
        ("<!-- note -->Title<?php x ?>", "Title"),
        ("a < b and 3<4, <3 and <> too", "a < b and 3<4, <3 and <> too"),
        ("Q&A: rates > 4%", "Q&A: rates > 4%"),
    ],
)
def test_without_markup(text: str, expected: str) -> None:
    assert without_markup(text) == expected


@given(st.text())
def test_without_markup_leaves_nothing_an_html_parser_takes_for_markup(text: str) -> None:
    cleaned = without_markup(text)
    assert re.search(r"<[A-Za-z/!?]", cleaned) is None
    assert without_markup(cleaned) == cleaned


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("short", 10, "short"),
        ("", 5, ""),
        ("abcde fghij", 11, "abcde fghij"),  # an exact fit is not cut
        ("alpha beta gamma", 11, "alpha beta…"),  # cut where a space falls
        ("alpha beta gamma delta", 12, "alpha beta…"),
        ("abcdefghijklmnop", 6, "abcde…"),
        ("alpha, beta gamma", 9, "alpha…"),
    ],
)
def test_shortened(text: str, limit: int, expected: str) -> None:
    assert shortened(text, limit) == expected
    assert len(shortened(text, limit)) <= limit


def test_ceilings_are_the_documented_ones() -> None:
    """The README's "Text ceilings" table states these numbers; change both together."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    for name, value in (
        ("title", TITLE_LIMIT),
        ("author", AUTHOR_LIMIT),
        ("summary", SUMMARY_LIMIT),
        ("correction", CORRECTION_LIMIT),
    ):
        assert f"| {name} | {value:,} characters |" in readme, name
    assert f"| content | {CONTENT_LIMIT // 1024} KiB of HTML (UTF-8) |" in readme
