"""Small named values that processes share through the database.

Every key is named here, once: the scheduler writes its heartbeat and the web
tier reads it; publishing moves the generation and stores the site snapshot,
and every web worker watches them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import Connection, select, update

from feedsvc.store.engine import Database, upsert
from feedsvc.store.schema import state


class StateKey(StrEnum):
    HEARTBEAT = "scheduler_heartbeat"
    """ISO time of the last scheduler tick (every 10 s); ``/readyz`` judges its age."""
    GENERATION = "generation"
    """A fresh token whenever published feeds change; web workers reload when it moves."""
    SITE = "site"
    """The desks and topics the web pages show, as JSON written with the feeds."""
    PURGED = "purged_at"
    """ISO time the daily purge last started; one scheduler claims each day's (``claim_turn``)."""


class SharedState(Database):
    def get_state(self, key: StateKey) -> str | None:
        with self.engine.connect() as conn:
            return read_state(conn, key)

    def put_state(self, conn: Connection, key: StateKey, value: str) -> None:
        """Upsert inside the caller's transaction: two writers may set a key at once."""
        write_state(conn, key, value)


    def claim_turn(self, key: StateKey, now: datetime, every: timedelta) -> bool:
        """True for the one caller that finds ``key`` older than ``every`` (or unset),
        which becomes ``now``: several schedulers, one daily job. Atomic on both databases."""
        stamp = now.astimezone(UTC).isoformat()
        due = (now - every).astimezone(UTC).isoformat()

        def work(conn: Connection) -> bool:
            moved = conn.execute(
                update(state).where(state.c.key == key, state.c.value <= due).values(value=stamp)
            )
            if moved.rowcount:
                return True
            added = conn.execute(
                upsert(conn, state)
                .values(key=str(key), value=stamp)
                .on_conflict_do_nothing(index_elements=["key"])
                .returning(state.c.key)  # an insert's rowcount is not told on PostgreSQL
            )
            return added.first() is not None

        return self.transact(work)


def read_state(conn: Connection, key: StateKey) -> str | None:
    return conn.execute(select(state.c.value).where(state.c.key == key)).scalar()


def write_state(conn: Connection, key: StateKey, value: str) -> None:
    statement = upsert(conn, state).values(key=str(key), value=value)
    conn.execute(statement.on_conflict_do_update(index_elements=["key"], set_={"value": value}))
