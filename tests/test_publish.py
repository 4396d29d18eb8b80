"""Publishing: feeds rendered on change, stored as ready bytes, exported as static files."""

from __future__ import annotations

import dataclasses
import gzip
import json
from datetime import datetime, timedelta
from ipaddress import ip_network
from pathlib import Path

import feedparser
import pytest

from feedsvc.catalog import load_catalog
from feedsvc.config import Settings
from feedsvc.fetch import AddressPolicy, Fetcher
from feedsvc.model import Source
from feedsvc.publish import Publisher, write_if_changed
from feedsvc.publish_pages import PAGE_PREFIX
from feedsvc.refresh import fetch_and_store
from feedsvc.render import entry_id
from feedsvc.store import Store
from feedsvc.text import AUTHOR_LIMIT, CONTENT_LIMIT, CORRECTION_LIMIT, SUMMARY_LIMIT, TITLE_LIMIT
from feedsvc.urls import MAX_URL_LENGTH
from feedsvc.websub.links import HubSetup
from inbox_support import settle
from servers import LoopbackServer, Reply

BASE = "https://news.example/"


def publisher(store: Store, settings: Settings, publish_dir: Path | None = None) -> Publisher:
    return Publisher(
        store,
        load_catalog(settings.feeds_dir),
        base_url=BASE,
        feed_size=settings.feed_size,
        publish_dir=publish_dir,
    )


def bodies(store: Store) -> dict[str, tuple[bytes, str, datetime]]:
    return {f.path: (f.body, f.etag, f.last_modified) for f in store.load_feeds()}


def test_second_publish_changes_nothing(
    published: Store, settings: Settings, now: datetime, tmp_path: Path
) -> None:
    out = tmp_path / "public"
    first = publisher(published, settings, out).publish(None, now)
    assert first.changed  # base URL differs from the fixture's placeholder publish
    before = bodies(published)
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    second = publisher(published, settings, out).publish(None, now + timedelta(hours=1))
    assert second.changed == ()
    assert bodies(published) == before  # same bytes, same ETag, same Last-Modified
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == stamps


def test_static_export_uses_the_public_paths(
    published: Store, settings: Settings, now: datetime, tmp_path: Path
) -> None:
    out = tmp_path / "public"
    publisher(published, settings, out).publish(None, now)
    assert (out / "feeds" / "desks" / "nym.atom").is_file()
    assert (out / "feeds" / "topics" / "trade.json").is_file()
    assert (out / "feeds.opml").is_file()
    stored = bodies(published)
    assert (out / "feeds" / "all.rss").read_bytes() == stored["feeds/all.rss"][0]
    assert not list(out.rglob(".*"))  # no temp files left behind
    assert (out / "feeds" / "all.rss").stat().st_mtime == stored["feeds/all.rss"][2].timestamp()


def test_write_if_changed_is_atomic_and_lazy(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b.rss"
    assert write_if_changed(target, b"one", None) is True
    assert write_if_changed(target, b"one", None) is False
    assert write_if_changed(target, b"two", None) is True
    assert target.read_bytes() == b"two"
    assert [p.name for p in target.parent.iterdir()] == ["b.rss"]


def test_only_touched_feeds_are_rendered_again(
    published: Store, settings: Settings, now: datetime
) -> None:
    pub = publisher(published, settings)
    pub.publish(None, now)
    catalog = load_catalog(settings.feeds_dir)
    europe = catalog.sources["europe-wire"]
    assert europe.path is not None
    article = europe.path / "101_steel_tariffs.txt"
    article.write_bytes(article.read_bytes().replace(b"steel", b"aluminium"))
    settle(article)
    result = fetch_and_store(europe, catalog, published, Fetcher().fetch, now)
    assert result.updated == 1
    assert "europe" in result.touched.desks and "nym" not in result.touched.desks
    before = bodies(published)
    changed = pub.publish(result.touched, now + timedelta(minutes=1)).changed
    assert "feeds/desks/europe.rss" in changed and "feeds/all.atom" in changed
    assert not any(path.startswith("feeds/desks/nym") for path in changed)
    after = bodies(published)
    assert after["feeds/desks/nym.rss"] == before["feeds/desks/nym.rss"]
    assert after["feeds/desks/europe.rss"][1] != before["feeds/desks/europe.rss"][1]


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_published_xml_parses_back_to_the_stored_articles(
    published: Store, settings: Settings, now: datetime, fmt: str
) -> None:
    publisher(published, settings).publish(None, now)
    body = bodies(published)[f"feeds/all.{fmt}"][0]
    parsed = feedparser.parse(body)
    assert parsed.bozo == 0
    stored = published.list_articles(limit=settings.feed_size)
    assert len(parsed.entries) == len(stored) == 7
    for entry, article in zip(parsed.entries, stored, strict=True):
        assert entry.id == entry_id(article)
        assert entry.title == article.title
        assert entry.get("link") == article.link(BASE)  # a wire story's page
        assert entry.summary == article.summary
        assert entry.content[0].value == article.content_html
        published_at = entry.published_parsed
        assert datetime(*published_at[:6]).isoformat() + "Z" == article.to_json(BASE)["published"]
        assert entry.author == article.author == {"nym": "NYM Desk", "europe": "Europe Desk"}[
            article.desk
        ]  # the sample's wire articles name no author: their desk is credited
        assert sorted(t.term for t in entry.get("tags", [])) == sorted(article.topics)


def test_published_json_matches_the_stored_articles(
    published: Store, settings: Settings, now: datetime
) -> None:
    publisher(published, settings).publish(None, now)
    feed = json.loads(bodies(published)["feeds/topics/security.json"][0])
    stored = published.list_articles(topic="security")
    assert [item["id"] for item in feed["items"]] == [entry_id(a) for a in stored]
    for item, article in zip(feed["items"], stored, strict=True):
        assert item["title"] == article.title
        assert item["url"] == article.to_json(BASE)["url"] == f"{BASE}articles/{article.id}"
        assert item["content_html"] == article.content_html
        assert item["summary"] == article.summary
        assert item["date_published"] == article.to_json(BASE)["published"]
        assert item["date_modified"] == article.to_json(BASE)["updated"]
        assert item["tags"] == list(article.topics)
    assert feed["feed_url"] == BASE + "feeds/topics/security.json"


def test_feed_size_limits_items(published: Store, settings: Settings, now: datetime) -> None:
    small = Publisher(published, load_catalog(settings.feeds_dir), base_url=BASE, feed_size=2)
    small.publish(None, now)
    assert len(feedparser.parse(bodies(published)["feeds/all.atom"][0]).entries) == 2


def test_every_exported_file_has_a_gzip_sibling_with_its_mtime(
    published: Store, settings: Settings, now: datetime, tmp_path: Path
) -> None:
    out = tmp_path / "public"
    publisher(published, settings, out).publish(None, now)
    sources = [p for p in out.rglob("*") if p.is_file() and p.suffix not in (".gz", ".map")]
    assert len(sources) == 7 * 3 + 3  # every feed in every format, and the OPML in each
    ages = (out / "max-age.map").read_text().splitlines()[1:]  # for nginx: what the app sends
    ages = [line for line in ages if not line.startswith('"~')]  # archives: test_archive_export
    assert sorted(ages) == sorted(
        f"/{feed.path} {feed.max_age};"
        for feed in published.load_feeds()
        if not feed.path.startswith(PAGE_PREFIX)  # pages are served by the app only
    )
    for source in sources:
        zipped = source.with_name(source.name + ".gz")
        assert gzip.decompress(zipped.read_bytes()) == source.read_bytes()
        assert zipped.stat().st_mtime_ns == source.stat().st_mtime_ns
    assert sorted(p.name for p in out.rglob("*.gz.gz")) == []
    # an export made before .gz files existed gets them, and its files are not touched
    lost = out / "feeds" / "all.atom.gz"
    lost.unlink()
    source_stamp = (out / "feeds" / "all.atom").stat().st_mtime_ns
    publisher(published, settings, out).publish(None, now + timedelta(hours=1))
    assert (
        lost.stat().st_mtime_ns == source_stamp == (out / "feeds" / "all.atom").stat().st_mtime_ns
    )


def _giant_feed(scale: int) -> bytes:
    """Three items, each giant in another text; ``scale`` only makes the giants bigger."""
    words = "Word " * (60_000 * scale)  # spaces, so a cut can fall between words
    items = [
        ("title", f"<title>{words}</title><description>d</description>"),
        (
            "author",
            f"<title>Author</title><dc:creator>{words}</dc:creator>"
            f"<description>&lt;p&gt;{words}&lt;/p&gt;</description>"
            f"<content:encoded>&lt;p&gt;short&lt;/p&gt;</content:encoded>",
        ),
        (
            "content",
            f"<title>Content</title><description>&lt;p&gt;{words * 3}&lt;/p&gt;</description>",
        ),
    ]
    body = "".join(
        f"<item><guid isPermaLink='false'>{guid}</guid>{inner}"
        "<pubDate>Mon, 23 Jun 2025 19:09:00 +0000</pubDate></item>"
        for guid, inner in items
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0' "
        "xmlns:dc='http://purl.org/dc/elements/1.1/' "
        "xmlns:content='http://purl.org/rss/1.0/modules/content/'><channel>"
        f"<title>Giants</title><link>https://giants.example/</link><description>d</description>"
        f"{body}</channel></rss>"
    ).encode()


def feed_bound(entries: int) -> int:
    """The most bytes a published feed of ``entries`` entries can take, from the ceilings.

    Every short text at 4 UTF-8 bytes per character and escaped twice over
    (RSS's HTML-escaped description in XML: "&" becomes "&amp;amp;"), the
    content at 5 bytes per byte ("&" in XML), and generous room for the markup.
    """
    short = TITLE_LIMIT + AUTHOR_LIMIT + 2 * SUMMARY_LIMIT + 2 * CORRECTION_LIMIT
    links = 5 * MAX_URL_LENGTH + 1024  # link, guid or id, atom:source id and link; a guid hash
    per_entry = 9 * 4 * (short + links) + 5 * CONTENT_LIMIT + 4096
    return 16 * 1024 + entries * per_entry


def test_giant_items_cannot_grow_a_feed_past_its_bound(
    store: Store, settings: Settings, now: datetime
) -> None:
    """Issue 10 §5: giant texts in, every feed under its bound, and no bigger for bigger giants."""
    catalog = load_catalog(settings.feeds_dir)
    source = Source(
        id="giants", kind="feed", desk="nym", every=timedelta(minutes=5), url="http://x/"
    )
    catalog = dataclasses.replace(catalog, sources={**catalog.sources, source.id: source})
    fetcher = Fetcher(AddressPolicy(allow_networks=(ip_network("127.0.0.0/8"),)))
    published: list[dict[str, bytes]] = []
    with LoopbackServer() as server:
        source = dataclasses.replace(source, url=server.url("/feed"))
        catalog = dataclasses.replace(catalog, sources={**catalog.sources, source.id: source})
        store.sync_sources(catalog.sources.values(), now)
        for scale in (1, 2):
            body = _giant_feed(scale)
            assert len(body) > 1_500_000 * scale
            server.route("/feed", Reply(body=body))
            result = fetch_and_store(source, catalog, store, fetcher.fetch, now)
            assert result.ok and result.new + result.unchanged == 3, result
            Publisher(store, catalog, base_url=BASE, feed_size=50).publish(None, now)
            published.append({path: body for path, (body, _, _) in bodies(store).items()})
    for path, body in published[0].items():
        if path.endswith((".rss", ".atom", ".json")):
            entries = body.count(b"<item>") + body.count(b"<entry") + body.count(b'"id":"') - (
                1 if path.endswith(".json") else 0
            )
            assert len(body) <= feed_bound(max(entries, 0)), path
    assert published[1] == published[0]  # bigger giants, the same bytes
    giants = {a.guid: a for a in store.list_articles(source="giants")}
    assert len(giants["title"].title) <= TITLE_LIMIT
    assert giants["author"].author is not None and len(giants["author"].author) <= AUTHOR_LIMIT
    assert CONTENT_LIMIT - 1024 < len(giants["content"].content_html.encode()) <= CONTENT_LIMIT
    sizes = {path: len(body) for path, body in published[0].items()}
    assert CONTENT_LIMIT < sizes["feeds/all.json"] < 2 * CONTENT_LIMIT  # the content, bounded


def test_the_hub_is_told_only_of_feeds_whose_bytes_changed(
    published: Store, settings: Settings, now: datetime
) -> None:
    """A new max-age changes a stored feed, not its bytes: no WebSub ping for it."""
    hub = HubSetup("https://hub.example/", "https://news.example/")
    path = settings.feeds_dir / "sources.toml"
    Publisher(published, load_catalog(settings.feeds_dir), base_url=BASE, feed_size=50,
              hub=hub).publish(None, now)  # fmt: skip
    for job in published.claim_pings("test", now, timedelta(minutes=1), 100):
        published.finish_ping(job)  # as if sent
    path.write_text(path.read_text().replace('every = "1m"', 'every = "30s"'))
    faster = Publisher(published, load_catalog(settings.feeds_dir), base_url=BASE,
                       feed_size=50, hub=hub)  # fmt: skip
    result = faster.publish(None, now + timedelta(minutes=1))
    assert "feeds/desks/nym.atom" in result.changed  # its max-age, 60 s → 30 s
    assert result.notified == () and published.pending_pings() == []

    europe = load_catalog(settings.feeds_dir).sources["europe-wire"]
    assert europe.path is not None
    article = europe.path / "101_steel_tariffs.txt"
    article.write_bytes(article.read_bytes().replace(b"steel", b"aluminium"))
    settle(article)
    stored = fetch_and_store(europe, faster.catalog, published, Fetcher().fetch, now)
    result = faster.publish(stored.touched, now + timedelta(minutes=2))
    assert set(result.notified) == {p for p in result.changed if p.startswith("feeds/")}
    assert "feeds/desks/europe.json" in result.notified
    assert {url for url, _, _ in published.pending_pings()} == {
        "https://news.example/" + p for p in result.notified
    }
