"""The engine and its transactions: the one place that knows SQLite and PostgreSQL apart.

On SQLite every writer starts with ``BEGIN IMMEDIATE`` (WAL mode, busy
timeout) so two writers queue instead of failing with "database is locked";
a writer that stayed busy past the timeout is tried again a few times. Every
part of the store (``sources``, ``schedule``, ``articles``, …) derives from
``Database`` and runs its writes through ``transact``, so this policy is
written once.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self, TypeVar

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Connection, Engine, Table, create_engine, event, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DataError, InternalError, OperationalError, SQLAlchemyError

from feedsvc.errors import StoreError

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT = 30.0
WRITE_ATTEMPTS = 3
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
CHUNK = 500
"""Most values in one ``IN (…)`` list: far below every back-end's parameter limit."""


def create_db_engine(url: str) -> Engine:
    """An engine with the per-backend settings feedsvc relies on."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT})
        _sqlite_pragmas(engine)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(engine: Engine) -> None:
    """WAL, foreign keys, and explicit BEGIN so writers can ask for IMMEDIATE."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        # a new file frees the pages the purge empties (store/retention.py converts old ones)
        cursor.execute("PRAGMA auto_vacuum=INCREMENTAL")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Database:
    """One engine, pooled connections, and the write policy every part shares. Thread-safe."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str) -> Self:
        return cls(create_db_engine(url))

    def close(self) -> None:
        self.engine.dispose()

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def upgrade(self) -> None:
        """Create or migrate the schema to the newest revision (idempotent)."""
        config = AlembicConfig()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.write() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(select(1))
        except SQLAlchemyError:
            return False
        return True

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction; on SQLite it takes the write lock up front."""
        with self.engine.connect() as conn:
            if self.is_sqlite:
                conn = conn.execution_options(sqlite_immediate=True)
            with conn.begin():
                yield conn

    def transact(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in one write transaction, again if SQLite stayed busy past its timeout.

        A value the database refuses (too long, a NUL) is a ``StoreError`` of
        this piece of work only, so one source's bad batch never stops the others.
        """
        attempt = 1
        while True:
            try:
                with self.write() as conn:
                    return work(conn)
            except OperationalError as exc:
                locked = "locked" in str(exc) or "busy" in str(exc)
                if not (self.is_sqlite and locked) or attempt >= WRITE_ATTEMPTS:
                    raise StoreError(f"database error: {short_error(exc)}") from exc
            except (DataError, InternalError) as exc:
                raise StoreError(f"database refused the data: {short_error(exc)}") from exc
            time.sleep(0.05 * attempt)
            attempt += 1


def short_error(exc: SQLAlchemyError) -> str:
    """The driver's message on one printable line, without the SQL and parameters."""
    text = str(getattr(exc, "orig", None) or exc).splitlines()[0] if str(exc) else repr(exc)
    return "".join(c if c.isprintable() else " " for c in text)[:300]


def upsert(conn: Connection, table: Table) -> postgresql.Insert | sqlite.Insert:
    """The back-end's ``INSERT … ON CONFLICT`` builder; both spell it the same."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def chunked(values: list[T]) -> Iterator[list[T]]:
    """``values`` in slices small enough for one ``IN (…)`` list."""
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]
