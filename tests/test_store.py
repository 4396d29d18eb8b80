"""The store on a real SQLite file and on the real PostgreSQL server (when configured)."""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select

from feedsvc.model import Article, Enclosure, Origin, Source, Touched, Validators, new_entry_id
from feedsvc.store import Store, source_config
from feedsvc.store.schema import metadata, sources, stories
from feedsvc.store.search import unmodelled

T0 = datetime(2025, 6, 23, 19, 9, tzinfo=UTC)


def make_article(n: int = 1, **changes: object) -> Article:
    base = Article(
        id=f"id-{n}",
        source="wire",
        guid=f"guid-{n}",
        url=f"https://news.example/story/{n}",
        title=f"Story {n}",
        summary=f"Summary {n}",
        content_html=f"<p>Body {n}</p>",
        author=None,
        desk="nym",
        topics=("security",),
        published=T0 + timedelta(minutes=n),
        updated=T0 + timedelta(minutes=n),
        language="en",
        dated=True,
        fingerprint=f"fp-{n}",
    )
    return dataclasses.replace(base, **changes)


def make_source(source_id: str = "wire") -> Source:
    return Source(
        id=source_id,
        kind="feed",
        desk="nym",
        every=timedelta(minutes=5),
        url=f"https://{source_id}.example/feed",
    )


@pytest.fixture
def wired(store: Store, now: datetime) -> Store:
    store.sync_sources([make_source("wire"), make_source("other")], now)
    return store


def test_migrated_schema_matches_metadata(store: Store) -> None:
    with store.engine.connect() as conn:
        diff = unmodelled(compare_metadata(MigrationContext.configure(conn), metadata))
    assert diff == []


def test_upgrade_is_idempotent(store: Store) -> None:
    store.upgrade()
    store.upgrade()
    assert store.count_articles() == 0


def test_new_then_unchanged_then_updated(wired: Store, now: datetime) -> None:
    first = wired.save_batch(
        "wire", [make_article(1), make_article(2)], Validators('"a"'), 200, now
    )
    assert (first.new, first.updated, first.unchanged) == (2, 0, 0)
    assert first.touched == Touched(frozenset({"nym"}), frozenset({"security"}))

    again = wired.save_batch(
        "wire", [make_article(1), make_article(2)], Validators('"a"'), 200, now
    )
    assert (again.new, again.updated, again.unchanged) == (0, 0, 2)
    assert again.touched == Touched() and not again.touched

    edited = make_article(
        2, title="Story 2, corrected", fingerprint="fp-2b", desk="europe", topics=("trade",)
    )
    third = wired.save_batch("wire", [make_article(1), edited], Validators('"b"'), 200, now)
    assert (third.new, third.updated, third.unchanged) == (0, 1, 1)
    # the article left nym/security for europe/trade: all four listings must be rendered again
    assert third.touched == Touched(
        frozenset({"nym", "europe"}), frozenset({"security", "trade"})
    )
    stored = {a.id: a for a in wired.list_articles()}
    assert stored["id-2"].title == "Story 2, corrected"
    assert stored["id-2"].topics == ("trade",)
    assert wired.count_articles() == 2


def test_a_rewrite_moves_updated_forward(wired: Store, now: datetime) -> None:
    """Issue 11 §2: a changed item shows a new update time, its own when it is newer."""
    wired.save_batch("wire", [make_article(1)], Validators(), 200, now)
    seen = now + timedelta(minutes=10)
    same_time = make_article(1, title="Story 1, corrected", fingerprint="fp-1b")
    wired.save_batch("wire", [same_time], Validators(), 200, seen)
    (stored,) = wired.list_articles()
    assert (stored.title, stored.published, stored.updated) == (
        "Story 1, corrected",
        T0 + timedelta(minutes=1),
        seen,  # the source gave no newer time: when the change was seen
    )
    own = seen + timedelta(minutes=5)
    newer = make_article(1, title="Story 1, again", fingerprint="fp-1c", updated=own)
    wired.save_batch("wire", [newer], Validators(), 200, own + timedelta(hours=1))
    (stored,) = wired.list_articles()
    assert stored.updated == own  # the source's own, newer time


def test_one_article_by_its_id(wired: Store, now: datetime) -> None:
    wired.save_batch("wire", [make_article(1), make_article(2)], Validators(), 200, now)
    found = wired.article("id-2")
    assert found is not None and found.title == "Story 2" and found.topics == ("security",)
    assert wired.article("id-3") is None
    assert wired.article("x" * 10_000) is None


def test_validators_are_saved_with_the_batch_only(wired: Store, now: datetime) -> None:
    wired.save_batch(
        "wire", [make_article(1)], Validators('"v1"', "Mon, 23 Jun 2025 19:09:00 GMT"), 200, now
    )
    wired.record_failure("wire", "HTTP 500", 500, now)
    state = wired.source_state("wire")
    assert state is not None
    assert state.validators == Validators('"v1"', "Mon, 23 Jun 2025 19:09:00 GMT")
    assert state.error_count == 1
    assert state.last_error == "HTTP 500"
    assert wired.count_articles() == 1  # a failure loses nothing stored
    wired.record_not_modified("wire", 304, now)
    state = wired.source_state("wire")
    assert state is not None and state.error_count == 0 and state.last_error is None


def test_undated_article_keeps_first_seen_time(wired: Store, now: datetime) -> None:
    first = make_article(1, dated=False, published=now, updated=now)
    wired.save_batch("wire", [first], Validators(), 200, now)
    later = now + timedelta(hours=3)
    edited = make_article(
        1, dated=False, published=later, updated=later, title="New title", fingerprint="fp-1b"
    )
    wired.save_batch("wire", [edited], Validators(), 200, later)
    (stored,) = wired.list_articles()
    assert stored.title == "New title"
    assert stored.published == now
    assert stored.updated == later


def test_same_url_from_two_sources_is_stored_once(wired: Store, now: datetime) -> None:
    wired.save_batch("wire", [make_article(1)], Validators(), 200, now)
    twin = make_article(
        1,
        id="other-id",
        source="other",
        guid="other-guid",
        topics=("ukraine",),
        fingerprint="fp-other",
    )
    result = wired.save_batch("other", [twin], Validators(), 200, now)
    assert (result.new, result.merged) == (0, 1)
    (stored,) = wired.list_articles()
    assert stored.id == "id-1"
    assert stored.topics == ("security", "ukraine")
    assert [a.id for a in wired.list_articles(source="other")] == ["id-1"]
    again = wired.save_batch("other", [twin], Validators(), 200, now)
    assert (again.new, again.merged, again.unchanged) == (0, 0, 1)


def test_duplicate_guid_inside_one_batch(wired: Store, now: datetime) -> None:
    result = wired.save_batch(
        "wire", [make_article(1), make_article(1, title="dup")], Validators(), 200, now
    )
    assert (result.new, result.skipped) == (1, 1)
    assert wired.list_articles()[0].title == "Story 1"


def test_same_url_twice_in_one_source_is_two_stories(wired: Store, now: datetime) -> None:
    """Two items of one source are never merged, whatever link they share."""
    a = make_article(1)
    b = make_article(2, url=a.url)
    result = wired.save_batch("wire", [a, b], Validators(), 200, now)
    assert (result.new, result.merged) == (2, 0)
    assert wired.count_articles() == 2


def test_an_update_and_a_new_item_of_one_source_sharing_a_url_stay_apart(
    wired: Store, now: datetime
) -> None:
    wired.save_batch("wire", [make_article(1)], Validators(), 200, now)
    moved = make_article(1, url="https://news.example/moved", fingerprint="fp-1b")
    newcomer = make_article(2, url=moved.url, topics=("trade",))
    result = wired.save_batch("wire", [moved, newcomer], Validators(), 200, now)
    assert (result.new, result.updated, result.merged) == (1, 1, 0)
    assert {(a.id, a.url) for a in wired.list_articles()} == {
        ("id-1", moved.url),
        ("id-2", moved.url),
    }


def test_a_copy_merged_before_its_story_is_updated_keeps_its_topics(
    wired: Store, now: datetime
) -> None:
    wired.save_batch("wire", [make_article(1)], Validators(), 200, now)
    twin = make_article(1, id="other-1", source="other", guid="o1", topics=("trade",))
    wired.save_batch("other", [twin], Validators(), 200, now)
    edited = make_article(1, fingerprint="fp-1b", topics=("digital",))
    result = wired.save_batch("wire", [edited], Validators(), 200, now)
    assert (result.updated, result.merged, result.skipped) == (1, 0, 0)
    assert wired.list_articles()[0].topics == ("digital", "trade")
    listed = Touched(frozenset({"nym"}), frozenset({"security", "digital", "trade"}))
    assert result.touched == listed


def test_listing_filters_and_order(wired: Store, now: datetime) -> None:
    batch = [
        make_article(1, desk="nym", topics=("security",)),
        make_article(2, desk="europe", topics=("trade", "digital")),
        make_article(3, desk="nym", topics=()),
    ]
    wired.save_batch("wire", batch, Validators(), 200, now)
    assert [a.id for a in wired.list_articles()] == ["id-3", "id-2", "id-1"]
    assert [a.id for a in wired.list_articles(desk="nym")] == ["id-3", "id-1"]
    assert [a.id for a in wired.list_articles(topic="digital")] == ["id-2"]
    assert [a.id for a in wired.list_articles(limit=1)] == ["id-3"]
    assert wired.list_articles(topic="nothing") == []
    assert wired.list_articles(desk="europe")[0].topics == ("digital", "trade")


def test_round_trip_keeps_every_field(wired: Store, now: datetime) -> None:
    original = make_article(
        7,
        author="Jane Doe",
        content_html="<p>Ünïcödé € “quotes”</p>",
        url=None,
        topics=("digital", "security"),
        enclosures=(
            Enclosure("https://cdn.example/a.mp3", "audio/mpeg", 123, 1800),
            Enclosure("https://cdn.example/b.pdf"),
        ),
        image="https://cdn.example/lead.jpg",
        correction="An earlier version misspelt the minister’s name.",
        origin=Origin("Upstream “Wire”", "https://upstream.example/", "urn:x:1"),
    )
    wired.save_batch("wire", [original], Validators(), 200, now)
    (stored,) = wired.list_articles()
    assert stored == dataclasses.replace(original, entry_id=new_entry_id(original))
    assert stored.published.tzinfo is not None
    assert wired.article(original.id) == stored
    assert wired.story_copies(original.id) == [original]


def test_naive_times_are_refused(wired: Store, now: datetime) -> None:
    naive = make_article(1, published=datetime(2025, 1, 1))
    with pytest.raises(Exception, match="naive"):
        wired.save_batch("wire", [naive], Validators(), 200, now)
    assert wired.count_articles() == 0  # the whole batch rolled back


def test_failed_batch_is_all_or_nothing(wired: Store, now: datetime) -> None:
    wired.save_batch("wire", [make_article(1)], Validators('"old"'), 200, now)
    bad = [make_article(2), make_article(3, published=datetime(2025, 1, 1))]
    with pytest.raises(Exception, match="naive"):
        wired.save_batch("wire", bad, Validators('"new"'), 200, now)
    assert [a.id for a in wired.list_articles()] == ["id-1"]
    state = wired.source_state("wire")
    assert state is not None and state.validators.etag == '"old"'


def test_sync_sources_follows_the_catalogue(wired: Store, now: datetime) -> None:
    changed = dataclasses.replace(make_source("wire"), every=timedelta(hours=1))
    wired.sync_sources([changed], now)
    assert wired.source_state("other") is None
    with wired.engine.connect() as conn:
        config = conn.execute(select(sources.c.config).where(sources.c.id == "wire")).scalar()
    assert config == source_config(changed)
    assert '"every": 3600.0' in config


def test_concurrent_sqlite_writers_queue_instead_of_failing(tmp_path: Path, now: datetime) -> None:
    """Two threads writing through two engines: WAL + BEGIN IMMEDIATE, no 'database is locked'."""
    url = f"sqlite:///{tmp_path / 'busy.sqlite3'}"
    first = Store.open(url)
    first.upgrade()
    second = Store.open(url)
    first.sync_sources([make_source("wire"), make_source("other")], now)
    errors: list[BaseException] = []

    def writer(target: Store, source: str, offset: int) -> None:
        try:
            for n in range(offset, offset + 40):
                target.save_batch(
                    source,
                    [make_article(n, source=source, id=f"{source}-{n}")],
                    Validators(),
                    200,
                    now,
                )
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=writer, args=(first, "wire", 0)),
        threading.Thread(target=writer, args=(second, "other", 100)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with first.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(stories)).scalar() == 80
    first.close()
    second.close()
