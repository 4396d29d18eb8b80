"""The one place that knows the order of the stages: fetch, parse, normalise, store.

A refresh returns a ``SourceResult`` value; a source that fails is recorded
and reported, never raised into the loop, so one hostile or broken source
cannot stop the others or lose what they brought. The fetcher and ``now`` are
passed in, so tests drive the pipeline with real servers and a fixed clock.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from feedsvc.errors import FetchError, ParseError, SourceError, StoreError
from feedsvc.model import Article, Catalog, Fetched, RawItem, Source, SourceResult, Validators
from feedsvc.normalise import normalise
from feedsvc.parse import parse_feed
from feedsvc.store import Store
from feedsvc.wire import read_wire

log = logging.getLogger(__name__)

FetchFunction = Callable[[Source, Validators], Fetched]


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
        return Parsed(tuple(items), tuple(problems))
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


def refresh_source(
    source: Source,
    catalog: Catalog,
    store: Store,
    fetch: FetchFunction,
    now: datetime,
) -> SourceResult:
    """Fetch, parse, normalise and store one source; errors come back as a result."""
    started = time.monotonic()

    def elapsed_ms() -> int:
        return int((time.monotonic() - started) * 1000)

    state = store.source_state(source.id)
    validators = state.validators if state else Validators()
    status: int | None = None
    try:
        fetched = fetch(source, validators)
        status = fetched.status
        if fetched.not_modified:
            store.record_not_modified(source.id, status, now, elapsed_ms())
            log.info("source=%s outcome=not_modified status=%s", source.id, status)
            return SourceResult(
                source.id, ok=True, not_modified=True, status=status, max_age=fetched.max_age
            )
        digest = content_digest(fetched, source, catalog)
        if state is not None and state.content_digest == digest:
            # the same bytes under the same rules: parsing again would store nothing
            store.record_not_modified(
                source.id, status, now, elapsed_ms(), validators=fetched.validators
            )
            log.info("source=%s outcome=unchanged status=%s", source.id, status)
            return SourceResult(
                source.id, ok=True, not_modified=True, status=status, max_age=fetched.max_age
            )
        parsed = parse_fetched(fetched, source, _bylines(catalog))
        articles, problems = normalise_all(parsed.items, source, catalog, now)
        stored = store.save_batch(
            source.id, articles, fetched.validators, status, now, elapsed_ms(), digest
        )
    except (SourceError, StoreError) as exc:
        retry_after = None
        if isinstance(exc, FetchError):
            status = exc.status or status
            retry_after = exc.retry_after
        message = str(exc) or type(exc).__name__
        try:
            store.record_failure(source.id, message, status, now, elapsed_ms())
        except StoreError:
            log.exception("source=%s could not record its failure", source.id)
        log.warning("source=%s outcome=error status=%s error=%s", source.id, status, message)
        return SourceResult(
            source.id,
            ok=False,
            error=message,
            status=status,
            consecutive_errors=(state.error_count if state else 0) + 1,
            retry_after=retry_after,
        )
    all_problems = (*parsed.problems, *problems)
    log.info(
        "source=%s outcome=ok status=%s new=%d updated=%d unchanged=%d merged=%d problems=%d",
        source.id,
        status,
        stored.new,
        stored.updated,
        stored.unchanged,
        stored.merged,
        len(all_problems),
    )
    return SourceResult(
        source.id,
        ok=True,
        new=stored.new,
        updated=stored.updated,
        unchanged=stored.unchanged,
        merged=stored.merged,
        problems=all_problems,
        changed_ids=stored.changed_ids,
        touched=stored.touched,
        status=status,
        max_age=fetched.max_age,
    )


MAX_BACKOFF = timedelta(days=1)
MAX_POLITE_WAIT = timedelta(days=1)
JITTER = 0.1


def next_fetch_at(source: Source, result: SourceResult, now: datetime, jitter: float) -> datetime:
    """When to fetch again: the interval, never sooner than the source allows.

    ``jitter`` in [0, 1] adds up to 10% so sources that share an interval do
    not all fire at once; it only ever lengthens the wait. After errors the wait doubles per
    consecutive error up to a day; ``Retry-After`` and ``Cache-Control:
    max-age`` are honoured (up to a day), whichever is later.
    """
    wait = source.every
    if not result.ok:
        doublings = min(max(result.consecutive_errors - 1, 0), 20)
        wait = min(source.every * (2**doublings), MAX_BACKOFF)
    polite = result.retry_after if not result.ok else result.max_age
    if polite is not None:
        wait = max(wait, min(polite, MAX_POLITE_WAIT))
    spread = wait * (JITTER * max(0.0, min(1.0, jitter)))
    return now + max(wait + spread, timedelta(seconds=1))


RULES_VERSION = "1"  # bump when parsing or normalising changes what a body yields


def content_digest(fetched: Fetched, source: Source, catalog: Catalog) -> str:
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
    return digest.hexdigest()


def _bylines(catalog: Catalog) -> tuple[str, ...]:
    return tuple(byline for desk in catalog.desks.values() for byline in desk.bylines)


def refresh_many(
    sources: Iterable[Source],
    catalog: Catalog,
    store: Store,
    fetch: FetchFunction,
    clock: Callable[[], datetime],
) -> list[SourceResult]:
    """Refresh each source in turn; every source is tried whatever the others did."""
    return [guarded_refresh(source, catalog, store, fetch, clock()) for source in sources]


def guarded_refresh(
    source: Source, catalog: Catalog, store: Store, fetch: FetchFunction, now: datetime
) -> SourceResult:
    """``refresh_source``, with a last resort for a bug no stage anticipated.

    The stages turn every input they know to be bad into a SourceError; this
    catches what they did not foresee, so it costs one source, not the run.
    """
    try:
        return refresh_source(source, catalog, store, fetch, now)
    except Exception as exc:
        log.exception("source=%s outcome=crash", source.id)
        message = f"internal error: {type(exc).__name__}: {exc}"[:300]
        try:
            store.record_failure(source.id, message, None, now)
        except StoreError:
            log.exception("source=%s could not record its failure", source.id)
        return SourceResult(source.id, ok=False, error=message)
