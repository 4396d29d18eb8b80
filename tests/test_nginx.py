"""deploy/nginx/feedsvc.conf for real: Debian's nginx serving an export the tests make.

Every answer is compared with what the app itself sends for the same feed.
Skipped when nginx is not installed (``apt-get install nginx``).
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from datetime import datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

import pytest

from feedsvc.catalog import load_catalog
from feedsvc.config import Settings
from feedsvc.publish import Publisher
from feedsvc.store import Store
from feedsvc.web import create_app
from nginx_support import find_nginx, get, serving
from test_service import free_port

BASE = "https://feeds.example.org/"
NGINX = find_nginx()

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(NGINX is None, reason="nginx is not installed (apt-get install nginx)"),
]

MEDIA = {
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
}


@pytest.fixture
def export(published: Store, settings: Settings, now: datetime, tmp_path: Path) -> Path:
    folder = tmp_path / "export"
    catalog = load_catalog(settings.feeds_dir)
    Publisher(published, catalog, base_url=BASE, feed_size=50, publish_dir=folder).publish(
        None, now
    )
    return folder


@pytest.fixture
def nginx(export: Path, tmp_path: Path) -> Iterator[int]:
    assert NGINX is not None
    with serving(NGINX, tmp_path / "nginx", export, free_port()) as port:
        yield port


def exported_paths(export: Path) -> list[str]:
    return sorted(
        "/" + p.relative_to(export).as_posix()
        for p in export.rglob("*")
        if p.is_file() and p.suffix in {".rss", ".atom", ".json", ".opml"}
    )


def test_nginx_serves_the_export_as_the_app_serves_the_feeds(
    nginx: int, export: Path, published: Store, settings: Settings
) -> None:
    fixed = Settings(
        feeds_dir=settings.feeds_dir, database_url=settings.database_url, base_url=BASE
    )
    app = create_app({"TESTING": True, "SETTINGS": fixed, "STORE": published}).test_client()
    paths = exported_paths(export)
    assert len(paths) == 7 * 3 + 3  # every feed in every format, and the OPML in each
    for path in paths:
        status, headers, body = get(nginx, path)
        ours = app.get(path)
        assert status == 200, path
        assert body == (export / path[1:]).read_bytes() == ours.data, path
        assert headers["Content-Type"] == ours.headers["Content-Type"], path
        assert headers["Cache-Control"] == ours.headers["Cache-Control"], path
        assert headers["Last-Modified"] == ours.headers["Last-Modified"], path
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["ETag"].startswith('"')  # strong
    assert get(nginx, "/feeds/desks/nym.atom")[1]["Content-Type"] == MEDIA["atom"]
    assert get(nginx, "/feeds/topics/trade.json")[1]["Content-Type"] == MEDIA["json"]
    assert get(nginx, "/feeds/all.rss")[1]["Content-Type"] == MEDIA["rss"]
    assert get(nginx, "/feeds.opml")[1]["Content-Type"] == "text/x-opml; charset=utf-8"
    for query in ("", "?format=atom", "?format=rss", "?format=json"):
        status, headers, body = get(nginx, "/feeds.opml" + query)
        ours = app.get("/feeds.opml" + query)
        assert (status, body) == (200, ours.data), query
        assert headers["Cache-Control"] == ours.headers["Cache-Control"], query


def test_nginx_answers_304_to_both_validators(nginx: int) -> None:
    _, headers, _ = get(nginx, "/feeds/all.atom")
    etag, modified = headers["ETag"], headers["Last-Modified"]
    status, again, body = get(nginx, "/feeds/all.atom", **{"If-None-Match": etag})
    assert (status, body) == (304, b"")
    assert again["ETag"] == etag and again["Cache-Control"] == headers["Cache-Control"]
    assert get(nginx, "/feeds/all.atom", **{"If-Modified-Since": modified})[0] == 304
    later = format_datetime(parsedate_to_datetime(modified) + timedelta(days=1), usegmt=True)
    assert get(nginx, "/feeds/all.atom", **{"If-Modified-Since": later})[0] == 304
    earlier = format_datetime(parsedate_to_datetime(modified) - timedelta(days=1), usegmt=True)
    assert get(nginx, "/feeds/all.atom", **{"If-Modified-Since": earlier})[0] == 200
    assert get(nginx, "/feeds/all.atom", **{"If-None-Match": '"other"'})[0] == 200


def test_nginx_sends_the_gzip_sibling_when_asked(nginx: int, export: Path) -> None:
    status, headers, body = get(nginx, "/feeds/all.json", **{"Accept-Encoding": "gzip"})
    assert status == 200
    assert headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in headers["Vary"]
    assert headers["Content-Type"] == MEDIA["json"]
    assert gzip.decompress(body) == (export / "feeds" / "all.json").read_bytes()
    assert body == (export / "feeds" / "all.json.gz").read_bytes()  # precompressed, not on the fly
    plain = get(nginx, "/feeds/all.json")[1]
    assert "Content-Encoding" not in plain
    assert plain["ETag"] != headers["ETag"]  # another representation, another validator
    assert plain["Last-Modified"] == headers["Last-Modified"]  # same mtime
    again = get(
        nginx, "/feeds/all.json", **{"Accept-Encoding": "gzip", "If-None-Match": headers["ETag"]}
    )
    assert again[0] == 304


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/index.html",
        "/feeds/",
        "/feeds/all.rss.gz",
        "/feeds.opml.gz",
        "/feeds/all.xml",
        "/feeds/desks/sport.rss",
        "/max-age.map",
        "/feeds/../max-age.map",
        "/articles/x",
    ],
)
def test_nginx_answers_404_for_everything_else(nginx: int, path: str) -> None:
    status, headers, _ = get(nginx, path)
    assert status == 404, path
    assert "Cache-Control" not in headers
