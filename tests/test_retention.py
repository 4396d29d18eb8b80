"""Retention with an injected clock: ``keep``, ``max_items``, the purge and the space it frees.

The purge never deletes a story that a current feed shows or whose tombstone
is still published, and ageing out leaves no tombstone. On SQLite and
PostgreSQL; the space check is SQLite's, whose file can be measured.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from ipaddress import ip_network
from pathlib import Path

import pytest
from click.testing import CliRunner

from feedsvc.catalog import load_catalog
from feedsvc.cli import main
from feedsvc.config import Settings
from feedsvc.fetch import AddressPolicy, Fetcher
from feedsvc.model import Article, Validators
from feedsvc.refresh import Refresher
from feedsvc.scheduler import Scheduler
from feedsvc.store import PurgeResult, StateKey, Store
from servers import LoopbackServer, Reply
from test_scheduler import Clock
from test_stories import article, feed_source

DAY = timedelta(days=1)


def aged(source: str, guid: str, now: datetime, age: timedelta, desk: str = "nym") -> Article:
    story = article(source, guid, f"https://news.example/{guid}", f"Story {guid}", desk)
    return dataclasses.replace(story, published=now - age, updated=now - age)


@pytest.fixture
def sources(store: Store, now: datetime) -> Store:
    store.sync_sources(
        [
            feed_source("a", "https://a.example/feed", "nym", keep=2 * DAY),
            feed_source("b", "https://b.example/feed", "nym"),
        ],
        now - 60 * DAY,
    )
    return store


def save(store: Store, source: str, stories: list[Article], at: datetime) -> None:
    store.save_batch(source, stories, Validators(), 200, at)


def test_the_purge_deletes_only_what_every_keep_lets_go(sources: Store, now: datetime) -> None:
    store = sources
    start = now - 60 * DAY
    save(store, "a", [aged("a", "old", now, 10 * DAY)], start)  # past a's keep: goes
    save(store, "b", [aged("b", "forever", now, 10 * DAY)], start)  # b keeps everything
    save(store, "a", [aged("a", "shared", now, 10 * DAY)], start)
    save(store, "b", [aged("b", "shared-b", now, 10 * DAY)], start)  # not the same URL
    save(store, "a", [aged("a", "fresh", now, DAY)], start)  # within a's keep
    save(store, "a", [aged("a", "alone", now, 10 * DAY, desk="world")], start)  # newest of world
    save(store, "a", [aged("a", "tombstone", now, 10 * DAY)], start)
    save(store, "a", [aged("a", "long-gone", now, 10 * DAY)], start)
    ids = {a.guid: a.id for a in store.list_articles(limit=None)}
    store.retract(ids["tombstone"], "wrong", now - 5 * DAY)  # its tombstone is still published
    store.retract(ids["long-gone"], None, now - 40 * DAY)
    keeps = {"a": 2 * DAY, "b": None}

    result = store.purge(now, keeps, None, feed_size=1)
    assert (result.stories, result.copies, result.by_source, result.spared) == (
        3, 3, (("a", 3),), 1,
    )  # fmt: skip
    left = {a.guid for a in store.list_articles(limit=None)}
    assert left == {"forever", "shared-b", "fresh", "alone"}
    assert {a.guid for a in store.list_articles(limit=None, retracted=True)} == {"tombstone"}
    assert store.article(ids["old"]) is None and store.article(ids["long-gone"]) is None
    assert [t.reason for t in store.tombstones(now - 30 * DAY)] == ["wrong"]  # no new ones
    assert result.line().startswith("purged 3 stories (3 copies): a 3; kept 1 older ones")

    again = store.purge(now, keeps, None, feed_size=1)
    assert again == PurgeResult(spared=1)
    later = store.purge(now + 60 * DAY, keeps, 3 * DAY, feed_size=1)  # a default for b too
    assert later.by_source == (("a", 1), ("b", 2))
    assert {a.guid for a in store.list_articles(limit=None)} == {"alone", "fresh"}  # current


def test_a_source_no_longer_configured_takes_the_default(sources: Store, now: datetime) -> None:
    save(sources, "a", [aged("a", "x", now, 10 * DAY)], now - 60 * DAY)
    assert sources.purge(now, {}, None, feed_size=1).stories == 0
    sources.save_batch("b", [aged("b", "newer", now, 9 * DAY)], Validators(), 200, now)
    assert sources.purge(now, {}, 5 * DAY, feed_size=1).stories == 1


def test_the_purge_gives_the_space_back(sqlite_store: Store, now: datetime, tmp_path: Path) -> None:
    store = sqlite_store
    store.sync_sources([feed_source("a", "https://a.example/feed", "nym")], now)
    bulky = [
        dataclasses.replace(aged("a", f"g{n}", now, 30 * DAY), content_html="<p>" + "x" * 20_000)
        for n in range(300)
    ]
    save(store, "a", bulky, now - 30 * DAY)
    database = Path(str(store.engine.url.database))
    before = database.stat().st_size
    result = store.purge(now, {"a": DAY}, None, feed_size=1)
    assert result.stories == 299 and result.freed_bytes and result.freed_bytes > 5_000_000
    store.close()
    assert database.stat().st_size < before - 5_000_000


def test_keep_and_max_items_limit_what_one_fetch_stores(store: Store, now: datetime) -> None:
    dates = [now - timedelta(hours=hours) for hours in (1, 50, 2, 3, 100, 4)]
    items = "".join(
        f"<item><title>Item {n}</title><link>https://news.example/{n}</link><guid>g{n}</guid>"
        f"<pubDate>{moment.strftime('%a, %d %b %Y %H:%M:%S +0000')}</pubDate></item>"
        for n, moment in enumerate(dates)
    )
    body = f"<rss version='2.0'><channel><title>T</title>{items}</channel></rss>".encode()
    fetch = Fetcher(AddressPolicy(allow_networks=(ip_network("127.0.0.0/8"),)))
    with LoopbackServer({"/feed": Reply(body=body)}) as server:
        source = feed_source("big", server.url("/feed"), "nym", max_items=3, keep=2 * DAY)
        catalog = dataclasses.replace(load_catalog(Path("feeds")), sources={"big": source})
        store.sync_sources([source], now)
        result = Refresher(store, fetch.fetch, owner="t", clock=lambda: now).refresh(
            source, catalog
        )
    assert result.new == 3
    assert {a.title for a in store.list_articles()} == {"Item 0", "Item 2", "Item 3"}
    assert "2 items older than the source's keep" in result.line()
    assert "1 items past the newest 3 (max_items)" in result.line()


def test_purge_from_the_command_line(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    assert runner.invoke(main, ["ingest"]).exit_code == 0
    monkeypatch.setenv("FEEDSVC_KEEP", "1d")  # the sample's stories are from June 2025
    kept = runner.invoke(main, ["purge"])
    assert kept.exit_code == 0, kept.output
    assert (
        kept.output.strip()
        == "purged 0 stories (0 copies); kept 7 older ones still in a current feed"
    )
    monkeypatch.setenv("FEEDSVC_FEED_SIZE", "1")
    purged = runner.invoke(main, ["purge"])
    assert purged.exit_code == 0 and purged.output.startswith("purged "), purged.output
    listed = runner.invoke(main, ["articles"]).output.splitlines()
    assert 0 < len(listed) < 7
    assert runner.invoke(main, ["articles", "--retracted"]).output == ""  # no tombstones


def test_a_bad_feedsvc_keep_stops_start_up(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FEEDSVC_KEEP", "a while")
    result = runner.invoke(main, ["check"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "feedsvc: FEEDSVC_KEEP: bad duration 'a while': expected a whole number and h, d or w, "
        "e.g. '90d' (unset: keep everything)"
    ]


def test_the_scheduler_purges_once_a_day(settings: Settings, store: Store, now: datetime) -> None:
    clock = Clock(now)
    settings = dataclasses.replace(settings, keep=60 * DAY, feed_size=1)
    scheduler = Scheduler(settings, store, clock=clock, rng=lambda: 0.0)
    scheduler.start_up()
    scheduler.run_once()  # fetches the sample (June 2025) and purges: nothing is that old yet
    assert store.count_articles() == 7 and store.get_state(StateKey.PURGED) == now.isoformat()
    clock.advance(hours=23)
    scheduler.run_once()
    assert store.get_state(StateKey.PURGED) == now.isoformat()  # not a day since: no purge
    clock.advance(days=61)
    scheduler.run_once()
    assert 0 < store.count_articles() < 7  # the day's purge ran, sparing the feeds' newest
    assert store.get_state(StateKey.PURGED) == clock.now.isoformat()
    assert not store.claim_turn(StateKey.PURGED, clock.now, DAY)  # another scheduler: not now
    scheduler.shutdown()
