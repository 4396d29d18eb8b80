"""Tests of the wire-article reader: the golden corpus, dates, and fuzzing.

The corpus in ``tests/wire/`` is the main specification: each ``NAME.txt``
is a byte-exact input and ``NAME.json`` states what reading it must give
(see ``tests/wire/README.md``). The sample inbox shipped in ``feeds/inbox/``
is read here too, so the catalogue never ships an article the reader rejects.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedsvc.errors import ParseError
from feedsvc.model import RawItem
from feedsvc.wire import decode_wire, parse_wire_date, read_wire

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).resolve().parent / "wire"
INBOX = ROOT / "feeds" / "inbox"
CASES = sorted(CORPUS.glob("*.txt"))
INBOX_BYLINES = {"nym": "NYM Desk", "europe": "Europe Desk"}


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def test_corpus_is_complete() -> None:
    """Every input has its expectation and the reverse, so no case is silently skipped."""
    inputs = {path.stem for path in CASES}
    expectations = {path.stem for path in CORPUS.glob("*.json")}
    assert inputs == expectations
    assert len(inputs) >= 20


@pytest.mark.parametrize("path", CASES, ids=[path.name for path in CASES])
def test_corpus(path: Path) -> None:
    expected = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    content = path.read_bytes()
    bylines = expected.get("bylines", ())
    if "error" in expected:
        with pytest.raises(ParseError) as caught:
            read_wire(path.name, content, bylines)
        assert expected["error"] in str(caught.value)
        return
    item = read_wire(path.name, content, bylines)
    assert item.guid == path.name
    assert item.url is None
    assert item.title_html is False
    assert item.summary_html is None
    got = {
        "title": item.title,
        "byline": item.byline,
        "published": _iso(item.published),
        "updated": _iso(item.updated),
        "correction": item.correction,
        "problems": list(item.problems),
        "content_html": item.content_html,
    }
    optional = {"correction": None, "problems": []}
    assert got == {key: expected.get(key, optional.get(key)) for key in got}


def test_seed_variants_read_the_same() -> None:
    """BOM and CRLF are transport details: the article must not change with them."""
    plain = read_wire("a.txt", (CORPUS / "seed.txt").read_bytes())
    variant = read_wire("a.txt", (CORPUS / "seed_bom_crlf.txt").read_bytes())
    assert variant == plain
    assert (CORPUS / "seed_bom_crlf.txt").read_bytes().startswith(b"\xef\xbb\xbf")


def test_guid_is_the_name_whatever_the_content() -> None:
    """An edited file must update its article, not add a second one."""
    first = read_wire("2025/summit.txt", b"Summit\n\nFirst draft.\n")
    second = read_wire("2025/summit.txt", b"Summit ends\n\nFinal text.\n")
    assert first.guid == second.guid == "2025/summit.txt"
    assert first.content_html != second.content_html


def test_output_is_deterministic() -> None:
    content = (CORPUS / "headings.txt").read_bytes()
    assert read_wire("x.txt", content) == read_wire("x.txt", content)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("21:09, 23 June 2025", "2025-06-23T21:09:00"),
        ("23 June 2025 21:09", "2025-06-23T21:09:00"),
        ("23 June 2025", "2025-06-23T00:00:00"),
        ("2025-06-23 21:09", "2025-06-23T21:09:00"),
        ("2025-06-23T21:09", "2025-06-23T21:09:00"),
        ("2025-06-23T21:09:00+02:00", "2025-06-23T21:09:00+02:00"),
        ("2025-06-23T19:09:00Z", "2025-06-23T19:09:00+00:00"),
        ("2025-06-23 21:09 UTC", "2025-06-23T21:09:00+00:00"),
        ("21:09, 23 June 2025 GMT", "2025-06-23T21:09:00+00:00"),
        ("23 Jun 2025, 21:09 +0200", "2025-06-23T21:09:00+02:00"),
        ("Mon 23 June 2025 21:09 UTC-3", "2025-06-23T21:09:00-03:00"),
        ("Monday, 23 June 2025 at 21:09", "2025-06-23T21:09:00"),
        ("June 23, 2025 9:09 pm", "2025-06-23T21:09:00"),
        ("12:30 am, 1st Jan 2025", "2025-01-01T00:30:00"),
        ("9:09 a.m., Sept 3 2025", "2025-09-03T09:09:00"),
        ("  21:09,   23   June 2025  ", "2025-06-23T21:09:00"),
        ("", None),
        ("sometime last week", None),
        ("21:09", None),
        ("31 June 2025", None),
        ("23 Juno 2025", None),
        ("2025-13-01", None),
        ("23 June 2025 25:00", None),
        ("13:00 pm, 23 June 2025", None),
        ("23 June 2025 21:09 CEST", None),
        ("23/06/2025", None),
        ("23 June 2025 21:09 +99:00", None),
        ("0001-01-01", None),
        ("23 June 2025, and more words", None),
    ],
)
def test_parse_wire_date(text: str, expected: str | None) -> None:
    assert _iso(parse_wire_date(text)) == expected


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"caf\xc3\xa9", "café"),
        (b"\xef\xbb\xbfcaf\xc3\xa9", "café"),
        (b"caf\xe9 \x80", "café €"),
        (b"\x93quoted\x94", "“quoted”"),
        (b"price \x81 rose", "price \ufffd rose"),
    ],
)
def test_decode_wire(content: bytes, expected: str) -> None:
    assert decode_wire(content) == expected


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty file"),
        (b"text\x00more", "binary file"),
        (b"\x01\x02\x03\x04 text", "binary file"),
        (b"\x81\x8d\x8f\x90\x9d text", "binary file"),
    ],
)
def test_decode_wire_refuses(content: bytes, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        decode_wire(content)


def test_known_bylines_win_over_position() -> None:
    """A desk line needs no date after it when the catalogue knows it."""
    content = b"Title\n\nEurope Desk\n\nBody text.\n"
    assert read_wire("a.txt", content).byline is None
    assert read_wire("a.txt", content, ["europe desk"]).byline == "Europe Desk"


def _assert_read_or_refused(content: bytes) -> None:
    try:
        item = read_wire("fuzz.txt", content)
    except ParseError as error:
        assert str(error)
        return
    assert isinstance(item, RawItem)
    assert item.title.strip()
    assert item.guid == "fuzz.txt"
    assert item.content_html is not None
    assert "<script" not in item.content_html.lower()


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_fuzz_arbitrary_bytes(content: bytes) -> None:
    _assert_read_or_refused(content)


_WIRE_PIECES = st.sampled_from([
    "Title", "NYM Desk", "Published : 21:09, 23 June 2025", "Updated: 2025-06-23T21:09Z",
    "Published : 99:99, 99 Foo 9999", "  • bullet", "- dash", "* star", "Share:", "Facebook",
    "<script>alert(1)</script>", "Heading Line", "a lower line.", "", "", "\t", "€ “q” ’",
])


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.one_of(_WIRE_PIECES, st.text(max_size=30)), max_size=25),
    st.sampled_from(["\n", "\r\n", "\r"]),
    st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]),
)
def test_fuzz_wire_shaped_text(lines: list[str], newline: str, encoding: str) -> None:
    """Text built from wire-format pieces reaches the structure code, not just decoding."""
    content = newline.join(lines).encode(encoding, errors="replace")
    _assert_read_or_refused(content)


INBOX_FILES = sorted(INBOX.glob("*/*.txt"))


@pytest.mark.parametrize(
    "path", INBOX_FILES, ids=[str(path.relative_to(INBOX)) for path in INBOX_FILES]
)
def test_sample_inbox_reads(path: Path) -> None:
    """The shipped sample catalogue must give real articles, dated, with a body."""
    desk_line = INBOX_BYLINES[path.parent.name]
    item = read_wire(path.name, path.read_bytes(), [desk_line])
    assert item.title
    assert item.byline in (None, desk_line)
    assert item.published is not None and item.published.year == 2025
    assert item.content_html and item.content_html.startswith("<")


def test_sample_inbox_is_there() -> None:
    assert (INBOX / "nym" / "000_8566422078d4f727.txt").read_bytes() == (
        CORPUS / "seed.txt"
    ).read_bytes()
    assert len(list((INBOX / "nym").glob("*.txt"))) == 4
    assert len(list((INBOX / "europe").glob("*.txt"))) == 3
