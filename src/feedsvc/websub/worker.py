"""Where the hub's calls run: a scheduler's own bounded pool, never a web thread.

Each tick the scheduler asks ``HubWorker.tick`` to claim due work (requests
to verify, deliveries, pings) up to its free threads, under a lease in the
database so several schedulers share it without making a call twice, and
runs each on a small pool of its own: a fetch never waits for a subscriber,
nor a subscriber for a fetch. A thread that finishes a call claims the next
due one, so a burst (every subscriber of a busy feed) goes out at once.

At most ``per_host`` calls go to one host at a time: a busy host's calls are
not claimed, and what a claim brings beyond a host's slots is given back, so
one slow or dead subscriber holds at most that many threads, each for at most
one call's deadline, and every other subscriber is served meanwhile.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from feedsvc.errors import StoreError
from feedsvc.fetch import Fetcher
from feedsvc.host_slots import HostSlots
from feedsvc.store import Store
from feedsvc.websub.calls import HubCalls
from feedsvc.websub.links import HubSetup
from feedsvc.websub.policy import CLAIM_LEASE
from feedsvc.websub.records import DeliveryJob, Intent, PingJob

log = logging.getLogger(__name__)

Job = Intent | DeliveryJob | PingJob

EXPIRE_EVERY = timedelta(minutes=1)


class HubWorker:
    """Claims the hub's due calls and makes them on ``workers`` threads."""

    def __init__(
        self,
        store: Store,
        client: Fetcher,
        hub: HubSetup,
        *,
        owner: str,
        clock: Callable[[], datetime],
        workers: int = 4,
        per_host: int = 2,
        lease: timedelta = CLAIM_LEASE,
        calls: HubCalls | None = None,
    ) -> None:
        self.store = store
        self.hub = hub
        self.owner = owner
        self.clock = clock
        self.workers = workers
        self.per_host = per_host
        self.lease = lease
        self.calls = calls or HubCalls(store, client, clock)
        self._lock = threading.Lock()
        self._running = 0
        self._slots = HostSlots(per_host)
        self._expired_at = datetime.min.replace(tzinfo=UTC)
        self._closing = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="websub")
        self._futures: list[Future[None]] = []

    def tick(self) -> int:
        """Start due calls on the free threads; how many. Never raises.

        Each started thread goes on claiming and making due calls, one at a
        time, until none is due: many calls to one host are made one after
        another at once, not ``per_host`` per tick.
        """
        now = self.clock()
        if now - self._expired_at >= EXPIRE_EVERY:
            try:
                self.store.expire_subscriptions(now)
                self._expired_at = now
            except StoreError:
                log.exception("websub: expiring subscriptions failed; trying again next tick")
        with self._lock:
            free = self.workers - self._running
        claimed = self._claim(free)
        self._futures = [f for f in self._futures if not f.done()]
        for job, host in claimed:
            with self._lock:
                self._running += 1
            self._futures.append(self._pool.submit(self._work, job, host))
        return len(claimed)

    def run_due(self) -> int:
        """Make every call that is due now and wait for them (tests, tools); how many
        threads started. Retries fall due later, so this ends."""
        total = 0
        while True:
            started = self.tick()
            self.drain()
            if not started:
                return total
            total += started

    def drain(self) -> None:
        futures, self._futures = self._futures, []
        wait(futures)

    def shutdown(self) -> None:
        """Let running calls finish, and claim no more."""
        self._closing.set()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _claim(self, limit: int) -> list[tuple[Job, str]]:
        """Lease up to ``limit`` due calls, taking a slot of each one's host.

        Hosts without a free slot are left out of the claim; a claim that
        brought more for one host than it has slots gives the rest back, still
        due. So no host ever has more than ``per_host`` calls running.
        """
        now = self.clock()
        busy = self._slots.full()
        hub_slots = self._slots.free(self._hub_host())
        try:
            if limit <= 0 or not self.store.hub_work_due(now):
                return []
            owner, lease = self.owner, self.lease
            jobs: list[Job] = []
            jobs += self.store.claim_deliveries(owner, now, lease, limit, busy)
            jobs += self.store.claim_intents(owner, now, lease, limit - len(jobs), busy)
            jobs += self.store.claim_pings(owner, now, lease, min(limit - len(jobs), hub_slots))
        except StoreError:
            log.exception("websub: claiming calls failed; trying again next tick")
            return []
        claimed = []
        for job in jobs:
            host = self._host(job)
            if self._slots.take(host):
                claimed.append((job, host))
            else:
                self._put_back(job, now)
        return claimed

    def _work(self, job: Job, host: str) -> None:
        """Make this call, then the next due one, until none is due (or shutting down)."""
        try:
            while True:
                self._call(job, host)
                if self._closing.is_set():
                    return
                following = self._claim(1)
                if not following:
                    return
                job, host = following[0]
        finally:
            with self._lock:
                self._running -= 1

    def _call(self, job: Job, host: str) -> None:
        try:
            if isinstance(job, Intent):
                self.calls.verify(job)
            elif isinstance(job, DeliveryJob):
                self.calls.deliver(job)
            elif self.hub.external is not None:
                self.calls.ping(job, self.hub.external)
            else:  # the operator went back to the built-in hub: nobody to ping
                self.store.finish_ping(job)
        except Exception:
            log.exception("websub: call to %s crashed; its lease will expire", host)
        finally:
            self._slots.give(host)

    def _host(self, job: Job) -> str:
        if isinstance(job, Intent):
            return job.callback_host
        if isinstance(job, DeliveryJob):
            return job.subscription.callback_host
        return self._hub_host()

    def _hub_host(self) -> str:
        return urlsplit(self.hub.external or "").hostname or "(hub)"

    def _put_back(self, job: Job, due: datetime) -> None:
        """Give a claimed call back untried (its host has no free slot), due at ``due``."""
        try:
            if isinstance(job, Intent):
                self.store.release_intent(job)
            elif isinstance(job, DeliveryJob):
                self.store.release_delivery(job, due)
            else:
                self.store.release_ping(job, due)
        except StoreError:
            log.warning("websub: a claimed call was not given back; its lease will expire")
