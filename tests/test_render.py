"""Tests of render.py: golden bytes, determinism, round trips through real parsers.

The golden files in ``tests/golden/`` are compared byte for byte. When a
deliberate change to the output (or the package version, which the generator
element names) makes them stale, review the diff and regenerate them with:

    .venv/bin/python tests/test_render.py

Round trips parse what was rendered with feedparser (RSS, Atom) and json
(JSON Feed) and compare field by field with the articles, so the three formats
are shown to say the same thing, not just to look alike.
"""

from __future__ import annotations

import calendar
import html
import json
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import feedparser
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedsvc.errors import NotFound
from feedsvc.model import Article, Origin
from feedsvc.render import (
    EPOCH,
    FEED_AUTHOR,
    FORMATS,
    MEDIA_TYPES,
    UNTITLED,
    FeedSpec,
    entry_id,
    feed_updated,
    feed_url,
    render,
    render_atom,
    render_json,
    render_rss,
    ttl_minutes,
    with_correction,
)

GOLDEN = Path(__file__).resolve().parent / "golden"
BASE = "https://news.example/"

ATOM = "{http://www.w3.org/2005/Atom}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
DC = "{http://purl.org/dc/elements/1.1/}"
DCTERMS = "{http://purl.org/dc/terms/}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

SPEC = FeedSpec(
    path="feeds/desks/nym",
    title="NYM Desk — feedsvc",
    description="Politics and security from the NYM newsroom",
    home_path="desks/nym",
    ttl=timedelta(minutes=5),
    language="en",
)

SOURCE_TITLES = {"nym-wire": "NYM Wire", "world-rss": "World News"}

# The guid is the article's URL: a permalink, used as the id everywhere. A
# third-party story: its origin is the upstream feed, named by atom:source.
PERMALINK = Article(
    id="3f1c2a9b8d7e6f5a4b3c2d1e",
    source="world-rss",
    guid="https://world.example.org/2025/06/23/nato-summit",
    url="https://world.example.org/2025/06/23/nato-summit",
    title="NATO leaders agree on defence spending",
    summary="Allies commit to a new target after two days of talks.",
    content_html="<p>Allies commit to a new target after two days of talks.</p>",
    author="Jane Doe",
    desk="nym",
    topics=("security", "politics"),
    published=datetime(2025, 6, 23, 19, 9, tzinfo=UTC),
    updated=datetime(2025, 6, 23, 19, 30, tzinfo=UTC),
    language="en",
    origin=Origin(
        title="World News",
        link="https://world.example.org/",
        id="https://world.example.org/feed.rss",
    ),
)

# No URL at all (a wire article): a URN id, its page as link; updated has
# microseconds; a correction note ends its content.
NO_URL = Article(
    id="0a1b2c3d4e5f60718293a4b5",
    source="nym-wire",
    guid="sha256:9c0e6b1d2f",
    url=None,
    title="Council adopts sanctions package",
    summary="The package targets shipping & insurance firms.",
    content_html="<p>The package targets shipping &amp; insurance firms.</p>",
    author="NYM Desk",
    desk="nym",
    topics=("security",),
    published=datetime(2025, 6, 23, 15, 0, tzinfo=UTC),
    updated=datetime(2025, 6, 23, 15, 5, 30, 123456, tzinfo=UTC),
    language=None,
    correction="An earlier version misnamed the Council's president.",
)

# Non-ASCII text, HTML with entities, no author (a row stored before every
# article had one: its source is credited), a URL that is not the guid, a
# source without a known title, and times given in a +02:00 zone.
BRUSSELS = timezone(timedelta(hours=2))
NON_ASCII = Article(
    id="ffeeddccbbaa998877665544",
    source="brussels-files",
    guid="wire-2025-06-23-0042",
    url="https://nym.example/articles/2025/06/23/cafe-d-ete",
    title="Café d’été: « Zölle » & <Tarife> — 東京",
    summary="Les ministres débattent des droits de douane à 5 % & plus.",
    content_html=(
        "<p>Les ministres d&eacute;battent &amp; d&eacute;cident &lt;vite&gt;.</p>"
        "<ul><li>Zölle &#8212; 東京</li><li>5&nbsp;%</li></ul>"
        '<p><a href="https://nym.example/a?x=1&amp;y=2">Lire la suite</a></p>'
    ),
    author=None,
    desk="nym",
    topics=(),
    published=datetime(2025, 6, 23, 10, 0, tzinfo=BRUSSELS),
    updated=datetime(2025, 6, 23, 10, 15, tzinfo=BRUSSELS),
    language="fr",
)

ARTICLES = (PERMALINK, NO_URL, NON_ASCII)


def _render_golden(fmt: str) -> bytes:
    return render(SPEC, ARTICLES, BASE, fmt, SOURCE_TITLES)


def _parse(data: bytes) -> Any:
    """feedparser on bytes, without its sanitiser, so what we wrote is what we read."""
    return feedparser.parse(data, sanitize_html=False, resolve_relative_uris=False)


def _moment(parsed: time.struct_time) -> datetime:
    return datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(microsecond=0)


def _rfc3339(moment: datetime) -> str:
    return _utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def _author(article: Article) -> str:
    """Who an entry credits: the article's author, else (an old row) its source."""
    return article.author or SOURCE_TITLES.get(article.source, article.source)


def _content(article: Article) -> str:
    return with_correction(article.content_html, article.correction)


# --------------------------------------------------------------------------- golden


@pytest.mark.parametrize("fmt", FORMATS)
def test_output_matches_golden_bytes(fmt: str) -> None:
    golden = (GOLDEN / f"desk-nym.{fmt}").read_bytes()
    assert _render_golden(fmt) == golden


# --------------------------------------------------------------------------- determinism


@pytest.mark.parametrize("fmt", FORMATS)
def test_same_content_renders_same_bytes(fmt: str) -> None:
    copies = [replace(article) for article in ARTICLES]
    first = render(SPEC, ARTICLES, BASE, fmt, SOURCE_TITLES)
    second = render(SPEC, copies, BASE, fmt, dict(SOURCE_TITLES))
    assert first == second


@pytest.mark.parametrize("fmt", FORMATS)
def test_empty_feed_is_stable_and_well_formed(fmt: str) -> None:
    first = render(SPEC, [], BASE, fmt)
    assert first == render(SPEC, (), BASE, fmt)
    if fmt == "json":
        doc = json.loads(first)
        assert doc["items"] == []
        assert doc["version"] == "https://jsonfeed.org/version/1.1"
    else:
        parsed = _parse(first)
        assert parsed.bozo == 0
        assert parsed.entries == []


def test_empty_feed_is_dated_at_the_fixed_epoch() -> None:
    root = ET.fromstring(render_atom(SPEC, [], BASE))
    updated = root.findtext(ATOM + "updated")
    assert updated is not None
    assert datetime.fromisoformat(updated) == EPOCH
    channel = ET.fromstring(render_rss(SPEC, [], BASE)).find("channel")
    assert channel is not None
    assert channel.findtext("lastBuildDate") == "Sat, 01 Jan 2000 00:00:00 +0000"


def test_feed_updated_is_newest_update_in_utc_to_the_second() -> None:
    assert feed_updated(ARTICLES) == datetime(2025, 6, 23, 19, 30, tzinfo=UTC)
    assert feed_updated([NO_URL]) == datetime(2025, 6, 23, 15, 5, 30, tzinfo=UTC)
    assert feed_updated([NON_ASCII]) == datetime(2025, 6, 23, 8, 15, tzinfo=UTC)
    assert feed_updated([]) == EPOCH
    assert EPOCH.tzinfo is UTC


def test_articles_keep_the_order_given() -> None:
    oldest_first = (NON_ASCII, PERMALINK, NO_URL)
    doc = json.loads(render_json(SPEC, oldest_first, BASE))
    assert [item["id"] for item in doc["items"]] == [entry_id(a) for a in oldest_first]
    for fmt in ("rss", "atom"):
        parsed = _parse(render(SPEC, oldest_first, BASE, fmt))
        assert [e.id for e in parsed.entries] == [entry_id(a) for a in oldest_first]


# --------------------------------------------------------------------------- identity


def test_entry_id_is_the_permalink_or_a_urn() -> None:
    assert entry_id(PERMALINK) == PERMALINK.url
    assert entry_id(NO_URL) == "urn:feedsvc:article:" + NO_URL.id
    assert entry_id(NON_ASCII) == "urn:feedsvc:article:" + NON_ASCII.id
    odd = replace(NO_URL, id="a/b c")
    assert re.fullmatch(r"urn:feedsvc:article:[A-Za-z0-9%]+", entry_id(odd))


def test_every_format_gives_an_article_the_same_id_link_and_dates() -> None:
    rss = _parse(render_rss(SPEC, ARTICLES, BASE, SOURCE_TITLES)).entries
    atom = _parse(render_atom(SPEC, ARTICLES, BASE, SOURCE_TITLES)).entries
    items = json.loads(render_json(SPEC, ARTICLES, BASE, SOURCE_TITLES))["items"]
    for r, a, j in zip(rss, atom, items, strict=True):
        assert r.id == a.id == j["id"]
        atom_links = [link.href for link in a.get("links", []) if link.rel == "alternate"]
        assert [r.link] == [j["url"]] == atom_links
        published = _moment(r.published_parsed)
        assert published == _moment(a.published_parsed)
        assert _rfc3339(published) == j["date_published"]
        assert _rfc3339(_moment(a.updated_parsed)) == j["date_modified"]
        assert _moment(r.updated_parsed) == _moment(a.updated_parsed)


def test_a_story_without_a_url_links_to_its_page_and_keeps_its_urn() -> None:
    """Wire stories: every format links to /articles/<id>; the id is not the link."""
    page = BASE + "articles/" + NO_URL.id
    assert NO_URL.link(BASE) == page and PERMALINK.link(BASE) == PERMALINK.url
    item = ET.fromstring(render_rss(SPEC, [NO_URL], BASE)).find("channel/item")
    assert item is not None
    assert item.findtext("link") == page
    guid = item.find("guid")
    assert guid is not None and guid.get("isPermaLink") == "false"
    assert guid.text == "urn:feedsvc:article:" + NO_URL.id
    entry = ET.fromstring(render_atom(SPEC, [NO_URL], BASE)).find(ATOM + "entry")
    assert entry is not None
    assert [(x.get("rel"), x.get("href")) for x in entry.findall(ATOM + "link")] == [
        ("alternate", page)
    ]
    assert entry.findtext(ATOM + "id") == guid.text
    assert json.loads(render_json(SPEC, [NO_URL], BASE))["items"][0]["url"] == page


def test_no_entry_is_credited_to_the_service() -> None:
    for fmt in ("rss", "atom"):
        entries = _parse(render(SPEC, ARTICLES, BASE, fmt, SOURCE_TITLES)).entries
        for entry, article in zip(entries, ARTICLES, strict=True):
            assert entry.author == _author(article) != FEED_AUTHOR
    for item in json.loads(render_json(SPEC, ARTICLES, BASE, SOURCE_TITLES))["items"]:
        assert FEED_AUTHOR not in [author["name"] for author in item["authors"]]


def test_correction_ends_the_content_in_every_format() -> None:
    note = "<p><strong>Correction:</strong> An earlier version misnamed the Council's president."
    rss, atom = (_parse(render(SPEC, [NO_URL], BASE, fmt)).entries[0] for fmt in ("rss", "atom"))
    item = json.loads(render_json(SPEC, [NO_URL], BASE))["items"][0]
    for content in (rss.content[0].value, atom.content[0].value, item["content_html"]):
        assert content == NO_URL.content_html + "\n" + note + "</p>"
    escaped = with_correction("", "x < y & <b>z</b>")
    assert escaped == "<p><strong>Correction:</strong> x &lt; y &amp; &lt;b&gt;z&lt;/b&gt;</p>"


# --------------------------------------------------------------------------- round trips


def test_rss_round_trip() -> None:
    parsed = _parse(render_rss(SPEC, ARTICLES, BASE, SOURCE_TITLES))
    assert parsed.bozo == 0
    assert parsed.version == "rss20"
    assert parsed.feed.title == SPEC.title
    assert parsed.feed.link == BASE + "desks/nym"
    assert parsed.feed.language == "en"
    assert _moment(parsed.feed.updated_parsed) == feed_updated(ARTICLES)
    assert len(parsed.entries) == len(ARTICLES)
    for entry, article in zip(parsed.entries, ARTICLES, strict=True):
        assert entry.id == entry_id(article)
        assert entry.get("link") == article.link(BASE)
        assert entry.title == article.title
        # description is HTML to RSS readers: the plain summary arrives escaped once.
        assert html.unescape(entry.summary) == article.summary
        assert entry.content[0].value == _content(article)
        assert _moment(entry.published_parsed) == _utc(article.published)
        assert _moment(entry.updated_parsed) == _utc(article.updated)  # dcterms:modified
        assert [tag.term for tag in entry.get("tags", [])] == list(article.topics)
        assert all(tag.scheme == BASE + "topics/" for tag in entry.get("tags", []))
        assert entry.get("author") == _author(article)
        assert entry.get("language") == article.language


def test_atom_round_trip() -> None:
    parsed = _parse(render_atom(SPEC, ARTICLES, BASE, SOURCE_TITLES))
    assert parsed.bozo == 0
    assert parsed.version == "atom10"
    assert parsed.feed.id == BASE + "feeds/desks/nym"
    assert parsed.feed.title == SPEC.title
    assert parsed.feed.subtitle == SPEC.description
    assert parsed.feed.language == "en"
    assert parsed.feed.author == FEED_AUTHOR
    assert _moment(parsed.feed.updated_parsed) == feed_updated(ARTICLES)
    assert len(parsed.entries) == len(ARTICLES)
    for entry, article in zip(parsed.entries, ARTICLES, strict=True):
        assert entry.id == entry_id(article)
        alternates = [link.href for link in entry.get("links", []) if link.rel == "alternate"]
        assert alternates == [article.link(BASE)]
        assert entry.title == article.title
        assert entry.title_detail.type == "text/plain"
        assert entry.summary == article.summary
        assert entry.summary_detail.type == "text/plain"
        assert entry.content[0].value == _content(article)
        assert entry.content[0].type == "text/html"
        assert entry.content[0].language == (article.language or SPEC.language)
        assert _moment(entry.published_parsed) == _utc(article.published)
        assert _moment(entry.updated_parsed) == _utc(article.updated)
        assert [tag.term for tag in entry.get("tags", [])] == list(article.topics)
        assert entry.author == _author(article)
        if article.origin is None:  # the service's own story, or an origin not known
            assert "source" not in entry
        else:  # the upstream feed's own id, title and home page
            assert entry.source.id == article.origin.id
            assert entry.source.title == article.origin.title
            assert entry.source.link == article.origin.link


def test_json_round_trip() -> None:
    doc = json.loads(render_json(SPEC, ARTICLES, BASE, SOURCE_TITLES))
    assert doc["title"] == SPEC.title
    assert doc["home_page_url"] == BASE + "desks/nym"
    assert doc["feed_url"] == BASE + "feeds/desks/nym.json"
    assert doc["description"] == SPEC.description
    assert doc["language"] == "en"
    assert doc["authors"] == [{"name": FEED_AUTHOR}]
    for item, article in zip(doc["items"], ARTICLES, strict=True):
        # The article model's own JSON dates, once the article is in UTC as stored.
        model = replace(
            article, published=_utc(article.published), updated=_utc(article.updated)
        ).to_json(BASE)
        assert item["id"] == entry_id(article)
        assert item["url"] == model["url"] == article.link(BASE)
        assert item["title"] == article.title
        assert item["summary"] == article.summary
        assert item["content_html"] == _content(article)
        assert item["date_published"] == model["published"]
        assert item["date_modified"] == model["updated"]
        assert item.get("tags", []) == list(article.topics)
        assert item["authors"] == [{"name": _author(article)}]
        assert item.get("language") == article.language


# --------------------------------------------------------------------------- structure


def test_rss_has_every_required_and_recommended_element() -> None:
    root = ET.fromstring(render_rss(SPEC, ARTICLES, BASE, SOURCE_TITLES))
    assert root.tag == "rss"
    assert root.get("version") == "2.0"
    channel = root.find("channel")
    assert channel is not None
    assert channel.findtext("title") == SPEC.title
    assert channel.findtext("link") == BASE + "desks/nym"
    assert channel.findtext("description") == SPEC.description
    assert channel.findtext("language") == "en"
    assert channel.findtext("ttl") == "5"
    assert channel.findtext("lastBuildDate") == "Mon, 23 Jun 2025 19:30:00 +0000"
    assert (channel.findtext("generator") or "").startswith("feedsvc ")
    selves = [link for link in channel.findall(ATOM + "link") if link.get("rel") == "self"]
    assert [(s.get("href"), s.get("type")) for s in selves] == [
        (BASE + "feeds/desks/nym.rss", "application/rss+xml")
    ]
    items = channel.findall("item")
    assert len(items) == len(ARTICLES)
    for item, article in zip(items, ARTICLES, strict=True):
        guid = item.find("guid")
        assert guid is not None
        assert guid.text == entry_id(article)
        permalink = article.url is not None and article.guid == article.url
        assert guid.get("isPermaLink") == ("true" if permalink else "false")
        assert item.findtext("pubDate")
        assert item.find(CONTENT + "encoded") is not None
        # RSS <author> must be an e-mail address: names go in dc:creator only.
        assert item.find("author") is None
        assert item.findtext(DC + "creator") == _author(article)
        assert item.findtext(DCTERMS + "modified") == _rfc3339(article.updated)
    body = render_rss(SPEC, ARTICLES, BASE, SOURCE_TITLES)  # the namespace is declared once
    assert body.count(b'xmlns:dcterms="http://purl.org/dc/terms/"') == 1
    assert body.index(b"xmlns:dcterms=") < body.index(b"<channel>")


def test_atom_has_every_required_element() -> None:
    root = ET.fromstring(render_atom(SPEC, ARTICLES, BASE, SOURCE_TITLES))
    assert root.tag == ATOM + "feed"
    assert root.get(XML_LANG) == "en"
    assert root.findtext(ATOM + "id") == BASE + "feeds/desks/nym"
    assert root.findtext(ATOM + "title") == SPEC.title
    assert root.findtext(ATOM + "updated")
    assert root.findtext(f"{ATOM}author/{ATOM}name") == FEED_AUTHOR
    generator = root.find(ATOM + "generator")
    assert generator is not None
    assert generator.text == "feedsvc"
    assert generator.get("uri") is None
    links = {
        (link.get("rel"), link.get("type")): link.get("href")
        for link in root.findall(ATOM + "link")
    }
    assert links == {
        ("self", "application/atom+xml"): BASE + "feeds/desks/nym.atom",
        ("alternate", "text/html"): BASE + "desks/nym",
    }
    entries = root.findall(ATOM + "entry")
    assert len(entries) == len(ARTICLES)
    for element, article in zip(entries, ARTICLES, strict=True):
        assert element.findtext(ATOM + "id") == entry_id(article)
        assert element.findtext(ATOM + "title") == article.title
        assert element.findtext(ATOM + "updated")
        assert element.findtext(f"{ATOM}author/{ATOM}name") == _author(article)
        assert element.get(XML_LANG) == article.language
        source = element.find(ATOM + "source")
        if article.origin is None:
            assert source is None
        else:
            assert source is not None
            assert source.findtext(ATOM + "id") == article.origin.id
            assert source.findtext(ATOM + "title") == article.origin.title
            (home,) = source.findall(ATOM + "link")
            assert (home.get("rel"), home.get("href")) == ("alternate", article.origin.link)
        for link in element.findall(ATOM + "link"):
            assert link.get("rel") == "alternate"


# What JSON Feed 1.1 allows, and which keys must hold which types.
JSON_FEED_KEYS = {
    "version": str,
    "title": str,
    "home_page_url": str,
    "feed_url": str,
    "description": str,
    "language": str,
    "authors": list,
    "items": list,
}
JSON_ITEM_KEYS = {
    "id": str,
    "url": str,
    "title": str,
    "content_html": str,
    "summary": str,
    "date_published": str,
    "date_modified": str,
    "tags": list,
    "authors": list,
    "language": str,
}
RFC3339_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def _check_json_feed(doc: dict[str, Any]) -> None:
    """The JSON Feed 1.1 schema's constraints that apply to what we emit."""
    assert doc["version"] == "https://jsonfeed.org/version/1.1"
    assert isinstance(doc["title"], str)
    assert isinstance(doc["items"], list)
    for key, value in doc.items():
        assert isinstance(value, JSON_FEED_KEYS[key]), key
    for author in doc["authors"]:
        assert set(author) == {"name"}
        assert isinstance(author["name"], str)
    for item in doc["items"]:
        assert isinstance(item["id"], str)
        assert item["id"]
        assert "content_html" in item or "content_text" in item
        for key, value in item.items():
            assert isinstance(value, JSON_ITEM_KEYS[key]), key
        for key in ("date_published", "date_modified"):
            assert RFC3339_UTC.fullmatch(item[key])
        assert all(isinstance(tag, str) and tag for tag in item.get("tags", []))
        for author in item.get("authors", []):
            assert set(author) == {"name"}
            assert isinstance(author["name"], str)


def test_json_feed_follows_the_schema() -> None:
    data = render_json(SPEC, ARTICLES, BASE, SOURCE_TITLES)
    data.decode("utf-8")  # strict UTF-8, no BOM
    assert not data.startswith(b"\xef\xbb\xbf")
    doc = json.loads(data)
    _check_json_feed(doc)
    assert list(doc) == [
        "version",
        "title",
        "home_page_url",
        "feed_url",
        "description",
        "language",
        "authors",
        "items",
    ]
    assert "東京" in data.decode("utf-8")  # not \\u-escaped
    _check_json_feed(json.loads(render_json(SPEC, [], BASE)))


# --------------------------------------------------------------------------- edges


def test_characters_xml_cannot_carry_are_dropped() -> None:
    dirty = replace(
        NO_URL,
        title="Bad\x00 \x0bchars\ufffe here\ud800",
        summary="sum\x01mary",
        content_html="<p>con\x1ftent</p>",
        author="Ann\x08",
        topics=("secu\x02rity",),
        correction=None,
    )
    for fmt in ("rss", "atom"):
        parsed = _parse(render(SPEC, [dirty], BASE, fmt))
        assert parsed.bozo == 0
        entry = parsed.entries[0]
        assert entry.title == "Bad chars here"
        assert entry.content[0].value == "<p>content</p>"
        assert entry.author == "Ann"
        assert [tag.term for tag in entry.tags] == ["security"]
    item = json.loads(render_json(SPEC, [dirty], BASE))["items"][0]
    assert (item["title"], item["summary"], item["tags"]) == (
        "Bad chars here",
        "summary",
        ["security"],
    )


NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@settings(max_examples=75, deadline=None)
@given(
    title=st.text(max_size=40),
    summary=st.text(max_size=40),
    content=st.text(max_size=40),
    author=st.none() | st.text(max_size=20),
)
def test_any_text_gives_well_formed_feeds(
    title: str, summary: str, content: str, author: str | None
) -> None:
    article = replace(
        NO_URL, title=title, summary=summary, content_html=content, author=author, correction=None
    )
    expected_title = NOT_XML.sub("", title).strip() or UNTITLED
    for fmt in ("rss", "atom"):
        root = ET.fromstring(render(SPEC, [article], BASE, fmt))  # raises if not well-formed
        path = "channel/item/title" if fmt == "rss" else f"{ATOM}entry/{ATOM}title"
        assert root.findtext(path) == expected_title
    item = json.loads(render_json(SPEC, [article], BASE))["items"][0]
    assert item["title"] == expected_title
    assert item["content_html"] == NOT_XML.sub("", content)


def test_sparse_article_still_renders_valid_feeds() -> None:
    sparse = replace(
        NO_URL,
        title="  ",
        summary="",
        content_html="",
        author=None,
        topics=(),
        published=datetime(2025, 6, 1, 12, 0),  # naive: read as UTC
        updated=datetime(2025, 6, 1, 12, 0),
        correction=None,
    )
    for fmt in ("rss", "atom"):
        parsed = _parse(render(SPEC, [sparse], BASE, fmt))
        assert parsed.bozo == 0
        assert parsed.entries[0].title == UNTITLED
        assert _moment(parsed.entries[0].published_parsed) == datetime(
            2025, 6, 1, 12, 0, tzinfo=UTC
        )
    item = json.loads(render_json(SPEC, [sparse], BASE))["items"][0]
    assert item == {
        "id": entry_id(sparse),
        "url": BASE + "articles/" + sparse.id,
        "title": UNTITLED,
        "content_html": "",
        "date_published": "2025-06-01T12:00:00Z",
        "date_modified": "2025-06-01T12:00:00Z",
        "authors": [{"name": "nym-wire"}],
    }


def test_link_only_article_has_no_empty_content() -> None:
    """A title-and-link item: Atom leans on the alternate link, not an empty content."""
    link_only = replace(PERMALINK, summary="", content_html="")
    atom = ET.fromstring(render_atom(SPEC, [link_only], BASE))
    entry = atom.find(ATOM + "entry")
    assert entry is not None
    assert entry.find(ATOM + "content") is None
    assert entry.find(ATOM + "summary") is None
    assert [link.get("href") for link in entry.findall(ATOM + "link")] == [link_only.url]
    item = ET.fromstring(render_rss(SPEC, [link_only], BASE)).find("channel/item")
    assert item is not None
    assert item.find("description") is None
    assert item.find(CONTENT + "encoded") is None
    assert item.findtext("link") == link_only.url
    for fmt in ("rss", "atom"):
        assert _parse(render(SPEC, [link_only], BASE, fmt)).bozo == 0
    assert json.loads(render_json(SPEC, [link_only], BASE))["items"][0]["content_html"] == ""


def test_feed_without_description_or_language() -> None:
    bare = FeedSpec(
        path="feeds/all",
        title="Everything — feedsvc",
        description="",
        home_path="",
        ttl=timedelta(seconds=1),
    )
    rss = ET.fromstring(render_rss(bare, ARTICLES, BASE)).find("channel")
    assert rss is not None
    assert rss.findtext("description") == bare.title  # RSS requires one
    assert rss.find("language") is None
    assert rss.findtext("link") == BASE
    assert rss.findtext("ttl") == "1"
    atom = ET.fromstring(render_atom(bare, ARTICLES, BASE))
    assert atom.find(ATOM + "subtitle") is None
    assert atom.get(XML_LANG) is None
    doc = json.loads(render_json(bare, ARTICLES, BASE))
    assert "description" not in doc
    assert "language" not in doc
    assert doc["home_page_url"] == BASE


def test_base_url_without_trailing_slash_gives_the_same_feed() -> None:
    for fmt in FORMATS:
        assert render(SPEC, ARTICLES, BASE.rstrip("/"), fmt, SOURCE_TITLES) == _render_golden(fmt)


def test_links_follow_the_base_url() -> None:
    local = "http://127.0.0.1:8000/"
    assert feed_url(SPEC, local, "atom") == "http://127.0.0.1:8000/feeds/desks/nym.atom"
    doc = json.loads(render_json(SPEC, ARTICLES, local))
    assert doc["feed_url"] == local + "feeds/desks/nym.json"
    assert doc["home_page_url"] == local + "desks/nym"


@pytest.mark.parametrize(
    ("ttl", "minutes"),
    [
        (timedelta(seconds=1), 1),
        (timedelta(seconds=60), 1),
        (timedelta(seconds=61), 2),
        (timedelta(minutes=15), 15),
        (timedelta(hours=1, seconds=1), 61),
        (timedelta(0), 1),
    ],
)
def test_ttl_is_whole_minutes_rounded_up(ttl: timedelta, minutes: int) -> None:
    assert ttl_minutes(ttl) == minutes


def test_unknown_format_is_not_found() -> None:
    with pytest.raises(NotFound):
        render(SPEC, ARTICLES, BASE, "html")
    with pytest.raises(LookupError):
        render(SPEC, ARTICLES, BASE, "RSS")


def test_media_types_carry_utf8_charset() -> None:
    assert set(MEDIA_TYPES) == set(FORMATS)
    assert MEDIA_TYPES["rss"] == "application/rss+xml; charset=utf-8"
    assert MEDIA_TYPES["atom"] == "application/atom+xml; charset=utf-8"
    assert MEDIA_TYPES["json"] == "application/feed+json; charset=utf-8"
    with pytest.raises(TypeError):
        MEDIA_TYPES["rss"] = "text/xml"  # type: ignore[index]


def _write_goldens(articles: Sequence[Article] = ARTICLES) -> None:
    GOLDEN.mkdir(exist_ok=True)
    for fmt in FORMATS:
        (GOLDEN / f"desk-nym.{fmt}").write_bytes(render(SPEC, articles, BASE, fmt, SOURCE_TITLES))


if __name__ == "__main__":
    _write_goldens()
