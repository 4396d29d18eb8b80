"""JSON Feed 1.0 and 1.1: one fetched document -> the same raw items as RSS and Atom.

feedparser does not read JSON Feed, so this reader does, with the standard
``json`` module behind guards, because the document is a stranger's: nesting
deeper than ``MAX_DEPTH`` is refused before ``json`` recurses into it,
integers longer than ``MAX_DIGITS`` never become Python ints (a number of
10,000 digits costs quadratic time to convert), ``NaN`` and ``Infinity``
are not JSON, and at most ``MAX_ITEMS`` items are read. A document that is
not a JSON Feed at all is a ParseError; a field of the wrong type is a
problem of its item, which keeps what else it has; an item that is not an
object is skipped with a problem. As with feedparser, what comes out is what
the source wrote: the normaliser sanitises, resolves and bounds it.

Field by field (https://www.jsonfeed.org/version/1.1/): ``id`` (a number is
coerced to a string, as the spec asks), ``url`` else ``external_url``,
``title``, ``content_html`` else ``content_text`` (escaped, paragraphs kept),
``summary``, ``date_published``, ``date_modified``, ``authors`` (1.1) or
``author`` (1.0), item before feed, ``tags``, ``language`` (item, else
feed), ``image`` else ``banner_image``, and ``attachments`` (``url``,
``mime_type``, ``size_in_bytes``, ``duration_in_seconds``). The feed's
``title``, ``home_page_url`` and ``language`` describe the feed.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeGuard, TypeVar

from feedsvc.classify import kept_categories
from feedsvc.dates import parse_date
from feedsvc.errors import ParseError
from feedsvc.media import MAX_RAW_ENCLOSURES, read_duration, read_length
from feedsvc.model import Document, Enclosure, ParsedFeed, RawItem
from feedsvc.text import MAX_AUTHORS, RAW_TEXT_LIMIT, error_line, one_line, person_name, stripped
from feedsvc.urls import is_http, join

__all__ = ["MAX_DEPTH", "MAX_DIGITS", "MAX_ITEMS", "MAX_PROBLEMS", "parse_json_feed"]

MAX_DEPTH = 32
"""Deepest nesting of arrays and objects read; a JSON Feed needs five or six."""

MAX_DIGITS = 30
"""Longest integer (in digits) read as a number; a longer one is a value of the wrong type."""

MAX_ITEMS = 10_000
"""Items read from one document; the rest are ignored, and a problem says so."""

MAX_PROBLEMS = 50
"""Per-item problems listed one by one; the rest are counted in one more line."""

T = TypeVar("T")

_VERSION_PREFIXES = ("https://jsonfeed.org/version/", "http://jsonfeed.org/version/")
_PROBLEM_LENGTH = 160
_SHOWN_DATE = 40
# For the nesting guard: brackets as parentheses, everything else deleted.
_PARENTHESES = bytes.maketrans(b"[]{}", b"()()")
_NOT_BRACKETS = bytes(byte for byte in range(256) if byte not in b"[]{}")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


class _Huge:
    """A JSON integer too long to be a count or an id: readers see a value of the wrong type."""

    __slots__ = ()


_HUGE = _Huge()


def _integer(text: str) -> int | _Huge:
    return int(text) if len(text.lstrip("-")) <= MAX_DIGITS else _HUGE


def _not_json(name: str) -> object:
    raise ValueError(f"{name} is not a JSON value")


# --------------------------------------------------------------------------- the document


def _decode(content: bytes) -> str:
    """The document as text: UTF-8 (a BOM allowed), or UTF-16/32 as RFC 8259's detection finds."""
    try:
        return content.decode(json.detect_encoding(content))
    except (UnicodeDecodeError, LookupError):
        raise ParseError("not a feed: JSON that is not valid UTF-8") from None


def _depth(text: str) -> int:
    """How deeply arrays and objects nest (brackets inside strings not counted), or more.

    Exact for valid JSON; for broken JSON an upper bound (every unclosed
    bracket counts as one more level), which is all a guard needs: ``json``
    refuses broken JSON anyway. Every step is a C-speed pass over the text,
    because a stranger's 10 MB of ``[],[],…`` would cost seconds in a Python
    loop over its tokens:

    1. escapes go (``\\`` pairs first, so ``\\"`` still ends a string), then
       every string's contents, leaving the structure outside strings;
    2. only the brackets are kept, each as ``(`` or ``)``;
    3. each pass removes every innermost ``()``, so one level of nesting; after
       at most ``MAX_DEPTH + 1`` passes what is left is only unclosed brackets.
    """
    unescaped = text.replace("\\\\", "").replace('\\"', "")
    structure = "".join(unescaped.split('"')[::2])
    brackets = structure.encode("utf-8", "surrogatepass").translate(_PARENTHESES, _NOT_BRACKETS)
    passes = 0
    while passes <= MAX_DEPTH:
        inner_removed = brackets.replace(b"()", b"")
        if len(inner_removed) == len(brackets):
            break
        brackets = inner_removed
        passes += 1
    return passes + brackets.count(b"(")


def _load(content: bytes) -> object:
    text = _decode(content)
    if _depth(text) > MAX_DEPTH:
        raise ParseError(f"not a feed: JSON nested deeper than {MAX_DEPTH} levels; refused")
    try:
        return json.loads(text, parse_int=_integer, parse_constant=_not_json)
    except (ValueError, RecursionError) as exc:
        raise ParseError(f"not a feed: invalid JSON ({error_line(exc, _PROBLEM_LENGTH)})") from None


# --------------------------------------------------------------------------- typed fields


def _kind(value: object) -> str:
    if isinstance(value, _Huge):
        return "a number too long to read"
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    for kind, name in names.items():
        if isinstance(value, kind):
            return name
    return "null" if value is None else "a number"


@dataclass
class _Fields:
    """One object's fields read by type; what has the wrong type is a problem, not a value."""

    source: Mapping[str, Any]
    problems: list[str] = field(default_factory=list)

    def _wrong(self, key: str, wanted: str) -> None:
        self.problems.append(f"{key!r} is {_kind(self.source[key])}, not {wanted}; ignored")

    def _typed(self, key: str, kind: type[T], wanted: str) -> T | None:
        """The value if it is a ``kind``; None when absent or null, and a problem otherwise."""
        value = self.source.get(key)
        if value is None:
            return None
        if not isinstance(value, kind):
            self._wrong(key, wanted)
            return None
        return value

    def text(self, key: str) -> str | None:
        return stripped(self._typed(key, str, "a string"))

    def raw_text(self, key: str) -> str | None:
        """A string as written (content keeps its own whitespace)."""
        value = self._typed(key, str, "a string")
        return value if value is not None and value.strip() else None

    def objects(self, key: str) -> list[Mapping[str, Any]]:
        value = self._typed(key, list, "an array") or []
        return [entry for entry in value if isinstance(entry, dict)]

    def strings(self, key: str) -> list[str]:
        value = self._typed(key, list, "an array") or []
        return [entry.strip() for entry in value if isinstance(entry, str) and entry.strip()]

    def id(self, key: str) -> str | None:
        """An id: a string as written (ids are compared exactly: " a" is not "a"), or a
        number coerced to one (JSON Feed 1.1 asks readers to)."""
        value = self.source.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, float) and math.isfinite(value):
            return str(int(value)) if value.is_integer() else repr(value)
        return self.raw_text(key)


def _authors(fields: _Fields) -> str | None:
    """The distinct names of ``authors`` (1.1), else of ``author`` (1.0), joined.

    At most ``MAX_AUTHORS`` people are read, and no name longer than
    ``RAW_TEXT_LIMIT`` (the normaliser would not read past it anyway).
    """
    people = fields.objects("authors")
    if not people and isinstance(fields.source.get("author"), dict):
        people = [fields.source["author"]]
    if len(people) > MAX_AUTHORS:
        fields.problems.append(
            f"{len(people) - MAX_AUTHORS} authors past the first {MAX_AUTHORS} ignored"
        )
    names: dict[str, None] = {}
    for person in people[:MAX_AUTHORS]:
        name = person.get("name")
        long = not isinstance(name, str) or len(name) > RAW_TEXT_LIMIT
        if not long and (found := person_name(name)):
            names.setdefault(found)
    return ", ".join(names) if names else None


def _dates(fields: _Fields) -> tuple[datetime | None, datetime | None]:
    """``date_published`` and ``date_modified``; one that is not a date is a problem.

    Such an item is still read: it borrows its other date, else it is dated
    when first seen, and the problem says which.
    """
    written = {key: fields.text(key) for key in ("date_published", "date_modified")}
    read = {key: parse_date(text) if text else None for key, text in written.items()}
    dated = any(value is not None for value in read.values())
    for key, text in written.items():
        if text and read[key] is None:
            outcome = "ignored" if dated else "dated when first seen"
            fields.problems.append(
                f"{key!r} not understood ({one_line(text, _SHOWN_DATE)!r}): {outcome}"
            )
    return read["date_published"], read["date_modified"]


def _text_as_html(text: str) -> str:
    """Plain ``content_text`` as HTML: escaped, paragraphs and line breaks kept."""
    paragraphs = (p.strip() for p in _PARAGRAPH_BREAK.split(text.replace("\r\n", "\n")))
    return "".join(
        "<p>" + html.escape(p, quote=False).replace("\n", "<br>") + "</p>" for p in paragraphs if p
    )


def _attachments(fields: _Fields) -> tuple[Enclosure, ...]:
    found: list[Enclosure] = []
    for attachment in fields.objects("attachments")[:MAX_RAW_ENCLOSURES]:
        url = attachment.get("url")
        if not isinstance(url, str) or not url.strip():
            fields.problems.append("an attachment without a 'url' string; ignored")
            continue
        kind = attachment.get("mime_type")
        found.append(
            Enclosure(
                url=url.strip(),
                type=kind.strip() if isinstance(kind, str) else None,
                length=read_length(attachment.get("size_in_bytes")),
                duration=read_duration(attachment.get("duration_in_seconds")),
            )
        )
    return tuple(found)


def _item(
    entry: Mapping[str, Any], feed_author: str | None, language: str | None, base: str
) -> tuple[RawItem, list[str]]:
    fields = _Fields(entry)
    published, updated = _dates(fields)
    content_html = fields.raw_text("content_html")
    content_text = fields.raw_text("content_text")
    summary = fields.text("summary")
    item = RawItem(
        guid=fields.id("id"),
        url=fields.text("url") or fields.text("external_url"),
        title=fields.text("title") or "",
        title_html=False,
        summary_html=html.escape(summary, quote=False) if summary else None,
        content_html=content_html or (_text_as_html(content_text) if content_text else None),
        author=_authors(fields) or feed_author,
        categories=kept_categories(fields.strings("tags")),
        published=published,
        updated=updated,
        language=fields.text("language") or language,
        base_url=base,
        enclosures=_attachments(fields),
        image=fields.text("image") or fields.text("banner_image"),
    )
    return item, fields.problems


def _is_json_feed(document: object) -> TypeGuard[dict[str, Any]]:
    version = document.get("version") if isinstance(document, dict) else None
    return isinstance(version, str) and version.startswith(_VERSION_PREFIXES)


def parse_json_feed(doc: Document) -> ParsedFeed:
    """Read one JSON Feed document; ParseError if it is not JSON or not a JSON Feed."""
    document = _load(doc.content)
    if not _is_json_feed(document):
        raise ParseError("not a feed: a JSON document, but not a JSON Feed (no version)")
    feed = _Fields(document)
    title = feed.text("title")
    home = feed.text("home_page_url")
    link = join(doc.name, home) if home else None
    language = feed.text("language")
    feed_author = _authors(feed)
    base = link if link and is_http(link) else doc.name
    problems = [f"feed: {problem}" for problem in feed.problems]
    entries = document.get("items")
    if not isinstance(entries, list):
        problems.append(f"'items' is {_kind(entries)}, not an array; no items read")
        entries = []
    if len(entries) > MAX_ITEMS:
        problems.append(f"{len(entries) - MAX_ITEMS} items past the first {MAX_ITEMS} ignored")
    items: list[RawItem] = []
    item_problems: list[str] = []
    for number, entry in enumerate(entries[:MAX_ITEMS], start=1):
        if not isinstance(entry, dict):
            item_problems.append(f"item {number} is {_kind(entry)}, not an object; skipped")
            continue
        item, found = _item(entry, feed_author, language, base)
        item_problems.extend(f"item {number}: {problem}" for problem in found)
        if item.is_empty:
            item_problems.append(f"item {number} has no id, link, title or text; skipped")
        else:
            items.append(item)
    problems.extend(item_problems[:MAX_PROBLEMS])
    if len(item_problems) > MAX_PROBLEMS:
        problems.append(f"and {len(item_problems) - MAX_PROBLEMS} more item problems")
    return ParsedFeed(
        items=tuple(items),
        title=" ".join(title.split()) if title else None,
        link=link,
        language=language,
        problems=tuple(problems),
    )
