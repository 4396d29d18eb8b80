"""Retention: deleting stories older than their sources' ``keep``, and giving the space back.

A story goes when every copy it holds is older than its own source's keep (a
source's ``keep``, else the default ``FEEDSVC_KEEP``; a source keeping
everything keeps its stories), unless it is still in a current feed (among the
newest ``feed_size`` of any listing) or its tombstone is still published.
Ageing out is not a retraction: no tombstone, the story is simply gone.

The purge is set-based, so a million stories cost a handful of statements:
the ids to delete are gathered once into a temporary table, then memberships,
copies and stories go by joining it. The space is given back afterwards, out
of the transaction: SQLite's incremental vacuum (the file is converted to
incremental auto-vacuum once, with one full VACUUM), PostgreSQL's VACUUM
ANALYZE of the three tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    MetaData,
    String,
    Table,
    and_,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    true,
)

from feedsvc.store.archive_marks import mark_removed
from feedsvc.store.engine import Database
from feedsvc.store.schema import UTCDateTime, copies, memberships, stories
from feedsvc.store.search import REBUILD_SQLITE

_purging = Table(
    "purge_story_ids",
    MetaData(),
    Column("id", String(64), primary_key=True),
    prefixes=["TEMPORARY"],
)
_TABLES = ("stories", "copies", "memberships")
SHOWN = 10
"""Sources named in a purge's line, those that lost most first."""


@dataclass(frozen=True, slots=True)
class PurgeResult:
    """What a purge removed, and why it kept what it kept."""

    stories: int = 0
    copies: int = 0
    by_source: tuple[tuple[str, int], ...] = ()
    """Copies removed per source, by source id."""
    spared: int = 0
    """Stories old enough to go but still in a current feed."""
    freed_bytes: int | None = None
    """What the database file shrank by (SQLite); None where it cannot be told."""

    def line(self) -> str:
        """What ``feedsvc purge`` prints."""
        text = f"purged {self.stories} stories ({self.copies} copies)"
        if self.by_source:
            most = sorted(self.by_source, key=lambda pair: (-pair[1], pair[0]))
            text += ": " + ", ".join(f"{source} {count}" for source, count in most[:SHOWN])
            if len(most) > SHOWN:
                text += f" and {len(most) - SHOWN} more sources"
        if self.spared:
            text += f"; kept {self.spared} older ones still in a current feed"
        if self.freed_bytes:
            text += f"; freed {self.freed_bytes / 1e6:.1f} MB"
        return text


class Retention(Database):
    def purge(
        self,
        now: datetime,
        keeps: Mapping[str, timedelta | None],
        default: timedelta | None,
        feed_size: int,
        tombstone_days: int = 30,
    ) -> PurgeResult:
        """Delete what is past its keep (see the module); then free the space.

        ``keeps``: each configured source's own keep (None: the ``default``).
        A source no longer configured takes the default.
        """
        limits = {source: keep or default for source, keep in keeps.items()}
        if default is None and not any(limits.values()):
            return PurgeResult()  # everything is kept: nothing to read

        def work(conn: Connection) -> PurgeResult:
            current = _current(conn, feed_size)
            old = _old_enough(now, limits, default, tombstone_days)
            spared = 0
            if current:
                counted = select(func.count()).where(old, stories.c.id.in_(current))
                spared = conn.execute(counted).scalar_one()
            gone = old if not current else and_(old, stories.c.id.not_in(current))
            _purging.create(conn)
            try:
                conn.execute(insert(_purging).from_select(["id"], select(stories.c.id).where(gone)))
                chosen = select(_purging.c.id)
                by_source = conn.execute(
                    select(copies.c.source, func.count())
                    .where(copies.c.story_id.in_(chosen))
                    .group_by(copies.c.source)
                    .order_by(copies.c.source)
                ).all()
                mark_removed(conn, chosen, now)  # the archive pages that held them change
                conn.execute(delete(memberships).where(memberships.c.story_id.in_(chosen)))
                removed_copies = conn.execute(delete(copies).where(copies.c.story_id.in_(chosen)))
                removed = conn.execute(delete(stories).where(stories.c.id.in_(chosen)))
            finally:
                _purging.drop(conn)
            return PurgeResult(
                stories=removed.rowcount,
                copies=removed_copies.rowcount,
                by_source=tuple((row[0], row[1]) for row in by_source),
                spared=spared,
            )

        before = self._size()
        result = self.transact(work)
        if not result.stories:
            return result
        self.free_space()
        after = self._size()
        freed = before - after if before is not None and after is not None else None
        return PurgeResult(**{**_fields(result), "freed_bytes": freed})

    def free_space(self) -> None:
        """Give deleted rows' space back; out of any transaction, as both databases need."""
        if self.is_sqlite:
            raw = self.engine.raw_connection()
            try:
                driver: Any = raw.driver_connection
                mode = driver.execute("PRAGMA auto_vacuum").fetchone()[0]
                if mode == 2:  # a page per step: executescript steps it to the end
                    driver.executescript("PRAGMA incremental_vacuum;")
                else:  # once: convert the file, so later purges only free pages
                    driver.execute("PRAGMA auto_vacuum=INCREMENTAL")
                    driver.execute("VACUUM")
                    # a full VACUUM may renumber rowids, which the FTS5 index refers to
                    driver.execute(REBUILD_SQLITE)
                    driver.commit()
                driver.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                driver.execute("ANALYZE")
            finally:
                raw.close()
            return
        with self.engine.connect() as conn:
            autocommit = conn.execution_options(isolation_level="AUTOCOMMIT")
            autocommit.exec_driver_sql("VACUUM ANALYZE " + ", ".join(_TABLES))

    def _size(self) -> int | None:
        if not self.is_sqlite:
            return None
        with self.engine.connect() as conn:
            pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()
            size = conn.exec_driver_sql("PRAGMA page_size").scalar_one()
        return int(pages) * int(size)


def _fields(result: PurgeResult) -> dict[str, Any]:
    return {name: getattr(result, name) for name in PurgeResult.__slots__}


def _current(conn: Connection, feed_size: int) -> list[str]:
    """The stories of every listing's newest ``feed_size``: what the feeds show now."""
    listings = conn.execute(
        select(memberships.c.listing).where(memberships.c.live == true()).distinct()
    ).scalars()
    found: set[str] = set()
    for listing in list(listings):
        newest = (
            select(memberships.c.story_id)
            .where(memberships.c.listing == listing, memberships.c.live == true())
            .order_by(memberships.c.published.desc(), memberships.c.story_id.desc())
            .limit(feed_size)
        )
        found.update(conn.execute(newest).scalars())
    return sorted(found)


def _old_enough(
    now: datetime,
    limits: Mapping[str, timedelta | None],
    default: timedelta | None,
    tombstone_days: int,
) -> Any:
    """Stories none of whose copies is still within its source's keep, no tombstone showing."""
    cutoffs = {source: now - keep for source, keep in limits.items() if keep is not None}
    forever = [source for source, keep in limits.items() if keep is None]
    fallback = literal(now - default, UTCDateTime) if default is not None else None
    if cutoffs:
        at = [
            (copies.c.source == source, literal(moment, UTCDateTime))
            for source, moment in cutoffs.items()
        ]
        cutoff: Any = case(*at, else_=fallback)
    else:
        cutoff = fallback
    blocking = [copies.c.published >= cutoff] if cutoff is not None else []
    if forever:
        blocking.append(copies.c.source.in_(forever))
    if default is None:  # a source no longer configured keeps its copies too
        blocking.append(copies.c.source.not_in(list(limits)))
    holds = exists(select(1).where(copies.c.story_id == stories.c.id, or_(*blocking)))
    tombstone = now - timedelta(days=tombstone_days)
    return and_(
        ~holds,
        or_(stories.c.retracted_at.is_(None), stories.c.retracted_at < tombstone),
    )
