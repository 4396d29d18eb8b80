"""Normalisation: one raw item as a source wrote it -> one clean Article.

Scope: everything between parsing and storing that decides what a reader sees
and how an item is identified: HTML sanitising, plain text, summaries, which
dates an item has, guid and id, who is credited, and the fingerprint that lets
the store skip unchanged items. The rules for links (``feedsvc.urls``), dates
(``feedsvc.dates``), media (``feedsvc.media``), text ceilings
(``feedsvc.text``) and desks, topics and languages (``feedsvc.classify``) have
their own modules; this one applies them. Every function here is pure: no I/O,
no clock (``now`` is an argument), no global mutable state.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from datetime import datetime
from html import unescape

import nh3

from feedsvc.classify import desk_for, match_topics, normalise_language
from feedsvc.dates import plausible, to_utc
from feedsvc.errors import ParseError
from feedsvc.guids import exact_guid
from feedsvc.media import clean_enclosures, lead_image
from feedsvc.model import Article, Desk, Origin, RawItem, Source, Topic
from feedsvc.text import (
    AUTHOR_LIMIT,
    CONTENT_LIMIT,
    CORRECTION_LIMIT,
    RAW_CONTENT_LIMIT,
    RAW_TEXT_LIMIT,
    SUMMARY_LIMIT,
    TITLE_LIMIT,
    shortened,
    without_controls,
    without_markup,
)
from feedsvc.urls import MAX_URL_LENGTH, canonical_url, content_url, resolved_base

__all__ = [
    "article_guid",
    "article_id",
    "canonical_url",
    "credited_author",
    "desk_for",
    "fingerprint",
    "lead",
    "match_topics",
    "normalise",
    "normalise_language",
    "plain_text",
    "sanitise_html",
    "text_blocks",
    "to_utc",
]

TITLE_FALLBACK_LIMIT = 80
UNTITLED = "(untitled)"

# --------------------------------------------------------------------------- text hygiene

# Numeric character references that decode to NUL, a C0 control other than
# tab/newline, DEL, a surrogate or nothing at all. Removed before parsing,
# because the HTML parser would turn them into U+FFFD or raw controls.
# (C1 references such as &#150; are left: HTML maps them to Windows-1252.)
_BAD_CHARREF = re.compile(r"&#(?:[xX]0*([0-9a-fA-F]{1,8})|0*([0-9]{1,10}));?")
_WHITESPACE = re.compile(r"\s+")


def _drop_bad_charref(match: re.Match[str]) -> str:
    hex_digits, dec_digits = match.groups()
    code = int(hex_digits, 16) if hex_digits is not None else int(dec_digits)
    bad = (
        code == 0
        or (code < 0x20 and code not in (0x09, 0x0A, 0x0D))
        or code == 0x7F
        or 0xD800 <= code <= 0xDFFF
        or code > 0x10FFFF
    )
    return "" if bad else match.group(0)


def _clean_chars(text: str, *, charrefs: bool = False) -> str:
    """``text.without_controls`` (lone surrogates cannot even cross into nh3: Rust
    strings must be valid UTF-8); optionally bad ``&#…;`` gone too."""
    if charrefs:
        text = _BAD_CHARREF.sub(_drop_bad_charref, text)
    return without_controls(text)


def _collapse(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()


# --------------------------------------------------------------------------- HTML

ALLOWED_TAGS = frozenset(
    {
        "p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "blockquote",
        "pre", "code", "em", "strong", "b", "i", "u", "s", "sub", "sup", "small",
        "mark", "br", "hr", "a", "img", "figure", "figcaption", "table", "caption",
        "thead", "tbody", "tfoot", "tr", "th", "td", "abbr", "cite", "q", "time",
        "dl", "dt", "dd", "del", "ins",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES: Mapping[str, frozenset[str]] = {
    "a": frozenset({"href", "title"}),
    "img": frozenset({"src", "alt", "title", "width", "height"}),
    "abbr": frozenset({"title"}),
    "td": frozenset({"colspan", "rowspan"}),
    "th": frozenset({"colspan", "rowspan"}),
    "time": frozenset({"datetime"}),
    "del": frozenset({"datetime"}),
    "ins": frozenset({"datetime"}),
}
# Elements whose text must not leak into the article once the tag is gone.
DROPPED_WITH_CONTENT = frozenset(
    {
        "script", "style", "iframe", "frame", "frameset", "object", "embed",
        "applet", "svg", "math", "template", "noembed", "noframes", "textarea",
        "select", "title", "head",
    }
)  # fmt: skip
_URL_ATTRIBUTES = frozenset({"href", "src"})
_NUMERIC_ATTRIBUTES = frozenset({"width", "height", "colspan", "rowspan"})
# nh3 serialises every attribute double-quoted with ``"`` and ``>`` escaped, so
# on its output this matches exactly one whole <img> tag.
_IMG_TAG = re.compile(r"<img\b[^>]*>")
_IMG_HAS_SRC = re.compile(r'\ssrc="')
_BLOCK_TAGS = frozenset(
    {
        "p", "div", "br", "hr", "li", "ul", "ol", "dl", "dt", "dd", "h1", "h2",
        "h3", "h4", "h5", "h6", "blockquote", "pre", "table", "tr", "td", "th",
        "caption", "figure", "figcaption", "section", "article", "header",
        "footer", "aside", "nav", "main", "address",
    }
)  # fmt: skip
_ANY_TAG = re.compile(r"<[^>]*>")
# A tag of sanitised output: attribute values are double-quoted and may hold ">".
_SANITISED_TAG = re.compile(r'<[^>"]*(?:"[^"]*"[^>"]*)*>')
_SANITISED_BLOCK_TAG = re.compile(
    r"</?(?:"
    + "|".join(sorted(_BLOCK_TAGS, key=len, reverse=True))
    + r')\b[^>"]*(?:"[^"]*"[^>"]*)*>'
)
_MAX_PASSES = 4
# nh3's arguments, built once (it copies nothing of them into its output).
_NH3_TAGS = set(ALLOWED_TAGS)
_NH3_DROPPED = set(DROPPED_WITH_CONTENT)
_NH3_ATTRIBUTES = {tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()}
_NH3_BLOCKS = set(_BLOCK_TAGS)


def _attribute_filter(base: str | None) -> Callable[[str, str, str], str | None]:
    """nh3's per-attribute hook: links resolved against ``base``, sizes kept only if numeric.

    The base is resolved once and each link once per fragment: the hook runs
    for every attribute of every pass, which made it a hot spot of ingest.
    """
    resolved = resolved_base(base) if base else None
    links: dict[str, str | None] = {}

    def keep(tag: str, attribute: str, value: str) -> str | None:
        if attribute in _URL_ATTRIBUTES:
            if value not in links:
                result = links[value] = content_url(value, resolved)
                if result is not None:
                    # resolving is idempotent: the next pass meets the result and keeps it
                    links.setdefault(result, result)
            return links[value]
        if attribute in _NUMERIC_ATTRIBUTES:
            value = value.strip()
            return value if value.isascii() and value.isdigit() else None
        return value

    return keep


def _drop_sourceless_img(match: re.Match[str]) -> str:
    return match.group(0) if _IMG_HAS_SRC.search(match.group(0)) else ""


def _sanitise_with(fragment: str, attribute_filter: Callable[[str, str, str], str | None]) -> str:
    cleaned = nh3.clean(
        fragment,
        tags=_NH3_TAGS,
        clean_content_tags=_NH3_DROPPED,
        attributes=_NH3_ATTRIBUTES,
        attribute_filter=attribute_filter,
        url_schemes={"http", "https"},
        link_rel="noopener noreferrer",
        strip_comments=True,
    )
    cleaned = _IMG_TAG.sub(_drop_sourceless_img, cleaned)
    return _clean_chars(cleaned).strip()


def sanitise_html(html: str | None, base: str | None) -> str:
    """Content HTML reduced to an allow-list, with every link absolute http(s).

    Re-parsing a sanitised fragment can still change it (``<h1><div><h2>``
    becomes ``<h1><h2>`` once the div is gone, which parses as two siblings),
    so cleaning repeats until the output is a fixed point: the stored HTML is
    then the same whether it is sanitised once or again downstream.
    """
    if not html:
        return ""
    keep = _attribute_filter(base)
    current = _sanitise_with(_clean_chars(html, charrefs=True), keep)
    for _ in range(_MAX_PASSES):
        following = _sanitise_with(current, keep)
        if following == current:
            break
        current = following
    return current


def plain_text(text: str | None, is_html: bool = True) -> str:
    """Text a reader sees as one line: no markup, entities decoded once, spaces collapsed.

    With ``is_html`` False the text is taken literally (``&amp;`` stays as
    typed). With HTML, the tags are stripped by parsing, not by pattern, and the
    parser's escaped output is unescaped exactly once, so ``&lt;b&gt;`` in an
    HTML title is the visible text ``<b>``, not a tag.
    """
    if not text:
        return ""
    if not is_html or ("<" not in text and "&" not in text):
        return _collapse(_clean_chars(text))  # nothing to parse: most titles and names
    return _collapse(_clean_chars(unescape(_ANY_TAG.sub(" ", _block_html(text)))))


def _block_html(text: str) -> str:
    """HTML reduced to its block tags, without attributes: where its lines break."""
    return nh3.clean(
        _clean_chars(text, charrefs=True),
        tags=_NH3_BLOCKS,
        clean_content_tags=_NH3_DROPPED,
        attributes={},
        link_rel=None,
        strip_comments=True,
    )


def _text_of_sanitised(html: str) -> str:
    """``plain_text`` of HTML that ``sanitise_html`` produced, without parsing it again.

    Sanitised HTML holds only allow-listed tags with double-quoted attributes
    and no script or comment, so a pattern can take the tags out: block tags
    become a space (as in ``plain_text``), inline tags nothing.
    """
    if "<" not in html and "&" not in html:
        return _collapse(html)
    spaced = _SANITISED_BLOCK_TAG.sub(" ", html)
    return _collapse(_clean_chars(unescape(_SANITISED_TAG.sub("", spaced))))


_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_LIST_ITEMS = frozenset({"li", "dt", "dd"})
_TAG_NAME = re.compile(r"</?([A-Za-z][A-Za-z0-9]*)")
_SENTENCE_END = ".!?…:;"
_CLOSERS = "\"'”’»)]"


def text_blocks(html: str) -> Iterator[tuple[str, str]]:
    """The text of sanitised (or block-only) HTML, one block at a time, in order.

    Each block is ``("heading" | "item" | "text", plain text)``: the text
    between two block-level tags, so a heading or a list item is never glued
    to what follows it. Lazy: a summary reads only the first few blocks of
    even the longest content.
    """
    kind = "text"
    pending: list[str] = []
    position = 0
    for tag in _SANITISED_TAG.finditer(html):
        pending.append(html[position : tag.start()])
        position = tag.end()
        name = _TAG_NAME.match(tag.group(0))
        if name is None or (lowered := name.group(1).lower()) not in _BLOCK_TAGS:
            continue  # an inline tag: its text runs on
        if text := _collapse(_clean_chars(unescape("".join(pending)))):
            yield kind, text
        pending.clear()
        closing = tag.group(0).startswith("</")
        if lowered in _HEADINGS:
            kind = "text" if closing else "heading"
        elif lowered in _LIST_ITEMS:
            kind = "text" if closing else "item"
    pending.append(html[position:])
    if text := _collapse(_clean_chars(unescape("".join(pending)))):
        yield kind, text


def lead(blocks: Iterable[tuple[str, str]], limit: int = SUMMARY_LIMIT) -> str:
    """A plain-text teaser built from whole blocks of the start of a text.

    Paragraphs are taken whole while they fit; a list counts as one sentence
    of its items joined by "; "; a heading ends the lead (it starts the next
    section), except before any text. Only a first block too long for
    ``limit`` is cut, at a word.
    """
    pieces: list[str] = []
    items: list[str] = []
    size = 0
    for kind, text in blocks:
        if kind == "item":
            items.append(text)
        else:
            if items:
                pieces.append(_sentence("; ".join(items)))
                items = []
            if kind == "heading":
                if pieces:
                    break
                continue
            pieces.append(text)
        size += len(text) + 2
        if size > limit:
            break  # enough read: what follows could not fit
    if items:
        pieces.append(_sentence("; ".join(items)))
    kept = ""
    for piece in pieces:
        longer = f"{kept} {piece}" if kept else piece
        if len(longer) > limit:
            return kept or shortened(piece, limit)
        kept = longer
    return kept


def _sentence(text: str) -> str:
    """A list read as one sentence ends like one, so the next block does not run on."""
    return text if text.rstrip(_CLOSERS)[-1:] in _SENTENCE_END else text + "."


# --------------------------------------------------------------------------- dates


def _dates(item: RawItem, timezone: str, now: datetime) -> tuple[datetime, datetime, bool]:
    """Published, updated, and whether the item had a date at all (``dates.plausible``).

    A missing date borrows the other one; an item with neither is dated
    ``now``, its first-seen time.
    """
    published = plausible(to_utc(item.published, timezone), now)
    updated = plausible(to_utc(item.updated, timezone), now)
    dated = published is not None or updated is not None
    published = published or updated or now
    updated = max(updated or published, published)
    return published, updated, dated


# --------------------------------------------------------------------------- identity


def article_guid(item: RawItem, url: str | None) -> str:
    """The item's identity within its source, stable across re-fetches.

    The source's guid when it gave one, exact (``feedsvc.guids``: two guids
    that differ by a space or an entity are two items), else the canonical
    URL; an item with neither is identified by its words, so it at least
    stays the same item as long as it is not edited.
    """
    guid = exact_guid(item.guid)
    if guid is not None:
        return guid
    if url:
        return url
    words = (
        plain_text(item.title, item.title_html)
        + "\n"
        + plain_text(item.content_html or item.summary_html)
    )
    return "sha256:" + hashlib.sha256(words.encode("utf-8")).hexdigest()


def article_id(source_id: str, guid: str) -> str:
    """A short URL-safe id, a pure function of source and guid so it never changes."""
    digest = hashlib.sha256(f"{source_id}\x00{guid}".encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:24]


def fingerprint(article: Article) -> str:
    """A hash of everything a reader sees, so an unchanged re-fetch costs no write.

    The times of an undated article are its first-seen time, which changes on
    every fetch; they are left out so such an article is not rewritten each time.
    Media counts only when there is some, so the fingerprints of articles
    stored before media was read stay as they were.
    """
    origin = article.origin
    seen: dict[str, object] = {
        "url": article.url,
        "title": article.title,
        "summary": article.summary,
        "content_html": article.content_html,
        "author": article.author,
        "desk": article.desk,
        "topics": list(article.topics),
        "published": article.published.isoformat() if article.dated else None,
        "updated": article.updated.isoformat() if article.dated else None,
        "language": article.language,
        "correction": article.correction,
        "origin": None if origin is None else [origin.title, origin.link, origin.id],
    }
    if article.enclosures:
        seen["enclosures"] = [[e.url, e.type, e.length, e.duration] for e in article.enclosures]
    if article.image:
        seen["image"] = article.image
    canonical = json.dumps(seen, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- the article


def normalise(
    item: RawItem,
    source: Source,
    desks: Mapping[str, Desk],
    topics: Mapping[str, Topic],
    now: datetime,
) -> Article:
    """One raw item as a clean Article; ParseError only when nothing usable is left.

    Every text is kept within its ceiling (``feedsvc.text``), whatever size
    the source sent, so no item can make a stored row or a feed unbounded.
    """
    now = to_utc(now, "UTC") or now
    url = canonical_url(item.url, item.base_url)
    title = title_text(item.title[:RAW_TEXT_LIMIT], item.title_html)
    raw_content = (item.content_html or item.summary_html or "")[:RAW_CONTENT_LIMIT]
    content_html = bounded_html(sanitise_html(raw_content, item.base_url))
    # Each text is worked out once: nh3 passes were most of an item's cost.
    content_text = _text_of_sanitised(content_html)
    summary_html = ""
    if item.content_html and item.summary_html:
        summary_html = _block_html(item.summary_html[:RAW_TEXT_LIMIT])
        summary_text = _text_of_sanitised(summary_html)
    else:
        summary_text = content_text if item.summary_html else ""
    enclosures = clean_enclosures(item.enclosures, item.base_url)
    has_content = bool(content_text or summary_text or "<img " in content_html or enclosures)
    if not title and not has_content and not url:
        raise ParseError("item has no title, no content and no link")
    summary = lead(text_blocks(summary_html)) if summary_html else ""
    summary = summary or lead(text_blocks(content_html))
    if not title:
        title = lead(text_blocks(summary_html or content_html), TITLE_FALLBACK_LIMIT)
        title = title or UNTITLED
    guid = article_guid(item, url)
    published, updated, dated = _dates(item, source.timezone, now)
    parts = (title, content_text, summary_text if summary_text != content_text else "")
    text = "\n".join(part for part in parts if part)
    desk = desk_for(item.byline, desks, source.desk)
    origin = _origin(item.origin) if source.kind == "feed" else None
    author = credited_author(
        shortened(title_text(item.author[:RAW_TEXT_LIMIT]), AUTHOR_LIMIT) if item.author else "",
        source,
        desks[desk].title if desk in desks else desk,
        origin,
    )
    correction = item.correction and plain_text(item.correction[:RAW_TEXT_LIMIT], is_html=False)
    correction = shortened(correction, CORRECTION_LIMIT) if correction else None
    found = match_topics(text, item.categories, topics, source.topics)
    language = normalise_language(item.language)
    image = lead_image(item.image, item.base_url, enclosures, content_html)
    article = Article(
        id=article_id(source.id, guid),
        source=source.id,
        guid=guid,
        url=url,
        title=title,
        summary=summary,
        content_html=content_html,
        author=author,
        desk=desk,
        topics=found,
        published=published,
        updated=updated,
        language=language,
        dated=dated,
        enclosures=enclosures,
        image=image,
        correction=correction,
        origin=origin,
    )
    return replace(article, fingerprint=fingerprint(article))


def title_text(raw: str, is_html: bool = True) -> str:
    """A title (or a name) as one line of plain text, nothing tag-like, within its ceiling."""
    return shortened(_collapse(without_markup(plain_text(raw, is_html))), TITLE_LIMIT)


def credited_author(author: str, source: Source, desk_title: str, origin: Origin | None) -> str:
    """Who an entry is credited to: never the service, always someone.

    The item's own author; else, for a wire article, its desk ("NYM Desk");
    else, for a feed item, the upstream feed's own title (an aggregated
    item's ``<source>`` first), else the source's catalogue title, else its id.
    """
    if author:
        return author
    if source.kind == "files":
        return desk_title
    return (origin.title if origin else None) or source.title or source.id


def _origin(origin: Origin | None) -> Origin | None:
    """The upstream feed with its texts made plain and its links checked, or None."""
    if origin is None:
        return None
    title = title_text(origin.title[:RAW_TEXT_LIMIT]) if origin.title else None
    link = content_url(origin.link, None) if origin.link else None
    ident = plain_text(origin.id, is_html=False) if origin.id else None
    ident = ident if ident and len(ident) <= MAX_URL_LENGTH else link
    if not (title or link or ident):
        return None
    return Origin(title=title or None, link=link, id=ident)


_CUT_MARK = "<p>…</p>"
_PARTIAL_END = re.compile(r"<[^>]*$|&[#A-Za-z0-9]*$")  # a tag or an entity cut in two


def bounded_html(html: str, limit: int = CONTENT_LIMIT) -> str:
    """Sanitised HTML within ``limit`` UTF-8 bytes, cut in text or between tags, marked "…".

    The cut never splits a tag or a character reference, and sanitising
    again closes the elements it left open; closing tags add bytes, so the
    cut moves back until the result fits.
    """
    data = html.encode("utf-8")
    if len(data) <= limit:
        return html
    budget = limit - len(_CUT_MARK)
    attempts = 0
    while budget > 0:
        head = _PARTIAL_END.sub("", data[:budget].decode("utf-8", "ignore"))
        cut = sanitise_html(head, None) + _CUT_MARK
        overshoot = len(cut.encode("utf-8")) - limit
        if overshoot <= 0:
            return cut
        attempts += 1  # the closing tags' bytes, then bigger steps if that keeps failing
        budget -= overshoot if attempts < 4 else max(overshoot, budget // 4)
    return _CUT_MARK
