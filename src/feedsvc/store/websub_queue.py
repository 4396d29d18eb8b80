"""Calls the hub owes: content distributions to subscribers, publish pings to an external hub.

Publishing queues them (``queue_deliveries``, ``queue_pings``) in the
database; schedulers claim the due ones under a lease, make the calls and
record each outcome (``finish_*``). One row per subscription (per feed, for
pings): a newer publish bumps its ``version`` and makes it due at once, with
no failures counted, so a retry always sends the newest bytes, a subscriber
that was failing is tried again on new content (WebSub §7), and a call still
in flight for the older version cannot remove the newer one.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, select, update

from feedsvc.model import PublishedFeed
from feedsvc.store.engine import Database, upsert
from feedsvc.store.leases import claim_rows, unleased
from feedsvc.store.metrics import bump_metrics
from feedsvc.store.rows import from_row
from feedsvc.store.schema import (
    feeds,
    websub_deliveries,
    websub_intents,
    websub_pings,
    websub_subscriptions,
)
from feedsvc.telemetry import Increment
from feedsvc.websub.records import DeliveryJob, PingJob, Subscription

deliveries = websub_deliveries
pings = websub_pings
subscriptions = websub_subscriptions


class HubQueue(Database):
    def hub_work_due(self, now: datetime) -> bool:
        """Whether any verification, delivery or ping waits: one cheap read, so an idle
        hub costs a scheduler tick no write transaction."""
        checks = [
            select(websub_intents.c.id).where(unleased(websub_intents, now)),
            select(deliveries.c.subscription_id).where(
                deliveries.c.due_at <= now, unleased(deliveries, now)
            ),
            select(pings.c.path).where(pings.c.due_at <= now, unleased(pings, now)),
        ]
        with self.engine.connect() as conn:
            return any(conn.execute(check.limit(1)).first() is not None for check in checks)

    # -- content distribution (the built-in hub) ------------------------------------

    def queue_deliveries(self, feed_paths: Iterable[str], now: datetime) -> int:
        """A delivery, due now, for every running subscription to these feeds; how many."""
        paths = sorted(set(feed_paths))
        if not paths:
            return 0

        def work(conn: Connection) -> int:
            wanted = list(
                conn.execute(
                    select(subscriptions.c.id).where(
                        subscriptions.c.feed_path.in_(paths), subscriptions.c.expires_at > now
                    )
                ).scalars()
            )
            if wanted:
                _bump(conn, deliveries, deliveries.c.subscription_id, wanted, now)
            return len(wanted)

        return self.transact(work)

    def claim_deliveries(
        self,
        owner: str,
        now: datetime,
        lease_for: timedelta,
        limit: int,
        busy: Collection[str] = (),
    ) -> list[DeliveryJob]:
        """Lease up to ``limit`` due deliveries whose subscription still runs, oldest due
        first, none for a callback host in ``busy``."""
        if limit <= 0:
            return []

        def work(conn: Connection) -> list[DeliveryJob]:
            query = (
                select(
                    subscriptions,
                    deliveries.c.subscription_id,
                    deliveries.c.version,
                    deliveries.c.attempts,
                )
                .join(subscriptions, subscriptions.c.id == deliveries.c.subscription_id)
                .where(
                    deliveries.c.due_at <= now,
                    subscriptions.c.expires_at > now,
                    subscriptions.c.callback_host.not_in(sorted(busy)),
                    unleased(deliveries, now),
                )
                .order_by(deliveries.c.due_at)
                .limit(limit)
            )
            rows = claim_rows(conn, query, deliveries.c.subscription_id, owner, now + lease_for)
            return [
                DeliveryJob(from_row(Subscription, row), row.version, row.attempts)
                for row in rows
            ]

        return self.transact(work)

    def finish_delivery(
        self,
        job: DeliveryJob,
        *,
        retry_at: datetime | None = None,
        error: str | None = None,
        gone: bool = False,
        counted: Sequence[Increment] = (),
    ) -> None:
        """Record one delivery's end: done (the default), to retry at ``retry_at``, or
        ``gone`` (410: the subscription ends, §7)."""
        key = job.subscription.id

        def work(conn: Connection) -> None:
            if gone:
                conn.execute(delete(subscriptions).where(subscriptions.c.id == key))
            else:
                _finish(conn, deliveries.c.subscription_id, key, job.version, job.attempts,
                        retry_at, error)  # fmt: skip
            bump_metrics(conn, counted)

        self.transact(work)

    def release_delivery(self, job: DeliveryJob, due_at: datetime) -> None:
        """Give a claimed delivery back untried, due again at ``due_at``."""
        self.transact(
            lambda conn: _release(conn, deliveries.c.subscription_id, job.subscription.id, due_at)
        )

    def pending_deliveries(self) -> list[tuple[str, int, int, datetime]]:
        """(subscription id, version, attempts, due) of every queued delivery, for operators."""
        query = select(
            deliveries.c.subscription_id,
            deliveries.c.version,
            deliveries.c.attempts,
            deliveries.c.due_at,
        ).order_by(deliveries.c.due_at)
        with self.engine.connect() as conn:
            return [
                (row.subscription_id, row.version, row.attempts, row.due_at)
                for row in conn.execute(query)
            ]

    def published_feed(self, path: str) -> PublishedFeed | None:
        """One published feed's bytes and media type, as a delivery sends them."""
        with self.engine.connect() as conn:
            row = conn.execute(select(feeds).where(feeds.c.path == path)).first()
        return None if row is None else from_row(PublishedFeed, row)

    # -- publish pings (an external hub) ----------------------------------------------

    def queue_pings(self, urls: Mapping[str, str], now: datetime) -> int:
        """A ping, due now, for each changed feed (path → the URL the hub is told)."""
        if not urls:
            return 0

        def work(conn: Connection) -> int:
            for path, url in sorted(urls.items()):
                statement = upsert(conn, pings).values(
                    path=path, url=url, version=1, attempts=0, due_at=now
                )
                conn.execute(
                    statement.on_conflict_do_update(
                        index_elements=[pings.c.path],
                        set_={
                            "url": url,
                            "version": pings.c.version + 1,
                            "attempts": 0,
                            "due_at": now,
                            "last_error": None,
                        },
                    )
                )
            return len(urls)

        return self.transact(work)

    def claim_pings(
        self, owner: str, now: datetime, lease_for: timedelta, limit: int
    ) -> list[PingJob]:
        if limit <= 0:
            return []

        def work(conn: Connection) -> list[PingJob]:
            query = (
                select(pings.c.path, pings.c.url, pings.c.version, pings.c.attempts)
                .where(pings.c.due_at <= now, unleased(pings, now))
                .order_by(pings.c.due_at, pings.c.path)
                .limit(limit)
            )
            rows = claim_rows(conn, query, pings.c.path, owner, now + lease_for)
            return [PingJob(row.path, row.url, row.version, row.attempts) for row in rows]

        return self.transact(work)

    def finish_ping(
        self,
        job: PingJob,
        *,
        retry_at: datetime | None = None,
        error: str | None = None,
        counted: Sequence[Increment] = (),
    ) -> None:
        def work(conn: Connection) -> None:
            _finish(conn, pings.c.path, job.path, job.version, job.attempts, retry_at, error)
            bump_metrics(conn, counted)

        self.transact(work)

    def release_ping(self, job: PingJob, due_at: datetime) -> None:
        """Give a claimed ping back untried, due again at ``due_at``."""
        self.transact(lambda conn: _release(conn, pings.c.path, job.path, due_at))

    def pending_pings(self) -> list[tuple[str, int, datetime]]:
        """(url, attempts, due) of every queued ping."""
        query = select(pings.c.url, pings.c.attempts, pings.c.due_at).order_by(pings.c.path)
        with self.engine.connect() as conn:
            return [(row.url, row.attempts, row.due_at) for row in conn.execute(query)]


def _bump(conn: Connection, table: Any, key: Any, keys: list[str], now: datetime) -> None:
    """Insert due-now rows, or make existing ones due now for a new version."""
    statement = upsert(conn, table)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=[key],
            set_={
                "version": table.c.version + 1,
                "attempts": 0,
                "due_at": now,
                "last_error": None,
            },
        ),
        [{key.name: k, "version": 1, "attempts": 0, "due_at": now} for k in keys],
    )


def _finish(
    conn: Connection,
    key: Any,
    value: str,
    version: int,
    attempts: int,
    retry_at: datetime | None,
    error: str | None,
) -> None:
    """Done: the row goes. To retry: it waits with one more failure. Either way only for
    the version that was tried; a newer one stays, due, with its lease given back."""
    table = key.table
    same = (key == value, table.c.version == version)
    if retry_at is None:
        moved = conn.execute(delete(table).where(*same)).rowcount
    else:
        moved = conn.execute(
            update(table)
            .where(*same)
            .values(
                attempts=attempts + 1,
                due_at=retry_at,
                last_error=error,
                lease_owner=None,
                lease_until=None,
            )
        ).rowcount
    if not moved:
        conn.execute(update(table).where(key == value).values(lease_owner=None, lease_until=None))


def _release(conn: Connection, key: Any, value: str, due_at: datetime) -> None:
    conn.execute(
        update(key.table)
        .where(key == value)
        .values(lease_owner=None, lease_until=None, due_at=due_at)
    )
