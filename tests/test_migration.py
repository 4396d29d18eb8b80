"""Migration 0004: a database of articles, items and topics becomes stories, copies and
memberships, losing nothing it held and giving back what the old model had merged away."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config as AlembicConfig
from alembic.migration import MigrationContext
from sqlalchemy import text

from feedsvc.model import Validators
from feedsvc.normalise import article_id
from feedsvc.render import entry_id
from feedsvc.store import Store
from feedsvc.store.engine import MIGRATIONS
from feedsvc.store.schema import metadata
from feedsvc.store.search import unmodelled
from test_stories import article


def upgrade_to(store: Store, revision: str) -> None:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    with store.write() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def old_rows(store: Store, now: datetime) -> None:
    """What the 0003 store held: a wire article, a story two sources carried, and a
    podcast whose three episodes (one link) were merged into one article."""
    configs = {
        "wire": {"desk": "nym", "kind": "files"},
        "web": {"desk": "nym", "kind": "feed", "url": "https://news.example/feed"},
        "aggr": {"desk": "world", "kind": "feed", "url": "https://aggr.example/feed"},
        "pod": {"desk": "europe", "kind": "feed", "url": "https://pod.example/feed"},
    }
    articles = [
        ("wire", "a.txt", None, "Wire story", "nym"),
        ("web", "https://news.example/b", "https://news.example/b", "Web story", "nym"),
        ("pod", "ep1", "https://pod.example/show", "Episode 1", "europe"),
    ]
    items = [
        ("wire", "a.txt", "wire", "a.txt"),
        ("web", "https://news.example/b", "web", "https://news.example/b"),
        ("aggr", "x1", "web", "https://news.example/b"),
        ("pod", "ep1", "pod", "ep1"),
        ("pod", "ep2", "pod", "ep1"),
        ("pod", "ep3", "pod", "ep1"),
    ]
    with store.write() as conn:
        for source, config in configs.items():
            conn.execute(
                text(
                    "INSERT INTO sources (id, origin, config, enabled, paused, error_count, "
                    "created_at) VALUES (:id, 'catalog', :config, true, false, 0, :now)"
                ),
                {"id": source, "config": json.dumps(config), "now": now.replace(tzinfo=None)},
            )
        for n, (source, guid, url, title, desk) in enumerate(articles):
            at = (now - timedelta(hours=n)).replace(tzinfo=None)
            conn.execute(
                text(
                    "INSERT INTO articles (id, source, guid, url, title, summary, content_html, "
                    "author, desk, language, published, updated, dated, fingerprint, first_seen) "
                    "VALUES (:id, :source, :guid, :url, :title, '', :html, NULL, :desk, 'en', "
                    ":at, :at, true, :fp, :at)"
                ),
                {
                    "id": article_id(source, guid),
                    "source": source,
                    "guid": guid,
                    "url": url,
                    "title": title,
                    "html": f"<p>{title}</p>",
                    "desk": desk,
                    "at": at,
                    "fp": f"fp-{guid}",
                },
            )
        for source, guid, owner, owner_guid in items:
            conn.execute(
                text("INSERT INTO items VALUES (:source, :guid, :article, :fp)"),
                {
                    "source": source,
                    "guid": guid,
                    "article": article_id(owner, owner_guid),
                    "fp": f"fp-{guid}",
                },
            )
        for topic in ("security", "trade"):
            conn.execute(
                text("INSERT INTO article_topics VALUES (:id, :topic)"),
                {"id": article_id("web", "https://news.example/b"), "topic": topic},
            )


def test_0004_turns_articles_into_stories_and_gives_back_merged_items(
    db_url: str, now: datetime
) -> None:
    store = Store.open(db_url)
    upgrade_to(store, "0003")
    old_rows(store, now)
    store.upgrade()
    with store.engine.connect() as conn:
        assert unmodelled(compare_metadata(MigrationContext.configure(conn), metadata)) == []

    web = article_id("web", "https://news.example/b")
    shared = store.article(web)
    assert shared is not None and shared.title == "Web story"
    assert shared.topics == ("security", "trade")
    assert shared.entry_id == "https://news.example/b"  # the permalink stays the entry id
    assert store.article(article_id("aggr", "x1")) == shared
    assert [c.source for c in store.story_copies(web)] == ["web", "aggr"]
    assert [a.id for a in store.list_articles(desk="world")] == [web]  # aggr's own desk

    wire = store.article(article_id("wire", "a.txt"))
    assert wire is not None and wire.entry_id == entry_id(wire) and wire.retracted is None
    episodes = store.list_articles(source="pod")
    assert {a.id for a in episodes} == {article_id("pod", f"ep{n}") for n in (1, 2, 3)}
    assert store.count_articles() == 5

    # the copies the old store merged away are rewritten by their source's next fetch
    fresh = article("aggr", "x1", "https://news.example/b", "Aggregated title", "world")
    result = store.save_batch("aggr", [fresh], Validators(), 200, now + timedelta(hours=1))
    assert (result.new, result.updated) == (0, 1)
    assert store.article(web).title == "Web story"  # type: ignore[union-attr]
    store.close()
