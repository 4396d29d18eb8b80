"""Public HTTP: what feed readers, pollers and people get from the web tier."""

from __future__ import annotations

import gzip
import json
import re
import xml.etree.ElementTree as ET
from email.utils import format_datetime, parsedate_to_datetime
from html.parser import HTMLParser

import feedparser
import pytest
from flask.testing import FlaskClient

MEDIA = {
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
}
FEEDS = [
    "feeds/all",
    "feeds/desks/nym",
    "feeds/desks/europe",
    "feeds/topics/security",
    "feeds/topics/digital",
    "feeds/topics/ukraine",
    "feeds/topics/trade",
]


@pytest.mark.parametrize("fmt", ["rss", "atom", "json"])
@pytest.mark.parametrize("path", FEEDS)
def test_every_feed_is_served_with_validators(client: FlaskClient, path: str, fmt: str) -> None:
    response = client.get(f"/{path}.{fmt}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == MEDIA[fmt]
    etag = response.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"')  # strong, not W/
    assert parsedate_to_datetime(response.headers["Last-Modified"]).tzinfo is not None
    assert response.headers["Cache-Control"] == "public, max-age=60"  # sample sources: every 1m
    assert "Accept-Encoding" in response.headers["Vary"]
    if fmt == "json":
        assert json.loads(response.data)["feed_url"] == f"http://localhost/{path}.json"
    else:
        parsed = feedparser.parse(response.data)
        assert parsed.bozo == 0
        self_links = [link.href for link in parsed.feed.links if link.rel == "self"]
        assert self_links == [f"http://localhost/{path}.{fmt}"]


def test_if_none_match_gives_304(client: FlaskClient) -> None:
    first = client.get("/feeds/all.atom")
    again = client.get("/feeds/all.atom", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    assert again.data == b""
    assert again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["Cache-Control"] == first.headers["Cache-Control"]
    listed = client.get(
        "/feeds/all.atom", headers={"If-None-Match": f'"x", {first.headers["ETag"]}'}
    )
    assert listed.status_code == 304
    other = client.get("/feeds/all.atom", headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200


def test_if_modified_since_gives_304(client: FlaskClient) -> None:
    first = client.get("/feeds/desks/nym.rss")
    modified = first.headers["Last-Modified"]
    same = client.get("/feeds/desks/nym.rss", headers={"If-Modified-Since": modified})
    assert same.status_code == 304
    earlier = parsedate_to_datetime(modified).replace(year=2000)
    older = client.get(
        "/feeds/desks/nym.rss", headers={"If-Modified-Since": format_datetime(earlier, usegmt=True)}
    )
    assert older.status_code == 200
    # If-None-Match wins over If-Modified-Since (RFC 9110)
    both = client.get(
        "/feeds/desks/nym.rss", headers={"If-Modified-Since": modified, "If-None-Match": '"nope"'}
    )
    assert both.status_code == 200


def test_gzip_when_asked_and_304_still_works(client: FlaskClient) -> None:
    plain = client.get("/feeds/all.json")
    zipped = client.get("/feeds/all.json", headers={"Accept-Encoding": "gzip, deflate"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.data) == plain.data
    assert zipped.headers["ETag"] != plain.headers["ETag"]  # another representation
    again = client.get(
        "/feeds/all.json",
        headers={"Accept-Encoding": "gzip", "If-None-Match": zipped.headers["ETag"]},
    )
    assert again.status_code == 304
    refused = client.get("/feeds/all.json", headers={"Accept-Encoding": "gzip;q=0"})
    assert "Content-Encoding" not in refused.headers


def test_head_has_headers_and_no_body(client: FlaskClient) -> None:
    get = client.get("/feeds/topics/security.rss")
    head = client.head("/feeds/topics/security.rss")
    assert head.status_code == 200
    assert head.data == b""
    for name in ("ETag", "Last-Modified", "Content-Type", "Cache-Control"):
        assert head.headers[name] == get.headers[name]
    assert head.headers["Content-Length"] == str(len(get.data))


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/feeds/desks/sport.rss", "unknown desk 'sport'"),
        ("/feeds/topics/weather.atom", "unknown topic 'weather'"),
        ("/feeds/all.xml", "unknown feed format 'xml'"),
        ("/feeds/all", "unknown feed format"),
        ("/feeds/everything.json", "unknown feed 'everything'"),
        ("/desks/sport", "unknown desk 'sport'"),
        ("/topics/weather", "unknown topic 'weather'"),
        # a line break in the path matched no route at all: Flask's HTML page, uncounted
        ("/feeds/desks/nym%0A.rss", "unknown desk 'nym\\n'"),
        ("/feeds/a%0Ab/c.rss", "unknown feed"),
        ("/feeds/archive/all/1-%0D%0AX:y.rss", "not an archive document"),
    ],
)
def test_unknown_is_a_short_plain_404(client: FlaskClient, path: str, reason: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.mimetype == "text/plain"
    assert reason in response.get_data(as_text=True)
    assert len(response.data) < 200


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.alternates: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "link" and attributes.get("rel") == "alternate":
            self.alternates.append(attributes)


def alternates(html: str) -> set[tuple[str | None, str | None]]:
    parser = Links()
    parser.feed(html)
    return {(link["href"], link["type"]) for link in parser.alternates}


def test_index_lists_desks_topics_and_every_feed(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    html = response.get_data(as_text=True)
    found = alternates(html)
    for path in FEEDS:
        for fmt, media in MEDIA.items():
            assert (f"/{path}.{fmt}", media.split(";")[0]) in found
    assert "NYM Desk" in html and "Security &amp; Defence" in html
    assert "EU, Canada to deepen ties with new security pact" in html
    assert re.search(r"\d+ articles", html) is None  # no totals: counting is O(stories)
    assert 'action="/search"' in html


@pytest.mark.parametrize("page", ["/desks/nym", "/topics/security"])
def test_pages_list_articles_with_autodiscovery(client: FlaskClient, page: str) -> None:
    response = client.get(page)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    kind = page.strip("/")
    assert {(f"/feeds/{kind}.{fmt}", media.split(";")[0]) for fmt, media in MEDIA.items()} <= (
        alternates(html)
    )
    assert "EU, Canada to deepen ties" in html


@pytest.mark.parametrize(
    ("query", "fmt", "kind"),
    [("", "atom", "rss"), ("?format=atom", "atom", "rss"), ("?format=rss", "rss", "rss"),
     ("?format=json", "json", "json")],
)  # fmt: skip
def test_opml_lists_every_feed_once_in_one_format(
    client: FlaskClient, query: str, fmt: str, kind: str
) -> None:
    response = client.get("/feeds.opml" + query)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/x-opml")
    assert response.headers["ETag"] and response.headers["Last-Modified"]
    again = client.get("/feeds.opml" + query, headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304
    root = ET.fromstring(response.data)
    assert root.get("version") == "2.0"
    feeds = [o for o in root.iter("outline") if o.get("xmlUrl")]
    assert len(feeds) == len(FEEDS)  # each desk, topic and "all" once
    urls = [o.get("xmlUrl") for o in feeds]
    assert len(set(urls)) == len(urls) and all(u.endswith("." + fmt) for u in urls)
    assert f"http://localhost/feeds/desks/nym.{fmt}" in urls
    assert {o.get("type") for o in feeds} == {kind}
    categories = {o.get("category") for o in feeds}
    assert {"/desks/nym", "/topics/trade", "/all"} <= categories


def test_opml_of_an_unknown_format_is_404(client: FlaskClient) -> None:
    response = client.get("/feeds.opml?format=csv")
    assert response.status_code == 404 and b"use ?format=rss, atom or json" in response.data


def test_pages_link_to_the_opml(client: FlaskClient) -> None:
    for page in ("/", "/desks/nym", "/topics/trade"):
        html = client.get(page).get_data(as_text=True)
        for href in ("/feeds.opml", "/feeds.opml?format=rss", "/feeds.opml?format=json"):
            assert f'href="{href}"' in html, (page, href)


def test_health_and_readiness(client: FlaskClient) -> None:
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 200 and b"ready" in ready.data


@pytest.mark.parametrize(
    ("accept", "gzipped"),
    [
        ("gzip", True),
        ("gzip, deflate, br", True),
        ("deflate", False),
        ("gzip;q=0", False),
        ("gzip; q=0.5", True),
        ("*", True),
        ("*;q=0", False),
        ("*, gzip;q=0", False),
        ("gzip;q=0, *", False),
        ("x-gzip", True),
        ("GZIP", True),
        ("gzip;q=nonsense", False),
        ("", False),
    ],
)
def test_gzip_negotiation(client: FlaskClient, accept: str, gzipped: bool) -> None:
    response = client.get("/feeds/all.rss", headers={"Accept-Encoding": accept})
    assert (response.headers.get("Content-Encoding") == "gzip") is gzipped


def test_304_carries_validators_but_no_content_type(client: FlaskClient) -> None:
    first = client.get("/feeds/all.rss")
    again = client.get("/feeds/all.rss", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    assert "Content-Type" not in again.headers
    assert again.headers["Vary"] == "Accept-Encoding"


def test_fast_path_answers_like_flask_would(client: FlaskClient) -> None:
    """Feeds are answered before Flask; the result must be the same HTTP."""
    head = client.head("/feeds/all.atom", headers={"Accept-Encoding": "gzip"})
    get = client.get("/feeds/all.atom", headers={"Accept-Encoding": "gzip"})
    assert head.headers["Content-Length"] == str(len(get.data)) == get.headers["Content-Length"]
    not_modified = client.get("/feeds/all.atom", headers={"If-None-Match": get.headers["ETag"]})
    assert not_modified.status_code == 304
    assert "Content-Length" not in not_modified.headers or (
        not_modified.headers["Content-Length"] == "0"
    )
    assert client.post("/feeds/all.atom").status_code == 405  # other methods reach Flask
