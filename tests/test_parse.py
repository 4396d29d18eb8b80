"""Tests of feedsvc.parse: the golden corpus, dates, people and the entity guard.

The corpus (tests/feeds/) follows feedparser's habit: each case is a tiny input
file NAME.<ext> (NAME.jsonfeed for a JSON Feed) beside NAME.json, which says in
its "about" what the case is about and states only the expectations that
matter to it; NAME.headers.json, if present, holds the response headers. One
parametrised test runs them all. The media cases (tests/test_media.py) also
go on through normalise and render, to golden output in tests/golden/media/.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedsvc.errors import ParseError, SourceError
from feedsvc.model import Document, Enclosure, ParsedFeed, RawItem
from feedsvc.parse import ENTITIES_REFUSED, PROLOG_WINDOW, parse_date, parse_feed, person_name

CORPUS = Path(__file__).parent / "feeds"
DEFAULT_NAME = "https://example.org/feed"
FEED_FIELDS = ("title", "link", "language")


def _cases() -> list[str]:
    return sorted(
        path.name.removesuffix(".json")
        for path in CORPUS.glob("*.json")
        if not path.name.endswith(".headers.json")
    )


def _input(name: str) -> Path:
    (found,) = [
        path
        for path in CORPUS.glob(f"{name}.*")
        if path.name not in {f"{name}.json", f"{name}.headers.json"}
    ]
    return found


def _document(name: str, expected: dict[str, Any]) -> Document:
    headers_file = CORPUS / f"{name}.headers.json"
    headers = json.loads(headers_file.read_text()) if headers_file.exists() else {}
    return Document(
        name=expected.get("name", DEFAULT_NAME),
        content=_input(name).read_bytes(),
        headers=headers,
    )


def _jsonable(value: object) -> object:
    """A RawItem field in the corpus's notation: ISO times, lists for tuples, records as dicts."""
    if isinstance(value, datetime):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, tuple):
        return [_jsonable(part) for part in value]
    if isinstance(value, Enclosure):
        return dataclasses.asdict(value)
    return value


def _check_item(actual: RawItem, expected: dict[str, Any], where: str) -> None:
    for field, want in expected.items():
        got = _jsonable(getattr(actual, field))
        assert got == want, f"{where}.{field}: {got!r} != {want!r}"


def _check_feed(parsed: ParsedFeed, expected: dict[str, Any]) -> None:
    for field in FEED_FIELDS:
        if field in expected:
            assert getattr(parsed, field) == expected[field], field
    problems = expected.get("problems")
    if isinstance(problems, bool):
        assert bool(parsed.problems) is problems, parsed.problems
    elif isinstance(problems, str):
        assert any(problems in p for p in parsed.problems), parsed.problems
    if "items" in expected:
        assert len(parsed.items) == len(expected["items"]), parsed.items
        for number, (item, want) in enumerate(zip(parsed.items, expected["items"], strict=True)):
            _check_item(item, want, f"item {number + 1}")


def test_corpus_is_big_enough() -> None:
    assert len(_cases()) >= 25


@pytest.mark.parametrize("name", _cases())
def test_corpus(name: str) -> None:
    expected = json.loads((CORPUS / f"{name}.json").read_text(encoding="utf-8"))
    assert expected.get("about"), "every case says what it is about"
    document = _document(name, expected)
    if "error" in expected:
        with pytest.raises(ParseError) as caught:
            parse_feed(document)
        assert expected["error"] in str(caught.value)
        assert "root:" not in str(caught.value)  # never a line of /etc/passwd
        return
    _check_feed(parse_feed(document), expected)


# --------------------------------------------------------------------------- whole documents

RSS_HEAD = '<rss version="2.0"><channel><title>T</title><link>https://t.example/</link>'


def _rss(items: str, prolog: str = '<?xml version="1.0" encoding="utf-8"?>\n') -> str:
    return f"{prolog}{RSS_HEAD}<description>d</description>{items}</channel></rss>\n"


def test_same_bytes_parse_to_equal_values() -> None:
    """Identity and fingerprints downstream rely on parsing being a pure function."""
    document = Document(DEFAULT_NAME, _input("atom10-full").read_bytes())
    assert parse_feed(document) == parse_feed(document)


def test_parse_error_is_a_source_error() -> None:
    """ingest turns SourceErrors into a failed result for this source only."""
    with pytest.raises(SourceError):
        parse_feed(Document(DEFAULT_NAME, b""))


def test_a_file_name_as_body_is_not_opened(tmp_path: Path) -> None:
    """feedparser opens a bytes argument that names a file; parse_feed must not let it."""
    feed = tmp_path / "secret.rss"
    feed.write_text(_rss("<item><title>from the disk</title></item>"))
    with pytest.raises(ParseError, match="not a feed"):
        parse_feed(Document(DEFAULT_NAME, str(feed).encode()))


def test_a_url_as_body_is_not_fetched() -> None:
    with pytest.raises(ParseError, match="not a feed"):
        parse_feed(Document(DEFAULT_NAME, b"http://127.0.0.1:9/feed.rss"))


def test_a_long_feed_is_read_whole() -> None:
    """The entity guard reads only the prolog window; the feed itself has no size limit here."""
    items = "".join(
        f'<item><guid isPermaLink="false">g{n}</guid><title>{"x" * 200}</title></item>'
        for n in range(500)
    )
    body = _rss(items).encode()
    assert len(body) > 2 * PROLOG_WINDOW
    parsed = parse_feed(Document(DEFAULT_NAME, body))
    assert [item.guid for item in parsed.items] == [f"g{n}" for n in range(500)]


def test_line_numbers_are_left_out_when_they_would_be_wrong() -> None:
    """Without an XML declaration feedparser adds one, so expat's lines would be off by one."""
    items = "<item><title>a & b</title></item>"
    declared = parse_feed(Document(DEFAULT_NAME, _rss(items).encode()))
    undeclared = parse_feed(Document(DEFAULT_NAME, _rss(items, prolog="").encode()))
    assert "at line 2" in declared.problems[0]
    assert "line" not in undeclared.problems[0]
    assert [i.title for i in declared.items] == [i.title for i in undeclared.items] == ["a & b"]


@pytest.mark.parametrize("case", ["atom10-full", "rss20-full", "rss10-rdf", "windows-1252"])
def test_every_truncation_is_a_feed_or_a_parse_error(case: str) -> None:
    """A download cut short anywhere must never crash the parser with anything else."""
    body = _input(case).read_bytes()
    for cut in range(0, len(body), 5):
        try:
            parsed = parse_feed(Document(DEFAULT_NAME, body[:cut]))
        except ParseError:
            continue
        assert all(isinstance(item, RawItem) for item in parsed.items)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_arbitrary_bytes_are_a_feed_or_a_parse_error(body: bytes) -> None:
    try:
        parsed = parse_feed(Document(DEFAULT_NAME, body))
    except ParseError as error:
        assert str(error)
    else:
        assert isinstance(parsed, ParsedFeed)


# --------------------------------------------------------------------------- entity guard

BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE rss [\n <!ENTITY lol "lol">\n'
    + "".join(
        f' <!ENTITY lol{n} "{("&lol" + (str(n - 1) if n > 1 else "") + ";") * 10}">\n'
        for n in range(1, 10)
    )
    + "]>\n"
    + _rss("<item><title>&lol9;</title><description>&lol9;</description></item>", prolog="")
)


@pytest.mark.parametrize(
    "codec", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "cp037"]
)
def test_billion_laughs_is_refused_in_any_encoding(codec: str) -> None:
    declared = BILLION_LAUGHS.replace('version="1.0"?>', f'version="1.0" encoding="{codec}"?>')
    with pytest.raises(ParseError, match=ENTITIES_REFUSED):
        parse_feed(Document(DEFAULT_NAME, declared.encode(codec)))


def test_large_quadratic_blowup_is_refused() -> None:
    """60 KB entity x 20,000 references would expand to over a gigabyte."""
    value = "A" * 60_000
    body = _rss(
        f"<item><title>q</title><description>{'&a;' * 20_000}</description></item>",
        prolog=f'<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY a "{value}">]>\n',
    )
    with pytest.raises(ParseError, match=ENTITIES_REFUSED):
        parse_feed(Document(DEFAULT_NAME, body.encode()))


def test_external_entity_never_leaks_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    doctype = f'<!DOCTYPE rss [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]>'
    body = _rss(
        "<item><title>&xxe;</title><description>&xxe;</description></item>",
        prolog=f'<?xml version="1.0"?>\n{doctype}\n',
    )
    with pytest.raises(ParseError) as caught:
        parse_feed(Document(DEFAULT_NAME, body.encode()))
    assert str(caught.value) == ENTITIES_REFUSED
    assert "TOP-SECRET" not in repr(caught.value)


def test_a_prolog_longer_than_the_window_is_refused() -> None:
    """Padding must not push an entity declaration past what the guard reads."""
    padding = " " * PROLOG_WINDOW
    body = BILLION_LAUGHS.replace("<!DOCTYPE", padding + "<!DOCTYPE", 1)
    with pytest.raises(ParseError, match="prolog longer than 64 KB"):
        parse_feed(Document(DEFAULT_NAME, body.encode()))


def test_a_long_comment_cannot_hide_a_declaration() -> None:
    body = BILLION_LAUGHS.replace("<!DOCTYPE", "<!--" + "c" * PROLOG_WINDOW + "-->\n<!DOCTYPE")
    with pytest.raises(ParseError, match="refused"):
        parse_feed(Document(DEFAULT_NAME, body.encode()))


@pytest.mark.parametrize(
    ("case", "prolog", "items"),
    [
        (
            "the word in a comment before the root",
            '<?xml version="1.0"?>\n<!-- no <!ENTITY here, really -->\n',
            "<item><title>ok</title></item>",
        ),
        (
            "an article about XML attacks, in CDATA",
            '<?xml version="1.0"?>\n',
            '<item><title>ok</title><description><![CDATA[<!DOCTYPE x [<!ENTITY a "b">]>]]>'
            "</description></item>",
        ),
        (
            "a DOCTYPE with an external DTD but no entities (RSS 0.91)",
            '<?xml version="1.0"?>\n<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS'
            ' 0.91//EN" "http://my.netscape.com/publish/formats/rss-0.91.dtd">\n',
            "<item><title>ok</title></item>",
        ),
    ],
)
def test_entity_look_alikes_are_not_refused(case: str, prolog: str, items: str) -> None:
    parsed = parse_feed(Document(DEFAULT_NAME, _rss(items, prolog=prolog).encode()))
    assert [item.title for item in parsed.items] == ["ok"], case


# --------------------------------------------------------------------------- dates


def _utc(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # RFC 822
        ("Mon, 23 Jun 2025 21:09:00 +0200", _utc(2025, 6, 23, 19, 9)),
        ("Mon, 23 Jun 2025 21:09:00 -0000", _utc(2025, 6, 23, 21, 9)),
        ("Mon, 23 Jun 2025 21:09:00 +0000", _utc(2025, 6, 23, 21, 9)),
        ("Mon, 23 Jun 2025 21:09:00 GMT", _utc(2025, 6, 23, 21, 9)),
        ("Mon, 23 Jun 2025 21:09:00 UT", _utc(2025, 6, 23, 21, 9)),
        ("Mon, 23 Jun 2025 17:09:00 EDT", _utc(2025, 6, 23, 21, 9)),
        ("Mon, 23 Jun 2025 23:09:00 CEST", _utc(2025, 6, 23, 21, 9)),
        ("Mon, 23 Jun 2025 23:09:00 GMT+2", _utc(2025, 6, 23, 21, 9)),
        ("Mon, 23 Jun 2025 23:09:00 +02:00", _utc(2025, 6, 23, 21, 9)),
        ("Monday, 23-Jun-25 21:09:00 GMT", _utc(2025, 6, 23, 21, 9)),
        ("Mon,  23 June 2025   21:09 +0000", _utc(2025, 6, 23, 21, 9)),
        ("Mon, 23 Jun 2025 21:09:00", datetime(2025, 6, 23, 21, 9)),
        ("23 Jun 2025 21:09", datetime(2025, 6, 23, 21, 9)),
        ("23 Jun 2025", datetime(2025, 6, 23)),
        ("Mon, 31 Feb 2025 21:09:00 GMT", None),
        ("Mon, 23 Jun 2025 21:09:00 +2500", None),
        ("Mon, 23 Jun 9999 21:09:00 GMT", None),
        ("Fri, 31 Dec 9999 23:59:59 -1200", None),
        # ISO 8601 / W3CDTF
        ("2025-06-23T21:09:00Z", _utc(2025, 6, 23, 21, 9)),
        ("2025-06-23T21:09:00+02:00", _utc(2025, 6, 23, 19, 9)),
        ("2025-06-23T21:09:00-00:00", _utc(2025, 6, 23, 21, 9)),
        ("2025-06-23T21:09:00.5+0200", _utc(2025, 6, 23, 19, 9, 0, 500000)),
        ("2025-06-23 21:09:00 +02:00", _utc(2025, 6, 23, 19, 9)),
        ("2025-06-23T21:09Z", _utc(2025, 6, 23, 21, 9)),
        ("20250623T210900Z", _utc(2025, 6, 23, 21, 9)),
        ("2025-06-23T21:09:00", datetime(2025, 6, 23, 21, 9)),
        ("2025-06-23T21:09", datetime(2025, 6, 23, 21, 9)),
        ("2025-06-23", datetime(2025, 6, 23)),
        ("2025-06", datetime(2025, 6, 1)),
        ("2025-02-31T10:00:00Z", None),
        ("2025-06-23T25:61:00Z", None),
        ("0000-01-01T00:00:00Z", None),
        ("9999-12-31T23:59:59Z", None),
        ("1801-06-23T12:00:00Z", None),
        # asctime
        ("Mon Jun 23 21:09:00 2025", datetime(2025, 6, 23, 21, 9)),
        ("Mon Jun 23 23:09:00 CEST 2025", _utc(2025, 6, 23, 21, 9)),
        # nothing to read
        ("", None),
        ("   ", None),
        ("yesterday", None),
        ("2025-13-45", None),
    ],
)
def test_parse_date(raw: str, expected: datetime | None) -> None:
    got = parse_date(raw)
    assert got == expected
    if got is not None:
        assert (got.tzinfo is None) is (expected.tzinfo is None)  # type: ignore[union-attr]
        assert got.utcoffset() in (None, UTC.utcoffset(None))


def test_parse_date_falls_back_to_feedparser_for_exotic_formats() -> None:
    """A format only feedparser knows keeps feedparser's reading, which is UTC."""
    struct = _utc(2025, 6, 23, 21, 9).timetuple()
    assert parse_date("23.06.2025 exotic", struct) == _utc(2025, 6, 23, 21, 9)
    assert parse_date(None, struct) == _utc(2025, 6, 23, 21, 9)


def test_parse_date_ignores_feedparser_when_the_string_is_impossible() -> None:
    """feedparser rolls 31 February over into March; an impossible date stays no date."""
    assert parse_date("2025-02-31T10:00:00Z", _utc(2025, 3, 3, 10).timetuple()) is None


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_parse_date_never_raises(raw: str) -> None:
    got = parse_date(raw)
    assert got is None or got.tzinfo in (None, UTC)


# --------------------------------------------------------------------------- people


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Jane Doe", "Jane Doe"),
        ("  Jane \n Doe ", "Jane Doe"),
        ("jane@example.org (Jane Doe)", "Jane Doe"),
        ("Jane Doe <jane@example.org>", "Jane Doe"),
        ("Jane Doe (jane@example.org)", "Jane Doe"),
        ("Jane Doe <mailto:jane@example.org>", "Jane Doe"),
        ("jane@example.org", None),
        ("<jane@example.org>", None),
        ("jane@example.org ()", None),
        ("", None),
        (None, None),
        ("NYM Desk (Brussels)", "NYM Desk (Brussels)"),
    ],
)
def test_person_name(raw: str | None, expected: str | None) -> None:
    assert person_name(raw) == expected


LOOSE_GUIDS = ["https://e.x/?a=1&amp;b=2", "x&amp;amp;y", "x&lt;y", "a&#38;b", "q&quot;", "plain"]


@pytest.mark.parametrize("written", LOOSE_GUIDS)
def test_a_guid_is_the_same_whether_the_document_is_well_formed_or_not(written: str) -> None:
    """A malformed document goes to feedparser's loose parser, which leaves ids escaped."""

    def guid_of(broken: str) -> str | None:
        body = (
            "<rss version='2.0'><channel><title>t</title><item><title>t</title>"
            f"<guid isPermaLink='false'>{written}</guid></item>{broken}</channel></rss>"
        )
        (item,) = parse_feed(Document(name="https://e.x/f", content=body.encode())).items
        return item.guid

    assert guid_of("<x>\x01</x>") == guid_of("")


# (name, the item's date elements, published read, the item's problems)
DATE_PROBLEM_ROWS = [
    ("readable", "<pubDate>Mon, 23 Jun 2025 19:09:00 +0000</pubDate>", True, ()),
    (
        "unreadable, no other date",
        "<pubDate>next Tuesday</pubDate>",
        False,
        ("date 'published' not understood ('next Tuesday'): dated when first seen",),
    ),
    (
        "unreadable, with a readable other date",
        "<pubDate>soon</pubDate><atom:updated>2025-06-23T19:09:00Z</atom:updated>",
        False,
        ("date 'published' not understood ('soon'): ignored",),
    ),
    ("none at all", "", False, ()),
]


@pytest.mark.parametrize(
    ("dates", "has_published", "problems"),
    [row[1:] for row in DATE_PROBLEM_ROWS],
    ids=[row[0] for row in DATE_PROBLEM_ROWS],
)
def test_a_date_that_cannot_be_read_is_a_problem_of_its_item(
    dates: str, has_published: bool, problems: tuple[str, ...]
) -> None:
    body = (
        "<rss version='2.0' xmlns:atom='http://www.w3.org/2005/Atom'><channel><title>t</title>"
        f"<item><title>t</title><guid>g</guid>{dates}</item></channel></rss>"
    )
    (item,) = parse_feed(Document(name="https://e.x/f", content=body.encode())).items
    assert (item.published is not None) is has_published
    assert item.problems == problems
