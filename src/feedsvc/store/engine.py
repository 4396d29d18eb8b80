"""The engine and its transactions: the one place that knows SQLite and PostgreSQL apart.

On SQLite every writer starts with ``BEGIN IMMEDIATE`` (WAL mode, busy
timeout) so two writers queue instead of failing with "database is locked";
a writer that stayed busy past the timeout is tried again a few times. The
database file is watched too (``SqliteFile``): deleted or replaced under a
running process, every write stops with a clear error instead of going on
into an unlinked file that vanishes at the next start, and ``/readyz`` fails. Every
part of the store (``sources``, ``schedule``, ``articles``, …) derives from
``Database`` and runs its writes through ``transact``, so this policy is
written once.
"""

from __future__ import annotations

import os
import sqlite3
import threading
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
from feedsvc.text import one_line, os_reason

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT = 30.0
WRITE_ATTEMPTS = 3
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
DRIVER_ERROR_LIMIT = 300
"""Characters of a driver's message kept in an error (a constraint name, a host)."""
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


class SqliteFile:
    """The SQLite file this process opened, known by its device and inode.

    Open connections keep writing to the inode they opened, even after the
    file is deleted (or replaced by another) at its path: the data would be
    lost at the next start. ``problem`` compares the path's inode with the
    one first opened (a ``stat``: cheap enough for every write transaction).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._identity: tuple[int, int] | None = None
        self._lock = threading.Lock()

    def opened(self) -> None:
        """A connection opened the file: remember the first file seen at the path."""
        with self._lock:
            if self._identity is None:
                try:
                    info = os.stat(self.path)
                except OSError:
                    return
                self._identity = (info.st_dev, info.st_ino)

    def problem(self) -> str | None:
        """Why writing would lose data now, or None while the file opened is still there."""
        with self._lock:
            identity = self._identity
        if identity is None:
            return None
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            return (
                f"the SQLite database file {self.path} was deleted while feedsvc had it open: "
                "writes are stopped (they would be lost); restore the file or restart feedsvc"
            )
        except OSError as exc:
            return f"the SQLite database file {self.path} cannot be checked: {os_reason(exc)}"
        if (info.st_dev, info.st_ino) != identity:
            return (
                f"the SQLite database file {self.path} was replaced by another file while "
                "feedsvc had it open: writes are stopped; restart feedsvc to use the new one"
            )
        return None


class Database:
    """One engine, pooled connections, and the write policy every part shares. Thread-safe."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sqlite_file: SqliteFile | None = None
        database = engine.url.database if engine.dialect.name == "sqlite" else None
        if database and database != ":memory:" and not database.startswith("file:"):
            watched = SqliteFile(Path(database).resolve())
            self.sqlite_file = watched
            event.listen(engine, "connect", lambda *_: watched.opened())

    def file_problem(self) -> str | None:
        """Why the database file cannot take writes (SQLite only); None when all is well."""
        return self.sqlite_file.problem() if self.sqlite_file is not None else None

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
        if self.file_problem():
            return False
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
                gone = self.file_problem()  # checked holding the write lock
                if gone:
                    raise StoreError(gone)
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
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return one_line(lines[0] if lines else repr(exc), DRIVER_ERROR_LIMIT)


def upsert(conn: Connection, table: Table) -> postgresql.Insert | sqlite.Insert:
    """The back-end's ``INSERT … ON CONFLICT`` builder; both spell it the same."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def chunked(values: list[T]) -> Iterator[list[T]]:
    """``values`` in slices small enough for one ``IN (…)`` list."""
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]
