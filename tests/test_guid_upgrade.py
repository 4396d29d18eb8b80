"""Exact guids end to end (issue 10): real loopback feeds, real wire folders, a real database.

Guids that an earlier release read as plain text (spaces collapsed, controls
dropped) collided: one of the items was lost. Now each is its own item, and
what an earlier release stored under the plain-text form is adopted by the
item's exact guid: same id, same story, nothing duplicated, nothing retracted.
The earlier release's state is made the way it made it: the same parse and
normalise, its guid reading (``guids.legacy_guid``), the same store.
"""

from __future__ import annotations

import dataclasses
import os
from datetime import datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape

import pytest

from feedsvc.catalog import load_catalog
from feedsvc.extract import bylines, parse_fetched
from feedsvc.fetch import Fetcher
from feedsvc.guids import ESCAPE, legacy_guid
from feedsvc.model import Catalog, Fetched, Source, Validators
from feedsvc.normalise import article_id, normalise
from feedsvc.refresh import fetch_and_store
from feedsvc.store import Store
from inbox_support import settle
from servers import LoopbackServer, Reply
from test_ingest import FAST, LOOPBACK, feed_source, with_sources


@pytest.fixture
def catalog(feeds_dir: Path) -> Catalog:
    return load_catalog(feeds_dir)


@pytest.fixture
def fetch() -> Fetcher:
    return Fetcher(LOOPBACK, FAST)


GUIDS = ("a  b", "x&amp;y", "x&y", "tab\there")


def rss(*guids: str) -> bytes:
    items = "".join(
        f"<item><title>Item {n}</title><guid isPermaLink='false'>{escape(guid)}</guid>"
        f"<description>Body {n}</description>"
        "<pubDate>Mon, 23 Jun 2025 19:09:00 +0000</pubDate></item>"
        for n, guid in enumerate(guids)
    )
    return (
        "<?xml version='1.0'?><rss version='2.0'><channel><title>T</title>"
        f"<link>https://news.example/</link><description>d</description>{items}</channel></rss>"
    ).encode()


def store_as_an_earlier_release(
    store: Store, source: Source, catalog: Catalog, fetched: Fetched, now: datetime
) -> None:
    """What a release before exact guids stored of this fetch: plain-text guids, first wins."""
    parsed = parse_fetched(fetched, source, bylines(catalog))
    articles = []
    for item in parsed.items:
        article = normalise(item, source, catalog.desks, catalog.topics, now)
        guid = legacy_guid(item.guid) or article.guid
        articles.append(dataclasses.replace(article, guid=guid, id=article_id(source.id, guid)))
    listing = None
    if fetched.listing is not None:
        listing = {legacy_guid(name) or name for name in fetched.listing}  # as it read names
    store.save_batch(source.id, articles, Validators(), None, now, listing=listing)


def by_guid(store: Store, source: str) -> dict[str, str]:
    return {a.guid: a.id for a in store.list_articles(source=source, limit=None)}


def test_a_feed_whose_guids_differ_by_spaces_or_entities_keeps_every_item(
    store: Store, catalog: Catalog, fetch: Fetcher, now: datetime
) -> None:
    body = rss(*GUIDS)
    with LoopbackServer({"/feed": Reply(body=body)}) as server:
        source = feed_source("exact", server.url("/feed"))
        catalog = with_sources(catalog, source)
        store.sync_sources(catalog.sources.values(), now)
        earlier = fetch.fetch(source, Validators())
        store_as_an_earlier_release(store, source, catalog, earlier, now)
        before = by_guid(store, "exact")
        assert set(before) == {"a b", "x&amp;y", "x&y", "tab here"}  # "x&amp;y" read once

        result = fetch_and_store(source, catalog, store, fetch.fetch, now + timedelta(hours=1))
        assert result.ok and (result.new, result.withdrawn) == (0, 0), result.line()
        after = by_guid(store, "exact")
        tab = f"tab{ESCAPE}0009here"  # a control character is kept, escaped
        assert set(after) == {"a  b", "x&amp;y", "x&y", tab}
        assert after["a  b"] == before["a b"] and after[tab] == before["tab here"]
        assert after["x&y"] == before["x&y"] and after["x&amp;y"] == before["x&amp;y"]
        assert not store.list_articles(source="exact", retracted=True)

        again = fetch_and_store(source, catalog, store, fetch.fetch, now + timedelta(hours=2))
        assert again.not_modified or (again.new, again.updated) == (0, 0)

    with LoopbackServer({"/feed": Reply(body=rss(*GUIDS, "a b"))}) as server:
        moved = dataclasses.replace(source, url=server.url("/feed"))
        catalog = with_sources(catalog, moved)
        result = fetch_and_store(moved, catalog, store, fetch.fetch, now + timedelta(hours=3))
        assert result.ok and result.new == 1, result.line()  # "a b" is another item now
        final = by_guid(store, "exact")
        assert len(final) == 5 and final["a  b"] == before["a b"]
        assert final["a b"] != final["a  b"]


def test_a_wire_folder_whose_names_differ_by_spaces_or_bytes_keeps_every_story(
    store: Store, catalog: Catalog, fetch: Fetcher, now: datetime, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    names = {b"x  y.txt": "x  y.txt", b"caf\xe9.txt": "caf\udce9.txt", b"c\x01d.txt": "c\x01d.txt"}
    for raw, _ in names.items():
        path = Path(os.fsdecode(os.path.join(os.fsencode(inbox), raw)))
        path.write_text(f"Story {raw!r}\n\nA paragraph about it.\n", encoding="utf-8")
        settle(path)
    source = Source(id="w", kind="files", desk="nym", every=timedelta(minutes=5), path=inbox)
    catalog = with_sources(catalog, source)
    store.sync_sources(catalog.sources.values(), now)
    store_as_an_earlier_release(store, source, catalog, fetch.fetch(source, Validators()), now)
    before = by_guid(store, "w")
    assert set(before) == {"x y.txt", "caf.txt", "cd.txt"}

    result = fetch_and_store(source, catalog, store, fetch.fetch, now + timedelta(hours=1))
    assert result.ok and (result.new, result.withdrawn) == (0, 0), result.line()
    after = by_guid(store, "w")
    assert set(after) == {"x  y.txt", f"caf{ESCAPE}dce9.txt", f"c{ESCAPE}0001d.txt"}
    assert sorted(after.values()) == sorted(before.values())

    twin = inbox / "x y.txt"  # a name the earlier release would have merged with "x  y.txt"
    twin.write_text("Another story\n\nNot the same one.\n", encoding="utf-8")
    settle(twin)
    result = fetch_and_store(source, catalog, store, fetch.fetch, now + timedelta(hours=2))
    assert result.ok and (result.new, result.withdrawn) == (1, 0), result.line()

    twin_id = by_guid(store, "w")["x y.txt"]
    twin.unlink()  # deleting one twin retracts its story only
    result = fetch_and_store(source, catalog, store, fetch.fetch, now + timedelta(hours=3))
    assert result.ok and result.withdrawn == 1, result.line()
    assert "x  y.txt" in by_guid(store, "w") and "x y.txt" not in by_guid(store, "w")
    assert [a.id for a in store.list_articles(source="w", retracted=True)] == [twin_id]

    (inbox / "x  y.txt").unlink()  # and the other, the story stored by the earlier release
    result = fetch_and_store(source, catalog, store, fetch.fetch, now + timedelta(hours=4))
    assert result.ok and result.withdrawn == 1, result.line()
    retracted = {a.id for a in store.list_articles(source="w", retracted=True)}
    assert retracted == {twin_id, before["x y.txt"]}


def test_a_folder_read_in_part_keeps_the_stories_of_files_not_read_yet(
    store: Store, catalog: Catalog, fetch: Fetcher, now: datetime, tmp_path: Path
) -> None:
    """One read takes at most max_items files: the others' legacy copies wait, not withdrawn."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for n in range(4):
        path = inbox / f"story  {n}.txt"
        path.write_text(f"Story {n}\n\nA paragraph.\n", encoding="utf-8")
        settle(path)
    source = Source(
        id="w", kind="files", desk="nym", every=timedelta(minutes=5), path=inbox, max_items=2
    )
    catalog = with_sources(catalog, source)
    store.sync_sources(catalog.sources.values(), now)
    read = fetch.fetch(source, Validators())  # the earlier release read it in two goes
    store_as_an_earlier_release(store, source, catalog, read, now)
    rest = fetch.fetch(source, Validators(files=read.validators.files))
    store_as_an_earlier_release(store, source, catalog, rest, now)
    before = by_guid(store, "w")
    assert len(before) == 4 and all("  " not in guid for guid in before)

    first = fetch_and_store(source, catalog, store, fetch.fetch, now + timedelta(hours=1))
    assert first.ok and (first.new, first.withdrawn, first.unchanged) == (0, 0, 2), first.line()
    assert len(by_guid(store, "w")) == 4
    second = fetch_and_store(source, catalog, store, fetch.fetch, now + timedelta(hours=2))
    assert second.ok and (second.new, second.withdrawn) == (0, 0), second.line()
    after = by_guid(store, "w")
    assert set(after) == {f"story  {n}.txt" for n in range(4)}
    assert sorted(after.values()) == sorted(before.values())

