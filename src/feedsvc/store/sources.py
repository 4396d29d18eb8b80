"""The source registry: catalogue and API sources, their settings, and their health.

A source's settings are kept as one JSON ``config`` column, so a catalogue
edit is noticed by comparing strings and the settings can grow without a
migration. Catalogue rows follow ``feeds/sources.toml``; API rows are added,
changed and removed through the admin side, which may also pause either kind.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from feedsvc.errors import Conflict, StoreError
from feedsvc.model import Source, StoreResult, Touched
from feedsvc.store.batches import withdraw_source
from feedsvc.store.engine import Database, upsert
from feedsvc.store.rows import from_row
from feedsvc.store.schema import copies, fetches, source_notes, sources


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
    refresh_requested_at: datetime | None = None
    """An operator's refresh not yet run (``Schedule.request_refresh``)."""

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
    new: int = 0
    updated: int = 0
    duration_ms: int = 0
    error: str | None = None


# -- the config codec ------------------------------------------------------------------

_ROW_FIELDS = ("id", "origin")  # columns of their own, not settings
_DECODE: dict[str, Callable[[Any], Any]] = {
    "every": lambda seconds: timedelta(seconds=float(seconds)),
    "keep": lambda seconds: timedelta(seconds=float(seconds)),
    "path": Path,
    "topics": tuple,
}


def _encode(value: object) -> object:
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Path):
        return str(value)
    return value


def source_config(source: Source) -> str:
    """A source's settings as stable JSON (sorted keys), to notice catalogue edits."""
    settings = {
        f.name: _encode(getattr(source, f.name))
        for f in fields(Source)
        if f.name not in _ROW_FIELDS
    }
    return json.dumps(settings, sort_keys=True)


def source_from_config(source_id: str, config: str, origin: str) -> Source:
    """The inverse of ``source_config``; a setting missing or null takes its default."""
    names = {f.name for f in fields(Source)} - set(_ROW_FIELDS)
    settings = {
        name: _DECODE.get(name, _same)(value)
        for name, value in json.loads(config).items()
        if name in names and value is not None
    }
    return Source(id=source_id, origin="api" if origin == "api" else "catalog", **settings)


def _same(value: object) -> object:
    return value


def _settings(source: Source) -> dict[str, Any]:
    """The columns that follow a source's settings."""
    return {"config": source_config(source), "enabled": source.enabled}


def _new_row(source: Source, origin: str, now: datetime) -> dict[str, Any]:
    return {
        "id": source.id,
        "origin": origin,
        **_settings(source),
        "paused": False,
        "error_count": 0,
        "created_at": now,
    }


class SourceRegistry(Database):
    """Which sources exist, with what settings, and how each is doing.

    Used by the scheduler (``sync_sources``, ``api_sources`` every tick), the
    admin API, the admin pages and ``feedsvc sources``. Catalogue rows are
    only ever paused from the admin side.
    """

    def sync_sources(self, catalog_sources: Iterable[Source], now: datetime) -> Touched:
        """Make the catalogue's sources known to the database, keeping their state.

        A source removed from the catalogue loses its row, and its copies are
        withdrawn: its stories show another source's copy, or are retracted
        when it was their last. Returns the desks and topics that changed.
        """
        wanted = {s.id: s for s in catalog_sources if s.origin == "catalog"}

        def work(conn: Connection) -> Touched:
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
            touched = Touched()
            for source_id in sorted(set(known) - set(wanted)):
                conn.execute(delete(sources).where(sources.c.id == source_id))
                touched |= withdraw_source(conn, source_id, now).touched
            for source in wanted.values():
                if source.id not in known:
                    # another scheduler starting at the same moment may insert it first
                    conn.execute(
                        upsert(conn, sources)
                        .values(_new_row(source, "catalog", now))
                        .on_conflict_do_nothing(index_elements=["id"])
                    )
                elif known[source.id] != source_config(source):
                    conn.execute(
                        update(sources)
                        .where(sources.c.id == source.id)
                        .values(**_settings(source), next_fetch_at=None)
                    )
            return touched

        return self.transact(work)

    def add_source(self, source: Source, now: datetime) -> None:
        """Register an API source; an id already taken (by either origin) is a Conflict."""

        def work(conn: Connection) -> None:
            taken = conn.execute(select(sources.c.origin).where(sources.c.id == source.id)).scalar()
            if taken is not None:
                where = "feeds/sources.toml" if taken == "catalog" else "the admin API"
                raise Conflict(f"source id {source.id!r} is already taken (by {where})", "id")
            conn.execute(insert(sources).values(_new_row(source, "api", now)))

        try:
            self.transact(work)
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
            values: dict[str, Any] = {**_settings(source), "next_fetch_at": None}
            if json.loads(row.config).get("url") != source.url:
                values.update(etag=None, last_modified=None)
            conn.execute(update(sources).where(sources.c.id == source.id).values(**values))
            return True

        return self.transact(work)

    def delete_source(self, source_id: str, now: datetime) -> StoreResult | None:
        """Forget an API source and withdraw its copies (as for one removed from the file).

        None if there is no such API source.
        """

        def work(conn: Connection) -> StoreResult | None:
            gone = conn.execute(
                delete(sources).where(sources.c.id == source_id, sources.c.origin == "api")
            )
            if gone.rowcount == 0:
                return None
            conn.execute(delete(source_notes).where(source_notes.c.source == source_id))
            return withdraw_source(conn, source_id, now)

        return self.transact(work)

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

        return self.transact(work)

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

    def count_api_sources(self) -> int:
        """How many sources were added through the admin API (their ceiling's count)."""
        query = select(func.count()).select_from(sources).where(sources.c.origin == "api")
        try:
            with self.engine.connect() as conn:
                return int(conn.execute(query).scalar_one())
        except SQLAlchemyError as exc:
            raise StoreError(f"database error: {exc}") from exc

    def source_health(self, source_id: str) -> SourceHealth | None:
        found = self._health(source_id)
        return found[0] if found else None

    def list_health(self) -> list[SourceHealth]:
        """Every registered source's schedule and fetch state, with its article count."""
        return self._health(None)

    def _health(self, source_id: str | None) -> list[SourceHealth]:
        counts = (
            select(copies.c.source, func.count().label("n"))
            .where(copies.c.withdrawn_at.is_(None))
            .group_by(copies.c.source)
            .subquery()
        )
        query = (
            select(sources, func.coalesce(counts.c.n, 0).label("article_count"))
            .select_from(sources.outerjoin(counts, counts.c.source == sources.c.id))
            .order_by(sources.c.id)
        )
        if source_id is not None:
            query = query.where(sources.c.id == source_id)
        with self.engine.connect() as conn:
            return [from_row(SourceHealth, row) for row in conn.execute(query)]

    def recent_fetches(self, source_id: str, limit: int = 20) -> list[FetchRecord]:
        """The newest fetches of one source, newest first."""
        query = (
            select(fetches)
            .where(fetches.c.source == source_id)
            .order_by(fetches.c.at.desc(), fetches.c.id.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [from_row(FetchRecord, row) for row in conn.execute(query)]
