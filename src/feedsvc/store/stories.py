"""Stories and their memberships: reading them for the election, writing what it decided.

A story row says what the story shows (the elected copy, its times, the
topics of all its copies) and whether it is retracted; its membership rows
say which listings carry it, each with the listing's sort key, so every feed
reads the newest N of one index. Both are only ever written from a settled
``StoryState`` (``election.settle``), here, whoever decided the change: a
batch, a source's removal, an operator.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any, Literal, cast

from sqlalchemy import Connection, Row, bindparam, delete, insert, select, update

from feedsvc.model import Retraction
from feedsvc.store.archive_marks import live_positions, mark_positions
from feedsvc.store.copies import dump_topics, load_topics, members_of
from feedsvc.store.election import SourceRank, StoredStory, StoryState, site_host
from feedsvc.store.engine import chunked
from feedsvc.store.plan import StoryWrite
from feedsvc.store.schema import memberships, sources, stories


def retraction_of(row: Row[Any], prefix: str = "") -> Retraction | None:
    values = row._mapping
    at = values[prefix + "retracted_at"]
    if at is None:
        return None
    by = "withdrawn" if values[prefix + "retracted_by"] == "withdrawn" else "operator"
    return Retraction(at, values[prefix + "retracted_reason"], cast(Literal["operator"], by))


def _retraction_columns(retraction: Retraction | None) -> dict[str, Any]:
    if retraction is None:
        return {"retracted_at": None, "retracted_reason": None, "retracted_by": None}
    return {
        "retracted_at": retraction.at,
        "retracted_reason": retraction.reason,
        "retracted_by": retraction.by,
    }


def read_stories(
    conn: Connection, ids: Iterable[str] = (), identities: Iterable[str] = ()
) -> dict[str, StoredStory]:
    """These stories, and the ones claiming these identity URLs, each with all its copies."""
    rows: dict[str, Row[Any]] = {}
    for column, values in ((stories.c.id, ids), (stories.c.identity_url, identities)):
        for chunk in chunked(sorted(set(values))):
            for row in conn.execute(select(stories).where(column.in_(chunk))):
                rows[row.id] = row
    listings: dict[str, set[str]] = {}
    for chunk in chunked(sorted(rows)):
        query = select(memberships.c.story_id, memberships.c.listing).where(
            memberships.c.story_id.in_(chunk)
        )
        for found in conn.execute(query):
            listings.setdefault(found.story_id, set()).add(found.listing)
    members = members_of(conn, rows)
    return {
        story: StoredStory(
            StoryState(
                id=row.id,
                identity=row.identity_url,
                entry_id=row.entry_id,
                shown=row.shown,
                published=row.published,
                updated=row.updated,
                topics=frozenset(load_topics(row.topics)),
                listings=frozenset(listings.get(story, ())),
                retraction=retraction_of(row),
            ),
            tuple(members.get(story, ())),
        )
        for story, row in rows.items()
    }


def source_ranks(conn: Connection) -> dict[str, SourceRank]:
    """Every registered source's priority and feed site, from its stored settings."""
    ranks: dict[str, SourceRank] = {}
    for row in conn.execute(select(sources.c.id, sources.c.config)):
        try:
            config = json.loads(row.config) if row.config else {}
        except ValueError:
            config = {}
        priority = config.get("priority")
        ranks[row.id] = SourceRank(
            priority if isinstance(priority, int) else 0,
            site_host(config.get("url") if isinstance(config.get("url"), str) else None),
        )
    return ranks


def _story_columns(state: StoryState) -> dict[str, Any]:
    return {
        "identity_url": state.identity,
        "shown": state.shown,
        "published": state.published,
        "updated": state.updated,
        "topics": dump_topics(state.topics),
        **_retraction_columns(state.retraction),
    }


def write_stories(conn: Connection, writes: Sequence[StoryWrite], now: Any) -> None:
    """Story rows as settled, then their memberships. Identity URLs are let go first,
    so two stories trading them in one batch never meet the unique index halfway.
    The archive documents that held a visibly changed story, or hold it now, are
    marked changed in the same transaction."""
    shown = [write.state for write in writes if write.visible]
    places = live_positions(conn, [state.id for state in shown]) if shown else set()
    moved = [write.state.id for write in writes if write.identity_changed]
    for chunk in chunked(moved):
        conn.execute(update(stories).where(stories.c.id.in_(chunk)).values(identity_url=None))
    created = [
        {
            "id": write.state.id,
            "entry_id": write.state.entry_id,
            "created_at": now,
            **_story_columns(write.state),
        }
        for write in writes
        if write.created
    ]
    if created:
        conn.execute(insert(stories), created)
    changed = [
        {"b_id": write.state.id, **_story_columns(write.state)}
        for write in writes
        if not write.created
    ]
    if changed:
        # executemany: the SET clause is the parameters' column names
        conn.execute(update(stories).where(stories.c.id == bindparam("b_id")), changed)
    write_memberships(conn, [write.state for write in writes if write.listings_changed])
    places.update(
        (listing, state.published, state.id) for state in shown for listing in state.live_listings()
    )
    mark_positions(conn, places, now)


def write_memberships(conn: Connection, states: Sequence[StoryState]) -> None:
    """Replace these stories' membership rows with their listings, sort key and live flag."""
    for chunk in chunked([state.id for state in states]):
        conn.execute(delete(memberships).where(memberships.c.story_id.in_(chunk)))
    rows = [
        {"listing": listing, "story_id": state.id, "published": state.published, "live": state.live}
        for state in states
        for listing in sorted(state.listings)
    ]
    if rows:
        conn.execute(insert(memberships), rows)
