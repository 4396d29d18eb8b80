"""Articles: storing a source's batch by its plan, and listing, counting and searching.

A source's batch is stored in one write transaction together with the fetch
validators that produced it, so a crash either keeps both or neither: the next
run re-fetches instead of trusting an ETag whose articles were never saved.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, delete, func, insert, or_, select, update

from feedsvc.model import Article, StoreResult, Touched, Validators
from feedsvc.store.engine import Database, chunked
from feedsvc.store.rows import from_row, to_row
from feedsvc.store.schedule import record_fetch
from feedsvc.store.schema import article_topics, articles, items
from feedsvc.store.sources import FetchRecord

_NOT_COLUMNS = ("topics",)  # a table of its own
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
            result = _store_articles(conn, source_id, batch, now)
            fetch = FetchRecord(
                now, "ok", status, new=result.new, updated=result.updated, duration_ms=duration_ms
            )
            record_fetch(conn, source_id, fetch, validators, content_digest)
            return result

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


# -- storing a batch -------------------------------------------------------------------------


def _store_articles(
    conn: Connection, source_id: str, batch: Sequence[Article], now: datetime
) -> StoreResult:
    """Insert, update or merge each article; unchanged ones cost no write."""
    known = {
        row.guid: (row.article_id, row.fingerprint)
        for row in conn.execute(
            select(items.c.guid, items.c.article_id, items.c.fingerprint).where(
                items.c.source == source_id
            )
        )
    }
    unique: dict[str, Article] = {}
    for article in batch:
        unique.setdefault(article.guid, article)  # a feed that repeats a guid: first wins
    urls = [a.url for a in unique.values() if a.url and a.guid not in known]
    owners = _owners_by_url(conn, urls)

    new_rows: list[dict[str, Any]] = []
    new_items: list[dict[str, Any]] = []
    new_topics: dict[str, set[str]] = {}
    new = updated = unchanged = merged = 0
    changed: list[str] = []
    stale = [
        known[a.guid][0]
        for a in unique.values()
        if a.guid in known and known[a.guid][1] != a.fingerprint
    ]
    touched = _listed(conn, stale)  # where updated articles were before the change
    for article in unique.values():
        if article.guid in known:
            article_id, fingerprint = known[article.guid]
            if fingerprint == article.fingerprint:
                unchanged += 1
            elif article_id == article.id:
                _update_article(conn, article)
                conn.execute(
                    update(items)
                    .where(items.c.source == source_id, items.c.guid == article.guid)
                    .values(fingerprint=article.fingerprint)
                )
                updated += 1
                changed.append(article.id)
            else:  # another source owns the story; remember we saw the new version
                conn.execute(
                    update(items)
                    .where(items.c.source == source_id, items.c.guid == article.guid)
                    .values(fingerprint=article.fingerprint)
                )
                unchanged += 1
            continue
        owner = owners.get(article.url) if article.url else None
        if owner is not None:
            new_items.append(_item_row(source_id, article, owner))
            if owner in new_topics:  # the owner is new in this very batch
                new_topics[owner] |= set(article.topics)
            elif _add_topics(conn, owner, article.topics):
                changed.append(owner)
            merged += 1
            continue
        new_rows.append(_article_row(article, now))
        new_items.append(_item_row(source_id, article, article.id))
        new_topics[article.id] = set(article.topics)
        if article.url:
            owners[article.url] = article.id  # a later duplicate in this batch merges
        new += 1
        changed.append(article.id)
    if new_rows:
        conn.execute(insert(articles), new_rows)
    if new_items:
        conn.execute(insert(items), new_items)
    topic_rows = [
        {"article_id": article_id, "topic": topic}
        for article_id, topics in new_topics.items()
        for topic in sorted(topics)
    ]
    if topic_rows:
        conn.execute(insert(article_topics), topic_rows)
    if changed:
        touched |= _listed(conn, changed)
    return StoreResult(
        new=new,
        updated=updated,
        unchanged=unchanged,
        merged=merged,
        changed_ids=tuple(changed),
        touched=touched,
    )


def _listed(conn: Connection, ids: Sequence[str]) -> Touched:
    """The desks and topics that list any of these articles."""
    desks: set[str] = set()
    topics: set[str] = set()
    for chunk in chunked(list(ids)):
        desks.update(
            conn.execute(
                select(articles.c.desk).where(articles.c.id.in_(chunk)).distinct()
            ).scalars()
        )
        topics.update(
            conn.execute(
                select(article_topics.c.topic)
                .where(article_topics.c.article_id.in_(chunk))
                .distinct()
            ).scalars()
        )
    return Touched(frozenset(desks), frozenset(topics))


def _owners_by_url(conn: Connection, urls: list[str]) -> dict[str, str]:
    owners: dict[str, str] = {}
    for chunk in chunked(urls):
        for row in conn.execute(
            select(articles.c.url, articles.c.id).where(articles.c.url.in_(chunk))
        ):
            owners[row.url] = row.id
    return owners


def _article_row(article: Article, now: datetime) -> dict[str, Any]:
    return {**to_row(article, omit=_NOT_COLUMNS), "first_seen": now}


def _item_row(source_id: str, article: Article, article_id: str) -> dict[str, Any]:
    return {
        "source": source_id,
        "guid": article.guid,
        "article_id": article_id,
        "fingerprint": article.fingerprint,
    }


def _update_article(conn: Connection, article: Article) -> None:
    keep = {*_IDENTITY, "url", "published"}
    values = {k: v for k, v in to_row(article, omit=_NOT_COLUMNS).items() if k not in keep}
    if article.dated:  # an undated item keeps its first-seen time
        values["published"] = article.published
    if article.url:
        taken = conn.execute(
            select(articles.c.id).where(articles.c.url == article.url, articles.c.id != article.id)
        ).first()
        if taken is None:
            values["url"] = article.url
    conn.execute(update(articles).where(articles.c.id == article.id).values(**values))
    conn.execute(delete(article_topics).where(article_topics.c.article_id == article.id))
    if article.topics:
        conn.execute(
            insert(article_topics),
            [{"article_id": article.id, "topic": t} for t in article.topics],
        )


def _add_topics(conn: Connection, article_id: str, topics: Iterable[str]) -> bool:
    """Union a merged duplicate's topics into the stored story; True if any was new."""
    have = set(
        conn.execute(
            select(article_topics.c.topic).where(article_topics.c.article_id == article_id)
        ).scalars()
    )
    missing = sorted(set(topics) - have)
    if missing:
        conn.execute(
            insert(article_topics), [{"article_id": article_id, "topic": t} for t in missing]
        )
    return bool(missing)


def _topics_of(conn: Connection, ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
    found: dict[str, list[str]] = {}
    for chunk in chunked(list(ids)):
        query = (
            select(article_topics.c.article_id, article_topics.c.topic)
            .where(article_topics.c.article_id.in_(chunk))
            .order_by(article_topics.c.article_id, article_topics.c.topic)
        )
        for row in conn.execute(query):
            found.setdefault(row.article_id, []).append(row.topic)
    return {key: tuple(value) for key, value in found.items()}


# -- listing ------------------------------------------------------------------------------


def _articles(conn: Connection, query: Select[Any]) -> list[Article]:
    rows = conn.execute(query).all()
    topics = _topics_of(conn, [row.id for row in rows])
    return [from_row(Article, row, topics=topics.get(row.id, ())) for row in rows]


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
