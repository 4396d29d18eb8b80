"""Archive bookkeeping rows: pages and heads as records, and the index walks over them.

The queries the archive's two writers share (``archives``, which settles pages
when publishing, and ``archive_marks``, which marks pages as stories change)
and its reader (serving a page). Every one walks an index: a listing's live
keys from a key (``memberships``), the page holding a key by its upper key (the
unique index on ``archive_pages``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, String, insert, literal, select, text, true, tuple_, update

from feedsvc.archive import Key
from feedsvc.store.engine import chunked, upsert
from feedsvc.store.schema import (
    UTCDateTime,
    archive_changes,
    archive_heads,
    archive_pages,
    memberships,
)

ARCHIVE_LOCK = 0x61726368  # an arbitrary, fixed advisory-lock key ("arch")
_pages = archive_pages.c
_heads = archive_heads.c


@dataclass(frozen=True, slots=True)
class Page:
    """A sealed page: its number, its upper key, and its version and time of last change."""

    number: int
    hi: Key
    version: int
    changed_at: datetime


@dataclass(frozen=True, slots=True)
class Head:
    """A listing's archive state: the open page's number and upper bound, the next free number.

    ``boundary`` is the oldest key of the current document as last published,
    set while the open page holds stories (it is the open page's exclusive
    upper bound); None otherwise.
    """

    listing: str
    open_number: int
    next_number: int
    boundary: Key | None
    open_version: int
    open_changed_at: datetime


def _bound(key: Key) -> Any:
    return tuple_(literal(key[0], UTCDateTime), literal(key[1], String))


def key_bound(key: Key) -> Any:
    """``key`` as a row value, to compare a (published, id) pair of columns with."""
    return _bound(key)


def _member_key() -> Any:
    return tuple_(memberships.c.published, memberships.c.story_id)


def key_above(key: Key) -> Any:
    """Membership rows whose key is above ``key``: one range of the listing index."""
    return _member_key() > _bound(key)


def key_below(key: Key, inclusive: bool) -> Any:
    """Membership rows whose key is below ``key`` (or equal, when ``inclusive``)."""
    return _member_key() <= _bound(key) if inclusive else _member_key() < _bound(key)


def _page_key() -> Any:
    return tuple_(_pages.hi_published, _pages.hi_id)


def live_keys(
    conn: Connection,
    listing: str,
    above: Key | None,
    limit: int | None,
    through: Key | None = None,
) -> list[Key]:
    """The listing's live keys above ``above`` (up to ``through``), oldest first."""
    query = select(memberships.c.published, memberships.c.story_id).where(
        memberships.c.listing == listing, memberships.c.live == true()
    )
    if above is not None:
        query = query.where(key_above(above))
    if through is not None:
        query = query.where(key_below(through, inclusive=True))
    query = query.order_by(memberships.c.published, memberships.c.story_id)
    if limit is not None:
        query = query.limit(limit)
    return [(row.published, row.story_id) for row in conn.execute(query)]


def newest_keys(conn: Connection, listing: str, above: Key | None, limit: int) -> list[Key]:
    """The listing's newest live keys above ``above``, newest first."""
    query = select(memberships.c.published, memberships.c.story_id).where(
        memberships.c.listing == listing, memberships.c.live == true()
    )
    if above is not None:
        query = query.where(key_above(above))
    query = query.order_by(memberships.c.published.desc(), memberships.c.story_id.desc())
    return [(row.published, row.story_id) for row in conn.execute(query.limit(limit))]


def lock(conn: Connection, exclusive: bool) -> None:
    if conn.dialect.name == "postgresql":
        function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
        conn.execute(text(f"SELECT {function}(:key)"), {"key": ARCHIVE_LOCK})


def read_head(conn: Connection, listing: str) -> Head | None:
    row = conn.execute(select(archive_heads).where(_heads.listing == listing)).first()
    if row is None:
        return None
    boundary = None
    if row.boundary_published is not None and row.boundary_id is not None:
        boundary = (row.boundary_published, row.boundary_id)
    return Head(
        listing,
        row.open_number,
        row.next_number,
        boundary,
        row.open_version,
        row.open_changed_at,
    )


def _head_columns(head: Head) -> dict[str, Any]:
    published, story = head.boundary if head.boundary is not None else (None, None)
    return {
        "open_number": head.open_number,
        "next_number": head.next_number,
        "boundary_published": published,
        "boundary_id": story,
        "open_version": head.open_version,
        "open_changed_at": head.open_changed_at,
    }


def save_head(conn: Connection, head: Head, before: Head | None) -> None:
    if before is None:
        conn.execute(insert(archive_heads).values(listing=head.listing, **_head_columns(head)))
    elif head != before:
        conn.execute(
            update(archive_heads)
            .where(_heads.listing == head.listing)
            .values(**_head_columns(head))
        )


def _page_of(row: Any) -> Page:
    return Page(row.number, (row.hi_published, row.hi_id), row.version, row.changed_at)


def one_page(conn: Connection, query: Any) -> Page | None:
    row = conn.execute(query.limit(1)).first()
    return None if row is None else _page_of(row)


def newest_page(conn: Connection, listing: str) -> Page | None:
    query = select(archive_pages).where(_pages.listing == listing)
    return one_page(conn, query.order_by(_pages.hi_published.desc(), _pages.hi_id.desc()))


def page_below(conn: Connection, listing: str, hi: Key) -> Page | None:
    """The page just below the one whose upper key is ``hi``."""
    query = select(archive_pages).where(_pages.listing == listing, _page_key() < _bound(hi))
    return one_page(conn, query.order_by(_pages.hi_published.desc(), _pages.hi_id.desc()))


def page_holding(conn: Connection, listing: str, key: Key) -> Page | None:
    """The page whose range holds ``key``: the one with the least upper key at or above it."""
    query = select(archive_pages).where(_pages.listing == listing, _page_key() >= _bound(key))
    return one_page(conn, query.order_by(_pages.hi_published, _pages.hi_id))


def page_above(conn: Connection, listing: str, hi: Key) -> Page | None:
    query = select(archive_pages).where(_pages.listing == listing, _page_key() > _bound(hi))
    return one_page(conn, query.order_by(_pages.hi_published, _pages.hi_id))


def page_numbered(conn: Connection, listing: str, number: int) -> Page | None:
    query = select(archive_pages).where(_pages.listing == listing, _pages.number == number)
    return one_page(conn, query)


def read_changes(conn: Connection, listing: str) -> dict[int, int]:
    query = select(archive_changes.c.number, archive_changes.c.version).where(
        archive_changes.c.listing == listing
    )
    return {row.number: row.version for row in conn.execute(query)}


def record_changes(conn: Connection, listing: str, versions: Mapping[int, int]) -> None:
    if not versions:
        return
    statement = upsert(conn, archive_changes)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["listing", "number"], set_={"version": statement.excluded.version}
        ),
        [{"listing": listing, "number": n, "version": v} for n, v in sorted(versions.items())],
    )


def touch(conn: Connection, head: Head, numbers: Iterable[int], now: datetime) -> Head:
    """Move the version of these documents (sealed pages, or the open page by its number)."""
    wanted = set(numbers)
    versions: dict[int, int] = {}
    if head.open_number in wanted:
        wanted.discard(head.open_number)
        head = replace(head, open_version=head.open_version + 1, open_changed_at=now)
        versions[head.open_number] = head.open_version
    for chunk in chunked(sorted(wanted)):
        where = (_pages.listing == head.listing, _pages.number.in_(chunk))
        conn.execute(
            update(archive_pages)
            .where(*where)
            .values(version=_pages.version + 1, changed_at=now)
        )
        for row in conn.execute(select(_pages.number, _pages.version).where(*where)):
            versions[row.number] = row.version
    record_changes(conn, head.listing, versions)
    return head


