"""Small named values that processes share through the database.

Every key is named here, once: the scheduler writes its heartbeat and the web
tier reads it; publishing moves the generation and stores the site snapshot,
and every web worker watches them.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import Connection, select

from feedsvc.store.engine import Database, upsert
from feedsvc.store.schema import state


class StateKey(StrEnum):
    HEARTBEAT = "scheduler_heartbeat"
    """ISO time of the last scheduler tick (every 10 s); ``/readyz`` judges its age."""
    GENERATION = "generation"
    """A fresh token whenever published feeds change; web workers reload when it moves."""
    SITE = "site"
    """The desks and topics the web pages show, as JSON written with the feeds."""


class SharedState(Database):
    def get_state(self, key: StateKey) -> str | None:
        with self.engine.connect() as conn:
            return read_state(conn, key)

    def put_state(self, conn: Connection, key: StateKey, value: str) -> None:
        """Upsert inside the caller's transaction: two writers may set a key at once."""
        write_state(conn, key, value)


def read_state(conn: Connection, key: StateKey) -> str | None:
    return conn.execute(select(state.c.value).where(state.c.key == key)).scalar()


def write_state(conn: Connection, key: StateKey, value: str) -> None:
    statement = upsert(conn, state).values(key=str(key), value=value)
    conn.execute(statement.on_conflict_do_update(index_elements=["key"], set_={"value": value}))
