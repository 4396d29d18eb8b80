"""Articles: storing a source's batch by its plan, and listing, counting and searching.

A source's batch is stored in one write transaction together with the fetch
validators that produced it, so a crash either keeps both or neither: the next
run re-fetches instead of trusting an ETag whose articles were never saved.
What the batch does is decided by ``plan.plan_batch`` from what is read here
first; this module only reads and applies.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, case, delete, func, insert, literal, or_, select, update

from feedsvc.model import Article, StoreResult, Validators
from feedsvc.store.engine import Database, chunked
from feedsvc.store.plan import (
    Action,
    KnownItem,
    Plan,
    StoredStory,
    StoryWrite,
    lookups_for,
    plan_batch,
)
from feedsvc.store.rows import from_row, to_row
from feedsvc.store.schedule import record_fetch
from feedsvc.store.schema import UTCDateTime, article_topics, articles, items
from feedsvc.store.sources import FetchRecord
from feedsvc.text import one_line

_NOT_COLUMNS = ("topics",)  # a table of its own
# Fields of the story model (issues 10, 11) that have no column yet: stored as empty.
_NOT_STORED_YET: dict[str, Any] = {
    "enclosures": (),
    "image": None,
    "correction": None,
    "origin": None,
    "retracted": None,
}
_IDENTITY = ("id", "source", "guid", "first_seen")  # never rewritten


class ArticleStore(Database):
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
            plan = _plan(conn, source_id, batch)
            _apply(conn, source_id, plan, now)
            fetch = FetchRecord(
                now,
                "ok",
                status,
                new=plan.count(Action.NEW),
                updated=plan.count(Action.UPDATED),
                duration_ms=duration_ms,
            )
            record_fetch(conn, source_id, fetch, validators, content_digest)
            return StoreResult(
                new=fetch.new,
                updated=fetch.updated,
                unchanged=plan.count(Action.UNCHANGED),
                merged=plan.count(Action.MERGED),
                skipped=plan.count(Action.SKIPPED),
                changed_ids=plan.changed_ids,
                touched=plan.touched,
                merges=tuple(
                    f"item {one_line(d.guid, 120)!r} merged into the story {d.article_id}"
                    for d in plan.decisions
                    if d.action is Action.MERGED
                ),
            )

        return self.transact(work)

    def list_articles(
        self,
        desk: str | None = None,
        topic: str | None = None,
        source: str | None = None,
        limit: int | None = 50,
        offset: int = 0,
    ) -> list[Article]:
        """Newest first; ties broken by id so every listing is deterministic."""
        query = _newest_first(_filtered(select(articles), desk, topic, source)).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return _articles(conn, query)

    def article(self, article_id: str) -> Article | None:
        """One story by its id, or None when there is none.

        (Until the story model lands: only a story's own id; a merged copy's id
        is not resolved to its story, and nothing is retracted yet.)
        """
        query = select(articles).where(articles.c.id == article_id)
        with self.engine.connect() as conn:
            found = _articles(conn, query)
        return found[0] if found else None

    def count_articles(
        self, desk: str | None = None, topic: str | None = None, source: str | None = None
    ) -> int:
        query = _filtered(select(func.count()).select_from(articles), desk, topic, source)
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
        query = _newest_first(query).offset(offset).limit(limit)
        with self.engine.connect() as conn:
            return _articles(conn, query), conn.execute(counting).scalar_one()


# -- reading what the planner needs ------------------------------------------------------


def _plan(conn: Connection, source_id: str, batch: Sequence[Article]) -> Plan:
    known = {
        row.guid: KnownItem(row.article_id, row.fingerprint)
        for row in conn.execute(
            select(items.c.guid, items.c.article_id, items.c.fingerprint).where(
                items.c.source == source_id
            )
        )
    }
    needs = lookups_for(batch, known)
    owners: dict[str, str] = {}
    for urls in chunked(sorted(needs.urls)):
        query = select(articles.c.url, articles.c.id).where(articles.c.url.in_(urls))
        owners.update((row.url, row.id) for row in conn.execute(query))
    stories = _stories(conn, sorted(needs.article_ids | set(owners.values())))
    return plan_batch(batch, known, owners, stories)


def _stories(conn: Connection, ids: list[str]) -> dict[str, StoredStory]:
    desks: dict[str, str] = {}
    for chunk in chunked(ids):
        query = select(articles.c.id, articles.c.desk).where(articles.c.id.in_(chunk))
        desks.update((row.id, row.desk) for row in conn.execute(query))
    topics = _topics_of(conn, list(desks))
    return {
        story: StoredStory(desk, frozenset(topics.get(story, ()))) for story, desk in desks.items()
    }


def _topics_of(conn: Connection, ids: list[str]) -> dict[str, tuple[str, ...]]:
    found: dict[str, list[str]] = {}
    for chunk in chunked(ids):
        query = (
            select(article_topics.c.article_id, article_topics.c.topic)
            .where(article_topics.c.article_id.in_(chunk))
            .order_by(article_topics.c.article_id, article_topics.c.topic)
        )
        for row in conn.execute(query):
            found.setdefault(row.article_id, []).append(row.topic)
    return {key: tuple(value) for key, value in found.items()}


# -- applying a plan ----------------------------------------------------------------------


def _apply(conn: Connection, source_id: str, plan: Plan, now: datetime) -> None:
    """Write the plan. Its URL claims never collide, so the order is only the foreign keys'."""
    if plan.inserts:
        conn.execute(
            insert(articles),
            [{**_article_row(write.article), "first_seen": now} for write in plan.inserts],
        )
    for write in plan.updates:
        conn.execute(
            update(articles).where(articles.c.id == write.article.id).values(_rewrite(write, now))
        )
    if plan.updates:
        rewritten = [write.article.id for write in plan.updates]
        for chunk in chunked(rewritten):
            conn.execute(delete(article_topics).where(article_topics.c.article_id.in_(chunk)))
    written = [(write.article.id, write.topics) for write in (*plan.inserts, *plan.updates)]
    topic_rows = [
        {"article_id": story, "topic": topic}
        for story, topics in (*written, *plan.topic_unions)
        for topic in sorted(topics)
    ]
    if topic_rows:
        conn.execute(insert(article_topics), topic_rows)
    if plan.new_items:
        conn.execute(
            insert(items), [{"source": source_id, **to_row(link)} for link in plan.new_items]
        )
    for link in plan.seen_items:
        conn.execute(
            update(items)
            .where(items.c.source == source_id, items.c.guid == link.guid)
            .values(fingerprint=link.fingerprint)
        )


def _article_row(article: Article) -> dict[str, Any]:
    return to_row(article, omit=(*_NOT_COLUMNS, *_NOT_STORED_YET))


def _rewrite(write: StoryWrite, now: datetime) -> dict[str, Any]:
    """The columns an update sets: all but the identity, and what the plan keeps.

    A rewrite is a change readers must see, so ``updated`` moves forward: the
    source's own update time when it is newer than the stored one, else the
    time the change was seen (a wire file edited without a new ``Updated :``).
    """
    keep = set(_IDENTITY)
    if write.keep_url:
        keep.add("url")
    if write.keep_published:
        keep.add("published")
    values = {
        name: value for name, value in _article_row(write.article).items() if name not in keep
    }
    given = literal(write.article.updated, UTCDateTime())
    values["updated"] = case((articles.c.updated < given, given), else_=literal(now, UTCDateTime()))
    return values


# -- listing ------------------------------------------------------------------------------


def _articles(conn: Connection, query: Select[Any]) -> list[Article]:
    rows = conn.execute(query).all()
    topics = _topics_of(conn, [row.id for row in rows])
    return [
        from_row(Article, row, topics=topics.get(row.id, ()), **_NOT_STORED_YET) for row in rows
    ]


def _newest_first(query: Select[Any]) -> Select[Any]:
    return query.order_by(articles.c.published.desc(), articles.c.id.desc())


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


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
