"""The story model end to end: real feeds on loopback, real wire folders, a real database,
and the published feeds parsed back.

Identity (a podcast keeps every episode), election (the squatting case, a
feed on the article's own site), withdrawal and re-election, and the feeds a
story appears in. Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import threading
from datetime import datetime, timedelta
from ipaddress import ip_network
from pathlib import Path

import feedparser
import pytest
from lxml import etree
from sqlalchemy import select

from feedsvc.catalog import load_catalog
from feedsvc.fetch import AddressPolicy, Fetcher
from feedsvc.model import Article, Catalog, Retraction, Source, SourceResult, Validators
from feedsvc.normalise import article_id
from feedsvc.publish import Publisher
from feedsvc.refresh import Refresher
from feedsvc.render import entry_id
from feedsvc.store import Store
from feedsvc.store.listings import _columns, _live, _newest_first
from feedsvc.store.schema import memberships
from inbox_support import settle
from servers import LoopbackServer, Reply
from test_validators import atom_errors

LOOPBACK = Fetcher(AddressPolicy(allow_networks=(ip_network("127.0.0.0/8"),)))
AT = "{http://purl.org/atompub/tombstones/1.0}"
SAMPLE_INBOX = Path(__file__).resolve().parent.parent / "feeds" / "inbox" / "nym"


def rss(items: list[tuple[str, str, str]], home: str = "https://news.example/") -> bytes:
    """An RSS 2.0 document; each item is (guid, link, title)."""
    body = "".join(
        f"<item><title>{title}</title><link>{link}</link><guid isPermaLink='false'>{guid}</guid>"
        f"<pubDate>Mon, 23 Jun 2025 19:09:00 +0000</pubDate>"
        f"<description>About {title}</description></item>"
        for guid, link, title in items
    )
    return (
        f"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>T</title>"
        f"<link>{home}</link><description>d</description>{body}</channel></rss>"
    ).encode()


def feed_source(source_id: str, url: str, desk: str, **changes: object) -> Source:
    source = Source(id=source_id, kind="feed", desk=desk, every=timedelta(minutes=5), url=url)
    return dataclasses.replace(source, **changes)


def with_sources(catalog: Catalog, *sources: Source) -> Catalog:
    return dataclasses.replace(catalog, sources={s.id: s for s in sources})


def refresh(store: Store, catalog: Catalog, source_id: str, now: datetime) -> SourceResult:
    refresher = Refresher(store, LOOPBACK.fetch, owner="test", clock=lambda: now)
    return refresher.refresh(catalog.sources[source_id], catalog)


def published(store: Store, catalog: Catalog, now: datetime, folder: Path | None = None) -> None:
    Publisher(
        store, catalog, base_url="https://feeds.example/", feed_size=50, publish_dir=folder
    ).publish(None, now)


def feed(store: Store, path: str) -> bytes:
    return next(f.body for f in store.load_feeds() if f.path == path)


def titles(body: bytes, fmt: str) -> list[str]:
    if fmt == "json":
        return [item["title"] for item in json.loads(body)["items"]]
    return [entry.title for entry in feedparser.parse(body).entries]


def tombstones(body: bytes) -> list[tuple[str, str | None]]:
    root = etree.fromstring(body)
    return [
        (element.get("ref", ""), element.findtext(AT + "comment"))
        for element in root.iter(AT + "deleted-entry")
    ]


@pytest.fixture
def catalog(feeds_dir: Path) -> Catalog:
    return load_catalog(feeds_dir)


# -- identity --------------------------------------------------------------------------


def test_a_podcast_whose_episodes_all_link_to_the_show_keeps_every_episode(
    store: Store, catalog: Catalog, now: datetime
) -> None:
    show = "https://podcast.example/show"
    episodes = [(f"episode-{n}", show, f"Episode {n}") for n in range(131)]
    # another source linking to the show's page must not swallow an episode either
    other = [("promo", show, "Listen to the show")]
    routes = {"/show.rss": Reply(body=rss(episodes, home=show)), "/promo": Reply(body=rss(other))}
    with LoopbackServer(routes) as server:
        podcast = feed_source("podcast", server.url("/show.rss"), "nym", max_items=500)
        promo = feed_source("promo", server.url("/promo"), "europe")
        catalog = with_sources(catalog, podcast, promo)
        store.sync_sources(catalog.sources.values(), now)
        result = refresh(store, catalog, "podcast", now)
        again = refresh(store, catalog, "promo", now)
    assert (result.new, result.merged) == (131, 0), result.line()
    assert result.line() == "podcast: 131 new, 0 updated, 0 unchanged"
    assert store.count_articles(source="podcast") == 131
    assert (again.new, again.merged) == (1, 0)  # a site's page, not an article: no merge
    assert store.count_articles() == 132


def test_the_squatting_case_shows_the_trusted_copy_in_both_desks(
    store: Store, catalog: Catalog, now: datetime
) -> None:
    """A low-priority source stores an article URL first; the trusted source's copy wins."""
    url = "https://news.example/pact"
    squat = [("s-1", url, "Squatted headline")]
    real = [("r-1", url, "EU and Canada sign security pact")]
    routes = {"/squat": Reply(body=rss(squat)), "/real": Reply(body=rss(real))}
    with LoopbackServer(routes) as server:
        low = feed_source("gossip", server.url("/squat"), "europe")
        trusted = feed_source("newsroom", server.url("/real"), "nym", priority=10)
        catalog = with_sources(catalog, low, trusted)
        store.sync_sources(catalog.sources.values(), now)
        first = refresh(store, catalog, "gossip", now)
        second = refresh(store, catalog, "newsroom", now + timedelta(minutes=1))
    assert first.new == 1
    assert (second.new, second.merged) == (0, 1)
    assert "1 merged into a story from gossip" in second.line()
    published(store, catalog, now)
    for path in ("feeds/desks/europe", "feeds/desks/nym", "feeds/all"):
        for fmt in ("rss", "atom", "json"):
            assert titles(feed(store, f"{path}.{fmt}"), fmt) == [
                "EU and Canada sign security pact"
            ], (path, fmt)
    (story,) = store.list_articles()
    creator, winner = store.story_copies(story.id)
    assert (creator.source, winner.source, story.source) == ("gossip", "newsroom", "newsroom")
    assert story.id == creator.id  # the story keeps the id and entry id it was created with
    assert story.entry_id == entry_id(creator)
    assert store.article(winner.id) == story  # any copy's id finds it


def test_on_a_tie_the_feed_on_the_articles_own_site_wins(store: Store, now: datetime) -> None:
    aggregator = feed_source("aggregator", "https://aggr.example/feed", "europe")
    publisher = feed_source("publisher", "https://www.news.example/feed.rss", "nym")
    store.sync_sources([aggregator, publisher], now)
    url = "https://news.example/story"
    early = article("aggregator", "a-1", url, "As aggregated", "europe")
    store.save_batch("aggregator", [early], Validators(), 200, now)
    late = article("publisher", "p-1", url, "As published", "nym")
    result = store.save_batch("publisher", [late], Validators(), 200, now + timedelta(hours=1))
    (story,) = store.list_articles()
    assert (story.title, story.id, story.desk) == ("As published", early.id, "nym")
    assert result.merged_into == ("aggregator",)
    assert {a.id for a in store.list_articles(desk="europe")} == {early.id}


def article(source: str, guid: str, url: str | None, title: str, desk: str = "nym") -> Article:
    stamp = datetime.fromisoformat("2025-06-23T19:09:00+00:00")
    return Article(
        id=article_id(source, guid),
        source=source,
        guid=guid,
        url=url,
        title=title,
        summary="",
        content_html=f"<p>{title}</p>",
        author=None,
        desk=desk,
        topics=(),
        published=stamp,
        updated=stamp,
        language="en",
        fingerprint=title,
    )


# -- withdrawal and re-election -----------------------------------------------------------


def test_a_deleted_wire_file_withdraws_its_story_until_it_comes_back(
    store: Store, catalog: Catalog, tmp_path: Path, now: datetime
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in ("001_nato_defence_spending.txt", "002_ai_rules_platforms.txt"):
        shutil.copy(SAMPLE_INBOX / name, inbox / name)
        settle(inbox / name)
    wire = Source(id="wire", kind="files", desk="nym", every=timedelta(minutes=1), path=inbox)
    catalog = with_sources(catalog, wire)
    store.sync_sources(catalog.sources.values(), now)
    assert refresh(store, catalog, "wire", now).new == 2
    published(store, catalog, now)
    gone = next(a for a in store.list_articles() if a.guid == "002_ai_rules_platforms.txt")
    export = tmp_path / "export"

    saved = (inbox / gone.guid).read_bytes()
    (inbox / gone.guid).unlink()
    later = now + timedelta(minutes=5)
    result = refresh(store, catalog, "wire", later)
    # the file left is not even re-read (its name, size and mtime are as stored)
    assert (result.withdrawn, result.new, result.updated) == (1, 0, 0), result.line()
    assert result.line().endswith("1 withdrawn")
    stored = store.article(gone.id)
    assert stored is not None and stored.retracted == Retraction(later, None, "withdrawn")
    assert [a.id for a in store.list_articles(retracted=True)] == [gone.id]
    published(store, catalog, later, export)
    for path in ("feeds/all", "feeds/desks/nym"):
        atom = feed(store, f"{path}.atom")
        assert gone.title not in titles(atom, "atom")
        assert tombstones(atom) == [(entry_id(gone), None)]
        assert not atom_errors(atom)
        assert tombstones((export / f"{path}.atom").read_bytes()) == [(entry_id(gone), None)]
        for fmt in ("rss", "json"):
            assert gone.title not in titles(feed(store, f"{path}.{fmt}"), fmt)
            assert gone.title not in titles((export / f"{path}.{fmt}").read_bytes(), fmt)

    (inbox / gone.guid).write_bytes(saved)
    settle(inbox / gone.guid)
    back = refresh(store, catalog, "wire", later + timedelta(minutes=5))
    assert back.returned == 1 and back.line().endswith("1 back"), back.line()
    restored = store.article(gone.id)
    assert restored is not None and restored.retracted is None
    published(store, catalog, later + timedelta(minutes=5), export)
    atom = feed(store, "feeds/all.atom")
    assert gone.title in titles(atom, "atom") and tombstones(atom) == []


@pytest.mark.parametrize(
    "name",
    ["two  spaces.txt", "tab\there.txt", "bell\x07.txt", "x" * 250 + ".txt", " lead.txt"],
)
def test_a_file_whose_name_is_not_its_guid_is_not_taken_for_deleted(
    store: Store, catalog: Catalog, tmp_path: Path, now: datetime, name: str
) -> None:
    """The listing is compared as guids: a name the guid rules rewrite stays listed."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / name).write_bytes((SAMPLE_INBOX / "001_nato_defence_spending.txt").read_bytes())
    settle(inbox / name)
    wire = Source(id="wire", kind="files", desk="nym", every=timedelta(minutes=1), path=inbox)
    catalog = with_sources(catalog, wire)
    store.sync_sources(catalog.sources.values(), now)
    assert refresh(store, catalog, "wire", now).new == 1
    (story,) = store.list_articles(source="wire")
    other = inbox / "002_other.txt"  # a change, so the folder is not "unchanged" as a whole
    other.write_bytes((SAMPLE_INBOX / "002_ai_rules_platforms.txt").read_bytes())
    settle(other)
    again = refresh(store, catalog, "wire", now + timedelta(minutes=5))
    assert (again.new, again.withdrawn) == (1, 0), again.line()
    kept = store.article(story.id)
    assert kept is not None and kept.retracted is None


def test_a_story_re_elects_when_its_shown_source_goes_and_is_withdrawn_with_the_last(
    store: Store, now: datetime
) -> None:
    high = feed_source("high", "https://high.example/feed", "nym", priority=5)
    low = feed_source("low", "https://low.example/feed", "europe")
    store.sync_sources([high, low], now)
    url = "https://news.example/shared"
    store.save_batch("high", [article("high", "h", url, "High copy")], Validators(), 200, now)
    store.save_batch(
        "low", [article("low", "l", url, "Low copy", "europe")], Validators(), 200, now
    )
    (story,) = store.list_articles()
    assert story.title == "High copy"

    touched = store.sync_sources([low], now + timedelta(hours=1))  # "high" left the catalogue
    (story,) = store.list_articles()
    assert (story.title, story.desk) == ("Low copy", "europe")
    assert touched.desks == {"nym", "europe"}  # it left nym's feed
    assert store.list_articles(desk="nym") == []

    gone_at = now + timedelta(hours=2)
    store.sync_sources([], gone_at)
    assert store.list_articles() == []
    found = store.article(story.id)
    assert found is not None and found.retracted == Retraction(gone_at, None, "withdrawn")
    since = now
    assert [t.entry_id for t in store.tombstones(since, desk="europe")] == [story.entry_id]
    assert [t.entry_id for t in store.tombstones(since)] == [story.entry_id]


def test_a_changed_item_updates_its_story_in_place_with_a_newer_time(
    store: Store, now: datetime
) -> None:
    store.sync_sources([feed_source("a", "https://a.example/feed", "nym")], now)
    first = article("a", "g", "https://news.example/x", "First")
    store.save_batch("a", [first], Validators(), 200, now)
    fixed = dataclasses.replace(first, title="Corrected", fingerprint="corrected")
    result = store.save_batch("a", [fixed], Validators(), 200, now + timedelta(hours=1))
    (story,) = store.list_articles()
    assert result.updated == 1 and result.changed_ids == (first.id,)
    assert (story.id, story.title) == (first.id, "Corrected")
    assert story.updated == now + timedelta(hours=1)  # the item kept its own date


def test_a_feed_listing_is_a_walk_down_one_index(sqlite_store: Store) -> None:
    """Issue 12 pages with (published, id) keys: the newest N must never sort the table."""
    query = _newest_first(_live(select(*_columns()), "nym", None, None), False)
    sql = str(query.limit(50).compile(sqlite_store.engine, compile_kwargs={"literal_binds": True}))
    with sqlite_store.engine.connect() as conn:
        plan = " | ".join(str(row[-1]) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
    index = next(ix.name for ix in memberships.indexes if "published" in str(ix.name))
    assert f"USING COVERING INDEX {index}" in plan or f"USING INDEX {index}" in plan, plan
    assert "TEMP B-TREE" not in plan, plan


def test_two_sources_racing_for_one_url_make_one_story(db_url: str, now: datetime) -> None:
    """Two processes' batches race for a new URL: the later plans again and merges."""
    stores = [Store.open(db_url) for _ in range(2)]
    stores[0].upgrade()
    names = ("left", "right")
    stores[0].sync_sources([feed_source(n, f"https://{n}.example/f", "nym") for n in names], now)
    rounds = 20
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def writer(store: Store, name: str) -> None:
        try:
            for n in range(rounds):
                barrier.wait()
                story = article(name, f"g{n}", f"https://news.example/race/{n}", name)
                store.save_batch(name, [story], Validators(), 200, now)
        except BaseException as exc:  # reported below, with the thread's own traceback
            errors.append(exc)
            barrier.abort()

    threads = [
        threading.Thread(target=writer, args=pair) for pair in zip(stores, names, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert stores[0].count_articles() == rounds
    assert all(len(stores[0].story_copies(a.id)) == 2 for a in stores[0].list_articles(limit=None))
    for store in stores:
        store.close()
