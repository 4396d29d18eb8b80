"""Archive documents as HTTP resources and static files: validators, gzip, redirects and
404s; the export (and nginx serving it); the purge; and sealing work that does not grow
with the archive. On SQLite and PostgreSQL."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import event

from archive_support import BASE, DESK, SOURCE, Newsroom, holding, pages, renamed, story
from archive_walker import walk
from feedsvc.cli import main
from feedsvc.config import Settings
from feedsvc.store import Store
from nginx_support import find_nginx, get, serving
from test_service import free_port

FEED = 5
PAGE = 4
ATOM = "application/atom+xml; charset=utf-8"
STATIC = "http://127.0.0.1:8000/"  # the export's links without FEEDSVC_BASE_URL


@pytest.fixture
def newsroom(store: Store, settings: Settings) -> Newsroom:
    newsroom = Newsroom(store, settings, feed_size=FEED, page_size=PAGE)
    newsroom.add(story(n) for n in range(30))
    return newsroom


def path_of(url: str) -> str:
    return "/" + url.removeprefix(BASE)


def test_a_sealed_page_is_served_with_validators_gzip_and_a_long_max_age(
    newsroom: Newsroom,
) -> None:
    sealed = next(iter(pages(newsroom.walk())))
    client = newsroom.client
    response = client.get(path_of(sealed))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == ATOM
    assert response.headers["Cache-Control"] == "public, max-age=86400"
    etag = response.headers["ETag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert client.get(path_of(sealed), headers={"If-None-Match": etag}).status_code == 304
    modified = response.headers["Last-Modified"]
    assert client.get(path_of(sealed), headers={"If-Modified-Since": modified}).status_code == 304
    zipped = client.get(path_of(sealed), headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.data) == response.data
    assert client.head(path_of(sealed)).headers["ETag"] == etag
    again = client.get(path_of(sealed))  # from this worker's copy: the same bytes
    assert again.data == response.data and again.headers["ETag"] == etag


def test_the_open_page_keeps_its_feeds_max_age_and_its_old_urls_redirect(
    newsroom: Newsroom,
) -> None:
    client = newsroom.client
    walked = newsroom.walk()
    opened = walked.current.links["prev-archive"]
    number = opened.rsplit("/", 1)[-1].split("-")[0]
    response = client.get(path_of(opened))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=60"  # sample: every minute
    bare = client.get(f"/feeds/archive/desks/nym/{number}.atom")  # a sealed page's next-archive
    assert (bare.status_code, bare.headers["Location"]) == (302, opened)
    stale = opened.replace(opened.rsplit("-", 1)[-1], "0123456789abcdef.atom")
    assert client.get(path_of(stale)).headers["Location"] == opened
    newsroom.add(story(n) for n in range(30, 30 + PAGE))  # the open page fills and is sealed
    sealed = client.get(path_of(opened))
    assert sealed.status_code == 301
    assert sealed.headers["Location"] == f"{BASE}feeds/archive/desks/nym/{number}.atom"
    assert newsroom.walk().once() == newsroom.live()


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/feeds/archive/desks/nym/0.atom", "not an archive document"),
        ("/feeds/archive/desks/nym/01.atom", "not an archive document"),
        ("/feeds/archive/desks/nym/abc.atom", "not an archive document"),
        ("/feeds/archive/desks/nym/-1.atom", "not an archive document"),
        ("/feeds/archive/desks/nym/99999.atom", "no archive page 99999"),
        ("/feeds/archive/desks/nym/9999999999.atom", "no archive page 9999999999"),
        ("/feeds/archive/desks/nym/99999999999999999999.atom", "not an archive document"),
        ("/feeds/archive/desks/nym/1.xml", "unknown feed format"),
        ("/feeds/archive/desks/nym/1", "not an archive document"),
        ("/feeds/archive/desks/nope/1.atom", "unknown desk 'nope'"),
        ("/feeds/archive/topics/nope/1.atom", "unknown topic 'nope'"),
        ("/feeds/archive/sources/nym-wire/1.atom", "not an archive document"),
        ("/feeds/archive/desks/nym/../../all.atom", "not an archive document"),
        ("/feeds/archive/desks/nym/1-XYZ.atom", "not an archive document"),
        ("/feeds/archive/", "not an archive document"),
    ],
)
def test_a_bad_page_is_a_404_with_its_reason(newsroom: Newsroom, path: str, reason: str) -> None:
    response = newsroom.client.get(path)
    assert response.status_code == 404, response.data
    assert response.headers["Content-Type"].startswith("text/plain")
    assert reason in response.get_data(as_text=True)


def test_a_page_the_purge_emptied_is_gone_and_the_chain_closes_over_it(
    newsroom: Newsroom,
) -> None:
    first = newsroom.walk()
    oldest = pages(first)
    # keep 20 hours: stories 0..9 are older (story n is n hours after T0, now is a year on)
    keep = newsroom.now - (story(10).published - timedelta(minutes=30))
    result = newsroom.store.purge(newsroom.tick(), {SOURCE: keep}, None, FEED)
    assert result.stories == 10
    newsroom.publish(None)
    walked = newsroom.walk()
    assert walked.once() == newsroom.live()
    gone = set(oldest) - set(pages(walked))
    assert len(gone) >= 2
    for url in gone:
        response = newsroom.client.get(path_of(url))
        assert response.status_code == 404
        assert b"is no more" in response.data


def test_the_export_writes_a_page_when_sealed_or_changed(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "export"
    newsroom = Newsroom(store, settings, feed_size=FEED, page_size=PAGE, folder=folder)
    stories = [story(n) for n in range(40)]
    newsroom.add(stories[:30])
    written = _archive_files(folder)
    walked = newsroom.walk()
    served = [d.url for d in walked.archives]
    assert {f"{path_of(url)[1:]}" for url in served} <= set(written)
    for url in served:  # the same bytes as the app sends on the export's base
        ours = newsroom.client.get(path_of(url), headers={"Host": "127.0.0.1:8000"})
        assert (folder / path_of(url)[1:]).read_bytes() == ours.data, url
        zipped = folder / (path_of(url)[1:] + ".gz")
        assert gzip.decompress(zipped.read_bytes()) == ours.data
    opened = walked.current.links["prev-archive"]

    newsroom.add(stories[30:32])  # newer stories: no sealed page is written again
    after = _archive_files(folder)
    sealed = {path: stamp for path, stamp in written.items() if "-" not in path.rsplit("/")[-1]}
    assert all(after[path] == stamp for path, stamp in sealed.items())
    assert path_of(opened)[1:] not in after  # the open page's old files are gone
    assert path_of(newsroom.walk().current.links["prev-archive"])[1:] in after

    holders = {holding(newsroom.walk(feed), stories[3]) for feed in (DESK, "feeds/all")}
    newsroom.add([renamed(stories[3], "Story 3, corrected")])
    rewritten = {path for path, stamp in _archive_files(folder).items() if after.get(path) != stamp}
    assert {path.rsplit(".", 1)[0] for path in rewritten if path in sealed} == {
        path_of(page)[1:].rsplit(".", 1)[0] for page in holders
    }
    ages = (folder / "max-age.map").read_text()
    assert '"~^/feeds/archive/.+/[0-9]+\\.(rss|atom|json)$" 86400;' in ages


def test_an_export_made_after_the_archive_gets_every_page(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    newsroom = Newsroom(store, settings, feed_size=FEED, page_size=PAGE)
    newsroom.add(story(n) for n in range(30))
    late = tmp_path / "late"
    newsroom.publisher.publish_dir = late
    newsroom.publish(None)
    walked = newsroom.walk()
    files = _archive_files(late)
    for document in walked.archives:
        for fmt in ("rss", "atom", "json"):
            assert f"{path_of(document.url)[1:-4]}{fmt}" in files


def test_a_one_story_publish_costs_the_same_however_big_the_archive(
    store: Store, settings: Settings
) -> None:
    """Sealing and linking per publish must not grow with the archive: count the SQL."""
    newsroom = Newsroom(store, settings, feed_size=FEED, page_size=10)
    statements: list[str] = []

    def counted(*args: Any) -> None:
        statements.append(args[2])

    def one_story_publish(n: int) -> int:
        statements.clear()
        event.listen(store.engine, "before_cursor_execute", counted)
        try:
            newsroom.add([story(n)])
        finally:
            event.remove(store.engine, "before_cursor_execute", counted)
        return len(statements)

    newsroom.add(story(n) for n in range(105))
    small = one_story_publish(105)
    for start in range(106, 1105, 500):
        newsroom.add(story(n) for n in range(start, min(start + 500, 1105)))
    big = one_story_publish(1105)  # the same place in its page as before, ten times the pages
    assert big == small
    assert newsroom.walk().once() == newsroom.live()


def _archive_files(folder: Path) -> dict[str, int]:
    root = folder / "feeds" / "archive"
    return {
        p.relative_to(folder).as_posix(): p.stat().st_mtime_ns
        for p in root.rglob("*")
        if p.is_file() and p.suffix in (".rss", ".atom", ".json")
    }


NGINX = find_nginx()


@contextmanager
def nginx_serving(export: Path, folder: Path) -> Iterator[int]:
    """nginx with the shipped configuration, serving ``export``, on a free loopback port."""
    if NGINX is None:
        pytest.skip("nginx is not installed (apt-get install nginx)")
    with serving(NGINX, folder, export, free_port()) as port:
        yield port


@pytest.mark.slow
def test_nginx_serves_exported_archive_pages_as_the_app_does(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    export = tmp_path / "export"
    newsroom = Newsroom(store, settings, feed_size=FEED, page_size=PAGE, folder=export)
    newsroom.add(story(n) for n in range(30))
    urls = [d.url for d in newsroom.walk().archives]
    assert len(urls) >= 5
    with nginx_serving(export, tmp_path / "nginx") as port:
        for url in urls:
            path = path_of(url)
            status, headers, body = get(port, path)
            ours = newsroom.client.get(path, headers={"Host": "127.0.0.1:8000"})
            assert (status, body) == (200, ours.data), path
            assert headers["Cache-Control"] == ours.headers["Cache-Control"], path
            assert headers["Content-Type"] == ours.headers["Content-Type"], path
            assert headers["Last-Modified"] == ours.headers["Last-Modified"], path
        zipped = get(port, path_of(urls[-1]), **{"Accept-Encoding": "gzip"})
        assert zipped[1]["Content-Encoding"] == "gzip"
        assert get(port, "/feeds/archive/desks/nym/99.atom")[0] == 404



def test_the_command_line_publishes_and_exports_archives_as_configured(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``FEEDSVC_FEED_SIZE`` and ``FEEDSVC_ARCHIVE_SIZE`` reach the publisher: the sample
    catalogue's stories, two to a feed and two to a page, walked in the export itself."""
    export = tmp_path / "export"
    for name, value in (
        ("FEEDSVC_FEED_SIZE", "2"),
        ("FEEDSVC_ARCHIVE_SIZE", "2"),
        ("FEEDSVC_PUBLISH_DIR", str(export)),
        ("FEEDSVC_BASE_URL", "https://feeds.example/"),
    ):
        monkeypatch.setenv(name, value)
    result = runner.invoke(main, ["ingest"])
    assert result.exit_code == 0, result.output

    def from_export(url: str) -> tuple[int, dict[str, str], bytes]:
        target = export / url.removeprefix("https://feeds.example/")
        return (200, {}, target.read_bytes()) if target.is_file() else (404, {}, b"")

    stories = runner.invoke(main, ["articles", "--json"]).output.splitlines()
    for fmt in ("atom", "rss", "json"):
        walked = walk(from_export, f"https://feeds.example/feeds/all.{fmt}", fmt)
        assert len(walked.archives) >= 3
        assert len(walked.once()) == len(stories)
