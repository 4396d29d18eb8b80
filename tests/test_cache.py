"""Never 404 a published feed: workers load before answering, and 503 while they cannot."""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine

from feedsvc.catalog import load_catalog
from feedsvc.config import Settings
from feedsvc.publish import Publisher
from feedsvc.store import Store
from feedsvc.web import create_app
from feedsvc.web.cache import FeedCache, PageMemo
from servers import closed_port


def test_feeds_keep_being_served_while_the_database_is_away(
    client: FlaskClient, app: Flask, tmp_path: Path
) -> None:
    first = client.get("/feeds/all.rss")
    assert first.status_code == 200
    cache = app.extensions["feedsvc.cache"]
    store = app.extensions["feedsvc.store"]
    cache.check_every = 0.0
    store.engine.dispose()
    store.engine = create_engine(f"sqlite:///{tmp_path / 'missing' / 'gone.sqlite3'}")
    again = client.get("/feeds/all.rss")  # the refresh fails; the ready bytes still answer
    assert again.status_code == 200
    assert again.data == first.data
    assert client.get("/readyz").status_code == 503


def test_a_database_without_schema_gives_503_not_404_nor_500(tmp_path: Path) -> None:
    settings = Settings(feeds_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'empty.db'}")
    fresh = create_app({"TESTING": True, "SETTINGS": settings}).test_client()
    headers = {"Host": "127.0.0.1:8000"}
    for path in ("/feeds/all.rss", "/feeds/desks/nym.atom", "/feeds.opml", "/", "/desks/nym"):
        response = fresh.get(path, headers=headers)
        assert response.status_code == 503, path  # nothing could be read: not "gone"
        assert response.headers["Retry-After"].isdigit()
    assert fresh.head("/feeds/all.rss", headers=headers).status_code == 503


KINDS = ["postgres-closed-port", "sqlite-file-not-there", "sqlite-not-a-database"]


def unreachable(tmp_path: Path, kind: str) -> tuple[str, list[str]]:
    """A database URL that really cannot be read, and what no client may be shown of it."""
    if kind == "postgres-closed-port":
        port = str(closed_port())
        url = f"postgresql+psycopg://feedsvc:s3cret@127.0.0.1:{port}/feedsvc"
        return url, [port, "127.0.0.1", "s3cret", "psycopg", "feedsvc:"]
    path = tmp_path / "db" / "feedsvc.sqlite3"
    if kind == "sqlite-not-a-database":
        path.parent.mkdir()
        path.write_bytes(b"this is not an SQLite database\n" * 100)
    return f"sqlite:///{path}", [str(tmp_path), "sqlite3", "OperationalError"]


@pytest.mark.parametrize("kind", KINDS)
def test_an_unreachable_database_gives_503_and_names_no_host(
    tmp_path: Path, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    url, secrets = unreachable(tmp_path, kind)
    settings = Settings(feeds_dir=tmp_path, database_url=url, allowed_hosts=("localhost",))
    client = create_app({"TESTING": True, "SETTINGS": settings}).test_client()
    for path in ("/feeds/all.rss", "/feeds/topics/security.json", "/feeds.opml", "/", "/desks/nym"):
        response = client.get(path)
        assert response.status_code == 503, path
        assert response.headers["Retry-After"].isdigit(), path
    for path in ("/metrics", "/readyz", "/feeds/all.rss", "/"):
        response = client.get(path)
        assert response.status_code == 503, path
        text = response.get_data(as_text=True)
        assert not [s for s in secrets if s in text], (path, text)
    # the operator still finds the cause, host and port included, in the log
    messages = [record.getMessage() for record in caplog.records]
    assert any("Error) " in m for m in messages), messages  # the driver's own words
    if kind == "postgres-closed-port":
        assert any(f"port {secrets[0]}" in m for m in messages)


def test_a_worker_that_started_without_its_database_serves_once_it_answers(
    tmp_path: Path, feeds_dir: Path, now: datetime
) -> None:
    url = f"sqlite:///{tmp_path / 'later' / 'feedsvc.sqlite3'}"
    settings = Settings(feeds_dir=feeds_dir, database_url=url, allowed_hosts=("localhost",))
    app = create_app({"TESTING": True, "SETTINGS": settings})
    client = app.test_client()
    assert client.get("/feeds/all.atom").status_code == 503  # no schema yet: nothing to read
    store = Store.open(url)
    store.upgrade()
    catalog = load_catalog(feeds_dir)
    Publisher(store, catalog, base_url=None, feed_size=10).publish(None, now)
    store.close()
    app.extensions["feedsvc.cache"].check_every = 0.0  # no waiting for the next look
    assert client.get("/feeds/all.atom").status_code == 200
    missing = client.get("/feeds/desks/sport.atom")  # loaded: now a 404 means unknown
    assert missing.status_code == 404 and b"unknown desk" in missing.data


def test_feeds_are_loaded_before_the_first_request(app: Flask) -> None:
    assert app.extensions["feedsvc.cache"].loaded


def test_no_request_sees_an_empty_cache_while_the_first_load_runs(published: Store) -> None:
    """Requests racing the first load wait for it; none may take "nothing yet" for "404"."""
    for _ in range(5):
        cache = FeedCache(published)
        start = threading.Barrier(16)
        found: list[object] = []

        def ask(
            cache: FeedCache = cache, start: threading.Barrier = start, found: list = found
        ) -> None:
            start.wait()
            found.append(cache.get("feeds/all.rss", "http://localhost/"))

        threads = [threading.Thread(target=ask) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(found) == 16 and None not in found


@pytest.mark.parametrize(
    ("puts", "kept"),
    [
        # (key, bytes) in order → keys still kept, with a budget of 3 pages and 100 bytes
        ([("a", 40), ("b", 40)], ["a", "b"]),
        ([("a", 40), ("b", 40), ("c", 40)], ["b", "c"]),  # over the bytes: oldest out
        ([("a", 10), ("b", 10), ("c", 10), ("d", 10)], ["b", "c", "d"]),  # over the count
        ([("a", 40), ("big", 101)], ["a"]),  # larger than the whole budget: not kept
        ([("a", 40), ("a", 90), ("b", 5)], ["a", "b"]),  # a replaced page counts once
        ([("a", 40), ("a", 90), ("b", 20)], ["b"]),
    ],
)
def test_the_page_memo_is_bounded_in_count_and_bytes(
    puts: list[tuple[str, int]], kept: list[str]
) -> None:
    memo = PageMemo(size=3, max_bytes=100)
    for key, size in puts:
        memo.put("g1", (key,), b"x" * size)
    keys = list(dict.fromkeys(key for key, _ in puts))
    assert [key for key in keys if memo.get("g1", (key,)) is not None] == kept
    assert memo.get("g2", (kept[0],)) is None  # another generation sees nothing
