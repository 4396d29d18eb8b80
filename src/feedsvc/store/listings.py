"""Reading stories as readers see them: listings, counts, search, one story, its copies,
and the tombstones of the retracted ones.

A listing (``all``, a desk, a topic) is read from its membership rows, newest
first by (published, story id), which is the order of their index: the newest N
of a feed, or the page after a (published, id) key, is a walk down one index
however many stories there are, never a sort of the table. Each row joins its
story and the copy the story shows, both by primary key.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, FromClause, Select, and_, false, func, select, true, tuple_

from feedsvc.archive import Key
from feedsvc.model import Article, Tombstone
from feedsvc.store.archive_rows import key_above, key_below, key_bound
from feedsvc.store.copies import article_from, load_topics, story_of_copy
from feedsvc.store.election import listing_for, topic_listing
from feedsvc.store.engine import Database
from feedsvc.store.schema import copies, memberships, stories
from feedsvc.store.search import matching
from feedsvc.store.stories import retraction_of

SMALLEST_WINDOW = timedelta(hours=6)
LARGEST_WINDOW = timedelta(days=1024)
"""How far back from its top a search looks at first and at most, before looking at all."""
FEW_MATCHES = 256
"""Matches few enough to sort all of them: such a search skips the windows."""
MAX_TOMBSTONES = 100
"""Most tombstones one feed carries (the newest): a mass retraction cannot bloat it."""

_COPY = "c_"
_STORY = "s_"
_STORY_COLUMNS = (
    "id",
    "entry_id",
    "published",
    "updated",
    "topics",
    "retracted_at",
    "retracted_reason",
    "retracted_by",
)
_others = copies.alias("other_copies")
_also = memberships.alias("also_listed")


def _columns() -> list[Any]:
    return [
        *(column.label(_COPY + column.name) for column in copies.c),
        *(stories.c[name].label(_STORY + name) for name in _STORY_COLUMNS),
    ]


def _shown() -> FromClause:
    return stories.join(copies, copies.c.id == stories.c.shown)


def story_article(row: Any) -> Article:
    """The Article a listing row stands for: the story's id, times, topics and state,
    with the content of the copy it shows."""
    return article_from(
        row,
        _COPY,
        id=row.s_id,
        topics=load_topics(row.s_topics),
        published=row.s_published,
        updated=row.s_updated,
        entry_id=row.s_entry_id,
        retracted=retraction_of(row, _STORY),
    )


def _found_stories(found: Any) -> FromClause:
    """Stories whose shown copy is in ``found`` (a CTE of copy ids), that CTE first: the
    full-text index's matches lead, so a rare word costs its few matches, never a walk
    of the listing testing every story (which the planner would pick, misjudging it)."""
    return found.join(copies, copies.c.id == found.c.copy_id).join(
        stories, and_(stories.c.id == copies.c.story_id, stories.c.shown == copies.c.id)
    )


def _live(
    selected: Select[Any],
    desk: str | None,
    topic: str | None,
    source: str | None,
    found: Any = None,
) -> Select[Any]:
    """Stories live in the listing these filters name, through its membership rows."""
    listing = listing_for(desk, topic)
    if found is None:
        joined = memberships.join(stories, stories.c.id == memberships.c.story_id).join(
            copies, copies.c.id == stories.c.shown
        )
    else:
        joined = _found_stories(found).join(memberships, memberships.c.story_id == stories.c.id)
    query = selected.select_from(joined).where(
        memberships.c.listing == listing, memberships.c.live == true()
    )
    if desk is not None and topic is not None:
        query = query.where(
            memberships.c.story_id.in_(
                select(_also.c.story_id).where(
                    _also.c.listing == topic_listing(topic), _also.c.live == true()
                )
            )
        )
    if source is not None:
        query = query.where(
            memberships.c.story_id.in_(
                select(_others.c.story_id).where(
                    _others.c.source == source, _others.c.withdrawn_at.is_(None)
                )
            )
        )
    return query


def _retracted(
    selected: Select[Any],
    desk: str | None,
    topic: str | None,
    source: str | None,
    found: Any = None,
) -> Select[Any]:
    """Retracted stories; their membership rows (not live) still say where they were."""
    joined = _shown() if found is None else _found_stories(found)
    query = selected.select_from(joined).where(stories.c.retracted_at.is_not(None))
    for listing in {listing_for(desk=desk), listing_for(topic=topic)} - {"all"}:
        query = query.where(
            stories.c.id.in_(select(_also.c.story_id).where(_also.c.listing == listing))
        )
    if source is not None:
        query = query.where(
            stories.c.id.in_(select(_others.c.story_id).where(_others.c.source == source))
        )
    return query


def _filtered(
    selected: Select[Any],
    desk: str | None,
    topic: str | None,
    source: str | None,
    retracted: bool,
    found: Any = None,
) -> Select[Any]:
    return (_retracted if retracted else _live)(selected, desk, topic, source, found)


def _before(query: Select[Any], before: Key | None, retracted: bool) -> Select[Any]:
    """Only stories keyed below ``before`` (a cursor's key): the next page, by the index."""
    if before is None:
        return query
    if retracted:
        return query.where(tuple_(stories.c.published, stories.c.id) < key_bound(before))
    return query.where(key_below(before, inclusive=False))


def _newest_first(query: Select[Any], retracted: bool) -> Select[Any]:
    if retracted:
        return query.order_by(stories.c.published.desc(), stories.c.id.desc())
    return query.order_by(memberships.c.published.desc(), memberships.c.story_id.desc())


def search_windows(
    sampled: int, oldest: datetime | None, newest: datetime | None, limit: int
) -> tuple[timedelta | None, ...]:
    """The windows of time a search looks in, back from its top; ``None`` is "all".

    ``sampled`` matches (at most ``FEW_MATCHES``, read in the index's order, not by
    time) spanned ``oldest`` to ``newest``. Fewer than ``FEW_MATCHES`` in all: no
    windows, their sort is cheap. Otherwise the sample's density says how far back
    twice a page of matches should lie, so the first window usually fills the
    page in one look; each next one is four times larger, up to ``LARGEST_WINDOW``,
    then everything, so a wrong guess costs a look more, never a wrong answer.
    """
    if sampled < FEW_MATCHES or oldest is None or newest is None:
        return (None,)
    per_match = (newest - oldest) / sampled
    window = min(max(per_match * 2 * max(limit, 1), SMALLEST_WINDOW), LARGEST_WINDOW)
    windows: list[timedelta | None] = []
    while window < LARGEST_WINDOW:
        windows.append(window)
        window *= 4
    return (*windows, LARGEST_WINDOW, None)


def _sample(conn: Connection, dialect: str, text: str) -> tuple[int, Any, Any]:
    """How many of ``text``'s matches one look at the index gives (at most
    ``FEW_MATCHES``), and the oldest and newest of their times."""
    probe = select(copies.c.published).where(matching(dialect, text)).limit(FEW_MATCHES).subquery()
    found = select(func.count(), func.min(probe.c.published), func.max(probe.c.published))
    count, oldest, newest = conn.execute(found.select_from(probe)).one()
    return int(count), oldest, newest


def _all_matches(dialect: str, text: str | None) -> Any:
    if text is None:
        return None
    return (
        select(copies.c.id.label("copy_id"))
        .where(matching(dialect, text))
        .cte("found")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )


class Listings(Database):
    def list_articles(
        self,
        desk: str | None = None,
        topic: str | None = None,
        source: str | None = None,
        limit: int | None = 50,
        offset: int = 0,
        *,
        retracted: bool = False,
        before: Key | None = None,
    ) -> list[Article]:
        """Live stories newest first (ties broken by id), or only retracted ones.

        ``source``: stories a copy of that source is in (present, for live ones).
        ``before``: only those keyed below it (a cursor's key), the way to page.
        """
        query = _filtered(select(*_columns()), desk, topic, source, retracted)
        query = _newest_first(_before(query, before, retracted), retracted).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [story_article(row) for row in conn.execute(query)]

    def list_range(
        self,
        listing: str,
        above: Key | None,
        below: Key | None = None,
        *,
        inclusive: bool = True,
        limit: int,
    ) -> list[Article]:
        """A listing's live stories keyed above ``above`` and below ``below`` (or at it,
        when ``inclusive``), newest first: an archive page, or a current document.
        ``listing`` is ``all``, ``desks/<id>`` or ``topics/<id>``; None bounds nothing."""
        query = (
            select(*_columns())
            .select_from(
                memberships.join(stories, stories.c.id == memberships.c.story_id).join(
                    copies, copies.c.id == stories.c.shown
                )
            )
            .where(memberships.c.listing == listing, memberships.c.live == true())
        )
        if above is not None:
            query = query.where(key_above(above))
        if below is not None:
            query = query.where(key_below(below, inclusive))
        query = _newest_first(query, retracted=False).limit(limit)
        with self.engine.connect() as conn:
            return [story_article(row) for row in conn.execute(query)]

    def count_articles(
        self,
        desk: str | None = None,
        topic: str | None = None,
        source: str | None = None,
        *,
        retracted: bool = False,
    ) -> int:
        query = _filtered(select(func.count()), desk, topic, source, retracted)
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one()

    def search_articles(
        self,
        desk: str | None = None,
        topic: str | None = None,
        source: str | None = None,
        text: str | None = None,
        limit: int = 50,
        offset: int = 0,
        *,
        retracted: bool = False,
        before: Key | None = None,
        total: bool = True,
    ) -> tuple[list[Article], int | None]:
        """``list_articles`` plus a full-text filter on title and summary (``store.search``):
        every word of ``text``, newest first like every listing, never by rank, so a
        cursor pages through matches as through a feed.

        Returns one page and, when ``total``, how many matched in all (None otherwise:
        counting is a walk over every match, which a public page does not pay for).

        The full-text index cannot hand matches out newest first, so a word in
        every tenth story would cost a sort of all of them. Matches are looked
        for in windows of time instead (``search_windows``, back from the cursor
        or the newest story, on the index of copies' ``published``, which is the
        story's key for the copy it shows): the first window that fills the page
        answers, and only a rare word reaches the last, unbounded one, where its
        matches are few. A word with fewer than ``FEW_MATCHES`` matches in all (one
        look at the index, stopped there) skips the windows: its matches are the
        cheap way. An ``offset`` searches everything at once.
        """
        dialect = self.engine.dialect.name
        with self.engine.connect() as conn:
            top = before[0] if before is not None else None
            windows: tuple[timedelta | None, ...] = (None,)
            if text is not None and offset == 0:
                windows = search_windows(*_sample(conn, dialect, text), limit)
                if windows != (None,) and top is None:
                    top = conn.execute(select(func.max(copies.c.published))).scalar()
            for window in windows:
                matched = None
                if text is not None:
                    matches = select(copies.c.id.label("copy_id")).where(matching(dialect, text))
                    if window is not None and top is not None:
                        matches = matches.where(copies.c.published >= top - window)
                    matched = matches.cte("found").prefix_with("MATERIALIZED", dialect="postgresql")
                query = _filtered(select(*_columns()), desk, topic, source, retracted, matched)
                query = _before(query, before, retracted)
                query = _newest_first(query, retracted).offset(offset).limit(limit)
                found = [story_article(row) for row in conn.execute(query)]
                if len(found) >= limit:
                    break
            if not total:
                return found, None
            counting = _filtered(
                select(func.count()), desk, topic, source, retracted, _all_matches(dialect, text)
            )
            return found, conn.execute(counting).scalar_one()

    def article(self, article_id: str) -> Article | None:
        """The story ``article_id`` names: a story's id, or the id of any of its copies.

        A retracted story comes back too, with ``retracted`` set (its page says 410).
        """
        with self.engine.connect() as conn:
            return find_story(conn, article_id)

    def story_copies(self, article_id: str) -> list[Article]:
        """The copies of the story ``article_id`` names that sources carry now, first seen
        first: its provenance. Each with its own id; empty for an unknown id."""
        with self.engine.connect() as conn:
            story = story_of_copy(conn, article_id) or article_id
            query = (
                select(*(column.label(_COPY + column.name) for column in copies.c))
                .where(copies.c.story_id == story, copies.c.withdrawn_at.is_(None))
                .order_by(copies.c.first_seen, copies.c.id)
            )
            return [article_from(row, _COPY) for row in conn.execute(query)]

    def tombstones(
        self,
        since: datetime,
        desk: str | None = None,
        topic: str | None = None,
        limit: int = MAX_TOMBSTONES,
    ) -> list[Tombstone]:
        """The stories retracted since ``since`` that this listing carried, newest first."""
        query = (
            select(stories.c.entry_id, stories.c.retracted_at, stories.c.retracted_reason)
            .select_from(memberships.join(stories, stories.c.id == memberships.c.story_id))
            .where(
                memberships.c.listing == listing_for(desk, topic),
                memberships.c.live == false(),
                stories.c.retracted_at >= since,
            )
            .order_by(stories.c.retracted_at.desc(), stories.c.id.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [
                Tombstone(row.entry_id, row.retracted_at, row.retracted_reason)
                for row in conn.execute(query)
            ]


def find_story(conn: Connection, article_id: str) -> Article | None:
    story = story_of_copy(conn, article_id) or article_id
    row = conn.execute(
        select(*_columns()).select_from(_shown()).where(stories.c.id == story)
    ).first()
    return None if row is None else story_article(row)
