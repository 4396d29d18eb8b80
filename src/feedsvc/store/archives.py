"""Archive pages in the database: settling them at publish time, and what serving one needs.

The policy is ``feedsvc.archive``'s; this is its bookkeeping. Publishing
settles a listing (``settle_archive``): pages are sealed when the stories
below the current document fill one, the newest is unsealed when
retractions leave the current document short, and a page that changed is
split when backfill grew it past ``SPLIT_FACTOR`` pages or dropped when it
emptied. Writing stories marks the pages (and the open page) holding them
in the same transaction (``archive_marks``), so a page's version moves
atomically with its content; a page whose neighbour was replaced is marked
too, since its links change. Marks are also kept in ``archive_changes`` until
publishing has exported them.

The rows and their index walks are ``archive_rows``'. On PostgreSQL,
settling holds an exclusive advisory lock and marking a shared one, so a mark
never looks up pages that a concurrent settle is replacing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import Connection, delete, insert, select

from feedsvc.archive import SPLIT_FACTOR, Key
from feedsvc.store.archive_rows import (
    Head,
    Page,
    live_keys,
    lock,
    newest_keys,
    newest_page,
    page_above,
    page_below,
    page_numbered,
    read_changes,
    read_head,
    record_changes,
    save_head,
    touch,
)
from feedsvc.store.engine import Database
from feedsvc.store.schema import archive_changes, archive_pages

_pages = archive_pages.c


@dataclass(frozen=True, slots=True)
class ArchiveState:
    """A listing's archive after settling: its head, newest sealed page, pending changes."""

    head: Head
    newest: Page | None
    changes: Mapping[int, int]
    """Numbers of documents changed since the last publish, with the version changed to."""
    previous: Head | None = None
    """The head before settling (None the first time): where the open page was."""
    shown: tuple[Key, ...] = ()
    """The keys the current document shows, newest first, as settling saw them."""


@dataclass(frozen=True, slots=True)
class Slot:
    """What one page number of a listing is now, for serving it.

    ``page`` is set for a sealed page and ``is_open`` for the open page's number;
    neither for a number once used and since given up (split away, emptied,
    unsealed). ``lo`` is the previous page's upper key (the range's exclusive
    lower bound), ``prev`` and ``next`` the neighbours' numbers by key.
    """

    head: Head
    page: Page | None = None
    is_open: bool = False
    lo: Key | None = None
    prev: int | None = None
    next: int | None = None



def _seal(conn: Connection, head: Head, hi: Key, now: datetime) -> Head:
    """Seal the open page up to ``hi`` under its number; the next open page takes a new one."""
    number = head.open_number
    conn.execute(
        insert(archive_pages).values(
            listing=head.listing,
            number=number,
            hi_published=hi[0],
            hi_id=hi[1],
            version=1,
            changed_at=now,
        )
    )
    record_changes(conn, head.listing, {number: 1})
    return _renumber_open(conn, head, now)


def _renumber_open(conn: Connection, head: Head, now: datetime) -> Head:
    """The open page gets a number never used: its old one now names something else."""
    head = replace(
        head,
        open_number=head.next_number,
        next_number=head.next_number + 1,
        open_version=head.open_version + 1,
        open_changed_at=now,
    )
    record_changes(conn, head.listing, {head.open_number: head.open_version})
    return head


class Archives(Database):
    def settle_archive(
        self, listing: str, feed_size: int, page_size: int, now: datetime
    ) -> ArchiveState:
        """Bring a listing's pages in line with its stories, before its feed is rendered.

        Changed pages are split or dropped, then the newest pages unsealed while
        the current document would be short of ``feed_size`` stories above them,
        then pages sealed while the stories above the newest page fill a page
        and the current document. The open page then ends where the current
        document begins. Work is bounded by what changed: nothing here reads
        the whole archive.
        """

        def work(conn: Connection) -> ArchiveState:
            lock(conn, exclusive=True)
            before = read_head(conn, listing)
            head = before or Head(listing, 1, 2, None, 0, now)
            for number in sorted(read_changes(conn, listing)):
                head = _reshape(conn, head, number, page_size, now)
            head = _unseal(conn, head, feed_size, now)
            newest = newest_page(conn, listing)
            last = newest.hi if newest is not None else None
            while True:
                keys = live_keys(conn, listing, last, page_size + feed_size)
                if len(keys) < page_size + feed_size:
                    break
                last = keys[page_size - 1]
                head = _seal(conn, head, last, now)
            above = newest_keys(conn, listing, last, feed_size + 1)
            shown = tuple(above[:feed_size])
            boundary = shown[-1] if len(above) > feed_size else None
            if boundary != head.boundary:
                head = touch(conn, replace(head, boundary=boundary), [head.open_number], now)
            save_head(conn, head, before)
            newest = newest_page(conn, listing)
            return ArchiveState(head, newest, read_changes(conn, listing), before, shown)

        return self.transact(work)

    def open_archive(self, listing: str, boundary: Key | None, now: datetime) -> ArchiveState:
        """Record the current document's oldest key as published (None: no open page),
        when a story changed between settling and reading the current document."""

        def work(conn: Connection) -> ArchiveState:
            lock(conn, exclusive=True)
            head = read_head(conn, listing)
            if head is None:
                raise LookupError(f"archive of {listing} opened before it was settled")
            if head.boundary != boundary:
                changed = touch(conn, replace(head, boundary=boundary), [head.open_number], now)
                save_head(conn, changed, head)
                head = changed
            return ArchiveState(head, newest_page(conn, listing), read_changes(conn, listing))

        return self.transact(work)

    def clear_archive_changes(self, listing: str, done: Mapping[int, int]) -> None:
        """Forget changes publishing has handled, unless a newer one came in meanwhile."""
        if not done:
            return

        def work(conn: Connection) -> None:
            for number, version in done.items():
                conn.execute(
                    delete(archive_changes).where(
                        archive_changes.c.listing == listing,
                        archive_changes.c.number == number,
                        archive_changes.c.version <= version,
                    )
                )

        self.transact(work)

    def archive_slot(self, listing: str, number: int) -> Slot | None:
        """What page ``number`` of ``listing`` is now; None for a number never given."""
        with self.engine.connect() as conn:
            head = read_head(conn, listing)
            if head is None or number >= head.next_number:
                return None
            page = page_numbered(conn, listing, number)
            if page is not None:
                below = page_below(conn, listing, page.hi)
                above = page_above(conn, listing, page.hi)
                return Slot(
                    head,
                    page,
                    lo=below.hi if below is not None else None,
                    prev=below.number if below is not None else None,
                    next=above.number if above is not None else head.open_number,
                )
            if number != head.open_number:
                return Slot(head)
            newest = newest_page(conn, listing)
            if newest is None:
                return Slot(head, is_open=True)
            return Slot(head, is_open=True, lo=newest.hi, prev=newest.number)

    def archive_numbers(self, listing: str) -> list[int]:
        """Every sealed page's number, oldest range first (a full static export)."""
        query = (
            select(_pages.number)
            .where(_pages.listing == listing)
            .order_by(_pages.hi_published, _pages.hi_id)
        )
        with self.engine.connect() as conn:
            return list(conn.execute(query).scalars())

    def archive_state(self, listing: str) -> ArchiveState | None:
        with self.engine.connect() as conn:
            head = read_head(conn, listing)
            if head is None:
                return None
            return ArchiveState(head, newest_page(conn, listing), read_changes(conn, listing))


def _reshape(conn: Connection, head: Head, number: int, page_size: int, now: datetime) -> Head:
    """A changed sealed page that emptied is dropped; one grown past its bound is split."""
    page = page_numbered(conn, head.listing, number)
    if page is None:
        return head
    below = page_below(conn, head.listing, page.hi)
    lo = below.hi if below is not None else None
    most = SPLIT_FACTOR * page_size
    keys = live_keys(conn, head.listing, lo, most + 1, through=page.hi)
    if keys and len(keys) <= most:
        return head
    neighbours = [below.number] if below is not None else []
    if not keys:  # its range joins the next page's, which holds nothing more
        above = page_above(conn, head.listing, page.hi)
        conn.execute(
            delete(archive_pages).where(
                _pages.listing == head.listing, _pages.number == page.number
            )
        )
        neighbours.append(above.number if above is not None else head.open_number)
        return touch(conn, head, neighbours, now)
    keys = live_keys(conn, head.listing, lo, None, through=page.hi)
    cuts = [keys[start + page_size - 1] for start in range(0, len(keys) - page_size, page_size)]
    for hi in cuts:  # the oldest stories go to new pages; the page keeps the newest
        conn.execute(
            insert(archive_pages).values(
                listing=head.listing,
                number=head.next_number,
                hi_published=hi[0],
                hi_id=hi[1],
                version=1,
                changed_at=now,
            )
        )
        record_changes(conn, head.listing, {head.next_number: 1})
        head = replace(head, next_number=head.next_number + 1)
    return touch(conn, head, [*neighbours, page.number], now)


def _unseal(conn: Connection, head: Head, feed_size: int, now: datetime) -> Head:
    """Give the newest page back to the open page while the current document would be short.

    The current document shows the newest ``feed_size`` live stories; they must
    all lie above the newest page, or a story would be in both. After
    retractions that is no longer so, and the newest page's stories are
    needed above it again.
    """
    newest = newest_page(conn, head.listing)
    while newest is not None:
        if len(live_keys(conn, head.listing, newest.hi, feed_size)) >= feed_size:
            break
        conn.execute(
            delete(archive_pages).where(
                _pages.listing == head.listing, _pages.number == newest.number
            )
        )
        head = _renumber_open(conn, head, now)
        newest = newest_page(conn, head.listing)
        if newest is not None:  # its next-archive link now names the new open page
            head = touch(conn, head, [newest.number], now)
    return head


