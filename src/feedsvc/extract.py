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
from feedsvc.guids import guid_aliases
from feedsvc.model import Article, Catalog, Fetched, RawItem, Source
from feedsvc.normalise import article_guid, normalise
from feedsvc.parse import parse_feed
from feedsvc.text import one_line
from feedsvc.urls import canonical_url
from feedsvc.wire import read_wire

RULES_VERSION = "4"  # bump when parsing or normalising changes what a body yields
# 2: media (enclosures, lead image), JSON Feed sources
# 3: attribution, summaries of whole blocks, text ceilings, origin, corrections
# 4: exact guids (feedsvc.guids): every body and file is read again, and adopts its copy


MAX_PROBLEMS = 50
"""Problem lines one fetch reports one by one; past them, one line counts the rest."""
PROBLEM_LENGTH = 300
"""Characters of one problem line (it may quote a guid or a file name a stranger chose)."""
_LABEL_LENGTH = 80


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
            problems.extend(_item_problems(feed.items, document.name))
            home = canonical_url(feed.link)
            if home and home not in homes:
                homes.append(home)
        return Parsed(tuple(items), tuple(problems), tuple(homes))
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


def listed_guids(listing: Iterable[str] | None) -> frozenset[str] | None:
    """A folder's listing as the guids its files' copies are stored under.

    A wire file's guid is its name read like any guid (``feedsvc.guids``:
    exact but storable, a huge name hashed), so the store must compare the
    listing in that form: a raw name would make such a file look deleted.
    """
    if listing is None:
        return None
    return frozenset(article_guid(RawItem(guid=name), None) for name in listing)


def aliases_of(items: Iterable[RawItem], listing: Iterable[str] | None = None) -> dict[str, str]:
    """Exact guid -> legacy guid where they differ, of the items and of a folder's files.

    What the planner needs to adopt copies an earlier release stored under
    the legacy form, and to leave alone the copy of a listed file that has
    not been read again since (``store.plan``).
    """
    aliases = guid_aliases((item.guid, item.given_guid) for item in items)
    for exact, legacy in guid_aliases(listing or ()).items():
        aliases.setdefault(exact, legacy)
    return aliases


def _item_problems(items: Iterable[RawItem], where: str) -> list[str]:
    """What was wrong with items that are still stored, each named by file or guid."""
    return [
        f"{one_line(item.guid or where, _LABEL_LENGTH)}: {problem}"
        for item in items
        for problem in item.problems
    ]


def bounded_problems(lines: Iterable[str]) -> tuple[str, ...]:
    """A fetch's problems as the result, the notes and ``feedsvc ingest`` show them.

    Each on one line of at most ``PROBLEM_LENGTH`` characters, at most
    ``MAX_PROBLEMS`` of them and one more counting the rest: a feed of
    10,000 broken items costs one line per item nowhere.
    """
    kept: list[str] = []
    more = 0
    for line in lines:
        if len(kept) < MAX_PROBLEMS:
            kept.append(one_line(line, PROBLEM_LENGTH))
        else:
            more += 1
    if more:
        kept.append(f"and {more} more problems")
    return tuple(kept)


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
            label = one_line(item.guid or item.url or item.title, _LABEL_LENGTH)
            problems.append(f"item {label!r}: {exc}")
    return articles, problems


def distinct(articles: Iterable[Article]) -> tuple[list[Article], list[str]]:
    """The first article of each guid; each later one is a problem line.

    Done before ``taken``, so a repeated item does not take the place of a
    genuine one under ``max_items``. (The planner skips a repeat too, for
    callers that hand it a batch directly.)
    """
    firsts: list[Article] = []
    problems: list[str] = []
    seen: set[str] = set()
    for article in articles:
        if article.guid in seen:
            label = one_line(article.guid, _LABEL_LENGTH)
            problems.append(f"item {label!r}: its guid came earlier in this fetch; skipped")
            continue
        seen.add(article.guid)
        firsts.append(article)
    return firsts, problems


def bylines(catalog: Catalog) -> tuple[str, ...]:
    """Every desk's bylines: the wire reader strips them from story bodies."""
    return tuple(byline for desk in catalog.desks.values() for byline in desk.bylines)


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


def rules_digest(source: Source, catalog: Catalog, keep: timedelta | None = None) -> str:
    """A hash of everything besides the bytes that shapes a source's articles.

    The source's settings (and the ``keep`` in force, which decides what is
    stored), the desks and the topics are part of it, so a
    catalogue edit re-tags what is already stored: the content digest moves,
    and what is known of a folder's files (``wire_files``) was known under
    other rules, so they are all read again.
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
    return digest.hexdigest()


def content_digest(
    fetched: Fetched, source: Source, catalog: Catalog, keep: timedelta | None = None
) -> str:
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
    digest = hashlib.sha256(rules_digest(source, catalog, keep).encode("ascii"))
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
