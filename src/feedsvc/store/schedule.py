"""The schedule: who fetches which source when, and what each fetch left behind.

What is due, who is fetching it (a lease), the validators for the next
conditional request and the error count all live in the ``sources`` row, so
several scheduler processes share the work through the database and a
restart loses nothing but an unfinished lease, which expires.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, case, insert, or_, select, update

from feedsvc.model import Validators
from feedsvc.store.engine import Database
from feedsvc.store.leases import claim_rows, unleased
from feedsvc.store.metrics import bump_metrics
from feedsvc.store.rows import from_row, to_row
from feedsvc.store.schema import fetches, sources
from feedsvc.store.sources import FetchRecord
from feedsvc.telemetry import fetch_increments


@dataclass(frozen=True, slots=True)
class SourceState:
    """What the store remembers about a source between fetches."""

    id: str
    paused: bool
    validators: Validators
    error_count: int
    last_error: str | None
    last_status: int | None
    next_fetch_at: datetime | None
    last_fetch_at: datetime | None
    last_success_at: datetime | None
    content_digest: str | None = None
    refresh_requested_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Claim:
    """A source leased to its claimer, and the operator's refresh request it takes, if any.

    ``finish`` clears that request only if no newer one came while the fetch
    ran, so a "refresh now" sent during a fetch is never lost.
    """

    source_id: str
    requested_at: datetime | None = None


class Schedule(Database):
    def source_state(self, source_id: str) -> SourceState | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(sources).where(sources.c.id == source_id)).first()
        if row is None:
            return None
        return from_row(SourceState, row, validators=from_row(Validators, row, files={}))

    def claim_due(self, owner: str, now: datetime, lease_for: timedelta, limit: int) -> list[Claim]:
        """Lease up to ``limit`` due sources to ``owner``; nobody else gets them meanwhile.

        Due: enabled, not paused, and its time has come; or an operator asked
        for a refresh (``request_refresh``), which runs once even for a paused
        or disabled source. PostgreSQL skips rows another scheduler is claiming
        (``FOR UPDATE SKIP LOCKED``); SQLite serialises claimers with its
        write lock. A lease that its owner never finishes (the process died)
        simply expires.
        """
        if limit <= 0:
            return []

        def work(conn: Connection) -> list[Claim]:
            query = (
                select(sources.c.id, sources.c.refresh_requested_at)
                .where(
                    or_(
                        and_(sources.c.enabled.is_(True), sources.c.paused.is_(False)),
                        sources.c.refresh_requested_at.is_not(None),
                    ),
                    or_(sources.c.next_fetch_at.is_(None), sources.c.next_fetch_at <= now),
                    unleased(sources, now),
                )
                .order_by(sources.c.next_fetch_at.is_not(None), sources.c.next_fetch_at)
                .limit(limit)
            )
            rows = claim_rows(conn, query, sources.c.id, owner, now + lease_for)
            return [Claim(row.id, row.refresh_requested_at) for row in rows]

        return self.transact(work)

    def claim_source(
        self, source_id: str, owner: str, now: datetime, lease_for: timedelta
    ) -> Claim | None:
        """Lease one source now, due or not (``feedsvc ingest``).

        None when another process holds an unexpired lease on it: it is being
        fetched right now, and a second fetch would only race the first.
        """

        def work(conn: Connection) -> Claim | None:
            requested = conn.execute(
                select(sources.c.refresh_requested_at).where(sources.c.id == source_id)
            ).first()
            taken = conn.execute(
                update(sources)
                .where(sources.c.id == source_id, unleased(sources, now))
                .values(lease_owner=owner, lease_until=now + lease_for)
            )
            if taken.rowcount == 0 or requested is None:
                return None
            return Claim(source_id, requested.refresh_requested_at)

        return self.transact(work)

    def request_refresh(self, source_id: str, now: datetime) -> bool:
        """An operator's "refresh now": due at once, for the next scheduler tick.

        Paused or disabled sources run once too (the request says so); a
        source being fetched right now runs again after that fetch. False
        when the source has no row.
        """

        def work(conn: Connection) -> bool:
            changed = conn.execute(
                update(sources)
                .where(sources.c.id == source_id)
                .values(refresh_requested_at=now, next_fetch_at=None)
            )
            return changed.rowcount > 0

        return self.transact(work)

    def finish(
        self,
        source_id: str,
        owner: str,
        next_fetch_at: datetime,
        claim: Claim | None = None,
    ) -> None:
        """Set the next fetch time and give the lease back (only our own lease).

        With the ``claim`` that ran, its refresh request is done and cleared;
        a request newer than the claim stays, and keeps the source due at once.
        """
        taken = claim.requested_at if claim is not None else None
        served = (
            sources.c.refresh_requested_at.is_(None)
            if taken is None
            else or_(
                sources.c.refresh_requested_at.is_(None),
                sources.c.refresh_requested_at == taken,
            )
        )
        if claim is None:  # given back unfetched: a request stays, due at the time given
            values: dict[str, Any] = {"next_fetch_at": next_fetch_at}
        else:
            values = {
                "next_fetch_at": case((served, next_fetch_at), else_=None),
                "refresh_requested_at": case((served, None), else_=sources.c.refresh_requested_at),
            }

        def work(conn: Connection) -> None:
            conn.execute(
                update(sources)
                .where(sources.c.id == source_id, sources.c.lease_owner == owner)
                .values(**values, lease_owner=None, lease_until=None)
            )

        self.transact(work)

    def release_leases(self, owner: str) -> None:
        """On a clean stop: sources claimed but not started are due again at once."""

        def work(conn: Connection) -> None:
            conn.execute(
                update(sources)
                .where(sources.c.lease_owner == owner)
                .values(lease_owner=None, lease_until=None)
            )

        self.transact(work)

    def record_not_modified(
        self,
        source_id: str,
        status: int | None,
        now: datetime,
        duration_ms: int = 0,
        validators: Validators | None = None,
    ) -> None:
        """A 304, or a body identical to the last one: no article written.

        ``validators`` are saved when the source sent new ones with an
        identical body, so the next request can be conditional.
        """
        fetch = FetchRecord(now, "not_modified", status, duration_ms=duration_ms)
        self.transact(lambda conn: record_fetch(conn, source_id, fetch, validators))

    def record_failure(
        self, source_id: str, error: str, status: int | None, now: datetime, duration_ms: int = 0
    ) -> None:
        """Count the error; the stored articles and validators stay as they were."""
        fetch = FetchRecord(now, "error", status, duration_ms=duration_ms, error=error)
        self.transact(lambda conn: record_fetch(conn, source_id, fetch))


def record_fetch(
    conn: Connection,
    source_id: str,
    fetch: FetchRecord,
    validators: Validators | None = None,
    content_digest: str | None = None,
) -> None:
    """Update the source's row after a fetch, log the fetch and count it.

    An error only counts up; any other outcome resets the error count, and
    ``validators`` (when given) and the ``content_digest`` of the body are kept
    for the next fetch. Run inside the transaction that stored what the
    fetch brought, so the row never claims articles that were not saved.
    """
    values: dict[str, Any] = {"last_status": fetch.status, "last_fetch_at": fetch.at}
    if fetch.outcome == "error":
        values.update(error_count=sources.c.error_count + 1, last_error=fetch.error)
    else:
        values.update(error_count=0, last_error=None, last_success_at=fetch.at)
    if validators is not None:
        values.update(to_row(validators, omit=("files",)))  # kept in wire_files
    if fetch.outcome == "ok":
        values["content_digest"] = content_digest
    conn.execute(update(sources).where(sources.c.id == source_id).values(**values))
    conn.execute(insert(fetches).values(source=source_id, **to_row(fetch)))
    bump_metrics(
        conn,
        fetch_increments(source_id, fetch.outcome, fetch.new, fetch.updated, fetch.duration_ms),
    )
