"""OPML subscription lists in and out: ``feedsvc opml import FILE`` and ``feedsvc opml export``.

Import reads an OPML file from anyone (a reader's export, a colleague's list)
with defusedxml, so entity tricks cannot blow up memory or reach files. Every
outline with an ``xmlUrl`` becomes a candidate feed source; its desk comes from
its categories (the ``category`` attribute and the folders it sits in) where
one names a desk of the catalogue by id or title, else the default desk;
categories naming a topic become the source's topics. Outlines that cannot be
taken (no http(s) URL, no desk, already present) are reported one by one,
never silently dropped. Export writes the sources back as OPML 2.0 with the
desk as category, so an export imports again unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape, quoteattr

from defusedxml import ElementTree as SafeElementTree
from defusedxml.common import DefusedXmlException

from feedsvc.admin_models import MAX_TITLE
from feedsvc.catalog import ID_PATTERN, check_feed_url, format_interval
from feedsvc.errors import ParseError
from feedsvc.model import Catalog, Source

MAX_OPML_BYTES = 5 * 1024 * 1024
MAX_ID_LENGTH = 60
MAX_FOLDER_DEPTH = 50
"""Folders within folders: readers export two or three levels."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """One outline that can become a source: the API payload and where it was in the file."""

    payload: dict[str, Any]
    where: str


@dataclass(frozen=True, slots=True)
class OpmlPlan:
    candidates: tuple[Candidate, ...]
    skipped: tuple[str, ...]


def read_opml(
    data: bytes,
    catalog: Catalog,
    existing: Iterable[Source],
    *,
    default_desk: str | None = None,
    every: str = "15m",
) -> OpmlPlan:
    """Plan the sources an OPML file adds; raises ParseError when it is not OPML at all."""
    if len(data) > MAX_OPML_BYTES:
        raise ParseError(f"OPML file larger than {MAX_OPML_BYTES // (1024 * 1024)} MiB")
    try:
        root = SafeElementTree.fromstring(data)
    except (SafeElementTree.ParseError, DefusedXmlException, ValueError) as exc:
        raise ParseError(f"not an OPML file: {exc}") from None
    if _local(root.tag) != "opml":
        raise ParseError(f"not an OPML file: the root element is <{_local(root.tag)}>")
    body = next((child for child in root if _local(child.tag) == "body"), None)
    if body is None:
        raise ParseError("not an OPML file: no <body>")
    known_urls = {s.url for s in existing if s.url}
    taken = {s.id for s in existing} | set(catalog.sources)
    candidates: list[Candidate] = []
    skipped: list[str] = []
    for number, (outline, folders) in enumerate(_feed_outlines(body), 1):
        label = outline.get("title") or outline.get("text") or ""
        where = f"outline {number} ({label or outline.get('xmlUrl')!r})"
        if outline.get("xmlUrl") is None:
            skipped.append(f"{where}: no xmlUrl, not a feed")
            continue
        try:
            url = check_feed_url(outline.get("xmlUrl"))
        except ValueError as exc:
            skipped.append(f"{where}: {exc}")
            continue
        if url in known_urls:
            skipped.append(f"{where}: {url} is already a source")
            continue
        categories = _categories(outline.get("category"), folders)
        desk = _match(categories, {d.id: d.title for d in catalog.desks.values()})
        desk = desk or default_desk
        if desk is None:
            skipped.append(
                f"{where}: no category names a desk ({', '.join(categories) or 'none given'}); "
                "pass --desk for a default"
            )
            continue
        topics = _matches(categories, {t.id: t.title for t in catalog.topics.values()})
        own_id = outline.get("feedsvcId") or ""  # written by our export: keep the id
        source_id = _unique_id(own_id or _slug(label) or _slug_url(url), taken)
        taken.add(source_id)
        known_urls.add(url)
        payload: dict[str, Any] = {
            "id": source_id,
            "url": url,
            "desk": desk,
            "every": outline.get("feedsvcEvery") or every,
            "topics": topics,
        }
        if label.strip():
            payload["title"] = label.strip()[:MAX_TITLE]
        candidates.append(Candidate(payload, where))
    return OpmlPlan(tuple(candidates), tuple(skipped))


def _local(tag: object) -> str:
    return str(tag).rpartition("}")[2].lower()


def _feed_outlines(
    parent: Element, folders: tuple[str, ...] = (), depth: int = 0
) -> Iterator[tuple[Element, tuple[str, ...]]]:
    """Leaf outlines (feeds, or would-be feeds to report), in order, with their folders.

    An outline with children and no ``xmlUrl`` is a folder: its title is a category.
    Folders deeper than ``MAX_FOLDER_DEPTH`` make the file refused (ParseError), before
    this recursion could reach Python's limit (a RecursionError traceback).
    """
    if depth > MAX_FOLDER_DEPTH:
        raise ParseError(f"not an OPML file we read: folders nested deeper than {MAX_FOLDER_DEPTH}")
    for child in parent:
        if _local(child.tag) != "outline":
            continue
        folder = child.get("xmlUrl") is None and any(_local(c.tag) == "outline" for c in child)
        if folder:
            name = child.get("title") or child.get("text") or ""
            yield from _feed_outlines(child, (*folders, name) if name else folders, depth + 1)
        else:
            yield child, folders


def _categories(attribute: str | None, folders: tuple[str, ...]) -> list[str]:
    """``category="/World/Europe,Tech"``: every path segment, then the folders, innermost first."""
    found: list[str] = []
    for entry in (attribute or "").split(","):
        found.extend(part.strip() for part in entry.split("/") if part.strip())
    found.extend(reversed(folders))
    return found


def _match(categories: list[str], names: dict[str, str]) -> str | None:
    matched = _matches(categories, names)
    return matched[0] if matched else None


def _matches(categories: list[str], names: dict[str, str]) -> list[str]:
    wanted = [c.casefold() for c in categories]
    found: list[str] = []
    for category in wanted:
        for ident, title in names.items():
            if category in (ident.casefold(), title.casefold()) and ident not in found:
                found.append(ident)
    return found


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.casefold()).strip("-")
    return slug[:MAX_ID_LENGTH].strip("-")


def _slug_url(url: str) -> str:
    return _slug(re.sub(r"^https?://(www\.)?", "", url)) or "feed"


def _unique_id(base: str, taken: set[str]) -> str:
    base = base if ID_PATTERN.fullmatch(base) else _slug(base) or "feed"
    candidate, n = base, 2
    while candidate in taken:
        candidate = f"{base}-{n}"
        n += 1
    return candidate


def write_opml(sources: Iterable[Source], now: datetime | None = None) -> bytes:
    """Feed sources as an OPML 2.0 subscription list, the desk as category."""
    now = now or datetime.now(UTC)
    outlines = []
    for source in sources:
        if source.kind != "feed" or not source.url:
            continue
        title = source.title or source.id
        categories = [f"/{source.desk}", *(f"/{t}" for t in source.topics)]
        outlines.append(
            {
                "type": "rss",
                "text": title,
                "title": title,
                "xmlUrl": source.url,
                "category": ",".join(categories),
                "feedsvcId": source.id,
                "feedsvcEvery": format_interval(source.every),
            }
        )
    created = {"dateCreated": format_datetime(now, usegmt=True)}
    return opml_document("feedsvc sources", created, outlines)


def opml_document(
    title: str, head: Mapping[str, str], outlines: Iterable[Mapping[str, str]]
) -> bytes:
    """An OPML 2.0 document: the title and ``head``'s elements, then one ``<outline>`` per
    mapping with its attributes in order. The same arguments give the same bytes, so a
    published list keeps its ETag while nothing in it changes."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<opml version="2.0">',
        "  <head>",
        f"    <title>{escape(title)}</title>",
        *(f"    <{name}>{escape(text)}</{name}>" for name, text in head.items()),
        "  </head>",
        "  <body>",
        *(
            "    <outline" + "".join(f" {name}={quoteattr(value)}" for name, value in o.items())
            + " />"
            for o in outlines
        ),
        "  </body>",
        "</opml>",
        "",
    ]
    return "\n".join(lines).encode("utf-8")
