"""Marking archive documents as the stories they hold change, in the writer's transaction.

Storing a story (``stories.write_stories``) marks the page, or the open page,
holding it before and after the change; the purge marks by range, set-based.
A mark moves the document's version (so a rendered copy is dropped) and
records it in ``archive_changes`` (so publishing exports it). Places in the
current document hold no archive document and cost one look at the listing's
head and newest page.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select, true

from feedsvc.archive import Key
from feedsvc.store.archive_rows import (
    lock,
    newest_page,
    one_page,
    page_holding,
    read_head,
    save_head,
    touch,
)
from feedsvc.store.engine import chunked
from feedsvc.store.schema import archive_pages, memberships

_pages = archive_pages.c


def mark_positions(
    conn: Connection, positions: Iterable[tuple[str, datetime, str]], now: datetime
) -> None:
    """Stories at these (listing, published, story id) places changed: move the versions
    of the archive documents that hold them. Places above the open page (in the
    current document) hold no archive document."""
    wanted: dict[str, set[Key]] = {}
    for listing, published, story in positions:
        wanted.setdefault(listing, set()).add((published, story))
    if not wanted:
        return
    lock(conn, exclusive=False)
    for listing in sorted(wanted):
        head = read_head(conn, listing)
        if head is None:
            continue
        newest = newest_page(conn, listing)
        numbers: set[int] = set()
        for key in sorted(wanted[listing]):
            if newest is not None and key <= newest.hi:
                page = page_holding(conn, listing, key)
                if page is not None:
                    numbers.add(page.number)
            elif head.boundary is not None and key < head.boundary:
                numbers.add(head.open_number)
        if numbers:
            save_head(conn, touch(conn, head, numbers, now), head)


def live_positions(conn: Connection, story_ids: Sequence[str]) -> set[tuple[str, datetime, str]]:
    """Where these stories are listed live now, as (listing, published, story id)."""
    found: set[tuple[str, datetime, str]] = set()
    for chunk in chunked(sorted(set(story_ids))):
        query = select(
            memberships.c.listing, memberships.c.published, memberships.c.story_id
        ).where(memberships.c.story_id.in_(chunk), memberships.c.live == true())
        found.update((row.listing, row.published, row.story_id) for row in conn.execute(query))
    return found


def mark_removed(conn: Connection, story_ids: Any, now: datetime) -> None:
    """The stories ``story_ids`` (a subquery) are about to be deleted: mark every archive
    document of their listings whose range meets theirs. Set-based, for the purge: per
    listing, the pages between its oldest and newest removed story (a few more at most)."""
    spans = conn.execute(
        select(
            memberships.c.listing,
            func.min(memberships.c.published),
            func.max(memberships.c.published),
        )
        .where(memberships.c.story_id.in_(story_ids), memberships.c.live == true())
        .group_by(memberships.c.listing)
    ).all()
    if not spans:
        return
    lock(conn, exclusive=False)
    for listing, low, high in sorted(spans):
        head = read_head(conn, listing)
        if head is None:
            continue
        within = select(_pages.number).where(
            _pages.listing == listing, _pages.hi_published >= low, _pages.hi_published <= high
        )
        numbers = set(conn.execute(within).scalars())
        beyond = one_page(
            conn,
            select(archive_pages)
            .where(_pages.listing == listing, _pages.hi_published > high)
            .order_by(_pages.hi_published, _pages.hi_id),
        )
        if beyond is not None:
            numbers.add(beyond.number)
        elif head.boundary is not None:
            numbers.add(head.open_number)
        if numbers:
            save_head(conn, touch(conn, head, numbers, now), head)

