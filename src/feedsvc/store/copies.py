"""Copies: one source's version of one item, as rows of ``copies``, and back.

A copy keeps every field its source gave, so an election or a withdrawal can
show another source's copy without fetching anything. Fields that are lists or
records (topics, enclosures, origin) are JSON columns: they are only ever read
and written whole, with their copy, never searched.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, Row, select

from feedsvc.model import Article, Enclosure, Origin
from feedsvc.store.election import Member
from feedsvc.store.engine import chunked
from feedsvc.store.plan import KnownCopy
from feedsvc.store.rows import to_row
from feedsvc.store.schema import copies

_JSON = ("topics", "enclosures", "origin")
_NOT_COLUMNS = ("retracted", "entry_id")  # the story's, not the copy's
_FIXED = ("id", "source", "guid", "story_id", "first_seen")  # never rewritten


def dump_topics(topics: Iterable[str]) -> str:
    return json.dumps(sorted(set(topics)), ensure_ascii=False)


def load_topics(text: str) -> tuple[str, ...]:
    return tuple(json.loads(text))


def _dump_enclosures(enclosures: Iterable[Enclosure]) -> str:
    return json.dumps(
        [[e.url, e.type, e.length, e.duration] for e in enclosures], ensure_ascii=False
    )


def _load_enclosures(text: str) -> tuple[Enclosure, ...]:
    return tuple(Enclosure(*values) for values in json.loads(text))


def _dump_origin(origin: Origin | None) -> str | None:
    if origin is None:
        return None
    return json.dumps([origin.title, origin.link, origin.id], ensure_ascii=False)


def _load_origin(text: str | None) -> Origin | None:
    return None if text is None else Origin(*json.loads(text))


def copy_row(article: Article, story: str, identity: str | None) -> dict[str, Any]:
    """The ``copies`` row of an article (``first_seen`` and ``withdrawn_at`` are the caller's)."""
    row = to_row(article, omit=(*_JSON, *_NOT_COLUMNS))
    row.update(
        story_id=story,
        identity_url=identity,
        topics=dump_topics(article.topics),
        enclosures=_dump_enclosures(article.enclosures),
        origin=_dump_origin(article.origin),
    )
    return row


def rewritten_columns(
    article: Article, identity: str | None, keep_published: bool
) -> dict[str, Any]:
    """What rewriting a copy sets: all but its identity and first sighting; present again."""
    row = copy_row(article, "", identity)
    for name in _FIXED:
        row.pop(name, None)
    if keep_published:
        row.pop("published")
    row["withdrawn_at"] = None
    return row


def article_from(row: Row[Any], prefix: str = "", **given: Any) -> Article:
    """An Article from a row holding the copy's columns (named ``prefix + column``)."""
    values = row._mapping

    def get(name: str) -> Any:
        return values[prefix + name]

    fields: dict[str, Any] = {
        "id": get("id"),
        "source": get("source"),
        "guid": get("guid"),
        "url": get("url"),
        "title": get("title"),
        "summary": get("summary"),
        "content_html": get("content_html"),
        "author": get("author"),
        "desk": get("desk"),
        "topics": load_topics(get("topics")),
        "published": get("published"),
        "updated": get("updated"),
        "language": get("language"),
        "dated": get("dated"),
        "fingerprint": get("fingerprint"),
        "enclosures": _load_enclosures(get("enclosures")),
        "image": get("image"),
        "correction": get("correction"),
        "origin": _load_origin(get("origin")),
    }
    fields.update(given)
    return Article(**fields)


def known_copies(conn: Connection, source_id: str) -> dict[str, KnownCopy]:
    """Every copy of a source, present or withdrawn, by guid: what a batch is planned against."""
    query = select(
        copies.c.guid,
        copies.c.id,
        copies.c.story_id,
        copies.c.fingerprint,
        copies.c.url,
        copies.c.identity_url,
        copies.c.withdrawn_at,
    ).where(copies.c.source == source_id)
    return {
        row.guid: KnownCopy(
            row.id,
            row.story_id,
            row.fingerprint,
            row.url,
            row.identity_url,
            row.withdrawn_at is None,
        )
        for row in conn.execute(query)
    }


def members_of(conn: Connection, story_ids: Iterable[str]) -> dict[str, list[Member]]:
    """Every copy of these stories, present or withdrawn, as the election sees them."""
    found: dict[str, list[Member]] = {}
    for chunk in chunked(sorted(set(story_ids))):
        query = (
            select(
                copies.c.id,
                copies.c.story_id,
                copies.c.source,
                copies.c.desk,
                copies.c.topics,
                copies.c.published,
                copies.c.updated,
                copies.c.first_seen,
                copies.c.identity_url,
                copies.c.withdrawn_at,
            )
            .where(copies.c.story_id.in_(chunk))
            .order_by(copies.c.story_id, copies.c.id)
        )
        for row in conn.execute(query):
            found.setdefault(row.story_id, []).append(
                Member(
                    id=row.id,
                    source=row.source,
                    desk=row.desk,
                    topics=frozenset(load_topics(row.topics)),
                    published=row.published,
                    updated=row.updated,
                    first_seen=row.first_seen,
                    identity=row.identity_url,
                    present=row.withdrawn_at is None,
                )
            )
    return found


def story_of_copy(conn: Connection, copy_id: str) -> str | None:
    return conn.execute(select(copies.c.story_id).where(copies.c.id == copy_id)).scalar()
