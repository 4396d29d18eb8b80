"""Storage: queries over the tables of ``schema.py``, the same code on SQLite and PostgreSQL.

A source's batch is stored in one write transaction together with the fetch
validators that produced it, so a crash either keeps both or neither: the next
run re-fetches instead of trusting an ETag whose articles were never saved.
On SQLite every writer starts with ``BEGIN IMMEDIATE`` (WAL mode, busy timeout)
so two writers queue instead of failing with "database is locked".
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import (
    Connection,
    Engine,
    Insert,
    Select,
    create_engine,
    delete,
    event,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    DataError,
    IntegrityError,
    InternalError,
    OperationalError,
    SQLAlchemyError,
)

from feedsvc.errors import Conflict, StoreError
from feedsvc.model import Article, PublishedFeed, Source, StoreResult, Validators
from feedsvc.schema import (
    article_topics,
    articles,
    feeds,
    fetches,
    items,
    metrics,
    sources,
    state,
)
from feedsvc.telemetry import fetch_increments

T = TypeVar("T")
log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT = 30.0
WRITE_ATTEMPTS = 3
MIGRATIONS = Path(__file__).parent / "migrations"
PUBLISH_LOCK = 0x66656564  # an arbitrary, fixed advisory-lock key for save_feeds


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
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Store:
    """All reads and writes of feedsvc's data. Thread-safe: one engine, pooled connections."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"

    @classmethod
    def open(cls, url: str) -> Store:
        return cls(create_db_engine(url))

    def close(self) -> None:
        self.engine.dispose()

    # -- schema ---------------------------------------------------------------

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

    # -- transactions ----------------------------------------------------------

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction; on SQLite it takes the write lock up front."""
        with self.engine.connect() as conn:
            if self.is_sqlite:
                conn = conn.execution_options(sqlite_immediate=True)
            with conn.begin():
                yield conn

    def _retrying(self, work: Callable[[Connection], T]) -> T:
        """Run one write transaction, again if SQLite stayed busy past its timeout."""
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                with self.write() as conn:
                    return work(conn)
            except OperationalError as exc:
                locked = "locked" in str(exc) or "busy" in str(exc)
                if not (self.is_sqlite and locked) or attempt == WRITE_ATTEMPTS:
                    raise StoreError(f"database error: {_short(exc)}") from exc
                time.sleep(0.05 * attempt)
            except (DataError, InternalError) as exc:
                # a value the database refuses (too long, a NUL): this batch's problem only
                raise StoreError(f"database refused the data: {_short(exc)}") from exc
        raise AssertionError("unreachable")

    # -- sources ---------------------------------------------------------------

    def sync_sources(self, catalog_sources: Iterable[Source], now: datetime) -> None:
        """Make the catalogue's sources known to the database, keeping their state.

        Sources removed from the catalogue lose their row but not their articles.
        """
        wanted = {s.id: s for s in catalog_sources if s.origin == "catalog"}

        def work(conn: Connection) -> None:
            # The file wins an id an API source holds: the row (and its state) moves over.
            conn.execute(
                update(sources)
                .where(sources.c.origin == "api", sources.c.id.in_(list(wanted)))
                .values(origin="catalog", config="", next_fetch_at=None)
            )
            rows = conn.execute(
                select(sources.c.id, sources.c.config).where(sources.c.origin == "catalog")
            ).all()
            known = {row.id: row.config for row in rows}
            for source_id in set(known) - set(wanted):
                conn.execute(delete(sources).where(sources.c.id == source_id))
            for source in wanted.values():
                config = source_config(source)
                if source.id not in known:
                    # another scheduler starting at the same moment may insert it first
                    conn.execute(
                        _insert_ignoring_duplicates(conn).values(
                            id=source.id,
                            origin="catalog",
                            config=config,
                            enabled=source.enabled,
                            paused=False,
                            error_count=0,
                            created_at=now,
                        )
                    )
                elif known[source.id] != config:
                    conn.execute(
                        update(sources)
                        .where(sources.c.id == source.id)
                        .values(config=config, enabled=source.enabled, next_fetch_at=None)
                    )

        self._retrying(work)

    def source_state(self, source_id: str) -> SourceState | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(sources).where(sources.c.id == source_id)).first()
        if row is None:
            return None
        return SourceState(
            id=row.id,
            paused=row.paused,
            validators=Validators(etag=row.etag, last_modified=row.last_modified),
            error_count=row.error_count,
            last_error=row.last_error,
            last_status=row.last_status,
            next_fetch_at=row.next_fetch_at,
            last_fetch_at=row.last_fetch_at,
            last_success_at=row.last_success_at,
            content_digest=row.content_digest,
        )

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

        def work(conn: Connection) -> None:
            values: dict[str, Any] = {
                "error_count": 0,
                "last_error": None,
                "last_status": status,
                "last_fetch_at": now,
                "last_success_at": now,
            }
            if validators is not None:
                values.update(etag=validators.etag, last_modified=validators.last_modified)
            conn.execute(update(sources).where(sources.c.id == source_id).values(**values))
            _log_fetch(conn, source_id, now, "not_modified", status, duration_ms=duration_ms)

        self._retrying(work)

    def record_failure(
        self, source_id: str, error: str, status: int | None, now: datetime, duration_ms: int = 0
    ) -> None:
        """Count the error; the stored articles and validators stay as they were."""

        def work(conn: Connection) -> None:
            conn.execute(
                update(sources)
                .where(sources.c.id == source_id)
                .values(
                    error_count=sources.c.error_count + 1,
                    last_error=error,
                    last_status=status,
                    last_fetch_at=now,
                )
            )
            _log_fetch(conn, source_id, now, "error", status, error=error, duration_ms=duration_ms)

        self._retrying(work)

    # -- schedule -------------------------------------------------------------------

    def claim_due(self, owner: str, now: datetime, lease_for: timedelta, limit: int) -> list[str]:
        """Lease up to ``limit`` due sources to ``owner``; nobody else gets them meanwhile.

        PostgreSQL skips rows another scheduler is claiming (``FOR UPDATE SKIP
        LOCKED``); SQLite serialises claimers with its write lock. A lease that
        its owner never finishes (the process died) simply expires.
        """
        if limit <= 0:
            return []

        def work(conn: Connection) -> list[str]:
            query = (
                select(sources.c.id)
                .where(
                    sources.c.enabled.is_(True),
                    sources.c.paused.is_(False),
                    or_(sources.c.next_fetch_at.is_(None), sources.c.next_fetch_at <= now),
                    or_(sources.c.lease_until.is_(None), sources.c.lease_until < now),
                )
                .order_by(sources.c.next_fetch_at.is_not(None), sources.c.next_fetch_at)
                .limit(limit)
            )
            if not self.is_sqlite:
                query = query.with_for_update(skip_locked=True)
            claimed = list(conn.execute(query).scalars())
            if claimed:
                conn.execute(
                    update(sources)
                    .where(sources.c.id.in_(claimed))
                    .values(lease_owner=owner, lease_until=now + lease_for)
                )
            return claimed

        return self._retrying(work)

    def finish(self, source_id: str, owner: str, next_fetch_at: datetime) -> None:
        """Set the next fetch time and give the lease back (only our own lease)."""

        def work(conn: Connection) -> None:
            conn.execute(
                update(sources)
                .where(sources.c.id == source_id, sources.c.lease_owner == owner)
                .values(next_fetch_at=next_fetch_at, lease_owner=None, lease_until=None)
            )

        self._retrying(work)

    def release_leases(self, owner: str) -> None:
        """On a clean stop: sources claimed but not started are due again at once."""

        def work(conn: Connection) -> None:
            conn.execute(
                update(sources)
                .where(sources.c.lease_owner == owner)
                .values(lease_owner=None, lease_until=None)
            )

        self._retrying(work)

    # -- articles ----------------------------------------------------------------

    def save_batch(
        self,
        source_id: str,
        batch: Sequence[Article],
        validators: Validators,
        status: int | None,
        now: datetime,
        duration_ms: int = 0,
        content_digest: str | None = None,
    ) -> StoreResult:
        """Store one source's articles and the validators that brought them, all or nothing.

        ``content_digest`` identifies the body (and the rules) these articles
        came from; it is stored with them, so it can never claim a body whose
        articles were not saved.
        """

        def work(conn: Connection) -> StoreResult:
            result = _store_articles(conn, source_id, batch, now)
            conn.execute(
                update(sources)
                .where(sources.c.id == source_id)
                .values(
                    etag=validators.etag,
                    last_modified=validators.last_modified,
                    content_digest=content_digest,
                    error_count=0,
                    last_error=None,
                    last_status=status,
                    last_fetch_at=now,
                    last_success_at=now,
                )
            )
            _log_fetch(
                conn,
                source_id,
                now,
                "ok",
                status,
                result.new,
                result.updated,
                duration_ms=duration_ms,
            )
            return result

        return self._retrying(work)

    def list_articles(
        self,
        desk: str | None = None,
        topic: str | None = None,
        source: str | None = None,
        limit: int | None = 50,
        offset: int = 0,
    ) -> list[Article]:
        """Newest first; ties broken by id so every listing is deterministic."""
        query = _filtered(select(articles), desk, topic, source)
        query = query.order_by(articles.c.published.desc(), articles.c.id.desc()).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
            topics = _topics_of(conn, [row.id for row in rows])
        return [_article(row, topics.get(row.id, ())) for row in rows]

    def count_articles(
        self, desk: str | None = None, topic: str | None = None, source: str | None = None
    ) -> int:
        query = _filtered(select(func.count()).select_from(articles), desk, topic, source)
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one()

    # -- published feeds ----------------------------------------------------------------

    def save_feeds(
        self, rendered: Sequence[PublishedFeed], site: str, keep: set[str] | None
    ) -> SavedFeeds:
        """Store feeds whose bytes changed; keep the others' ETag and Last-Modified.

        ``keep`` (when publishing everything) drops feeds the catalogue no
        longer has. Any change moves the generation, which web workers watch.
        """

        def work(conn: Connection) -> SavedFeeds:
            if conn.dialect.name == "postgresql":  # publishers in several processes take turns
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PUBLISH_LOCK})
            known = {
                row.path: row
                for row in conn.execute(
                    select(
                        feeds.c.path,
                        feeds.c.etag,
                        feeds.c.media_type,
                        feeds.c.max_age,
                        feeds.c.last_modified,
                    )
                )
            }
            changed: list[str] = []
            modified: dict[str, datetime] = {}
            for feed in rendered:
                row = known.get(feed.path)
                same_bytes = row is not None and row.etag == feed.etag
                modified[feed.path] = (
                    row.last_modified if row is not None and same_bytes else feed.last_modified
                )
                if row is None:
                    conn.execute(insert(feeds).values(**_feed_row(feed)))
                elif row.etag != feed.etag:
                    conn.execute(
                        update(feeds).where(feeds.c.path == feed.path).values(**_feed_row(feed))
                    )
                elif (row.media_type, row.max_age) != (feed.media_type, feed.max_age):
                    conn.execute(
                        update(feeds)
                        .where(feeds.c.path == feed.path)
                        .values(media_type=feed.media_type, max_age=feed.max_age)
                    )
                else:
                    continue
                changed.append(feed.path)
            stale = sorted(set(known) - keep) if keep is not None else []
            if stale:
                conn.execute(delete(feeds).where(feeds.c.path.in_(stale)))
            old_site = conn.execute(select(state.c.value).where(state.c.key == "site")).scalar()
            if old_site != site:
                self.put_state(conn, "site", site)
            if changed or stale or old_site != site:
                self.put_state(conn, "generation", uuid.uuid4().hex)
            return SavedFeeds(tuple(changed), modified)

        return self._retrying(work)

    def load_feeds(self) -> list[PublishedFeed]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(feeds)).all()
        return [
            PublishedFeed(
                path=row.path,
                body=row.body,
                etag=row.etag,
                media_type=row.media_type,
                last_modified=row.last_modified,
                max_age=row.max_age,
            )
            for row in rows
        ]

    # -- shared state ---------------------------------------------------------------

    def get_state(self, key: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(state.c.value).where(state.c.key == key)).scalar()

    def put_state(self, conn: Connection, key: str, value: str) -> None:
        """Upsert: two schedulers may write the same key at the same moment."""
        upsert = postgresql_insert if conn.dialect.name == "postgresql" else sqlite_insert
        conn.execute(
            upsert(state)
            .values(key=key, value=value)
            .on_conflict_do_update(index_elements=["key"], set_={"value": value})
        )

    # -- admin: API sources, health, search, metrics ------------------------------
    # Used by the admin API, the admin pages and `feedsvc sources`; the scheduler
    # reads ``api_sources`` every tick. Catalogue rows are only ever paused here.

    def add_source(self, source: Source, now: datetime) -> None:
        """Register an API source; an id already taken (by either origin) is a Conflict."""

        def work(conn: Connection) -> None:
            taken = conn.execute(select(sources.c.origin).where(sources.c.id == source.id)).scalar()
            if taken is not None:
                raise _taken(source.id, taken)
            conn.execute(
                insert(sources).values(
                    id=source.id,
                    origin="api",
                    config=source_config(source),
                    enabled=source.enabled,
                    paused=False,
                    error_count=0,
                    created_at=now,
                )
            )

        try:
            self._retrying(work)
        except IntegrityError:  # another writer took the id between our check and insert
            raise Conflict(f"source id {source.id!r} is already taken", "id") from None

    def update_source(self, source: Source) -> bool:
        """Replace an API source's settings; it is due at once. False if no such API source.

        A new URL drops the stored validators: another document's ETag means nothing.
        """

        def work(conn: Connection) -> bool:
            row = conn.execute(
                select(sources.c.config).where(sources.c.id == source.id, sources.c.origin == "api")
            ).first()
            if row is None:
                return False
            values: dict[str, Any] = {
                "config": source_config(source),
                "enabled": source.enabled,
                "next_fetch_at": None,
            }
            if json.loads(row.config).get("url") != source.url:
                values.update(etag=None, last_modified=None)
            conn.execute(update(sources).where(sources.c.id == source.id).values(**values))
            return True

        return self._retrying(work)

    def delete_source(self, source_id: str) -> bool:
        """Forget an API source (its articles stay, like a source removed from the file)."""

        def work(conn: Connection) -> bool:
            gone = conn.execute(
                delete(sources).where(sources.c.id == source_id, sources.c.origin == "api")
            )
            return gone.rowcount > 0

        return self._retrying(work)

    def set_paused(self, source_id: str, paused: bool) -> bool:
        """Pause or resume any source; a resumed source is due at once. False if unknown."""

        def work(conn: Connection) -> bool:
            values: dict[str, Any] = {"paused": paused}
            if not paused:
                values["next_fetch_at"] = None
            changed = conn.execute(
                update(sources).where(sources.c.id == source_id).values(**values)
            )
            return changed.rowcount > 0

        return self._retrying(work)

    def api_sources(self) -> list[Source]:
        """Sources added through the admin API, by id; cheap enough to call every tick."""
        query = (
            select(sources.c.id, sources.c.config)
            .where(sources.c.origin == "api")
            .order_by(sources.c.id)
        )
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(query).all()
        except SQLAlchemyError as exc:
            raise StoreError(f"database error: {exc}") from exc
        return [source_from_config(row.id, row.config, "api") for row in rows]

    def source_health(self, source_id: str) -> SourceHealth | None:
        found = self._health(source_id)
        return found[0] if found else None

    def list_health(self) -> list[SourceHealth]:
        """Every registered source's schedule and fetch state, with its article count."""
        return self._health(None)

    def _health(self, source_id: str | None) -> list[SourceHealth]:
        counts = select(items.c.source, func.count().label("n")).group_by(items.c.source).subquery()
        query = (
            select(sources, func.coalesce(counts.c.n, 0).label("article_count"))
            .select_from(sources.outerjoin(counts, counts.c.source == sources.c.id))
            .order_by(sources.c.id)
        )
        if source_id is not None:
            query = query.where(sources.c.id == source_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            SourceHealth(
                id=row.id,
                origin=row.origin,
                config=row.config,
                enabled=row.enabled,
                paused=row.paused,
                last_fetch_at=row.last_fetch_at,
                last_success_at=row.last_success_at,
                last_status=row.last_status,
                error_count=row.error_count,
                last_error=row.last_error,
                next_fetch_at=row.next_fetch_at,
                lease_until=row.lease_until,
                article_count=int(row.article_count),
                created_at=row.created_at,
            )
            for row in rows
        ]

    def recent_fetches(self, source_id: str, limit: int = 20) -> list[FetchRecord]:
        """The newest fetches of one source, newest first."""
        query = (
            select(fetches)
            .where(fetches.c.source == source_id)
            .order_by(fetches.c.at.desc(), fetches.c.id.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            FetchRecord(
                at=row.at,
                outcome=row.outcome,
                status=row.status,
                new=row.new,
                updated=row.updated,
                duration_ms=row.duration_ms,
                error=row.error,
            )
            for row in rows
        ]

    def search_articles(
        self,
        desk: str | None = None,
        topic: str | None = None,
        source: str | None = None,
        text: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[Article], int]:
        """``list_articles`` plus a case-insensitive substring filter on title and summary.

        Returns one page and the total that matched, for paging.
        """
        query = _filtered(select(articles), desk, topic, source)
        counting = _filtered(select(func.count()).select_from(articles), desk, topic, source)
        if text:
            pattern = "%" + _like_escape(text.lower()) + "%"
            matches = or_(
                func.lower(articles.c.title).like(pattern, escape="\\"),
                func.lower(articles.c.summary).like(pattern, escape="\\"),
            )
            query, counting = query.where(matches), counting.where(matches)
        query = (
            query.order_by(articles.c.published.desc(), articles.c.id.desc())
            .offset(offset)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            total = conn.execute(counting).scalar_one()
            rows = conn.execute(query).all()
            topics = _topics_of(conn, [row.id for row in rows])
        return [_article(row, topics.get(row.id, ())) for row in rows], total

    def claim_source(self, source_id: str, owner: str, now: datetime, lease_for: timedelta) -> bool:
        """Lease one source now, due or not (a refresh an operator asked for).

        False when another process holds an unexpired lease on it: it is being
        fetched right now, and a second fetch would only race the first.
        """

        def work(conn: Connection) -> bool:
            taken = conn.execute(
                update(sources)
                .where(
                    sources.c.id == source_id,
                    or_(sources.c.lease_until.is_(None), sources.c.lease_until < now),
                )
                .values(lease_owner=owner, lease_until=now + lease_for)
            )
            return taken.rowcount > 0

        return self._retrying(work)

    def add_metrics(self, increments: Iterable[tuple[str, str, float]]) -> None:
        """Add to shared counters in one short transaction: (name, labels, amount).

        Best effort: a metric that cannot be written is logged, never raised
        into the work it measures (a publish that succeeded stays a success).
        """
        batch = list(increments)
        if not batch:
            return
        try:
            self._retrying(lambda conn: _bump_metrics(conn, batch))
        except (StoreError, SQLAlchemyError):
            log.warning("metrics not recorded: %s", [name for name, _, _ in batch], exc_info=True)

    def metric_values(self) -> list[tuple[str, str, float]]:
        """Every shared counter row as (name, labels, value), sorted."""
        query = select(metrics.c.name, metrics.c.labels, metrics.c.value).order_by(
            metrics.c.name, metrics.c.labels
        )
        with self.engine.connect() as conn:
            return [(row.name, row.labels, float(row.value)) for row in conn.execute(query)]


def _short(exc: SQLAlchemyError) -> str:
    """The driver's message on one printable line, without the SQL and parameters."""
    text = str(getattr(exc, "orig", None) or exc).splitlines()[0] if str(exc) else repr(exc)
    return "".join(c if c.isprintable() else " " for c in text)[:300]


def _insert_ignoring_duplicates(conn: Connection) -> Insert:
    if conn.dialect.name == "postgresql":
        return postgresql_insert(sources).on_conflict_do_nothing(index_elements=["id"])
    return sqlite_insert(sources).on_conflict_do_nothing(index_elements=["id"])


def _filtered(
    query: Select[Any], desk: str | None, topic: str | None, source: str | None
) -> Select[Any]:
    if desk is not None:
        query = query.where(articles.c.desk == desk)
    if topic is not None:
        query = query.where(
            articles.c.id.in_(
                select(article_topics.c.article_id).where(article_topics.c.topic == topic)
            )
        )
    if source is not None:
        query = query.where(
            articles.c.id.in_(select(items.c.article_id).where(items.c.source == source))
        )
    return query


@dataclass(frozen=True, slots=True)
class SavedFeeds:
    """What ``save_feeds`` did: the paths it changed, and each feed's Last-Modified as stored."""

    changed: tuple[str, ...]
    last_modified: Mapping[str, datetime]


def _feed_row(feed: PublishedFeed) -> dict[str, Any]:
    return {
        "path": feed.path,
        "body": feed.body,
        "etag": feed.etag,
        "media_type": feed.media_type,
        "last_modified": feed.last_modified,
        "max_age": feed.max_age,
    }


def source_config(source: Source) -> str:
    """A source's settings as stable JSON, to notice catalogue edits."""
    return json.dumps(
        {
            "kind": source.kind,
            "url": source.url,
            "path": str(source.path) if source.path else None,
            "desk": source.desk,
            "every": source.every.total_seconds(),
            "timezone": source.timezone,
            "topics": list(source.topics),
            "enabled": source.enabled,
            "title": source.title,
        },
        sort_keys=True,
    )


def _log_fetch(
    conn: Connection,
    source_id: str,
    now: datetime,
    outcome: str,
    status: int | None,
    new: int = 0,
    updated: int = 0,
    *,
    error: str | None = None,
    duration_ms: int = 0,
) -> None:
    conn.execute(
        insert(fetches).values(
            source=source_id,
            at=now,
            outcome=outcome,
            status=status,
            new=new,
            updated=updated,
            error=error,
            duration_ms=duration_ms,
        )
    )
    _bump_metrics(conn, fetch_increments(source_id, outcome, new, updated, duration_ms))


def _store_articles(
    conn: Connection, source_id: str, batch: Sequence[Article], now: datetime
) -> StoreResult:
    """Insert, update or merge each article; unchanged ones cost no write."""
    known = {
        row.guid: (row.article_id, row.fingerprint)
        for row in conn.execute(
            select(items.c.guid, items.c.article_id, items.c.fingerprint).where(
                items.c.source == source_id
            )
        )
    }
    unique: dict[str, Article] = {}
    for article in batch:
        unique.setdefault(article.guid, article)  # a feed that repeats a guid: first wins
    urls = [a.url for a in unique.values() if a.url and a.guid not in known]
    owners = _owners_by_url(conn, urls)

    new_rows: list[dict[str, Any]] = []
    new_items: list[dict[str, Any]] = []
    new_topics: dict[str, set[str]] = {}
    new = updated = unchanged = merged = 0
    changed: list[str] = []
    stale = [
        known[a.guid][0]
        for a in unique.values()
        if a.guid in known and known[a.guid][1] != a.fingerprint
    ]
    touched = _feed_keys(conn, stale)  # where updated articles were before the change
    for article in unique.values():
        if article.guid in known:
            article_id, fingerprint = known[article.guid]
            if fingerprint == article.fingerprint:
                unchanged += 1
            elif article_id == article.id:
                _update_article(conn, article)
                conn.execute(
                    update(items)
                    .where(items.c.source == source_id, items.c.guid == article.guid)
                    .values(fingerprint=article.fingerprint)
                )
                updated += 1
                changed.append(article.id)
            else:  # another source owns the story; remember we saw the new version
                conn.execute(
                    update(items)
                    .where(items.c.source == source_id, items.c.guid == article.guid)
                    .values(fingerprint=article.fingerprint)
                )
                unchanged += 1
            continue
        owner = owners.get(article.url) if article.url else None
        if owner is not None:
            new_items.append(_item_row(source_id, article, owner))
            if owner in new_topics:  # the owner is new in this very batch
                new_topics[owner] |= set(article.topics)
            elif _add_topics(conn, owner, article.topics):
                changed.append(owner)
            merged += 1
            continue
        new_rows.append(_article_row(article, now))
        new_items.append(_item_row(source_id, article, article.id))
        new_topics[article.id] = set(article.topics)
        if article.url:
            owners[article.url] = article.id  # a later duplicate in this batch merges
        new += 1
        changed.append(article.id)
    if new_rows:
        conn.execute(insert(articles), new_rows)
    if new_items:
        conn.execute(insert(items), new_items)
    topic_rows = [
        {"article_id": article_id, "topic": topic}
        for article_id, topics in new_topics.items()
        for topic in sorted(topics)
    ]
    if topic_rows:
        conn.execute(insert(article_topics), topic_rows)
    if changed:
        touched |= _feed_keys(conn, changed)
    return StoreResult(
        new=new,
        updated=updated,
        unchanged=unchanged,
        merged=merged,
        changed_ids=tuple(changed),
        feeds=frozenset(touched),
    )


def _feed_keys(conn: Connection, ids: Sequence[str]) -> set[str]:
    """The feeds that list any of these articles: ``all``, their desks and topics."""
    keys: set[str] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        keys.update(
            f"desks/{desk}"
            for desk in conn.execute(
                select(articles.c.desk).where(articles.c.id.in_(chunk)).distinct()
            ).scalars()
        )
        keys.update(
            f"topics/{topic}"
            for topic in conn.execute(
                select(article_topics.c.topic)
                .where(article_topics.c.article_id.in_(chunk))
                .distinct()
            ).scalars()
        )
    if ids:
        keys.add("all")
    return keys


def _owners_by_url(conn: Connection, urls: list[str]) -> dict[str, str]:
    owners: dict[str, str] = {}
    for start in range(0, len(urls), 500):
        chunk = urls[start : start + 500]
        for row in conn.execute(
            select(articles.c.url, articles.c.id).where(articles.c.url.in_(chunk))
        ):
            owners[row.url] = row.id
    return owners


def _article_row(article: Article, now: datetime) -> dict[str, Any]:
    return {
        "id": article.id,
        "source": article.source,
        "guid": article.guid,
        "url": article.url,
        "title": article.title,
        "summary": article.summary,
        "content_html": article.content_html,
        "author": article.author,
        "desk": article.desk,
        "language": article.language,
        "published": article.published,
        "updated": article.updated,
        "dated": article.dated,
        "fingerprint": article.fingerprint,
        "first_seen": now,
    }


def _item_row(source_id: str, article: Article, article_id: str) -> dict[str, Any]:
    return {
        "source": source_id,
        "guid": article.guid,
        "article_id": article_id,
        "fingerprint": article.fingerprint,
    }


def _update_article(conn: Connection, article: Article) -> None:
    values: dict[str, Any] = {
        "title": article.title,
        "summary": article.summary,
        "content_html": article.content_html,
        "author": article.author,
        "desk": article.desk,
        "language": article.language,
        "updated": article.updated,
        "dated": article.dated,
        "fingerprint": article.fingerprint,
    }
    if article.dated:  # an undated item keeps its first-seen time
        values["published"] = article.published
    if article.url:
        taken = conn.execute(
            select(articles.c.id).where(articles.c.url == article.url, articles.c.id != article.id)
        ).first()
        if taken is None:
            values["url"] = article.url
    conn.execute(update(articles).where(articles.c.id == article.id).values(**values))
    conn.execute(delete(article_topics).where(article_topics.c.article_id == article.id))
    if article.topics:
        conn.execute(
            insert(article_topics),
            [{"article_id": article.id, "topic": t} for t in article.topics],
        )


def _add_topics(conn: Connection, article_id: str, topics: Iterable[str]) -> bool:
    """Union a merged duplicate's topics into the stored story; True if any was new."""
    have = set(
        conn.execute(
            select(article_topics.c.topic).where(article_topics.c.article_id == article_id)
        ).scalars()
    )
    missing = sorted(set(topics) - have)
    if missing:
        conn.execute(
            insert(article_topics), [{"article_id": article_id, "topic": t} for t in missing]
        )
    return bool(missing)


def _topics_of(conn: Connection, ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
    found: dict[str, list[str]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        query = (
            select(article_topics.c.article_id, article_topics.c.topic)
            .where(article_topics.c.article_id.in_(chunk))
            .order_by(article_topics.c.article_id, article_topics.c.topic)
        )
        for row in conn.execute(query):
            found.setdefault(row.article_id, []).append(row.topic)
    return {key: tuple(value) for key, value in found.items()}


def _article(row: Any, topics: tuple[str, ...]) -> Article:
    return Article(
        id=row.id,
        source=row.source,
        guid=row.guid,
        url=row.url,
        title=row.title,
        summary=row.summary,
        content_html=row.content_html,
        author=row.author,
        desk=row.desk,
        topics=topics,
        published=row.published,
        updated=row.updated,
        language=row.language,
        dated=row.dated,
        fingerprint=row.fingerprint,
    )


# -- admin records and helpers ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class SourceHealth:
    """One source's row as operators see it: schedule, last fetch, errors, article count."""

    id: str
    origin: str
    config: str
    enabled: bool
    paused: bool
    last_fetch_at: datetime | None
    last_success_at: datetime | None
    last_status: int | None
    error_count: int
    last_error: str | None
    next_fetch_at: datetime | None
    lease_until: datetime | None
    article_count: int
    created_at: datetime

    @property
    def status(self) -> str:
        """One word for the at-a-glance colour: paused, disabled, pending, error or ok."""
        if self.paused:
            return "paused"
        if not self.enabled:
            return "disabled"
        if self.last_fetch_at is None:
            return "pending"
        return "error" if self.error_count else "ok"


@dataclass(frozen=True, slots=True)
class FetchRecord:
    """One line of a source's fetch log."""

    at: datetime
    outcome: str
    status: int | None
    new: int
    updated: int
    duration_ms: int
    error: str | None


def source_from_config(source_id: str, config: str, origin: str) -> Source:
    """The inverse of ``source_config``: a stored row back into a Source."""
    data = json.loads(config)
    return Source(
        id=source_id,
        kind=data["kind"],
        desk=data["desk"],
        every=timedelta(seconds=float(data["every"])),
        url=data.get("url"),
        path=Path(data["path"]) if data.get("path") else None,
        timezone=data.get("timezone") or "UTC",
        topics=tuple(data.get("topics") or ()),
        enabled=bool(data.get("enabled", True)),
        title=data.get("title"),
        origin="api" if origin == "api" else "catalog",
    )


def _taken(source_id: str, origin: str) -> Conflict:
    where = "feeds/sources.toml" if origin == "catalog" else "the admin API"
    return Conflict(f"source id {source_id!r} is already taken (by {where})", "id")


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _bump_metrics(conn: Connection, batch: Sequence[tuple[str, str, float]]) -> None:
    """Add to counter rows, upserted in a fixed order so writers never deadlock."""
    summed: dict[tuple[str, str], float] = {}
    for name, labels, amount in batch:
        summed[(name, labels)] = summed.get((name, labels), 0.0) + amount
    if not summed:
        return
    upsert = sqlite_insert if conn.dialect.name == "sqlite" else postgresql_insert
    statement = upsert(metrics)
    conn.execute(  # one executemany: a fetch bumps about ten counters
        statement.on_conflict_do_update(
            index_elements=[metrics.c.name, metrics.c.labels],
            set_={"value": metrics.c.value + statement.excluded.value},
        ),
        [
            {"name": name, "labels": labels, "value": amount}
            for (name, labels), amount in sorted(summed.items())
        ],
    )
