"""The built-in WebSub hub's state: pending verifications and subscriptions with their lease.

Requests are taken by web workers (``queue_intent``) and verified by
schedulers (``claim_intents``, ``finish_intent``), so both meet here, in the
database. A subscription's state changes only when its verification succeeds
(WebSub §5.1), inside one transaction with the removal of the request; the
hub's ceilings (``feedsvc.websub.policy``) are checked in the same
transaction that would pass them.

Intents for one (topic, callback) pair are verified one at a time, in the
order they came, so a subscription followed by an unsubscription ends
unsubscribed whichever scheduler runs which.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.orm import aliased

from feedsvc.store.engine import Database, upsert
from feedsvc.store.leases import claim_rows, unleased
from feedsvc.store.rows import from_row, to_row
from feedsvc.store.schema import websub_intents, websub_subscriptions
from feedsvc.websub.policy import (
    MAX_PENDING,
    MAX_PENDING_PER_HOST,
    MAX_SUBSCRIPTIONS,
    MAX_SUBSCRIPTIONS_PER_HOST,
)
from feedsvc.websub.records import Intent, Mode, Refusal, Subscription

intents = websub_intents
subscriptions = websub_subscriptions


class HubSubscriptions(Database):
    def queue_intent(self, intent: Intent) -> Refusal | None:
        """Keep a request for verification; the reason it is refused, or None when kept.

        Refused when the queue of pending verifications, or the hub's
        subscriptions, are at their ceiling (in total or for the callback's
        host). A renewal of an existing subscription is never refused for the
        subscription ceiling.
        """

        def work(conn: Connection) -> Refusal | None:
            host = intent.callback_host
            if _count(conn, intents) >= MAX_PENDING:
                return Refusal(f"the hub has {MAX_PENDING} requests waiting for verification", True)
            if _count(conn, intents, intents.c.callback_host == host) >= MAX_PENDING_PER_HOST:
                return Refusal(
                    f"{MAX_PENDING_PER_HOST} requests for callbacks on {host} are waiting", True
                )
            if intent.mode is Mode.SUBSCRIBE:
                refusal = _subscription_ceiling(conn, intent.subscription_id, host)
                if refusal is not None:
                    return Refusal(refusal, False)
            conn.execute(insert(intents).values(to_row(intent, omit=("id",))))
            return None

        return self.transact(work)

    def claim_intents(
        self,
        owner: str,
        now: datetime,
        lease_for: timedelta,
        limit: int,
        busy: Collection[str] = (),
    ) -> list[Intent]:
        """Lease up to ``limit`` requests to verify: the oldest one of each pair only, none
        for a callback host in ``busy``."""
        if limit <= 0:
            return []
        earlier = aliased(intents)

        def work(conn: Connection) -> list[Intent]:
            query = (
                select(intents)
                .where(
                    unleased(intents, now),
                    intents.c.callback_host.not_in(sorted(busy)),
                    ~select(earlier.c.id)
                    .where(
                        earlier.c.subscription_id == intents.c.subscription_id,
                        earlier.c.id < intents.c.id,
                    )
                    .exists(),
                )
                .order_by(intents.c.id)
                .limit(limit)
            )
            rows = claim_rows(conn, query, intents.c.id, owner, now + lease_for)
            return [from_row(Intent, row, mode=Mode(row.mode)) for row in rows]

        return self.transact(work)

    def finish_intent(self, intent: Intent, verified: Subscription | None) -> str | None:
        """The request is done: apply it if it was verified; the reason it was not applied.

        ``verified`` is the subscription a verified subscribe creates or
        renews; for a verified unsubscribe pass the intent itself verified by
        ``unsubscribe``. An unverified request changes nothing (§5.1).
        """

        def work(conn: Connection) -> str | None:
            conn.execute(delete(intents).where(intents.c.id == intent.id))
            if verified is None:
                return None
            refusal = _subscription_ceiling(conn, verified.id, verified.callback_host)
            if refusal is not None:  # others were verified since the request was taken
                return refusal
            values = to_row(verified)
            statement = upsert(conn, subscriptions).values(values)
            conn.execute(
                statement.on_conflict_do_update(
                    index_elements=[subscriptions.c.id],
                    set_={k: v for k, v in values.items() if k != "id"},
                )
            )
            return None

        return self.transact(work)

    def unsubscribe(self, intent: Intent) -> None:
        """A verified unsubscription: the request and the subscription (with its delivery) go."""

        def work(conn: Connection) -> None:
            conn.execute(delete(intents).where(intents.c.id == intent.id))
            conn.execute(delete(subscriptions).where(subscriptions.c.id == intent.subscription_id))

        self.transact(work)

    def release_intent(self, intent: Intent) -> None:
        """Give a claimed request back untried (its callback's host was busy)."""

        def work(conn: Connection) -> None:
            conn.execute(
                update(intents)
                .where(intents.c.id == intent.id)
                .values(lease_owner=None, lease_until=None)
            )

        self.transact(work)

    def subscription(self, topic_and_callback: str) -> Subscription | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(subscriptions).where(subscriptions.c.id == topic_and_callback)
            ).first()
        return None if row is None else from_row(Subscription, row)

    def active_subscriptions(
        self, now: datetime, feed_paths: Iterable[str] | None = None
    ) -> list[Subscription]:
        """Subscriptions whose lease runs (of these feeds), oldest verified first."""
        query = select(subscriptions).where(subscriptions.c.expires_at > now)
        if feed_paths is not None:
            query = query.where(subscriptions.c.feed_path.in_(sorted(set(feed_paths))))
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(subscriptions.c.verified_at)).all()
        return [from_row(Subscription, row) for row in rows]

    def count_subscriptions(self, now: datetime | None = None) -> int:
        """Subscriptions held (whose lease runs at ``now``, when given)."""
        where = () if now is None else (subscriptions.c.expires_at > now,)
        with self.engine.connect() as conn:
            return _count(conn, subscriptions, *where)

    def expire_subscriptions(self, now: datetime) -> int:
        """Remove subscriptions whose lease ended (§5.3.1: hubs MUST enforce lease expirations)."""

        def work(conn: Connection) -> int:
            gone = conn.execute(delete(subscriptions).where(subscriptions.c.expires_at <= now))
            return int(gone.rowcount or 0)

        return self.transact(work)


def _count(conn: Connection, table: Any, *where: Any) -> int:
    return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar() or 0)


def _subscription_ceiling(conn: Connection, key: str, host: str) -> str | None:
    """Why a new subscription would pass the hub's ceilings; None for a renewal or room."""
    if conn.execute(select(subscriptions.c.id).where(subscriptions.c.id == key)).first():
        return None
    if _count(conn, subscriptions) >= MAX_SUBSCRIPTIONS:
        return f"the hub holds its maximum of {MAX_SUBSCRIPTIONS} subscriptions"
    if _count(conn, subscriptions, subscriptions.c.callback_host == host) >= (
        MAX_SUBSCRIPTIONS_PER_HOST
    ):
        return (
            f"the hub holds its maximum of {MAX_SUBSCRIPTIONS_PER_HOST} subscriptions "
            f"for callbacks on {host}"
        )
    return None

