"""Refreshing a source: the one use case the scheduler and ``feedsvc ingest`` share.

A refresh claims the source's lease in the database, fetches, parses,
normalises and stores, works out the next fetch time, gives the lease back,
and returns a ``SourceResult`` whose ``touched`` desks and topics are what the caller publishes.
The lease is what keeps two processes (two schedulers, a scheduler and the
command line) from fetching one source at once: a source leased elsewhere is
not fetched and comes back *busy*, which every caller reports as such.

The scheduler claims due sources in bulk (``claim_due``; an operator's
refresh request makes a source due at once), then runs each lease through
``run``: the same path ``refresh`` takes after claiming one
source. A source that fails is recorded and reported, never raised into the
caller's loop, so one hostile or broken source cannot stop the others or lose
what they brought. The fetcher and the clock are passed in, so tests drive the
whole path with real servers and a fixed time.

A folder source is read conditionally too: the refresh hands the reader what
the store knows of its files (``Validators.files``, kept in ``wire_files``
under the current rules), so unchanged files are not opened, and saves what
the read says only once the batch is committed.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from feedsvc.backoff import next_fetch_at
from feedsvc.errors import FetchError, SourceError, StoreError
from feedsvc.extract import (
    aliases_of,
    bounded_problems,
    bylines,
    content_digest,
    distinct,
    listed_guids,
    normalise_all,
    parse_fetched,
    rules_digest,
    taken,
)
from feedsvc.fetch.folder import EMPTIED_MARKER
from feedsvc.model import Catalog, Fetched, FileStat, Source, SourceResult, Validators
from feedsvc.store import Claim, Store
from feedsvc.text import one_line

log = logging.getLogger(__name__)

FetchFunction = Callable[[Source, Validators], Fetched]

LEASE = timedelta(minutes=5)
"""How long a claim keeps others away: far longer than a fetch (its deadline is
30 s) and its store, and short enough that a killed process costs little."""
CRASH_RETRY = timedelta(minutes=1)
BUSY = "being fetched by another process"
CRASH_ERROR_LIMIT = 300
"""Characters of a crash's error line: room for the exception's type and its message."""


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def lease_owner(role: str) -> str:
    """A lease holder's name, unique per process and readable in the database."""
    return f"{role}:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True, slots=True)
class Lease:
    """A source claimed by a ``Refresher``; ``run`` or ``put_back`` gives it back.

    ``claim`` is the store's record of the claim: the operator's refresh
    request it took, which ``run`` marks done.
    """

    source_id: str
    claim: Claim | None = None


class Refresher:
    """Claims, refreshes and schedules sources on behalf of one lease ``owner``."""

    def __init__(
        self,
        store: Store,
        fetch: FetchFunction,
        *,
        owner: str,
        lease: timedelta = LEASE,
        clock: Callable[[], datetime] = utcnow,
        rng: Callable[[], float] = random.random,
        keep: timedelta | None = None,
    ) -> None:
        self.store = store
        self.fetch = fetch
        self.owner = owner
        self.lease = lease
        self.clock = clock
        self.rng = rng
        self.keep = keep
        """``FEEDSVC_KEEP``: the retention of sources that set no ``keep`` of their own."""

    # -- one source, or several, on demand (command line, admin) -----------------

    def refresh(self, source: Source, catalog: Catalog) -> SourceResult:
        """Claim ``source`` (due or not, paused or not) and refresh it; busy if leased."""
        lease = self.claim(source.id)
        if lease is None:
            return self._not_claimed(source.id)
        return self.run(lease, source, catalog)

    def refresh_all(self, sources: Iterable[Source], catalog: Catalog) -> Iterator[SourceResult]:
        """Each source in turn, whatever the others did; results as they come."""
        for source in sources:
            yield self.refresh(source, catalog)

    # -- claims ---------------------------------------------------------------------

    def claim(self, source_id: str) -> Lease | None:
        """The source's lease, or None while another process holds it."""
        claim = self.store.claim_source(source_id, self.owner, self.clock(), self.lease)
        return Lease(source_id, claim) if claim is not None else None

    def claim_due(self, limit: int) -> list[Lease]:
        """Up to ``limit`` due sources at once (the scheduler's way of claiming)."""
        return [
            Lease(claim.source_id, claim)
            for claim in self.store.claim_due(self.owner, self.clock(), self.lease, limit)
        ]

    def put_back(self, lease: Lease, wait: timedelta) -> None:
        """Give a lease back unfetched; the source is due again after ``wait``."""
        self._finish(lease, self.clock() + wait)

    # -- the refresh itself ---------------------------------------------------------

    def run(self, lease: Lease, source: Source, catalog: Catalog) -> SourceResult:
        """Fetch and store a claimed source, set its next fetch time, give the lease back."""
        if lease.source_id != source.id:
            raise ValueError(f"lease for {lease.source_id!r} used for {source.id!r}")
        now = self.clock()
        try:
            keep = source.keep or self.keep
            result = fetch_and_store(source, catalog, self.store, self.fetch, now, keep)
        except BaseException:  # interrupted: due again soon, not after a full lease
            self._finish(lease, now + CRASH_RETRY)
            raise
        self._finish(lease, next_fetch_at(source, result, now, self.rng()), ran=True)
        return result

    def _finish(self, lease: Lease, due: datetime, ran: bool = False) -> None:
        """Give the lease back; after a run, the refresh request it took is done."""
        claim = (lease.claim or Claim(lease.source_id)) if ran else None
        try:
            self.store.finish(lease.source_id, self.owner, due, claim)
        except StoreError:
            # what was fetched is stored; only the schedule is lost, and the lease expires
            log.exception("source=%s could not give its lease back", lease.source_id)

    def _not_claimed(self, source_id: str) -> SourceResult:
        if self.store.source_state(source_id) is None:
            return SourceResult(
                source_id, ok=False, error="not registered in the database (removed meanwhile?)"
            )
        log.info("source=%s outcome=busy", source_id)
        return SourceResult(source_id, ok=False, busy=True, error=BUSY)


def fetch_and_store(
    source: Source,
    catalog: Catalog,
    store: Store,
    fetch: FetchFunction,
    now: datetime,
    keep: timedelta | None = None,
) -> SourceResult:
    """The stages for one source, for a caller holding its lease; never raises an Exception.

    Every input the stages know to be bad is a SourceError or StoreError and
    comes back as a failed result; a bug no stage foresaw is caught too, so it
    costs one source, not the run. ``keep`` is the source's retention: older
    items are not stored at all.
    """
    try:
        return _stages(source, catalog, store, fetch, now, keep)
    except Exception as exc:
        log.exception("source=%s outcome=crash", source.id)
        message = one_line(f"internal error: {type(exc).__name__}: {exc}", CRASH_ERROR_LIMIT)
        _record_failure(store, source.id, message, None, now)
        return SourceResult(source.id, ok=False, error=message)


def _stages(
    source: Source,
    catalog: Catalog,
    store: Store,
    fetch: FetchFunction,
    now: datetime,
    keep: timedelta | None,
) -> SourceResult:
    started = time.monotonic()

    def elapsed_ms() -> int:
        return int((time.monotonic() - started) * 1000)

    state = store.source_state(source.id)
    validators = state.validators if state else Validators()
    rules = rules_digest(source, catalog, keep)
    known: Mapping[str, FileStat] = {}
    if source.kind == "files":
        known = store.wire_files(source.id, rules)
        validators = replace(validators, files=known)
    status: int | None = None
    try:
        fetched = fetch(source, validators)
        status = fetched.status
        if fetched.not_modified:
            store.record_not_modified(source.id, status, now, elapsed_ms())
            log.info("source=%s outcome=not_modified status=%s", source.id, status)
            return _not_modified(source, fetched)
        _refuse_an_unexplained_empty_folder(source, fetched, store)
        digest = content_digest(fetched, source, catalog, keep)
        if state is not None and state.content_digest == digest:
            # the same bytes under the same rules: parsing again would store nothing
            store.record_not_modified(
                source.id, status, now, elapsed_ms(), validators=fetched.validators
            )
            _remember_files(store, source, rules, known, fetched)
            log.info("source=%s outcome=unchanged status=%s", source.id, status)
            return _not_modified(source, fetched)
        parsed = parse_fetched(fetched, source, bylines(catalog))
        articles, problems = normalise_all(parsed.items, source, catalog, now)
        articles, repeated = distinct(articles)
        articles, left_out = taken(articles, source, keep, now)
        stored = store.save_batch(
            source.id,
            articles,
            fetched.validators,
            status,
            now,
            elapsed_ms(),
            digest,
            listing=listed_guids(fetched.listing),
            homes=parsed.homes,
            aliases=aliases_of(parsed.items, fetched.listing),
        )
    except (SourceError, StoreError) as exc:
        retry_after = None
        if isinstance(exc, FetchError):
            status = exc.status or status
            retry_after = exc.retry_after
        message = str(exc) or type(exc).__name__
        _record_failure(store, source.id, message, status, now, elapsed_ms())
        log.warning("source=%s outcome=error status=%s error=%s", source.id, status, message)
        return SourceResult(
            source.id,
            ok=False,
            error=message,
            status=status,
            consecutive_errors=(state.error_count if state else 0) + 1,
            retry_after=retry_after,
        )
    _remember_files(store, source, rules, known, fetched)
    all_problems = bounded_problems((*parsed.problems, *problems, *repeated, *left_out))
    try:
        store.save_notes(source.id, all_problems, stored.merges, now)
    except StoreError:  # the articles are stored; only what is shown about them is lost
        log.exception("source=%s could not keep the fetch's notes", source.id)
    log.info(
        "source=%s outcome=ok status=%s new=%d updated=%d unchanged=%d merged=%d "
        "withdrawn=%d problems=%d",
        source.id,
        status,
        stored.new,
        stored.updated,
        stored.unchanged,
        stored.merged,
        stored.withdrawn,
        len(all_problems),
    )
    return SourceResult(
        source.id,
        ok=True,
        new=stored.new,
        updated=stored.updated,
        unchanged=stored.unchanged,
        merged=stored.merged,
        returned=stored.returned,
        withdrawn=stored.withdrawn,
        merged_into=stored.merged_into,
        problems=all_problems,
        merges=stored.merges,
        changed_ids=stored.changed_ids,
        touched=stored.touched,
        status=status,
        max_age=fetched.max_age,
    )


def _refuse_an_unexplained_empty_folder(source: Source, fetched: Fetched, store: Store) -> None:
    """A folder that lists no wire file while stories of it are stored fails the source.

    An unmounted share's mount point, or a share not there yet, is an empty
    folder; withdrawing every story of the source on its word would be the
    worst answer, so nothing is withdrawn (the reader gave no listing) and
    the operator is told why. A folder emptied on purpose says so with
    ``EMPTIED_MARKER``, and its stories are withdrawn as deleting each file
    would. Checked before the content digest, so every read while the share
    is missing says so again.
    """
    if source.kind != "files" or fetched.listing is not None:
        return
    stored = store.count_articles(source=source.id)
    if stored:
        raise FetchError(
            f"folder {source.path} holds no wire file, but {stored} stories of it are "
            "stored: nothing withdrawn (an unmounted share looks like this); to withdraw "
            f"them, leave a file named {EMPTIED_MARKER} in the folder"
        )


def _not_modified(source: Source, fetched: Fetched) -> SourceResult:
    """A 304, or the same bytes under the same rules: nothing stored, nothing to publish."""
    return SourceResult(
        source.id, ok=True, not_modified=True, status=fetched.status, max_age=fetched.max_age
    )


def _record_failure(
    store: Store,
    source_id: str,
    message: str,
    status: int | None,
    now: datetime,
    duration_ms: int = 0,
) -> None:
    """Count the failure; a database that refuses even that costs a log line, not the run."""
    try:
        store.record_failure(source_id, message, status, now, duration_ms)
    except StoreError:
        log.exception("source=%s could not record its failure", source_id)


def _remember_files(
    store: Store,
    source: Source,
    rules: str,
    known: Mapping[str, FileStat],
    fetched: Fetched,
) -> None:
    """Save which wire files are now read and stored, once their batch is committed.

    Only after the commit: a crash before it leaves the files unknown, so they
    are read again and the store finds them unchanged. Failing here costs the
    same re-read, never the stored batch, so it is logged, not reported
    (whatever the error: the batch's result must not turn into a failure).
    """
    if source.kind != "files" or fetched.validators.files == known:
        return
    try:
        store.save_wire_files(source.id, rules, known, fetched.validators.files)
    except Exception:
        log.exception("source=%s could not remember its read files; they are read again", source.id)
