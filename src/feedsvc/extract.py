"""From fetched documents to articles: the parse and normalise stages for one source.

Also the digest of everything that decides what those stages yield, so a
body seen before under the same rules costs a hash, not a parse. Pure: no
database, no network; ``feedsvc.refresh`` runs these between fetch and store.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from feedsvc.errors import ParseError
from feedsvc.model import Article, Catalog, Fetched, RawItem, Source
from feedsvc.normalise import normalise
from feedsvc.parse import parse_feed
from feedsvc.urls import canonical_url
from feedsvc.wire import read_wire

RULES_VERSION = "1"  # bump when parsing or normalising changes what a body yields


@dataclass(frozen=True, slots=True)
class Parsed:
    items: tuple[RawItem, ...]
    problems: tuple[str, ...]
    homes: tuple[str, ...] = ()
    """The canonical home page of each feed document: a link that names no one article."""


def parse_fetched(fetched: Fetched, source: Source, bylines: Iterable[str]) -> Parsed:
    """Bytes to raw items. A bad wire file is a problem of that file only."""
    if source.kind == "feed":
        problems: list[str] = list(fetched.problems)
        items: list[RawItem] = []
        homes: list[str] = []
        for document in fetched.documents:
            feed = parse_feed(document)  # ParseError: the whole source failed
            items.extend(feed.items)
            problems.extend(feed.problems)
            home = canonical_url(feed.link)
            if home and home not in homes:
                homes.append(home)
        return Parsed(tuple(items), tuple(problems), tuple(homes))
    wire_items: list[RawItem] = []
    wire_problems: list[str] = list(fetched.problems)
    known_bylines = tuple(bylines)
    for document in fetched.documents:
        try:
            wire_items.append(read_wire(document.name, document.content, known_bylines))
        except ParseError as exc:
            wire_problems.append(f"{document.name}: {exc}")
    return Parsed(tuple(wire_items), tuple(wire_problems))


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


def taken(
    articles: Sequence[Article], source: Source, keep: timedelta | None, now: datetime
) -> tuple[list[Article], list[str]]:
    """What one fetch stores: items within the source's ``keep``, at most its ``max_items``.

    An item older than ``keep`` would only be purged again (and fetched again,
    and purged…); past ``max_items`` the newest are taken (by published
    time, in the source's order), so one huge fetch cannot flood the store.
    """
    problems: list[str] = []
    chosen = list(articles)
    if keep is not None:
        fresh = [article for article in chosen if article.published >= now - keep]
        if len(fresh) < len(chosen):
            problems.append(f"{len(chosen) - len(fresh)} items older than the source's keep")
        chosen = fresh
    if len(chosen) > source.max_items:
        order = sorted(range(len(chosen)), key=lambda i: (chosen[i].published, -i), reverse=True)
        newest = sorted(order[: source.max_items])
        problems.append(
            f"{len(chosen) - len(newest)} items past the newest {source.max_items} (max_items)"
        )
        chosen = [chosen[i] for i in newest]
    return chosen, problems


def bylines(catalog: Catalog) -> tuple[str, ...]:
    """Every desk's bylines: the wire reader strips them from story bodies."""
    return tuple(byline for desk in catalog.desks.values() for byline in desk.bylines)


def content_digest(
    fetched: Fetched, source: Source, catalog: Catalog, keep: timedelta | None = None
) -> str:
    """A hash of the fetched bytes and of everything that shapes their articles.

    Equal digests mean re-parsing would yield the same articles, so an origin
    without validators (or a folder of unchanged files) costs a hash, not a
    parse. The source's settings and the desks and topics are part of it, so
    a catalogue edit re-tags what is already stored.
    """
    digest = hashlib.sha256()
    rules = (
        RULES_VERSION,
        repr(source),
        repr(keep),
        repr(sorted(catalog.desks.items())),
        repr(sorted(catalog.topics.items())),
    )
    for part in rules:
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    for document in fetched.documents:
        digest.update(document.name.encode("utf-8", "surrogatepass"))
        digest.update(document.headers.get("content-type", "").encode("utf-8", "replace"))
        digest.update(b"\0%d\0" % len(document.content))
        digest.update(document.content)
    for problem in fetched.problems:
        digest.update(problem.encode("utf-8", "surrogatepass"))
    if fetched.listing is not None:  # a deleted file changes what is stored
        digest.update(b"\0listing\0")
        for name in fetched.listing:
            digest.update(name.encode("utf-8", "surrogatepass") + b"\0")
    return digest.hexdigest()
