"""The schedule: APScheduler ticks, the database decides what is due.

APScheduler only drives a one-second tick in this process. What is due, who
is fetching it (a lease), when to fetch next and how many errors a source had
all live in the ``sources`` table, so several scheduler processes on one
PostgreSQL share the sources without fetching one twice, and a restart (or a
``kill -9``) loses nothing but an unfinished lease, which expires.

One tick: take the catalogue if the watcher saw its files change (a bad edit
leaves the last good catalogue in force), claim due sources up to the free
worker slots, refresh each on the pool through ``feedsvc.refresh`` (the path
``feedsvc ingest`` and the admin side take too), and publish what the
finished refreshes changed. Only the per-host limit is the scheduler's own.
The same tick hands the WebSub hub's due calls (verifications, deliveries,
pings) to ``feedsvc.websub.worker.HubWorker``, on a pool of their own.
Once a day one of the schedulers also runs the purge (``Lifecycle.purge``) on
the pool, claimed through the database like a source.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from apscheduler.schedulers.background import BackgroundScheduler

from feedsvc.catalog_watch import CatalogWatcher
from feedsvc.config import Settings
from feedsvc.errors import StoreError
from feedsvc.fetch import AddressPolicy, Fetcher
from feedsvc.host_slots import HostSlots
from feedsvc.lifecycle import Lifecycle
from feedsvc.model import Catalog, Source, Touched
from feedsvc.publish import Publisher, publisher_for
from feedsvc.refresh import LEASE, FetchFunction, Lease, Refresher, lease_owner, utcnow
from feedsvc.sources import with_api_sources
from feedsvc.store import StateKey, Store
from feedsvc.text import error_line
from feedsvc.websub.links import HubSetup
from feedsvc.websub.worker import HubWorker

log = logging.getLogger(__name__)

HOST_BUSY_RETRY = timedelta(seconds=2)
REMOVED_SOURCE_WAIT = timedelta(hours=1)
HEARTBEAT_EVERY = timedelta(seconds=10)
PURGE_EVERY = timedelta(days=1)
PURGE_CHECK_EVERY = timedelta(minutes=10)


class Scheduler:
    """Runs due sources on a bounded pool, at most ``per_host`` at a time per host.

    ``watcher`` is the process's catalogue watcher; ``feedsvc serve`` shares
    one with the web tier. Without one the scheduler makes its own.
    """

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        fetch: FetchFunction | None = None,
        watcher: CatalogWatcher | None = None,
        workers: int = 4,
        per_host: int = 2,
        hub_workers: int = 4,
        tick_seconds: float = 1.0,
        lease: timedelta = LEASE,
        clock: Callable[[], datetime] = utcnow,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.settings = settings
        self.store = store
        self.workers = workers
        self.per_host = per_host
        self.tick_seconds = tick_seconds
        self.clock = clock
        self.owner = lease_owner("scheduler")
        self.lease = lease
        fetcher = Fetcher(AddressPolicy(settings.allow_networks))
        self.refresher = Refresher(
            store,
            fetch or fetcher.fetch,
            owner=self.owner,
            lease=lease,
            clock=clock,
            rng=rng,
            keep=settings.keep,
        )
        self.hub = HubSetup.from_settings(settings)
        self.hub_worker = HubWorker(
            store, fetcher, self.hub, owner=self.owner, clock=clock, workers=hub_workers
        )
        self._lock = threading.Lock()
        self._running = 0
        self._slots = HostSlots(per_host)
        self._pending = Touched()
        self._pending_all = False
        self._heartbeat = datetime.min.replace(tzinfo=UTC)
        self._purge_check = datetime.min.replace(tzinfo=UTC)
        self._tick_problem: str | None = None  # the failure last logged, until a tick works
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fetch")
        # the purge runs beside the fetches, never in a fetch slot
        self._chores = ThreadPoolExecutor(max_workers=1, thread_name_prefix="purge")
        self._purging: Future[None] | None = None
        self._futures: list[Future[None]] = []
        self._aps: BackgroundScheduler | None = None
        self.watcher = watcher or CatalogWatcher(settings.feeds_dir)
        self._file_catalog = self.watcher.poll()  # a bad catalogue stops the start here
        self.catalog: Catalog = self._file_catalog
        self.publisher = self._publisher(self.catalog)

    # -- catalogue ----------------------------------------------------------------

    def _publisher(self, catalog: Catalog) -> Publisher:
        return publisher_for(self.store, catalog, self.settings)

    def reload_catalog(self) -> bool:
        """Take the watcher's catalogue if it changed: register its sources, republish."""
        catalog = self.watcher.poll()
        if catalog is self._file_catalog:
            return False
        self._file_catalog = self.catalog = catalog
        self.publisher = self._publisher(catalog)
        self.merge_api_sources()
        self.store.sync_sources(catalog.sources.values(), self.clock())
        self._publish(None)
        return True

    def merge_api_sources(self) -> bool:
        """Sources added through the admin API live in the database: take them in each tick.

        One cheap query; the publisher is rebuilt only when they changed (their
        titles and intervals go into the feeds).
        """
        merged = with_api_sources(self._file_catalog, self.store.api_sources())
        if merged.sources == self.catalog.sources:
            return False
        self.catalog = merged
        self.publisher = self._publisher(merged)
        return True

    # -- ticks --------------------------------------------------------------------

    def start_up(self) -> None:
        """Register the catalogue and publish once, so the web tier has every feed."""
        self.merge_api_sources()
        self.store.sync_sources(self.catalog.sources.values(), self.clock())
        self._publish(None)

    def tick(self) -> int:
        """One round; returns how many refreshes it started. Never raises."""
        try:
            self.reload_catalog()
            self.flush_publish()
            now = self.clock()
            self._beat(now)
            self._maybe_purge(now)
            with self._lock:
                free = self.workers - self._running
            claimed = self.refresher.claim_due(free)
            self.merge_api_sources()  # after the claim, so every claimed API source is known
            self._futures = [f for f in self._futures if not f.done()]
            for lease in claimed:
                with self._lock:
                    self._running += 1
                self._futures.append(self._pool.submit(self._run, lease))
            self.hub_worker.tick()
        except StoreError as exc:
            self._tick_failed(exc)
            return 0
        if self._tick_problem is not None:
            log.warning("ticks work again (they failed with: %s)", self._tick_problem)
            self._tick_problem = None
        return len(claimed)

    def _tick_failed(self, exc: StoreError) -> None:
        """One line when ticks start failing or fail otherwise: not a traceback a second.

        A StoreError is a known state with its own message (the database is
        unreachable, its SQLite file was deleted), and it lasts: a line per
        tick would bury the log while nothing changes.
        """
        problem = error_line(exc)
        if problem != self._tick_problem:
            log.error("tick failed, trying again every tick (logged once): %s", problem)
            self._tick_problem = problem

    def run_once(self) -> int:
        """One tick, then wait for the refreshes it started and publish them (tests, tools)."""
        started = self.tick()
        self.drain()
        self.flush_publish()
        self.hub_worker.run_due()  # what this publish owes subscribers, and what was due
        return started

    def drain(self) -> None:
        futures, self._futures = self._futures, []
        if self._purging is not None:
            futures.append(self._purging)
            self._purging = None
        wait(futures)

    def _beat(self, now: datetime) -> None:
        if now - self._heartbeat >= HEARTBEAT_EVERY:
            with self.store.write() as conn:
                self.store.put_state(conn, StateKey.HEARTBEAT, now.isoformat())
            self._heartbeat = now

    def _maybe_purge(self, now: datetime) -> None:
        """Once a day (one scheduler of several), the purge, on the pool like a fetch."""
        if now - self._purge_check < PURGE_CHECK_EVERY:
            return
        self._purge_check = now
        if not self.store.claim_turn(StateKey.PURGED, now, PURGE_EVERY):
            return
        self._purging = self._chores.submit(self._purge)

    def _purge(self) -> None:
        try:
            Lifecycle(self.store, lambda: self.catalog, self.settings, self.clock).purge()
        except Exception:
            log.exception("the daily purge failed; the next one is due tomorrow")

    def flush_publish(self) -> None:
        """Publish what finished refreshes changed, and anything an earlier publish left."""
        with self._lock:
            touched, self._pending = self._pending, Touched()
            everything, self._pending_all = self._pending_all, False
        if everything:
            self._publish(None)
        elif touched:
            self._publish(touched)

    def _publish(self, touched: Touched | None) -> None:
        """Publish ``touched`` (None: every feed); kept pending for the next tick when the
        database refuses or the static export fails (a full or read-only folder), so no
        feed stays stale until its sources happen to change again."""
        try:
            result = self.publisher.publish(touched, self.clock())
        except StoreError:
            self._keep(touched)
            raise
        if result.export_error:
            self._keep(touched)

    def _keep(self, touched: Touched | None) -> None:
        with self._lock:
            if touched is None:
                self._pending_all = True
            else:
                self._pending |= touched

    def _run(self, lease: Lease) -> None:
        catalog = self.catalog
        source = catalog.sources.get(lease.source_id)
        host = _host(source)
        try:
            if source is None:  # removed from the catalogue after it was claimed
                self.refresher.put_back(lease, REMOVED_SOURCE_WAIT)
                return
            if not self._slots.take(host):
                self.refresher.put_back(lease, HOST_BUSY_RETRY)
                return
            try:
                result = self.refresher.run(lease, source, catalog)
                if result.touched:
                    with self._lock:
                        self._pending |= result.touched
            finally:
                self._slots.give(host)
        except Exception:
            log.exception("source=%s refresh crashed; its lease will expire", lease.source_id)
        finally:
            with self._lock:
                self._running -= 1

    # -- lifecycle ----------------------------------------------------------------

    def start(self) -> None:
        self.start_up()
        self._aps = BackgroundScheduler(timezone=UTC)
        self._aps.add_job(
            self.tick,
            "interval",
            seconds=self.tick_seconds,
            id="tick",
            max_instances=1,
            coalesce=True,
            next_run_time=datetime.now(UTC),
        )
        self._aps.start()

    def shutdown(self) -> None:
        """Stop ticking, let running fetches finish their transaction, publish what they did."""
        if self._aps is not None:
            self._aps.shutdown(wait=True)
            self._aps = None
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._chores.shutdown(wait=True, cancel_futures=True)
        self.store.release_leases(self.owner)
        self.flush_publish()
        self.hub_worker.shutdown()


def _host(source: Source | None) -> str:
    if source is None or source.url is None:
        return "(local)"
    return urlsplit(source.url).hostname or "(unknown)"
