"""Render one feed's articles as RSS 2.0, Atom 1.0 or JSON Feed 1.1 bytes.

Scope: a pure function of (feed description, articles, base URL, format).
Nothing here reads a clock, the database or the network, so identical content
gives identical bytes on every run and restart; that is what lets ``publish``
keep a strong ETag per feed and answer conditional requests without
re-rendering. RSS and Atom are built with feedgen; Atom is finished with lxml
where feedgen cannot express what RFC 4287 asks for (``atom:source`` with its
own id, title and updated; ``xml:lang`` per entry).

One identity per article across the three formats: the RSS ``guid``, the
Atom ``id`` and the JSON Feed item ``id`` are the same string, and so are
the link and the dates (to the second, UTC), so a reader that switches
format sees the same items, not new ones. Every entry has a link: a story
without a URL of its own links to its page on the service
(``Article.link``), while its id stays the URN it always had.

Every entry is credited to someone, never to the service: the author the
normaliser chose (``normalise.credited_author``); a row stored before that
rule has its source's title. ``atom:source`` names the upstream feed
(``Article.origin``), and a correction note ends the content in every format.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import metadata
from types import MappingProxyType

from feedgen.ext.base import BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from feedsvc.archive import History
from feedsvc.dates import format_utc, utc
from feedsvc.errors import NotFound
from feedsvc.model import Article, Origin, Tombstone, new_entry_id
from feedsvc.render_history import add_history, json_next_url
from feedsvc.render_media import Media, add_media, json_media
from feedsvc.tombstone import add_tombstones
from feedsvc.urls import join

__all__ = [
    "EPOCH",
    "FEED_AUTHOR",
    "FORMATS",
    "MEDIA_TYPES",
    "UNTITLED",
    "FeedSpec",
    "entry_id",
    "feed_updated",
    "feed_url",
    "render",
    "render_atom",
    "render_json",
    "render_rss",
    "ttl_minutes",
    "with_correction",
]

FORMATS: tuple[str, ...] = ("rss", "atom", "json")

MEDIA_TYPES: Mapping[str, str] = MappingProxyType(
    {
        "rss": "application/rss+xml; charset=utf-8",
        "atom": "application/atom+xml; charset=utf-8",
        "json": "application/feed+json; charset=utf-8",
    }
)

# The `type` of a link names the bare media type; the charset belongs to HTTP.
_LINK_TYPES: Mapping[str, str] = MappingProxyType(
    {fmt: media.split(";", 1)[0] for fmt, media in MEDIA_TYPES.items()}
)

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
"""The `updated` of an empty feed: fixed, so an empty feed's bytes never change.

Not 1970: the W3C Feed Validation Service warns "Implausible date" for any
date before 1990, and an empty feed should validate as cleanly as a full one.
"""

FEED_AUTHOR = "feedsvc"
"""The feed's own author (RFC 4287 wants one); never an entry's."""

UNTITLED = "(untitled)"
"""The title of an article without one: Atom requires a title on every entry."""

GENERATOR = "feedsvc"

_ATOM = "{http://www.w3.org/2005/Atom}"
DCTERMS = "http://purl.org/dc/terms/"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_JSONFEED_VERSION = "https://jsonfeed.org/version/1.1"

# Characters XML 1.0 forbids; lxml refuses them, so they would abort a render.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

_NO_TITLES: Mapping[str, str] = MappingProxyType({})


def _installed_version() -> str:
    """The package version for the generator element, read once at import."""
    try:
        return metadata.version("feedsvc")
    except metadata.PackageNotFoundError:
        return "0"


GENERATOR_VERSION = _installed_version()


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """One feed to render: where it lives and what it calls itself.

    ``path`` has no extension ("feeds/desks/nym"), so the same spec serves
    the three formats; ``home_path`` is the human page ("desks/nym", "" for
    the index); ``ttl`` is the refresh interval of the feed's sources.
    ``hub`` is the WebSub hub the feed advertises, resolved on the feed's
    base: a path for a hub served beside the feed ("websub"), or an absolute
    URL (see ``feedsvc.websub.links``); None advertises none.
    """

    path: str
    title: str
    description: str
    home_path: str
    ttl: timedelta
    language: str | None = None
    hub: str | None = None


@dataclass(frozen=True, slots=True)
class _Entry:
    """An article as every format shows it: cleaned, dated and identified once."""

    id: str
    permalink: bool
    url: str
    title: str
    summary: str
    content_html: str
    author: str
    topics: tuple[str, ...]
    published: datetime
    updated: datetime
    language: str | None
    origin: Origin | None
    media: Media = ((), None)


def render(
    spec: FeedSpec,
    articles: Sequence[Article],
    base_url: str,
    fmt: str,
    source_titles: Mapping[str, str] = _NO_TITLES,
    tombstones: Sequence[Tombstone] = (),
    history: History | None = None,
) -> bytes:
    """Render ``articles`` (newest first, kept in that order) in format ``fmt``.

    ``tombstones``: retracted entries the feed carried; only Atom can say so.
    ``history``: where the document sits in the feed's RFC 5005 archive chain
    (an archive document has its own ``self`` link and the feed's id).
    """
    if fmt == "rss":
        return render_rss(spec, articles, base_url, source_titles, history)
    if fmt == "atom":
        return render_atom(spec, articles, base_url, source_titles, tombstones, history)
    if fmt == "json":
        return render_json(spec, articles, base_url, source_titles, history)
    raise NotFound(f"unknown feed format {fmt!r}; expected one of {', '.join(FORMATS)}")


def feed_updated(articles: Sequence[Article]) -> datetime:
    """The feed's last change: the newest ``updated``, or the epoch when empty.

    Never the current time: a feed re-rendered with the same articles must
    give the same bytes, or every restart would change every ETag.
    """
    if not articles:
        return EPOCH
    return max(utc(article.updated) for article in articles)


def feed_url(spec: FeedSpec, base_url: str, fmt: str) -> str:
    """The absolute URL the feed is served at in ``fmt``: its ``self`` link."""
    return f"{_base(base_url)}{spec.path}.{fmt}"


def _self_url(spec: FeedSpec, base: str, fmt: str, history: History | None) -> str:
    """The document's own URL: the feed's, or an archive document's."""
    if history is not None and history.self_path is not None:
        return f"{base}{history.self_path}.{fmt}"
    return feed_url(spec, base, fmt)


def entry_id(article: Article) -> str:
    """The article's one identity in every format: the story's, fixed when it was created.

    An article not stored yet takes the one its story would (``model.new_entry_id``).
    """
    return _text(article.entry_id or new_entry_id(article))


def _is_permalink(article: Article) -> bool:
    return bool(article.url) and entry_id(article) == article.url


def ttl_minutes(ttl: timedelta) -> int:
    """RSS ``ttl``: whole minutes, rounded up so pollers never come too early."""
    minute = timedelta(minutes=1)
    return max(1, -(-ttl // minute))


def render_rss(
    spec: FeedSpec,
    articles: Sequence[Article],
    base_url: str,
    source_titles: Mapping[str, str] = _NO_TITLES,
    history: History | None = None,
) -> bytes:
    """RSS 2.0: ``content:encoded``, ``dc:creator``, ``dcterms:modified``, ``atom:link`` self.

    RSS has no update time of its own; ``dcterms:modified`` carries it (feedparser
    reads it as the entry's ``updated``), so a corrected story is seen to change.
    """
    base = _base(base_url)
    fg = FeedGenerator()
    fg.load_extension("dc", atom=False, rss=True)
    fg.title(_text(spec.title))
    fg.description(_text(spec.description) or _text(spec.title))
    fg.link(href=_self_url(spec, base, "rss", history), rel="self", type=_LINK_TYPES["rss"])
    if spec.hub:
        fg.register_extension("websub_hub", _RssHub, atom=False, rss=True)
        fg.websub_hub.hub = join(base, spec.hub)
    # feedgen takes the channel <link> from the last link given: the home page.
    fg.link(href=base + spec.home_path, rel="alternate")
    if spec.language:
        fg.language(_text(spec.language))
    fg.updated(feed_updated(articles))
    fg.ttl(ttl_minutes(spec.ttl))
    fg.generator(f"{GENERATOR} {GENERATOR_VERSION}")
    entries = _entries(articles, base, source_titles)
    for entry in entries:
        fe = fg.add_entry(order="append")
        fe.title(entry.title)
        fe.link(href=entry.url, rel="alternate")
        fe.guid(entry.id, permalink=entry.permalink)
        if entry.summary:
            # RSS readers treat description as HTML: escape the plain text for it.
            fe.description(html.escape(entry.summary, quote=False))
        if entry.content_html:
            fe.content(entry.content_html)
        fe.published(entry.published)
        for topic in entry.topics:
            fe.category(term=topic, scheme=_topic_scheme(base))
        fe.dc.dc_creator(entry.author)
        if entry.language:
            fe.dc.dc_language(entry.language)
    add_media(fg, "rss", [entry.media for entry in entries])
    root = etree.fromstring(fg.rss_str(pretty=False), _parser())
    items = root.iterfind("channel/item")
    for element, entry in zip(items, entries, strict=True):
        modified = etree.SubElement(element, f"{{{DCTERMS}}}modified")
        modified.text = format_utc(entry.updated)
    channel = root.find("channel")
    if channel is not None:
        add_history(channel, history, base, "rss", _LINK_TYPES["rss"])
    etree.cleanup_namespaces(root, top_nsmap={"dcterms": DCTERMS})
    return bytes(etree.tostring(root, encoding="UTF-8", xml_declaration=True, pretty_print=True))


def render_atom(
    spec: FeedSpec,
    articles: Sequence[Article],
    base_url: str,
    source_titles: Mapping[str, str] = _NO_TITLES,
    tombstones: Sequence[Tombstone] = (),
    history: History | None = None,
) -> bytes:
    """Atom 1.0 with an author on every entry and ``atom:source`` for provenance,
    and an RFC 6721 tombstone for each retracted entry (``feedsvc.tombstone``)."""
    base = _base(base_url)
    entries = _entries(articles, base, source_titles)
    fg = FeedGenerator()
    fg.id(base + spec.path)
    fg.title(_text(spec.title))
    if spec.description:
        fg.subtitle(_text(spec.description))
    fg.updated(max([feed_updated(articles), *(utc(t.when) for t in tombstones)]))
    fg.author({"name": FEED_AUTHOR})
    fg.link(href=_self_url(spec, base, "atom", history), rel="self", type=_LINK_TYPES["atom"])
    if spec.hub:
        fg.link(href=join(base, spec.hub), rel="hub")
    fg.link(href=base + spec.home_path, rel="alternate", type="text/html")
    if spec.language:
        fg.language(_text(spec.language))
    fg.generator(GENERATOR, version=GENERATOR_VERSION)
    for entry in entries:
        fe = fg.add_entry(order="append")
        fe.id(entry.id)
        fe.title(entry.title)
        fe.updated(entry.updated)
        fe.published(entry.published)
        fe.author({"name": entry.author})
        if entry.content_html:
            # RFC 4287 wants content or an alternate link, and every entry has the
            # link; an empty content element only earns a validator warning.
            fe.content(entry.content_html, type="html")
        fe.link(href=entry.url, rel="alternate")
        if entry.summary:
            fe.summary(entry.summary, type="text")
        for topic in entry.topics:
            fe.category(term=topic, scheme=_topic_scheme(base))
    add_media(fg, "atom", [entry.media for entry in entries])
    root = etree.fromstring(fg.atom_str(pretty=False), _parser())
    for element, entry in zip(root.iterfind(_ATOM + "entry"), entries, strict=True):
        _finish_atom_entry(element, entry)
    add_tombstones(root, tombstones, _text)
    add_history(root, history, base, "atom", _LINK_TYPES["atom"])
    return bytes(etree.tostring(root, encoding="UTF-8", xml_declaration=True, pretty_print=True))


def render_json(
    spec: FeedSpec,
    articles: Sequence[Article],
    base_url: str,
    source_titles: Mapping[str, str] = _NO_TITLES,
    history: History | None = None,
) -> bytes:
    """JSON Feed 1.1, keys in a fixed order, compact UTF-8; ``next_url`` leads to older
    stories. ``feed_url`` stays the feed's own in its archive documents: their identity."""
    base = _base(base_url)
    feed: dict[str, object] = {
        "version": _JSONFEED_VERSION,
        "title": _text(spec.title),
        "home_page_url": base + spec.home_path,
        "feed_url": feed_url(spec, base, "json"),
    }
    if spec.description:
        feed["description"] = _text(spec.description)
    if spec.language:
        feed["language"] = _text(spec.language)
    feed["authors"] = [{"name": FEED_AUTHOR}]
    if spec.hub:
        feed["hubs"] = [{"type": "WebSub", "url": join(base, spec.hub)}]
    next_url = json_next_url(history, base)
    if next_url is not None:
        feed["next_url"] = next_url
    feed["items"] = [_json_item(entry) for entry in _entries(articles, base, source_titles)]
    text = json.dumps(feed, ensure_ascii=False, separators=(",", ":"), sort_keys=False)
    return text.encode("utf-8")


def _json_item(entry: _Entry) -> dict[str, object]:
    item: dict[str, object] = {"id": entry.id, "url": entry.url}
    item["title"] = entry.title
    item["content_html"] = entry.content_html
    if entry.summary:
        item["summary"] = entry.summary
    item["date_published"] = format_utc(entry.published)
    item["date_modified"] = format_utc(entry.updated)
    if entry.topics:
        item["tags"] = list(entry.topics)
    item["authors"] = [{"name": entry.author}]
    if entry.language:
        item["language"] = entry.language
    item.update(json_media(entry.media))
    return item


class _RssHub(BaseExtension):
    """Adds ``<atom:link rel="hub">`` beside the RSS self link, which is all feedgen writes.

    WebSub discovery (§4) looks for both links in an XML feed.
    """

    hub = ""

    def extend_rss(self, feed: etree._Element) -> etree._Element:
        channel = feed.find("channel")
        if channel is not None and self.hub:
            link = etree.Element(_ATOM + "link", href=self.hub, rel="hub")
            self_link = channel.find(_ATOM + "link")
            if self_link is None:
                channel.append(link)
            else:
                self_link.addnext(link)
        return feed


def _parser() -> etree.XMLParser:
    """A parser per call: lxml parsers must not be shared between threads.

    It only ever reads feedgen's output, but still never resolves entities or
    touches the network.
    """
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def _finish_atom_entry(element: etree._Element, entry: _Entry) -> None:
    """Add what feedgen cannot: language, an explicit link rel, the upstream atom:source.

    feedgen 1.0 drops the ``rel`` of entry links; "alternate" is the default
    meaning, but some readers only look for the explicit attribute. The
    source is the upstream feed's own id, title and home page (RFC 4287
    4.2.11); the service's own stories have none.
    """
    if entry.language:
        element.set(_XML_LANG, entry.language)
    for link in element.iterfind(_ATOM + "link"):
        if link.get("rel") is None:
            link.set("rel", "alternate")
    origin = entry.origin
    if origin is None:
        return
    source = etree.SubElement(element, _ATOM + "source")
    if origin.id:
        etree.SubElement(source, _ATOM + "id").text = _text(origin.id)
    if origin.title:
        etree.SubElement(source, _ATOM + "title").text = _text(origin.title)
    if origin.link:
        etree.SubElement(source, _ATOM + "link", rel="alternate", href=_text(origin.link))


def _entries(
    articles: Sequence[Article], base: str, source_titles: Mapping[str, str]
) -> list[_Entry]:
    return [_entry(article, base, source_titles) for article in articles]


def _entry(article: Article, base: str, source_titles: Mapping[str, str]) -> _Entry:
    """Everything a format shows of one article, so the formats cannot disagree."""
    author = _text(article.author).strip() if article.author else ""
    language = _text(article.language).strip() if article.language else ""
    return _Entry(
        id=entry_id(article),
        permalink=_is_permalink(article),
        url=_text(article.link(base)),
        title=_text(article.title).strip() or UNTITLED,
        summary=_text(article.summary),
        content_html=_text(with_correction(article.content_html, article.correction)),
        author=author or _text(source_titles.get(article.source) or article.source),
        topics=tuple(_text(topic) for topic in article.topics if _text(topic)),
        published=utc(article.published),
        updated=utc(article.updated),
        language=language or None,
        origin=article.origin,
        media=(article.enclosures, article.image),
    )


def with_correction(content_html: str, correction: str | None) -> str:
    """The content, ended by the correction note as a clearly marked paragraph."""
    if not correction:
        return content_html
    note = f"<p><strong>Correction:</strong> {html.escape(correction, quote=False)}</p>"
    return f"{content_html}\n{note}" if content_html else note


def _base(base_url: str) -> str:
    """The base URL with its trailing slash, so paths join without doubling."""
    return base_url if base_url.endswith("/") else base_url + "/"


def _topic_scheme(base: str) -> str:
    """Categories are topic ids; scheme + term is the topic's human page."""
    return base + "topics/"


def _text(value: str) -> str:
    """Drop characters XML 1.0 cannot carry (and lone surrogates JSON cannot encode)."""
    return _NOT_XML.sub("", value)
