"""Media in and out: each media form of the parse corpus through normalise and render.

Every media case of tests/feeds/ (RSS enclosure, Atom enclosure, Media RSS,
iTunes, JSON Feed 1.0 and 1.1) is parsed, normalised and rendered in the
three formats; the bytes are compared with tests/golden/media/, which is
regenerated after a deliberate change (review the diff) with:

    .venv/bin/python tests/test_render_media.py

What is rendered is then read back by feedparser, by our own parser (the
same enclosures come out, so a feedsvc can follow a feedsvc), by atoma (a
strict parser), and checked against the RFC 4287 schema, the JSON Feed 1.1
schema and the RSS 2.0 rules (tests/test_validators.py).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import atoma
import feedparser
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedsvc.media import MAX_ENCLOSURES
from feedsvc.model import Article, Document, Enclosure, RawItem, Source
from feedsvc.normalise import normalise
from feedsvc.parse import parse_feed
from feedsvc.render import FORMATS, FeedSpec, render
from feedsvc.render_media import ITUNES, MEDIA_RSS, UNKNOWN_TYPE
from test_validators import atom_errors, json_feed_errors, rss_errors

CORPUS = Path(__file__).resolve().parent / "feeds"
GOLDEN = Path(__file__).resolve().parent / "golden" / "media"
BASE = "https://news.example/"
NOW = datetime(2025, 7, 1, 12, 0, tzinfo=UTC)
MEDIA = "{" + MEDIA_RSS + "}"
ITUNES_NS = "{" + ITUNES + "}"
ATOM = "{http://www.w3.org/2005/Atom}"
CASES = ("rss-enclosure", "atom-enclosure", "media-rss", "itunes", "jsonfeed10", "jsonfeed11")

SPEC = FeedSpec(
    path="feeds/desks/media",
    title="Media Desk",
    description="Everything with a file attached",
    home_path="desks/media",
    ttl=timedelta(minutes=15),
    language="en",
)


def _document(case: str) -> Document:
    expected = json.loads((CORPUS / f"{case}.json").read_text(encoding="utf-8"))
    (path,) = [p for p in CORPUS.glob(f"{case}.*") if p.suffix not in (".json",)]
    return Document(expected.get("name", "https://example.org/feed"), path.read_bytes())


def articles_of(document: Document, source_id: str = "media-src") -> list[Article]:
    """What a feed source of these bytes would store: parsed and normalised."""
    source = Source(
        id=source_id, kind="feed", desk="media", every=timedelta(minutes=15), url=document.name
    )
    parsed = parse_feed(document)
    return [
        normalise(item, source, {}, {}, NOW - timedelta(seconds=n))
        for n, item in enumerate(parsed.items)
    ]


def _rendered(case: str, fmt: str) -> bytes:
    return render(SPEC, articles_of(_document(case)), BASE, fmt)


def _media(articles: list[Article]) -> list[tuple[tuple[Enclosure, ...], str | None]]:
    return [(a.enclosures, a.image) for a in articles]


# --------------------------------------------------------------------------- golden


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case", CASES)
def test_media_output_matches_golden_bytes(case: str, fmt: str) -> None:
    assert _rendered(case, fmt) == (GOLDEN / f"{case}.{fmt}").read_bytes()


@pytest.mark.parametrize("case", CASES)
def test_every_case_has_media_to_publish(case: str) -> None:
    """The corpus cases must exercise what they are named for."""
    articles = articles_of(_document(case))
    assert any(a.enclosures for a in articles) or any(a.image for a in articles)


# --------------------------------------------------------------------------- read back


@pytest.mark.parametrize("case", CASES)
def test_rss_and_json_read_back_the_same_media(case: str) -> None:
    """Our own feeds parsed again give the same enclosures and image (durations included)."""
    articles = articles_of(_document(case))
    for fmt in ("rss", "json"):
        body = render(SPEC, articles, BASE, fmt)
        again = articles_of(Document(BASE + SPEC.path + "." + fmt, body))
        assert _media(again) == _media(articles), fmt


@pytest.mark.parametrize("case", CASES)
def test_atom_reads_back_the_same_media_but_durations(case: str) -> None:
    """Atom has no place for a duration; everything else survives."""
    articles = articles_of(_document(case))
    body = render(SPEC, articles, BASE, "atom")
    again = articles_of(Document(BASE + SPEC.path + ".atom", body))
    without = [
        (tuple(replace(e, duration=None) for e in enclosures), image)
        for enclosures, image in _media(articles)
    ]
    assert _media(again) == without


def _feedparser(body: bytes) -> Any:
    return feedparser.parse(body, sanitize_html=False, resolve_relative_uris=False)


@pytest.mark.parametrize("case", CASES)
def test_feedparser_reads_our_enclosures(case: str) -> None:
    articles = articles_of(_document(case))
    rss = _feedparser(render(SPEC, articles, BASE, "rss"))
    atom = _feedparser(render(SPEC, articles, BASE, "atom"))
    assert rss.bozo == 0
    assert atom.bozo == 0
    for article, r, a in zip(articles, rss.entries, atom.entries, strict=True):
        first = article.enclosures[:1]
        assert [(e.href, e.type, e.length) for e in r.get("enclosures", [])] == [
            (e.url, e.type or UNKNOWN_TYPE, str(e.length or 0)) for e in first
        ]
        assert [m["url"] for m in r.get("media_content", [])] == [
            e.url for e in article.enclosures[1:]
        ]
        assert [e.href for e in a.get("enclosures", [])] == [e.url for e in article.enclosures]
        thumbnails = [t["url"] for t in r.get("media_thumbnail", [])]
        assert thumbnails == ([article.image] if article.image else [])
        assert [t["url"] for t in a.get("media_thumbnail", [])] == thumbnails


# --------------------------------------------------------------------------- validity


@pytest.mark.parametrize("case", CASES)
def test_media_feeds_are_valid(case: str) -> None:
    assert rss_errors(_rendered(case, "rss")) == []
    assert atom_errors(_rendered(case, "atom")) == []
    assert json_feed_errors(_rendered(case, "json")) == []


@pytest.mark.parametrize("case", CASES)
def test_a_strict_parser_reads_our_media(case: str) -> None:
    """atoma raises where feedparser shrugs; it reads enclosures, links and attachments."""
    articles = articles_of(_document(case))
    rss = atoma.parse_rss_bytes(_rendered(case, "rss"))
    atom = atoma.parse_atom_bytes(_rendered(case, "atom"))
    jsonfeed = atoma.parse_json_feed(json.loads(_rendered(case, "json")))
    for article, r, a, j in zip(articles, rss.items, atom.entries, jsonfeed.items, strict=True):
        assert [e.url for e in r.enclosures] == [e.url for e in article.enclosures[:1]]
        assert [e.length for e in r.enclosures] == [e.length or 0 for e in article.enclosures[:1]]
        links = [(link.href, link.length) for link in a.links if link.rel == "enclosure"]
        assert links == [(e.url, e.length) for e in article.enclosures]
        assert [(x.url, x.size_in_bytes) for x in j.attachments] == [
            (e.url, e.length) for e in article.enclosures
        ]
        assert j.image == article.image


# --------------------------------------------------------------------------- structure

PODCAST = Article(
    id="0123456789abcdef01234567",
    source="pod",
    guid="ep-1",
    url="https://pod.example/show/",
    title="Episode 1",
    summary="Show notes.",
    content_html="<p>Show notes.</p>",
    author="Host",
    desk="media",
    topics=(),
    published=datetime(2025, 6, 1, tzinfo=UTC),
    updated=datetime(2025, 6, 1, tzinfo=UTC),
    language="en",
    enclosures=(
        Enclosure("https://pod.example/ep1.mp3", "audio/mpeg", 1000, 1800),
        Enclosure("https://pod.example/ep1.bin"),
        Enclosure("https://pod.example/ep1.ogg", "audio/ogg", None, 1799),
    ),
    image="https://pod.example/ep1.jpg",
)
PLAIN = replace(PODCAST, id="fedcba9876543210fedcba98", guid="ep-0", enclosures=(), image=None)


def test_rss_has_one_enclosure_per_item_and_media_content_for_the_rest() -> None:
    item = ET.fromstring(render(SPEC, [PODCAST], BASE, "rss")).find("channel/item")
    assert item is not None
    enclosures = item.findall("enclosure")
    assert [e.attrib for e in enclosures] == [
        {"url": "https://pod.example/ep1.mp3", "length": "1000", "type": "audio/mpeg"}
    ]
    assert [c.attrib for c in item.findall(MEDIA + "content")] == [
        {"url": "https://pod.example/ep1.bin", "type": UNKNOWN_TYPE},
        {"url": "https://pod.example/ep1.ogg", "type": "audio/ogg", "duration": "1799"},
    ]
    assert [t.attrib for t in item.findall(MEDIA + "thumbnail")] == [
        {"url": "https://pod.example/ep1.jpg"}
    ]
    assert item.findtext(ITUNES_NS + "duration") == "1800"


def test_rss_enclosure_says_zero_and_octet_stream_when_unknown() -> None:
    """RSS 2.0 requires url, length and type; the RSS Advisory Board's advice for unknowns."""
    unknown = replace(PODCAST, enclosures=(Enclosure("https://pod.example/file"),), image=None)
    item = ET.fromstring(render(SPEC, [unknown], BASE, "rss")).find("channel/item")
    assert item is not None
    (enclosure,) = item.findall("enclosure")
    assert enclosure.attrib == {
        "url": "https://pod.example/file",
        "length": "0",
        "type": UNKNOWN_TYPE,
    }
    assert item.find(ITUNES_NS + "duration") is None
    entry = ET.fromstring(render(SPEC, [unknown], BASE, "atom")).find(ATOM + "entry")
    assert entry is not None
    links = [link.attrib for link in entry.findall(ATOM + "link") if link.get("rel") == "enclosure"]
    assert links == [{"rel": "enclosure", "href": "https://pod.example/file"}]
    (attachment,) = json.loads(render(SPEC, [unknown], BASE, "json"))["items"][0]["attachments"]
    assert attachment == {"url": "https://pod.example/file", "mime_type": UNKNOWN_TYPE}


def test_namespaces_are_declared_only_when_used() -> None:
    """A feed without media keeps its bytes: no Media RSS or iTunes declaration."""
    for fmt in ("rss", "atom"):
        plain = render(SPEC, [PLAIN], BASE, fmt)
        assert MEDIA_RSS.encode() not in plain
        assert ITUNES.encode() not in plain
    assert ITUNES.encode() not in render(SPEC, [PODCAST], BASE, "atom")
    image_only = replace(PODCAST, enclosures=())
    assert ITUNES.encode() not in render(SPEC, [image_only], BASE, "rss")
    assert MEDIA_RSS.encode() in render(SPEC, [image_only], BASE, "rss")
    one_file = replace(PODCAST, enclosures=PODCAST.enclosures[1:2], image=None)
    rss = render(SPEC, [one_file], BASE, "rss")
    assert MEDIA_RSS.encode() not in rss
    assert ITUNES.encode() not in rss
    json_item = json.loads(render(SPEC, [PLAIN], BASE, "json"))["items"][0]
    assert "attachments" not in json_item
    assert "image" not in json_item


def test_media_and_plain_articles_mix() -> None:
    """Only the items with media carry it; order and identity are untouched."""
    mixed = [PLAIN, PODCAST]
    for fmt in FORMATS:
        body = render(SPEC, mixed, BASE, fmt)
        again = articles_of(Document(BASE + SPEC.path + "." + fmt, body))
        assert [bool(a.enclosures) for a in again] == [False, True]
        assert render(SPEC, mixed, BASE, fmt) == body  # deterministic
    items = json.loads(render(SPEC, mixed, BASE, "json"))["items"]
    assert items[1]["attachments"] == [
        {
            "url": "https://pod.example/ep1.mp3",
            "mime_type": "audio/mpeg",
            "size_in_bytes": 1000,
            "duration_in_seconds": 1800,
        },
        {"url": "https://pod.example/ep1.bin", "mime_type": UNKNOWN_TYPE},
        {
            "url": "https://pod.example/ep1.ogg",
            "mime_type": "audio/ogg",
            "duration_in_seconds": 1799,
        },
    ]
    assert items[1]["image"] == "https://pod.example/ep1.jpg"
    assert json_feed_errors(render(SPEC, mixed, BASE, "json")) == []
    assert atom_errors(render(SPEC, mixed, BASE, "atom")) == []
    assert rss_errors(render(SPEC, mixed, BASE, "rss")) == []


JUNK_URL = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        ["javascript:alert(1)", "data:audio/mpeg,x", "/rel.mp3", "ep.mp3?a=1&b=2", "p.jpg"]
    ),
    st.builds(lambda path: "https://m.example/" + path, st.text(max_size=20)),
)
JUNK_ENCLOSURE = st.builds(
    Enclosure,
    url=JUNK_URL,
    type=st.none() | st.text(max_size=20) | st.sampled_from(["audio/mpeg", "AUDIO/MP4; x=1"]),
    length=st.none() | st.integers(min_value=-(2**70), max_value=2**70),
    duration=st.none() | st.integers(min_value=-(2**40), max_value=2**40),
)


@settings(max_examples=100, deadline=None)
@given(st.lists(JUNK_ENCLOSURE, max_size=30), st.none() | JUNK_URL)
def test_any_media_a_source_sends_gives_valid_feeds(
    enclosures: list[Enclosure], image: str | None
) -> None:
    """Whatever junk comes in, what goes out is well-formed, valid, and within the ceilings."""
    raw = RawItem(
        guid="g",
        title="t",
        content_html="<p>x</p>",
        base_url="https://m.example/show/",
        enclosures=tuple(enclosures),
        image=image,
    )
    source = Source(id="m", kind="feed", desk="media", every=timedelta(minutes=5))
    article = normalise(raw, source, {}, {}, NOW)
    assert len(article.enclosures) <= MAX_ENCLOSURES
    for fmt, check in (("rss", rss_errors), ("atom", atom_errors), ("json", json_feed_errors)):
        body = render(SPEC, [article], BASE, fmt)
        assert check(body) == [], fmt
        again = articles_of(Document(BASE + SPEC.path + "." + fmt, body))
        assert [e.url for e in again[0].enclosures] == [
            e.url for n, e in enumerate(article.enclosures) if fmt != "rss" or not _picture(n, e)
        ]
        assert again[0].image == article.image


def _picture(index: int, enclosure: Enclosure) -> bool:
    """An image file after the first, which RSS can only carry as media:content.

    A media:content picture is read as a lead-image candidate, not a file
    (parse_media): the one thing a feedsvc reading a feedsvc's RSS loses.
    """
    return index > 0 and (enclosure.type or "").startswith("image/")


def test_an_image_file_after_the_first_is_a_picture_when_rss_is_read_again() -> None:
    gallery = replace(
        PODCAST,
        enclosures=(PODCAST.enclosures[0], Enclosure("https://pod.example/p.jpg", "image/jpeg")),
    )
    again = articles_of(Document(BASE + "x.rss", render(SPEC, [gallery], BASE, "rss")))
    assert [e.url for e in again[0].enclosures] == ["https://pod.example/ep1.mp3"]
    assert again[0].image == gallery.image
    for fmt in ("atom", "json"):
        again = articles_of(Document(BASE + "x." + fmt, render(SPEC, [gallery], BASE, fmt)))
        assert [e.url for e in again[0].enclosures] == [e.url for e in gallery.enclosures]


def _write_goldens() -> None:
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for case in CASES:
        for fmt in FORMATS:
            (GOLDEN / f"{case}.{fmt}").write_bytes(_rendered(case, fmt))


if __name__ == "__main__":
    _write_goldens()
