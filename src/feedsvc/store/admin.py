"""Admin sessions and failed authentications, shared by every web worker through the database.

The rules (how long a lockout lasts, what a session key is) are
``feedsvc.auth``'s; this part only keeps the state, so that every worker
process and every web server on one database sees the same sessions and
the same failure counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, insert, select, update

from feedsvc.auth import FORGET_AFTER, lockout
from feedsvc.store.engine import Database, upsert
from feedsvc.store.schema import admin_sessions, auth_failures


@dataclass(frozen=True, slots=True)
class AuthState:
    """What the store knows of one client address's failures."""

    blocked_for: timedelta | None
    """Time left in its lockout; None when it may try."""
    failures: int


class AdminAuth(Database):
    # -- sessions ------------------------------------------------------------------

    def open_session(
        self, key: str, csrf: str, token_id: str, now: datetime, lifetime: timedelta
    ) -> None:
        """Store a new session (and forget expired ones, so the table stays small)."""

        def work(conn: Connection) -> None:
            conn.execute(delete(admin_sessions).where(admin_sessions.c.expires_at <= now))
            conn.execute(
                insert(admin_sessions).values(
                    id=key, csrf=csrf, token_id=token_id, created_at=now, expires_at=now + lifetime
                )
            )

        self.transact(work)

    def session_csrf(self, key: str, token_id: str, now: datetime) -> str | None:
        """The CSRF token of a live session opened with this admin token; None otherwise."""
        query = select(admin_sessions.c.csrf).where(
            admin_sessions.c.id == key,
            admin_sessions.c.token_id == token_id,
            admin_sessions.c.expires_at > now,
        )
        with self.engine.connect() as conn:
            return conn.execute(query).scalar()

    def end_session(self, key: str) -> None:
        self.transact(
            lambda conn: conn.execute(delete(admin_sessions).where(admin_sessions.c.id == key))
        )

    # -- failed authentications --------------------------------------------------------

    def auth_state(self, client: str, now: datetime) -> AuthState:
        query = select(auth_failures.c.failures, auth_failures.c.blocked_until).where(
            auth_failures.c.client == client, auth_failures.c.last_at > now - FORGET_AFTER
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return AuthState(None, 0)
        blocked = row.blocked_until - now if row.blocked_until and row.blocked_until > now else None
        return AuthState(blocked, row.failures)

    def auth_failed(self, client: str, now: datetime) -> timedelta | None:
        """Count a failure; the lockout it starts (None: the address may try again at once).

        One transaction per failure, the row locked on PostgreSQL, so failures
        arriving at once at several workers are all counted. Rows of addresses
        quiet for ``FORGET_AFTER`` are deleted on the way.
        """

        def work(conn: Connection) -> timedelta | None:
            conn.execute(delete(auth_failures).where(auth_failures.c.last_at <= now - FORGET_AFTER))
            conn.execute(
                upsert(conn, auth_failures)
                .values(client=client, failures=0, last_at=now, blocked_until=None)
                .on_conflict_do_nothing(index_elements=["client"])
            )
            query = select(auth_failures.c.failures).where(auth_failures.c.client == client)
            if not self.is_sqlite:
                query = query.with_for_update()
            failures = int(conn.execute(query).scalar_one()) + 1
            wait = lockout(failures)
            conn.execute(
                update(auth_failures)
                .where(auth_failures.c.client == client)
                .values(
                    failures=failures, last_at=now, blocked_until=now + wait if wait else None
                )
            )
            return wait

        return self.transact(work)

    def auth_succeeded(self, client: str) -> None:
        """A right token: the address's count starts again."""
        self.transact(
            lambda conn: conn.execute(delete(auth_failures).where(auth_failures.c.client == client))
        )
