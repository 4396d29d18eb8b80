"""Feed parsing: one fetched feed document (bytes + headers) -> raw items.

Scope: RSS 0.9x, 1.0 (RDF) and 2.0 and Atom 0.3 and 1.0, read with feedparser
from bytes only (never a URL or a path, which feedparser would go and open),
after a cheap guard against XML entity attacks; a document that starts like
JSON goes to the JSON Feed reader (``parse_json``) instead, and an entry's
enclosures and lead image are read by ``parse_media``. What comes out is what the
source wrote (markup, relative URLs, zone-less times stay as they are), with
the base URL to resolve against: HTML sanitising, URL resolution and time
zones belong to the normaliser, and dates are read by ``feedsvc.dates``. A
document that is not a feed at all is a ParseError; a malformed feed whose
items can still be read keeps those items and says what was wrong in
``problems``.
"""

from __future__ import annotations

import html
import io
import re
import xml.sax
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from xml.sax.saxutils import unescape as xml_unescape

import feedparser
import feedparser.mixin
from feedparser.exceptions import CharacterEncodingUnknown, ThingsNobodyCaresAboutButMe

from feedsvc.classify import MAX_CATEGORIES, kept_categories
from feedsvc.dates import parse_date
from feedsvc.errors import ParseError
from feedsvc.model import Document, Origin, ParsedFeed, RawItem
from feedsvc.parse_json import parse_json_feed
from feedsvc.parse_media import entry_media
from feedsvc.text import MAX_AUTHORS, error_line, one_line, person_name, stripped
from feedsvc.urls import is_http, join

__all__ = ["ENTITIES_REFUSED", "parse_date", "parse_feed", "person_name"]

ENTITIES_REFUSED = "feed declares XML entities; refused"

# How much of the document the entity guard reads. Every entity declaration
# must sit in the prolog, before the root element, and no real feed has a
# prolog this long: one that does is refused rather than read further.
PROLOG_WINDOW = 64 * 1024

_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_HTML_ROOTS = frozenset({"html", "head", "body"})
_TAG = re.compile(r"<[^>]*>")
_PROBLEM_LENGTH = 160
_XML_QUOTES = {"&quot;": '"', "&apos;": "'"}

# --------------------------------------------------------------------------- entity guard

# Tokens that may precede the root element. A markup declaration is read up
# to the next bracket with its quoted literals honoured, so a ">" or "<a"
# inside a literal can neither end it nor pass for the root element.
_PROLOG_TOKEN = re.compile(
    r"""
      \s+
    | <\?.*?\?>                                  # XML declaration, processing instruction
    | <!--.*?-->                                 # comment
    | <!(?!--)(?:[^"'<>\[\]]|"[^"]*"|'[^']*')*   # <!DOCTYPE …, <!ENTITY …, <!ELEMENT …
    | [\[\]>]                                    # internal subset brackets, declaration end
    | %[\w.:-]+;                                 # parameter entity reference
    """,
    re.DOTALL | re.VERBOSE,
)
_ENTITY_DECLARATION = re.compile(r"<!ENTITY", re.IGNORECASE)
_ROOT_ELEMENT = re.compile(r"<([A-Za-z_][\w.:-]*)")


def _decode_head(head: bytes) -> str:
    """Enough of a decoding to see ASCII markup, whatever the encoding.

    UTF-16/32 (with or without a BOM) and EBCDIC would hide a DOCTYPE from a
    byte search; every other encoding feedparser accepts is ASCII-compatible,
    which Latin-1 maps byte for byte.
    """
    boms = (
        (b"\x00\x00\xfe\xff", "utf-32-be"),
        (b"\xff\xfe\x00\x00", "utf-32-le"),
        (b"\xfe\xff", "utf-16-be"),
        (b"\xff\xfe", "utf-16-le"),
        (b"\xef\xbb\xbf", "latin-1"),
    )
    for bom, codec in boms:
        if head.startswith(bom):
            return head[len(bom) :].decode(codec, "replace")
    if head.startswith(b"\x00\x00\x00"):
        codec = "utf-32-be"
    elif head[1:4] == b"\x00\x00\x00":
        codec = "utf-32-le"
    elif head.startswith(b"\x00"):
        codec = "utf-16-be"
    elif head[1:2] == b"\x00":
        codec = "utf-16-le"
    elif head.startswith(b"\x4c\x6f\xa7\x94"):  # "<?xm" in EBCDIC
        codec = "cp037"
    else:
        codec = "latin-1"
    return head.decode(codec, "replace")


@dataclass(frozen=True, slots=True)
class _Prolog:
    """What the guard saw before the root element.

    ``root`` is the root element's local name, lower-cased, or None when the
    document does not start like XML at all (garbage, JSON, plain text).
    ``same_lines`` is True when feedparser will hand the XML parser the
    document line for line (it rewrites the XML declaration in place, but
    adds one when there is none and cuts a DOCTYPE out), so the parser's
    line numbers are the source's own.
    """

    root: str | None
    same_lines: bool


def _read_prolog(content: bytes) -> _Prolog:
    """Check the prolog, and raise ParseError if it declares entities.

    Billion laughs, quadratic blow-up and external SYSTEM/PUBLIC entities all
    need an entity declaration, and no feed needs one, so any declaration
    is refused before feedparser, which would hand it to expat, sees it.
    """
    text = _decode_head(content[:PROLOG_WINDOW])
    position = 0
    tokens: list[str] = []
    while match := _PROLOG_TOKEN.match(text, position):
        if _ENTITY_DECLARATION.match(match.group()):
            raise ParseError(ENTITIES_REFUSED)
        tokens.append(match.group())
        position = match.end()
    rest = text[position:]
    if root := _ROOT_ELEMENT.match(rest):
        same_lines = bool(tokens) and tokens[0].startswith("<?xml") and "\n" not in tokens[0]
        same_lines = same_lines and not any(t[:9].upper() == "<!DOCTYPE" for t in tokens)
        return _Prolog(root.group(1).rpartition(":")[2].lower(), same_lines)
    if _ENTITY_DECLARATION.search(rest):
        raise ParseError(ENTITIES_REFUSED)
    if len(content) > PROLOG_WINDOW and (not rest or rest.startswith("<")):
        raise ParseError(f"XML prolog longer than {PROLOG_WINDOW // 1024} KB; refused")
    return _Prolog(None, same_lines=False)


# --------------------------------------------------------------------------- character references

# A numeric character reference to a surrogate or past U+10FFFF makes
# feedparser's fallback parser raise (chr() or UTF-8 encoding fails) instead of
# calling the feed malformed, so one such "&#xD800;" would cost the whole run.
# They are rewritten as U+FFFD digit for digit, so no byte moves; the NULs
# allowed between characters let one pattern find them in UTF-16 and UTF-32.
_WIDE_CHARREF = re.compile(
    rb"""
    & \x00{0,3} \# \x00{0,3}
    (?: ([xX]) \x00{0,3} ((?: [0-9a-fA-F] \x00{0,3} )+)   # hexadecimal
      | ((?: [0-9] \x00{0,3} )+)                         # decimal
    ) ;
    """,
    re.VERBOSE,
)


def _replace_wide_charref(match: re.Match[bytes]) -> bytes:
    hexadecimal = match.group(1) is not None
    start, end = match.span(2) if hexadecimal else match.span(3)
    written = match.string[start:end]
    digits = written.replace(b"\x00", b"")
    try:
        code = int(digits, 16 if hexadecimal else 10)
    except ValueError:  # more digits than int() reads: left to the parse error handler
        return match.group(0)
    if not (0xD800 <= code <= 0xDFFF or code > 0x10FFFF):
        return match.group(0)
    replacement = iter((b"FFFD" if hexadecimal else b"65533").rjust(len(digits), b"0"))
    rewritten = bytes(byte if byte == 0 else next(replacement) for byte in written)
    offset = match.start(0)
    return match.string[offset:start] + rewritten + match.string[end : match.end(0)]


def _neutralise_charrefs(content: bytes) -> bytes:
    """The document with every reference to an impossible character made U+FFFD."""
    return _WIDE_CHARREF.sub(_replace_wide_charref, content)


# --------------------------------------------------------------------------- category ceiling

# feedparser keeps an item's categories in a list and, before adding one,
# looks for it in that list (``_FeedParserMixin._add_tag``): its cost grows with
# the square of one item's categories. Measured (bench/categories.py): 10,000
# <category> elements in one item (260 KB) took 4.8 s, 20,000 took 13.8 s, and
# one <itunes:keywords> of 10,000 comma-separated words (59 KB) 4.6 s; a 2 MB
# document of them would burn minutes. Every way a category reaches that list
# (<category>, <dc:subject>, itunes and media keywords and categories, a
# <tags> element) goes through that one method, so it is bounded there: past
# ``MAX_CATEGORIES`` in one item (or the feed), a category is dropped before
# feedparser looks at it. A guard on the bytes would have to know every such
# element under any namespace prefix, and the commas of keyword lists.
_feedparser_add_tag = feedparser.mixin._FeedParserMixin._add_tag


def _bounded_add_tag(parser: Any, term: Any, scheme: Any, label: Any) -> None:
    tags = parser._get_context().get("tags")
    if tags is not None and len(tags) >= MAX_CATEGORIES:
        return
    _feedparser_add_tag(parser, term, scheme, label)


feedparser.mixin._FeedParserMixin._add_tag = _bounded_add_tag


# --------------------------------------------------------------------------- feedparser values


def _get(mapping: Mapping[str, Any], key: str) -> Any:
    """A field exactly as feedparser stored it.

    FeedParserDict.get maps aliases and, for "updated", silently answers with
    "published" when there is no update time: that would invent an update.
    """
    return dict.get(mapping, key) if isinstance(mapping, dict) else mapping.get(key)


def _detail(mapping: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = _get(mapping, key)
    return value if isinstance(value, Mapping) else {}


def _first(*values: object) -> str | None:
    for value in values:
        if text := stripped(value):
            return text
    return None


# --------------------------------------------------------------------------- people


def _author(context: Mapping[str, Any]) -> str | None:
    """The distinct author names of an entry (or feed), joined: "Claire, Marc".

    At most ``MAX_AUTHORS`` people are read: the credit fits
    ``AUTHOR_LIMIT`` anyway, and 10,000 names once cost seconds.
    """
    names: dict[str, None] = {}
    for person in list(_get(context, "authors") or ())[:MAX_AUTHORS]:
        if name := person_name(_get(person, "name")):
            names.setdefault(name)
    return ", ".join(names) if names else person_name(_get(context, "author"))


# --------------------------------------------------------------------------- entries


def _as_html(detail: Mapping[str, Any] | None) -> str | None:
    """A text construct as HTML: markup kept, plain text escaped, other types dropped."""
    if not detail:
        return None
    value = _get(detail, "value")
    if not isinstance(value, str) or not value.strip():
        return None
    kind = _get(detail, "type") or "text/html"
    if kind in _HTML_TYPES:
        return value
    if kind == "text/plain":
        return html.escape(value, quote=False)
    return None


def _best_content(entry: Mapping[str, Any]) -> Mapping[str, Any]:
    """The richest inline content element: HTML, then XHTML, then plain text; {} if none."""
    candidates = [c for c in _get(entry, "content") or () if stripped(_get(c, "value"))]
    for kind in ("text/html", "application/xhtml+xml", "text/plain"):
        for candidate in candidates:
            if _get(candidate, "type") == kind:
                return candidate
    return {}


def _page_url(context: Mapping[str, Any]) -> str | None:
    """An entry's (or feed's) own page: its HTML alternate link when it has several.

    feedparser also offers a permalink guid (or an Atom id) as the link; a
    guid such as "4711" or "urn:x" is no page, so only an http(s) URL is
    taken from there.
    """
    alternates = [
        link
        for link in _get(context, "links") or ()
        if (_get(link, "rel") or "alternate") == "alternate" and stripped(_get(link, "href"))
    ]
    for link in alternates:
        if _get(link, "type") in _HTML_TYPES:
            return stripped(_get(link, "href"))
    if alternates:
        return stripped(_get(alternates[0], "href"))
    link = stripped(_get(context, "link"))
    if link and _get(context, "guidislink") and not is_http(link):
        return None
    return link


def _categories(entry: Mapping[str, Any]) -> tuple[str, ...]:
    """Terms and labels as written, each once, within ``classify``'s ceilings."""
    return kept_categories(
        text
        for tag in _get(entry, "tags") or ()
        for value in (_get(tag, "term"), _get(tag, "label"))
        if (text := stripped(value))
    )


def _feed_base(feed: Mapping[str, Any], doc: Document) -> str:
    """Where relative URLs of an item without xml:base point: the site, else the document.

    Feeds served from elsewhere (a CDN, a feed proxy) write links relative
    to their site, so the feed's own <link> is the better guess when it is
    an http(s) URL.
    """
    link = _page_url(feed)
    site = join(doc.name, link) if link else ""
    return site if is_http(site) else doc.name


def _locate(
    entry: Mapping[str, Any], xml_base: str | None, feed: Mapping[str, Any], doc: Document
) -> tuple[str | None, str]:
    """The entry's URL and the base its relative URLs resolve against.

    feedparser is given no document URL, so it resolves nothing but
    xml:base, and a guid comes out as the source wrote it whatever URL the
    feed was fetched from. When xml:base applied, the link is already
    resolved as far as the document allows, and what xml:base left relative
    is relative to the document itself, so that last step is done here
    rather than letting the normaliser apply the base twice.
    """
    url = _page_url(entry)
    if not xml_base:
        return url, _feed_base(feed, doc)
    return (join(doc.name, url) if url else None), join(doc.name, xml_base)


def _origin(context: Mapping[str, Any], doc: Document) -> Origin | None:
    """An upstream feed as ``atom:source`` names it: title, home page, and id.

    ``context`` is the feed read, or an aggregated item's own ``<source>``.
    The id is the feed's own (Atom), else its address (an RSS ``<source
    url>``, or the document fetched), so it is never an id that answers 404;
    the link is its home page, else that address. Links stay as written
    (resolved against the document): the normaliser checks them.
    """
    home = _page_url(context)
    address = _first(_get(context, "href"), _self_link(context))
    title = _feed_title(context)
    link = join(doc.name, home) if home else address
    ident = stripped(_get(context, "id")) or address
    if not (title or link or ident):
        return None
    return Origin(title=title, link=link, id=ident)


def _self_link(context: Mapping[str, Any]) -> str | None:
    for link in _get(context, "links") or ():
        if _get(link, "rel") == "self" and (href := stripped(_get(link, "href"))):
            return href
    return None


def _read_loosely(result: Mapping[str, Any]) -> bool:
    """Whether feedparser read the document with its loose parser, not the XML one.

    It does when the XML parser fails (a malformed feed) or the encoding is
    unknown; what the loose parser hands over as an id is still XML-escaped.
    """
    exception = _get(result, "bozo_exception")
    return not _get(result, "encoding") or isinstance(exception, xml.sax.SAXException)


def _guid(guid: object, loose: bool) -> str | None:
    """The entry's id as its text, whichever of feedparser's parsers read it.

    The XML parser decodes ``x&amp;amp;y`` to the text ``x&amp;y``; the loose
    parser (a malformed document) hands over ``x&amp;amp;y`` as written, and
    ``&#38;`` as ``&amp;``. Its escapes are undone once, so a feed that breaks
    one day and is mended the next keeps every guid, and no item is stored
    twice. Nothing else is touched: the guid stays exact (``feedsvc.guids``).
    """
    if not isinstance(guid, str) or not guid.strip():
        return None
    return xml_unescape(guid, _XML_QUOTES) if loose and "&" in guid else guid


def _raw_item(
    entry: Mapping[str, Any],
    feed: Mapping[str, Any],
    doc: Document,
    feed_origin: Origin | None,
    loose: bool = False,
) -> RawItem:
    title = _detail(entry, "title_detail")
    summary = _detail(entry, "summary_detail")
    content = _best_content(entry)
    source = _detail(entry, "source")
    xml_base = _first(_get(content, "base"), _get(summary, "base"), _get(title, "base"))
    url, base_url = _locate(entry, xml_base, feed, doc)
    enclosures, image = entry_media(entry, (lambda link: join(doc.name, link)) if xml_base else str)
    given = _get(entry, "id")
    guid = _guid(given, loose)
    published, updated, problems = _entry_dates(entry)
    return RawItem(
        guid=guid,
        given_guid=given if isinstance(given, str) and guid and given != guid else None,
        url=url,
        title=(_get(entry, "title") or "").strip(),
        title_html=_get(title, "type") in _HTML_TYPES,
        summary_html=_as_html(summary),
        content_html=_as_html(content),
        author=_author(entry) or _author(feed),
        categories=_categories(entry),
        published=published,
        updated=updated,
        language=_first(
            _get(entry, "language"),
            _get(title, "language"),
            _get(summary, "language"),
            _get(content, "language"),
            _get(feed, "language"),
        ),
        base_url=base_url,
        origin=(_origin(source, doc) if source else None) or feed_origin,
        enclosures=enclosures,
        image=image,
        problems=problems,
    )


_SHOWN_DATE = 40


def _entry_dates(
    entry: Mapping[str, Any],
) -> tuple[datetime | None, datetime | None, tuple[str, ...]]:
    """Published (else created) and updated; a date that cannot be read is a problem.

    The item is still read: it borrows its other date, else it is dated when
    first seen, and the problem says which (as for JSON Feed and wire files).
    """
    read: list[datetime | None] = []
    unread: list[tuple[str, str]] = []
    for names in (("published", "created"), ("updated",)):
        value, failed = None, None
        for name in names:
            text = _get(entry, name)
            value = parse_date(text, _get(entry, f"{name}_parsed"))
            if value is not None:
                break
            if failed is None and isinstance(text, str) and text.strip():
                failed = (name, text)
        read.append(value)
        if value is None and failed is not None:
            unread.append(failed)
    outcome = "ignored" if any(value is not None for value in read) else "dated when first seen"
    problems = tuple(
        f"date {name!r} not understood ({one_line(text, _SHOWN_DATE)!r}): {outcome}"
        for name, text in unread
    )
    return read[0], read[1], problems


def _feed_title(feed: Mapping[str, Any]) -> str | None:
    """The feed's title as plain text: ParsedFeed, unlike RawItem, has no HTML flag."""
    title = stripped(_get(feed, "title"))
    if title and _get(_detail(feed, "title_detail"), "type") in _HTML_TYPES:
        title = stripped(" ".join(html.unescape(_TAG.sub("", title)).split()))
    return title


# --------------------------------------------------------------------------- documents


def _headers(doc: Document) -> dict[str, str]:
    return {key.lower(): value for key, value in doc.headers.items()}


def _response_headers(doc: Document) -> dict[str, str]:
    """The headers feedparser is told about: encoding and language only.

    No Content-Location: see _locate. Without a content type feedparser
    falls back to ISO-8859-1, but XML without a declared encoding is UTF-8;
    ``application/xml`` restores that.
    """
    headers = _headers(doc)
    chosen = {"content-type": headers.get("content-type") or "application/xml"}
    if language := headers.get("content-language"):
        chosen["content-language"] = language
    return chosen


def _media_type(doc: Document) -> str:
    return _headers(doc).get("content-type", "").partition(";")[0].strip().lower()


def _bozo_reason(exception: BaseException, prolog: _Prolog) -> str:
    """The parser's complaint in a few words, with a position only if it is the source's."""
    if isinstance(exception, xml.sax.SAXParseException):
        where = f" at line {exception.getLineNumber()}, column {exception.getColumnNumber()}"
        message = exception.getMessage() + (where if prolog.same_lines else "")
        return one_line(message, _PROBLEM_LENGTH)
    return error_line(exception, _PROBLEM_LENGTH)


def _malformed(result: Mapping[str, Any]) -> BaseException | None:
    """feedparser's complaint about the document, unless it only concerns HTTP metadata.

    feedparser also flags a feed served as text/plain, or one whose headers
    and XML declaration disagree on the encoding; such a feed reads fine.
    """
    if not _get(result, "bozo"):
        return None
    exception = _get(result, "bozo_exception")
    if isinstance(exception, ThingsNobodyCaresAboutButMe) and not isinstance(
        exception, CharacterEncodingUnknown
    ):
        return None
    return exception if isinstance(exception, BaseException) else ValueError("malformed")


def _refuse_non_feed(result: Mapping[str, Any], prolog: _Prolog, doc: Document) -> None:
    """Raise ParseError when what was fetched is not a feed at all."""
    version = _get(result, "version") or ""
    malformed = _malformed(result)
    media_type = _media_type(doc)
    root = prolog.root
    if not version and (root in _HTML_ROOTS or media_type in _HTML_TYPES):
        raise ParseError("HTML page, not a feed")
    if _get(result, "entries") or stripped(_get(_detail(result, "feed"), "title")):
        return
    if version and malformed is None:
        return  # a valid feed that has no items right now
    if root is None and media_type.endswith("json"):
        raise ParseError("not a feed: served as JSON, but neither JSON nor XML")
    if malformed is not None:
        raise ParseError(f"not a feed: {_bozo_reason(malformed, prolog)}")
    if root is not None:
        raise ParseError(f"not a feed: unknown XML root element <{root}>")
    raise ParseError("not a feed: no RSS, RDF or Atom root element")


def parse_feed(doc: Document) -> ParsedFeed:
    """Read one feed document (RSS, Atom or JSON Feed) into raw items; ParseError if not a feed."""
    if not doc.content.strip():
        raise ParseError("empty document")
    if _decode_head(doc.content[:64]).lstrip()[:1] in ("{", "["):
        return parse_json_feed(doc)  # JSON: never XML, so no entity guard and no feedparser
    prolog = _read_prolog(doc.content)
    try:
        # A stream, not bytes: feedparser tries a bytes argument as a file name first.
        result = feedparser.parse(
            io.BytesIO(_neutralise_charrefs(doc.content)),
            response_headers=_response_headers(doc),
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except (ValueError, OverflowError, RecursionError) as exc:
        # feedparser's fallback parser raises on some hostile input instead of
        # reporting it; that is this source's problem, never the whole run's.
        reason = error_line(exc, _PROBLEM_LENGTH)
        raise ParseError(f"not a feed: unreadable ({reason})") from None
    _refuse_non_feed(result, prolog, doc)
    feed = _detail(result, "feed")
    items: list[RawItem] = []
    malformed = _malformed(result)
    problems = [] if malformed is None else [f"malformed: {_bozo_reason(malformed, prolog)}"]
    # The feed read is the origin of every item that names no other; its own
    # address is the document's, the one it was fetched from.
    feed_origin = _origin({**feed, "href": doc.name}, doc)
    loose = _read_loosely(result)
    for number, entry in enumerate(_get(result, "entries") or (), start=1):
        item = _raw_item(entry, feed, doc, feed_origin, loose)
        if item.is_empty:
            problems.append(f"item {number} has no id, link, title or text; skipped")
        else:
            items.append(item)
    link = _page_url(feed)
    return ParsedFeed(
        items=tuple(items),
        title=_feed_title(feed),
        link=join(doc.name, link) if link else None,
        language=stripped(_get(feed, "language")),
        problems=tuple(problems),
    )
