"""stories, copies and memberships replace articles, items and article_topics

Every article becomes a story (same id, so every link and feed entry id stays)
holding one copy per (source, guid) that pointed at it. The old model merged
items of one source sharing a link (a podcast whose episodes all link to the
show): each such extra item becomes a story of its own again, with no
identity URL. Copies that used to be merged kept no content of their own:
they get the story's, with an empty fingerprint, so the next fetch of their
source rewrites them with what the source really says.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import sqlalchemy as sa
from alembic import op

from feedsvc.store.schema import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

CHUNK = 1000
_URN_SAFE = "()+,.:=@;$_!*'-"


def upgrade() -> None:
    _create_tables()
    _migrate_rows(op.get_bind())
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_items_article_id"))
    op.drop_table("items")
    with op.batch_alter_table("article_topics", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_article_topics_topic_article_id"))
    op.drop_table("article_topics")
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_articles_published_id"))
        batch_op.drop_index(batch_op.f("ix_articles_desk_published"))
    op.drop_table("articles")


def _create_tables() -> None:
    op.create_table(
        "stories",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("identity_url", sa.Text(), nullable=True),
        sa.Column("entry_id", sa.Text(), nullable=False),
        sa.Column("shown", sa.String(length=64), nullable=False),
        sa.Column("published", UTCDateTime(), nullable=False),
        sa.Column("updated", UTCDateTime(), nullable=False),
        sa.Column("topics", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("retracted_at", UTCDateTime(), nullable=True),
        sa.Column("retracted_reason", sa.Text(), nullable=True),
        sa.Column("retracted_by", sa.String(length=10), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stories")),
        sa.UniqueConstraint("identity_url", name=op.f("uq_stories_identity_url")),
    )
    with op.batch_alter_table("stories", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_stories_published_id"), ["published", "id"])
        batch_op.create_index(batch_op.f("ix_stories_retracted_at"), ["retracted_at"])
    op.create_table(
        "copies",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("guid", sa.Text(), nullable=False),
        sa.Column("story_id", sa.String(length=64), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("identity_url", sa.Text(), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("content_html", sa.Text(), nullable=False),
        sa.Column("author", sa.Text(), nullable=True),
        sa.Column("desk", sa.String(length=100), nullable=False),
        sa.Column("topics", sa.Text(), nullable=False),
        sa.Column("language", sa.String(length=35), nullable=True),
        sa.Column("published", UTCDateTime(), nullable=False),
        sa.Column("updated", UTCDateTime(), nullable=False),
        sa.Column("dated", sa.Boolean(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("enclosures", sa.Text(), nullable=False),
        sa.Column("image", sa.Text(), nullable=True),
        sa.Column("correction", sa.Text(), nullable=True),
        sa.Column("origin", sa.Text(), nullable=True),
        sa.Column("first_seen", UTCDateTime(), nullable=False),
        sa.Column("withdrawn_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["story_id"],
            ["stories.id"],
            name=op.f("fk_copies_story_id_stories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_copies")),
        sa.UniqueConstraint("source", "guid", name=op.f("uq_copies_source_guid")),
    )
    with op.batch_alter_table("copies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_copies_story_id"), ["story_id"])
    op.create_table(
        "memberships",
        sa.Column("listing", sa.String(length=110), nullable=False),
        sa.Column("story_id", sa.String(length=64), nullable=False),
        sa.Column("published", UTCDateTime(), nullable=False),
        sa.Column("live", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["story_id"],
            ["stories.id"],
            name=op.f("fk_memberships_story_id_stories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("listing", "story_id", name=op.f("pk_memberships")),
    )
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_memberships_listing_live_published_story_id"),
            ["listing", "live", "published", "story_id"],
        )
        batch_op.create_index(batch_op.f("ix_memberships_story_id"), ["story_id"])


# -- the rows --------------------------------------------------------------------------

_meta = sa.MetaData()
_articles = sa.Table(
    "articles",
    _meta,
    *(sa.Column(name, sa.Text) for name in ("id", "source", "guid", "url", "title", "summary")),
    *(sa.Column(name, sa.Text) for name in ("content_html", "author", "desk", "language")),
    sa.Column("published", UTCDateTime),
    sa.Column("updated", UTCDateTime),
    sa.Column("dated", sa.Boolean),
    sa.Column("fingerprint", sa.Text),
    sa.Column("first_seen", UTCDateTime),
)
_topics = sa.Table("article_topics", _meta, sa.Column("article_id"), sa.Column("topic"))
_items = sa.Table(
    "items", _meta, sa.Column("source"), sa.Column("guid"), sa.Column("article_id"),
    sa.Column("fingerprint"),
)  # fmt: skip
_sources = sa.Table("sources", _meta, sa.Column("id"), sa.Column("config"))
_stories = sa.Table(
    "stories",
    _meta,
    *(sa.Column(name) for name in ("id", "identity_url", "entry_id", "shown", "topics")),
    *(sa.Column(name, UTCDateTime) for name in ("published", "updated", "created_at")),
)
_copies = sa.Table(
    "copies",
    _meta,
    *(sa.Column(name) for name in ("id", "source", "guid", "story_id", "url", "identity_url")),
    *(sa.Column(name) for name in ("title", "summary", "content_html", "author", "desk")),
    *(sa.Column(name) for name in ("topics", "language", "fingerprint", "enclosures")),
    sa.Column("dated", sa.Boolean),
    *(sa.Column(name, UTCDateTime) for name in ("published", "updated", "first_seen")),
)
_memberships = sa.Table(
    "memberships",
    _meta,
    sa.Column("listing"),
    sa.Column("story_id"),
    sa.Column("published", UTCDateTime),
    sa.Column("live", sa.Boolean),
)


def _copy_id(source: str, guid: str) -> str:
    """``normalise.article_id`` as it was when this migration was written."""
    digest = hashlib.sha256(f"{source}\x00{guid}".encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:24]


def _entry_id(story_id: str, guid: str, url: str | None) -> str:
    if url and guid == url:
        return guid
    return "urn:feedsvc:article:" + quote(story_id, safe=_URN_SAFE)


def _site_root(url: str) -> bool:
    parts = urlsplit(url)
    return parts.path in ("", "/") and not parts.query


def _source_desks(conn: sa.Connection) -> dict[str, str]:
    desks: dict[str, str] = {}
    for row in conn.execute(sa.select(_sources.c.id, _sources.c.config)):
        try:
            desk = json.loads(row.config or "{}").get("desk")
        except ValueError:
            continue
        if isinstance(desk, str):
            desks[row.id] = desk
    return desks


def _migrate_rows(conn: sa.Connection) -> None:
    topics: dict[str, list[str]] = {}
    for row in conn.execute(sa.select(_topics.c.article_id, _topics.c.topic)):
        topics.setdefault(row.article_id, []).append(row.topic)
    items: dict[str, list[Any]] = {}
    query = sa.select(_items).order_by(_items.c.article_id, _items.c.source, _items.c.guid)
    for row in conn.execute(query):
        items.setdefault(row.article_id, []).append(row)
    desks = _source_desks(conn)
    stories: list[dict[str, Any]] = []
    copies: list[dict[str, Any]] = []
    members: list[dict[str, Any]] = []
    for article in conn.execute(sa.select(_articles)):
        for story, story_copies in _story_rows(
            article, items.get(article.id, []), sorted(topics.get(article.id, [])), desks
        ):
            stories.append(story)
            copies.extend(story_copies)
            listings = {"all"} | {f"desks/{c['desk']}" for c in story_copies}
            listings |= {f"topics/{t}" for t in json.loads(story["topics"])}
            members.extend(
                {"listing": listing, "story_id": story["id"], "published": story["published"],
                 "live": True}
                for listing in sorted(listings)
            )  # fmt: skip
    for table, rows in ((_stories, stories), (_copies, copies), (_memberships, members)):
        for chunk in _chunks(rows):
            conn.execute(sa.insert(table), chunk)


def _story_rows(
    article: Any, items: list[Any], topics: list[str], desks: dict[str, str]
) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """The story of one article, and one story more per extra item of a source."""
    by_source: dict[str, list[Any]] = {}
    for item in items:
        by_source.setdefault(item.source, []).append(item)
    own = by_source.get(article.source, [])
    if not any(item.guid == article.guid for item in own):  # a row the old store always had
        own.insert(0, _Item(article.source, article.guid, article.fingerprint))
        by_source[article.source] = own
    shared = len(own) > 1
    identity = article.url
    if not identity or shared or _site_root(identity):
        identity = None
    joined: list[dict[str, Any]] = []
    alone: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
    later = article.first_seen + timedelta(seconds=1)
    for source, source_items in by_source.items():
        first = source_items[0]
        if source == article.source:
            first = next(i for i in source_items if i.guid == article.guid)
        for item in source_items:
            is_own = source == article.source and item.guid == article.guid
            desk = article.desk if is_own else desks.get(source, article.desk)
            copy_id = article.id if is_own else _copy_id(source, item.guid)
            in_story = item is first
            story_id = article.id if in_story else copy_id
            copy = _copy_row(
                article,
                copy_id,
                source,
                item.guid,
                story_id,
                identity if in_story and len(source_items) == 1 else None,
                desk,
                topics,
                article.fingerprint if is_own else "",
                article.first_seen if is_own else later,
            )
            if in_story:
                joined.append(copy)
            else:
                story = _story_row(article, copy_id, item.guid, None, topics)
                alone.append((story, [copy]))
    yield _story_row(article, article.id, article.guid, identity, topics), joined
    yield from alone


class _Item:
    def __init__(self, source: str, guid: str, fingerprint: str) -> None:
        self.source, self.guid, self.fingerprint = source, guid, fingerprint


def _story_row(
    article: Any, story_id: str, guid: str, identity: str | None, topics: list[str]
) -> dict[str, Any]:
    return {
        "id": story_id,
        "identity_url": identity,
        "entry_id": _entry_id(story_id, guid, article.url),
        "shown": story_id,
        "topics": json.dumps(topics, ensure_ascii=False),
        "published": article.published,
        "updated": article.updated,
        "created_at": article.first_seen,
    }


def _copy_row(
    article: Any,
    copy_id: str,
    source: str,
    guid: str,
    story_id: str,
    identity: str | None,
    desk: str,
    topics: list[str],
    fingerprint: str,
    first_seen: Any,
) -> dict[str, Any]:
    return {
        "id": copy_id,
        "source": source,
        "guid": guid,
        "story_id": story_id,
        "url": article.url,
        "identity_url": identity,
        "title": article.title,
        "summary": article.summary,
        "content_html": article.content_html,
        "author": article.author,
        "desk": desk,
        "topics": json.dumps(topics, ensure_ascii=False),
        "language": article.language,
        "fingerprint": fingerprint,
        "enclosures": "[]",
        "dated": article.dated,
        "published": article.published,
        "updated": article.updated,
        "first_seen": first_seen,
    }


def _chunks(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), CHUNK):
        yield rows[start : start + CHUNK]


def downgrade() -> None:
    raise NotImplementedError("0004 cannot be undone: copies hold what articles could not")
