"""From fetched documents to articles: the parse and normalise stages for one source.

Also the digest of everything that decides what those stages yield, so a
body seen before under the same rules costs a hash, not a parse. Pure: no
database, no network; ``feedsvc.refresh`` runs these between fetch and store.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from feedsvc.errors import ParseError
from feedsvc.model import Article, Catalog, Fetched, RawItem, Source
from feedsvc.normalise import normalise
from feedsvc.parse import parse_feed
from feedsvc.wire import read_wire

RULES_VERSION = "3"  # bump when parsing or normalising changes what a body yields
# 2: media (enclosures, lead image), JSON Feed sources
# 3: attribution, summaries of whole blocks, text ceilings, origin, corrections


@dataclass(frozen=True, slots=True)
class Parsed:
    items: tuple[RawItem, ...]
    problems: tuple[str, ...]


def parse_fetched(fetched: Fetched, source: Source, bylines: Iterable[str]) -> Parsed:
    """Bytes to raw items. A bad wire file is a problem of that file only."""
    if source.kind == "feed":
        problems: list[str] = list(fetched.problems)
        items: list[RawItem] = []
        for document in fetched.documents:
            feed = parse_feed(document)  # ParseError: the whole source failed
            items.extend(feed.items)
            problems.extend(feed.problems)
            problems.extend(_item_problems(feed.items, document.name))
        return Parsed(tuple(items), tuple(problems))
    wire_items: list[RawItem] = []
    wire_problems: list[str] = list(fetched.problems)
    known_bylines = tuple(bylines)
    for document in fetched.documents:
        try:
            item = read_wire(document.name, document.content, known_bylines)
        except ParseError as exc:
            wire_problems.append(f"{document.name}: {exc}")
            continue
        wire_items.append(item)
        wire_problems.extend(_item_problems((item,), document.name))
    return Parsed(tuple(wire_items), tuple(wire_problems))


def _item_problems(items: Iterable[RawItem], where: str) -> list[str]:
    """What was wrong with items that are still stored, each named by file or guid."""
    return [
        f"{item.guid or where}: {problem}"
        for item in items
        for problem in item.problems
    ]


def normalise_all(
    items: Iterable[RawItem], source: Source, catalog: Catalog, now: datetime
) -> tuple[list[Article], list[str]]:
    articles: list[Article] = []
    problems: list[str] = []
    for index, item in enumerate(items):
        # Undated items get their first-seen time: a second apart, in the order
        # the source lists them (first = newest), so they keep that order and no
        # two entries share one `updated` (feed validators warn about that).
        seen = now - timedelta(seconds=index)
        try:
            articles.append(normalise(item, source, catalog.desks, catalog.topics, seen))
        except ParseError as exc:
            problems.append(f"item {item.guid or item.url or item.title[:40]!r}: {exc}")
    return articles, problems


def bylines(catalog: Catalog) -> tuple[str, ...]:
    """Every desk's bylines: the wire reader strips them from story bodies."""
    return tuple(byline for desk in catalog.desks.values() for byline in desk.bylines)


def rules_digest(source: Source, catalog: Catalog) -> str:
    """A hash of everything besides the bytes that shapes a source's articles.

    The source's settings and the desks and topics are part of it, so a
    catalogue edit re-tags what is already stored: the content digest moves,
    and what is known of a folder's files (``wire_files``) was known under
    other rules, so they are all read again.
    """
    digest = hashlib.sha256()
    rules = (
        RULES_VERSION,
        repr(source),
        repr(sorted(catalog.desks.items())),
        repr(sorted(catalog.topics.items())),
    )
    for part in rules:
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return digest.hexdigest()


def content_digest(fetched: Fetched, source: Source, catalog: Catalog) -> str:
    """A hash of what a fetch hands the store, and of everything that shapes its articles.

    Equal digests mean storing this fetch would change nothing the last
    stored one did not, so an origin without validators costs a hash, not a
    parse. For a feed that is its bytes. A folder read holds only the files
    that changed (unchanged ones are not even opened), so its digest is the
    folder as the store will know it once this read is stored: every listed
    name with the size and mtime it is known by (read now, or before). A
    read that brings nothing new is then "unchanged", and one that misses a
    deleted file is not, so the store still hears of the deletion.
    """
    digest = hashlib.sha256(rules_digest(source, catalog).encode("ascii"))
    if fetched.listing is None:
        for document in fetched.documents:
            digest.update(document.name.encode("utf-8", "surrogatepass"))
            digest.update(document.headers.get("content-type", "").encode("utf-8", "replace"))
            digest.update(b"\0%d\0" % len(document.content))
            digest.update(document.content)
    else:
        files = fetched.validators.files
        for name in fetched.listing:
            seen = files.get(name)
            digest.update(name.encode("utf-8", "surrogatepass"))
            digest.update(b"\0%d\0%d\0" % (seen.size, seen.mtime_ns) if seen else b"\0-\0")
    for problem in fetched.problems:
        digest.update(problem.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return digest.hexdigest()
