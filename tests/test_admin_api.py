"""The admin API: every route, every error code, sources from the file beside the API's.

Runs on SQLite and PostgreSQL (the ``admin_client`` fixture is built on
``store``); refreshes fetch from a real loopback server.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from admin_support import AUTH, rss, run_queued
from conftest import NOW
from feedsvc import sources as sources_module
from feedsvc.catalog import load_catalog
from feedsvc.config import Settings
from feedsvc.scheduler import Scheduler
from feedsvc.store import Store
from feedsvc.web import create_app
from servers import LoopbackServer, Reply

NEW = {"id": "loop", "url": "https://news.example/feed.rss", "desk": "nym"}

ROUTES = [
    ("GET", "/api/v1/sources"),
    ("POST", "/api/v1/sources"),
    ("GET", "/api/v1/sources/nym-wire"),
    ("PATCH", "/api/v1/sources/nym-wire"),
    ("DELETE", "/api/v1/sources/nym-wire"),
    ("POST", "/api/v1/sources/nym-wire/pause"),
    ("POST", "/api/v1/sources/nym-wire/resume"),
    ("POST", "/api/v1/sources/nym-wire/refresh"),
    ("GET", "/api/v1/sources/nym-wire/health"),
    ("GET", "/api/v1/sources/nym-wire/fetches"),
    ("GET", "/api/v1/articles"),
    ("POST", "/api/v1/articles/nope/retract"),
    ("POST", "/api/v1/articles/nope/restore"),
    ("GET", "/api/v1/openapi.json"),
]


@pytest.fixture
def feed_server() -> Iterator[LoopbackServer]:
    routes = {
        "/feed.rss": Reply(body=rss("one", "two", "three"), etag='"v1"'),
        "/broken.rss": Reply(status=500, body=b"oops"),
    }
    with LoopbackServer(routes) as server:
        yield server


def add(client: FlaskClient, **changes: Any) -> Any:
    response = client.post("/api/v1/sources", json={**NEW, **changes}, headers=AUTH)
    assert response.status_code == 201, response.json
    return response.json


# -- authentication ------------------------------------------------------------


def test_no_token_configured_is_403_everywhere(client: FlaskClient) -> None:
    for method, path in ROUTES:
        for headers in (AUTH, {}):
            response = client.open(path, method=method, json={}, headers=headers)
            assert response.status_code == 403, (method, path)
            assert "FEEDSVC_ADMIN_TOKEN" in response.json["error"]


def test_missing_or_wrong_token_is_401_on_every_route(admin_client: FlaskClient) -> None:
    headers: list[dict[str, str]] = [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": "Basic dGVzdDp0ZXN0"},
        {"Authorization": "Bearer "},
        {"Authorization": "test-admin-token"},
        {"Authorization": "Bearer test-admin-token-and-more"},
    ]
    for n, (method, path) in enumerate(ROUTES):
        for m, header in enumerate(headers):
            # each from its own address: wrong tokens from one address get locked out
            address = {"REMOTE_ADDR": f"192.0.2.{n * len(headers) + m}"}
            response = admin_client.open(
                path, method=method, json={}, headers=header, environ_base=address
            )
            assert response.status_code == 401, (method, path, header)
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
            assert "token" in response.json["error"]


def test_unknown_route_and_method_are_json(admin_client: FlaskClient) -> None:
    missing = admin_client.get("/api/v1/nothing", headers=AUTH)
    assert missing.status_code == 404 and "no such API route" in missing.json["error"]
    wrong = admin_client.put("/api/v1/sources", headers=AUTH)
    assert wrong.status_code == 405 and "PUT" in wrong.json["error"]
    assert "POST" in wrong.headers["Allow"]
    assert admin_client.get("/no-such-page").status_code == 404  # the rest of the site as before


# -- sources ---------------------------------------------------------------------------


def test_list_shows_catalogue_sources_as_managed_by_the_file(admin_client: FlaskClient) -> None:
    response = admin_client.get("/api/v1/sources", headers=AUTH)
    assert response.status_code == 200
    listed = {s["id"]: s for s in response.json["sources"]}
    assert set(listed) == {"nym-wire", "europe-wire", "example-world"}
    wire = listed["nym-wire"]
    assert wire["managed_by"] == "feeds/sources.toml" and wire["editable"] is False
    assert wire["kind"] == "files" and wire["status"] == "ok"
    assert wire["health"]["article_count"] == 4
    assert wire["health"]["last_success_at"].endswith("Z")
    assert listed["example-world"]["status"] == "disabled"


def test_create_read_list(admin_client: FlaskClient) -> None:
    response = admin_client.post(
        "/api/v1/sources",
        json={**NEW, "every": "5m", "topics": ["security"], "title": "Loop <b>news</b>"},
        headers=AUTH,
    )
    assert response.status_code == 201
    assert response.headers["Location"].endswith("/api/v1/sources/loop")
    created = response.json
    assert created["origin"] == "api" and created["managed_by"] == "api" and created["editable"]
    assert (created["every"], created["every_seconds"]) == ("5m", 300)
    assert created["topics"] == ["security"] and created["title"] == "Loop <b>news</b>"
    assert created["status"] == "pending" and created["health"]["article_count"] == 0
    assert admin_client.get("/api/v1/sources/loop", headers=AUTH).json == created
    ids = [s["id"] for s in admin_client.get("/api/v1/sources", headers=AUTH).json["sources"]]
    assert ids[-1] == "loop"


BAD_NEW = [
    ({"desk": "sports"}, 400, "desk", "unknown desk 'sports'"),
    ({"url": "ftp://news.example/feed"}, 400, "url", "only http and https"),
    ({"url": "javascript:alert(1)"}, 400, "url", "only http and https"),
    ({"url": "https://"}, 400, "url", "no host"),
    ({"url": 42}, 400, "url", "expected a URL"),
    ({"every": "often"}, 400, "every", "bad interval"),
    ({"every": "0.5s"}, 400, "every", "at least 1s"),
    ({"timezone": "Mars/Olympus"}, 400, "timezone", "unknown time zone"),
    ({"topics": ["cooking"]}, 400, "topics", "unknown topic 'cooking'"),
    ({"topics": "security"}, 400, "topics", "list of topic ids"),
    ({"enabled": "yes"}, 400, "enabled", "true or false"),
    ({"title": 7}, 400, "title", "string"),
    ({"id": "Bad Id"}, 400, "id", "bad id"),
    ({"id": ""}, 400, "id", "id is required"),
    ({"id": "x" * 101}, 400, "id", "at most 100"),
    ({"id": "a\n"}, 400, "id", "bad id"),
    ({"topics": ["trade"] * 51}, 400, "topics", "at most 50"),
    ({"timezone": None}, 400, "timezone", "time zone name"),
    ({"kind": "files"}, 400, "kind", "only 'feed'"),
    ({"colour": "red"}, 400, "colour", "unknown field"),
    ({"id": "nym-wire"}, 409, "id", "already taken (by feeds/sources.toml)"),
]


def test_create_validation(admin_client: FlaskClient) -> None:
    """One database per backend for the whole table: each case is a separate request."""
    for changes, status, field, message in BAD_NEW:
        response = admin_client.post("/api/v1/sources", json={**NEW, **changes}, headers=AUTH)
        assert response.status_code == status, changes
        assert response.json["field"] == field, changes
        assert message in response.json["error"], (changes, response.json)
    for missing in ("url", "desk", "id"):
        payload = {k: v for k, v in NEW.items() if k != missing}
        response = admin_client.post("/api/v1/sources", json=payload, headers=AUTH)
        assert response.status_code == 400 and response.json["field"] == missing
    for body in (b"not json", b"[1, 2]", b'"text"', b""):
        response = admin_client.post(
            "/api/v1/sources", data=body, headers={**AUTH, "Content-Type": "application/json"}
        )
        assert response.status_code == 400, body
        assert "JSON object" in response.json["error"] and "field" not in response.json
    listed = admin_client.get("/api/v1/sources", headers=AUTH).json["sources"]
    assert all(s["origin"] == "catalog" for s in listed)  # nothing half-added


def test_a_key_given_twice_is_400_not_the_last_one_wins(admin_client: FlaskClient) -> None:
    body = b'{"id": "first", "id": "second", "url": "https://news.example/feed", "desk": "nym"}'
    response = admin_client.post(
        "/api/v1/sources", data=body, headers={**AUTH, "Content-Type": "application/json"}
    )
    assert response.status_code == 400 and "'id' is given twice" in response.json["error"]
    listed = admin_client.get("/api/v1/sources", headers=AUTH).json["sources"]
    assert all(s["origin"] == "catalog" for s in listed)


def test_a_body_with_a_byte_order_mark_is_read(admin_client: FlaskClient) -> None:
    body = b'\xef\xbb\xbf{"id": "bom", "url": "https://news.example/feed", "desk": "nym"}'
    response = admin_client.post(
        "/api/v1/sources", data=body, headers={**AUTH, "Content-Type": "application/json"}
    )
    assert response.status_code == 201 and response.json["id"] == "bom"


def test_a_title_is_stored_as_one_line_without_controls(admin_client: FlaskClient) -> None:
    """A source's title credits its items in every feed: no NUL, escape or line break."""
    added = add(admin_client, title=" Wire\x00 one\x1b[31m\n two ")
    assert added["title"] == "Wire one[31m two"
    again = admin_client.get("/api/v1/sources/loop", headers=AUTH).json
    assert again["title"] == "Wire one[31m two"
    patched = admin_client.patch("/api/v1/sources/loop", json={"title": "\x00\t"}, headers=AUTH)
    assert patched.status_code == 200 and patched.json["title"] is None


def test_sources_added_outside_the_file_have_a_ceiling(
    admin_client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """20,000 sources from one OPML file were all taken: a 10 MB list, all scheduled."""
    monkeypatch.setattr(sources_module, "MAX_API_SOURCES", 2)
    add(admin_client, id="one")
    add(admin_client, id="two", url="https://news.example/two")
    third = {**NEW, "id": "three", "url": "https://news.example/3"}
    refused = admin_client.post("/api/v1/sources", json=third, headers=AUTH)
    assert refused.status_code == 409 and "at most 2 sources" in refused.json["error"]
    assert admin_client.delete("/api/v1/sources/one", headers=AUTH).status_code == 204
    add(admin_client, id="three", url="https://news.example/3")  # room again


def test_duplicate_api_id_is_409(admin_client: FlaskClient) -> None:
    add(admin_client)
    again = admin_client.post("/api/v1/sources", json=NEW, headers=AUTH)
    assert again.status_code == 409
    assert again.json == {
        "error": "source id 'loop' is already taken (by the admin API)",
        "field": "id",
    }


def test_patch_changes_only_the_fields_given(admin_client: FlaskClient, published: Store) -> None:
    add(admin_client, every="5m", topics=["security"])
    response = admin_client.patch(
        "/api/v1/sources/loop",
        json={"every": "1h", "title": "Renamed", "url": "https://other.example/rss"},
        headers=AUTH,
    )
    assert response.status_code == 200
    body = response.json
    assert body["every"] == "1h" and body["title"] == "Renamed"
    assert body["url"] == "https://other.example/rss"
    assert body["topics"] == ["security"] and body["desk"] == "nym"
    assert (
        admin_client.patch("/api/v1/sources/loop", json={"title": None}, headers=AUTH).json["title"]
        is None
    )
    (stored,) = published.api_sources()
    assert stored.every == timedelta(hours=1) and stored.url == "https://other.example/rss"


BAD_PATCH = [
    ({"desk": "sports"}, 400, "desk"),
    ({"url": "file:///etc/passwd"}, 400, "url"),
    ({"every": "5 minutes"}, 400, "every"),
    ({"id": "renamed"}, 400, "id"),
    ({"kind": "files"}, 400, "kind"),
    ({"paused": True}, 400, "paused"),
    ({"url": None}, 400, "url"),
    ({"enabled": None}, 400, "enabled"),
    ({"title": "x" * 201}, 400, "title"),
    ({"priority": "5"}, 400, "priority"),
    ({"priority": True}, 400, "priority"),
    ({"priority": 1001}, 400, "priority"),
    ({"keep": "1m"}, 400, "keep"),
    ({"keep": 90}, 400, "keep"),
    ({"max_items": 0}, 400, "max_items"),
    ({"max_items": 10_001}, 400, "max_items"),
]


def test_priority_keep_and_max_items(admin_client: FlaskClient, published: Store) -> None:
    body = add(admin_client)
    assert (body["priority"], body["keep"], body["max_items"]) == (0, None, 500)
    changed = admin_client.patch(
        "/api/v1/sources/loop",
        json={"priority": 10, "keep": "90d", "max_items": 20},
        headers=AUTH,
    ).json
    assert (changed["priority"], changed["keep"], changed["max_items"]) == (10, "90d", 20)
    (stored,) = published.api_sources()
    assert (stored.priority, stored.keep, stored.max_items) == (10, timedelta(days=90), 20)
    again = admin_client.patch("/api/v1/sources/loop", json={"keep": None}, headers=AUTH)
    assert again.json["keep"] is None and again.json["priority"] == 10


def test_patch_validation(admin_client: FlaskClient) -> None:
    before = add(admin_client)
    for payload, status, field in BAD_PATCH:
        response = admin_client.patch("/api/v1/sources/loop", json=payload, headers=AUTH)
        assert response.status_code == status and response.json["field"] == field, payload
    assert admin_client.get("/api/v1/sources/loop", headers=AUTH).json == before


def test_catalogue_sources_cannot_be_edited_or_deleted(admin_client: FlaskClient) -> None:
    for method, payload in (("PATCH", {"every": "5m"}), ("DELETE", None)):
        response = admin_client.open(
            "/api/v1/sources/nym-wire", method=method, json=payload, headers=AUTH
        )
        assert response.status_code == 409, method
        message = response.json["error"]
        assert "managed by feeds/sources.toml" in message
        assert "only pause, resume or refresh" in message
    assert admin_client.get("/api/v1/sources/nym-wire", headers=AUTH).json["every"] == "1m"


UNKNOWN_SOURCE_ROUTES = [
    ("GET", ""),
    ("PATCH", ""),
    ("DELETE", ""),
    ("POST", "/pause"),
    ("POST", "/resume"),
    ("POST", "/refresh"),
    ("GET", "/health"),
    ("GET", "/fetches"),
]


def test_unknown_source_is_404(admin_client: FlaskClient) -> None:
    for method, suffix in UNKNOWN_SOURCE_ROUTES:
        response = admin_client.open(
            f"/api/v1/sources/nope{suffix}", method=method, json={"every": "5m"}, headers=AUTH
        )
        assert response.status_code == 404, (method, suffix)
        assert response.json == {"error": "no source 'nope'"}


def test_delete_api_source(admin_client: FlaskClient) -> None:
    add(admin_client)
    response = admin_client.delete("/api/v1/sources/loop", headers=AUTH)
    assert response.status_code == 204 and response.data == b""
    assert admin_client.get("/api/v1/sources/loop", headers=AUTH).status_code == 404
    assert admin_client.delete("/api/v1/sources/loop", headers=AUTH).status_code == 404


@pytest.mark.parametrize("source_id", ["nym-wire", "loop"])
def test_pause_and_resume(admin_client: FlaskClient, published: Store, source_id: str) -> None:
    add(admin_client)
    paused = admin_client.post(f"/api/v1/sources/{source_id}/pause", headers=AUTH)
    assert paused.status_code == 200
    assert paused.json["paused"] is True and paused.json["status"] == "paused"
    far = datetime(2999, 1, 1, tzinfo=UTC)
    assert source_id not in published.claim_due("probe", far, timedelta(seconds=1), 10)
    resumed = admin_client.post(f"/api/v1/sources/{source_id}/resume", headers=AUTH)
    assert resumed.status_code == 200 and resumed.json["paused"] is False
    health = published.source_health(source_id)
    assert health is not None and health.next_fetch_at is None  # due at once


def refresh(client: FlaskClient, source_id: str) -> Any:
    """Queue a refresh through the API: 202, and where to look."""
    response = client.post(f"/api/v1/sources/{source_id}/refresh", headers=AUTH)
    assert response.status_code == 202, response.json
    health = f"/api/v1/sources/{source_id}/health"
    assert response.headers["Location"] == health and response.json["health"] == health
    assert response.json["status"] == "queued" and response.json["source"] == source_id
    return response.json


def test_refresh_is_queued_then_run_by_the_scheduler_then_304(
    admin_client: FlaskClient,
    admin_settings: Settings,
    feed_server: LoopbackServer,
    published: Store,
) -> None:
    add(admin_client, url=feed_server.url("/feed.rss"))
    queued = refresh(admin_client, "loop")
    assert feed_server.hits("/feed.rss") == 0  # the web request fetched nothing
    waiting = admin_client.get("/api/v1/sources/loop/health", headers=AUTH).json
    assert waiting["refresh_requested_at"] == queued["requested_at"]
    assert waiting["last_fetch_at"] is None

    assert run_queued(admin_settings, published) == 1
    source = admin_client.get("/api/v1/sources/loop", headers=AUTH).json
    assert source["status"] == "ok"
    health = source["health"]
    assert health["refresh_requested_at"] is None  # done
    assert health["article_count"] == 3 and health["last_status"] == 200
    assert health["consecutive_errors"] == 0 and health["last_error"] is None
    assert health["last_fetch_at"] == health["last_success_at"]
    assert health["next_fetch_at"] > health["last_fetch_at"]
    assert published.source_health("loop").lease_until is None  # the lease went back
    assert run_queued(admin_settings, published) == 0  # once, not again

    refresh(admin_client, "loop")
    assert run_queued(admin_settings, published) == 1
    assert feed_server.requests("/feed.rss")[-1].headers["if-none-match"] == '"v1"'
    health = admin_client.get("/api/v1/sources/loop/health", headers=AUTH).json
    assert health["last_status"] == 304

    fetches = admin_client.get("/api/v1/sources/loop/fetches", headers=AUTH).json["fetches"]
    assert [(f["outcome"], f["status"], f["new"]) for f in fetches] == [
        ("not_modified", 304, 0),
        ("ok", 200, 3),
    ]
    assert (
        len(admin_client.get("/api/v1/sources/loop/fetches?limit=1", headers=AUTH).json["fetches"])
        == 1
    )
    # what the refresh brought is published by the scheduler
    assert b"Story one" in admin_client.get("/feeds/desks/nym.rss").data

    # a new URL is another document: its old ETag is not sent
    moved = feed_server.url("/feed.rss") + "?moved=1"
    assert (
        admin_client.patch("/api/v1/sources/loop", json={"url": moved}, headers=AUTH).status_code
        == 200
    )
    refresh(admin_client, "loop")
    run_queued(admin_settings, published)
    # the same items, whose atom:source now names the feed's new address: updated in place
    last = admin_client.get("/api/v1/sources/loop/fetches?limit=1", headers=AUTH).json["fetches"]
    assert [(f["status"], f["new"], f["updated"]) for f in last] == [(200, 0, 3)]
    assert "if-none-match" not in feed_server.requests("/feed.rss")[-1].headers


def test_refresh_of_a_failing_source_reports_the_error(
    admin_client: FlaskClient,
    admin_settings: Settings,
    feed_server: LoopbackServer,
    published: Store,
) -> None:
    add(admin_client, url=feed_server.url("/broken.rss"))
    for expected in (1, 2):
        refresh(admin_client, "loop")
        assert run_queued(admin_settings, published) == 1
        body = admin_client.get("/api/v1/sources/loop", headers=AUTH).json
        assert body["status"] == "error"
        assert body["health"]["consecutive_errors"] == expected
        assert "500" in body["health"]["last_error"]
    health = admin_client.get("/api/v1/sources/loop/health", headers=AUTH)
    assert health.status_code == 200
    assert health.json["id"] == "loop" and health.json["status"] == "error"
    assert health.json["consecutive_errors"] == 2 and health.json["last_status"] == 500


def test_refresh_of_a_paused_source_runs_once_and_it_stays_paused(
    admin_client: FlaskClient, admin_settings: Settings, published: Store
) -> None:
    admin_client.post("/api/v1/sources/nym-wire/pause", headers=AUTH)
    before = len(published.recent_fetches("nym-wire"))
    refresh(admin_client, "nym-wire")
    assert run_queued(admin_settings, published) == 1
    body = admin_client.get("/api/v1/sources/nym-wire", headers=AUTH).json
    assert body["paused"] is True and body["status"] == "paused"  # a refresh does not resume it
    assert body["health"]["refresh_requested_at"] is None
    assert len(published.recent_fetches("nym-wire")) == before + 1
    assert run_queued(admin_settings, published) == 0  # paused again: once was all


def test_refresh_asked_during_a_fetch_runs_after_it(
    admin_client: FlaskClient, admin_settings: Settings, published: Store
) -> None:
    """A fetch already running took an older request (or none): the new one is not lost."""
    claim = published.claim_source("nym-wire", "scheduler-1", NOW, timedelta(minutes=5))
    assert claim is not None
    refresh(admin_client, "nym-wire")
    published.finish("nym-wire", "scheduler-1", NOW + timedelta(hours=1), claim)
    health = published.source_health("nym-wire")
    assert health.refresh_requested_at is not None and health.next_fetch_at is None
    assert run_queued(admin_settings, published) == 1
    assert published.source_health("nym-wire").refresh_requested_at is None


def test_fetches_limit_is_validated(admin_client: FlaskClient) -> None:
    response = admin_client.get("/api/v1/sources/nym-wire/fetches?limit=0", headers=AUTH)
    assert response.status_code == 400 and response.json["field"] == "limit"


# -- articles --------------------------------------------------------------------


ARTICLE_FILTERS = [
    ("", 7),
    ("desk=nym", 4),
    ("desk=europe", 3),
    ("source=nym-wire", 4),
    ("source=europe-wire&desk=nym", 0),
    ("topic=security", None),
    ("q=NATO", 1),
    ("q=nato&desk=europe", 0),
    ("q=100%25", 0),
    ("q=_", 0),
    ("desk=sports", 0),
]


def test_a_wire_storys_url_is_its_page_on_the_requests_base(admin_client: FlaskClient) -> None:
    found = admin_client.get("/api/v1/articles?source=nym-wire", headers=AUTH).json["articles"]
    assert found and all(a["url"] == f"http://localhost/articles/{a['id']}" for a in found)


def test_articles_filters(admin_client: FlaskClient, published: Store) -> None:
    for query, total in ARTICLE_FILTERS:
        response = admin_client.get(f"/api/v1/articles?{query}", headers=AUTH)
        assert response.status_code == 200
        body = response.json
        if total is None:
            total = published.count_articles(topic="security")
            assert total > 0
        assert body["total"] == total and len(body["articles"]) == total, query
        assert (body["limit"], body["offset"]) == (50, 0)


def test_articles_text_filter_is_case_insensitive_substring(admin_client: FlaskClient) -> None:
    found = admin_client.get("/api/v1/articles?q=nato", headers=AUTH).json["articles"]
    assert [a["title"] for a in found] == ["NATO allies back higher defence spending goal"]
    assert set(found[0]) == {
        "id",
        "source",
        "guid",
        "url",
        "title",
        "summary",
        "content_html",
        "author",
        "desk",
        "topics",
        "published",
        "updated",
        "language",
        "enclosures",
        "image",
        "retracted",
    }


def test_articles_paging(admin_client: FlaskClient) -> None:
    everything = admin_client.get("/api/v1/articles", headers=AUTH).json["articles"]
    pages = [
        admin_client.get(f"/api/v1/articles?limit=3&offset={offset}", headers=AUTH).json
        for offset in (0, 3, 6)
    ]
    assert [len(p["articles"]) for p in pages] == [3, 3, 1]
    assert all(p["total"] == 7 for p in pages)
    assert [a["id"] for p in pages for a in p["articles"]] == [a["id"] for a in everything]


BAD_ARTICLE_QUERIES = [
    ("limit=0", "limit"),
    ("limit=201", "limit"),
    ("limit=ten", "limit"),
    ("offset=-1", "offset"),
    ("offset=1.5", "offset"),
    ("q=" + "x" * 201, "q"),
    ("offset=9223372036854775808", "offset"),
    ("desk=" + "x" * 101, "desk"),
    ("desk=NYM", "desk"),  # ids are matched whole: a 400 naming the filter, not an empty page
    ("topic=security%0A", "topic"),
    ("source=..", "source"),
]


def test_articles_bad_paging_is_400(admin_client: FlaskClient) -> None:
    for query, field in BAD_ARTICLE_QUERIES:
        response = admin_client.get(f"/api/v1/articles?{query}", headers=AUTH)
        assert response.status_code == 400 and response.json["field"] == field, query


# -- where sources live ----------------------------------------------------------------


def test_api_sources_persist_across_a_new_app(
    admin_client: FlaskClient, admin_settings: Settings, db_url: str
) -> None:
    add(admin_client, every="2h", topics=["trade"])
    admin_client.post("/api/v1/sources/loop/pause", headers=AUTH)
    fresh_store = Store.open(db_url)
    try:
        app: Flask = create_app({"TESTING": True, "SETTINGS": admin_settings, "STORE": fresh_store})
        body = app.test_client().get("/api/v1/sources/loop", headers=AUTH).json
    finally:
        fresh_store.close()
    assert (body["every"], body["topics"], body["paused"]) == ("2h", ["trade"], True)


def test_the_scheduler_takes_in_api_sources_while_running(
    admin_client: FlaskClient,
    admin_settings: Settings,
    published: Store,
    feed_server: LoopbackServer,
) -> None:
    scheduler = Scheduler(admin_settings, published)
    try:
        scheduler.start_up()  # before the source exists
        add(admin_client, url=feed_server.url("/feed.rss"), every="1s")
        scheduler.run_once()
        assert feed_server.hits("/feed.rss") == 1
        assert published.source_health("loop").article_count == 3
        assert b"Story one" in admin_client.get("/feeds/all.json").data
        assert scheduler.catalog.sources["loop"].origin == "api"
        admin_client.delete("/api/v1/sources/loop", headers=AUTH)
        scheduler.run_once()
        assert "loop" not in scheduler.catalog.sources
    finally:
        scheduler.shutdown()
    assert feed_server.hits("/feed.rss") == 1


def test_a_source_whose_desk_left_the_catalogue_is_not_fetched(
    admin_client: FlaskClient, admin_settings: Settings, published: Store, feeds_dir: Path
) -> None:
    add(admin_client, desk="europe")
    (feeds_dir / "desks.toml").write_text('[nym]\ntitle = "NYM Desk"\n')
    (feeds_dir / "sources.toml").write_text(
        '[nym-wire]\nkind = "files"\npath = "inbox/nym"\ndesk = "nym"\n'
    )
    client = create_app({"SETTINGS": admin_settings, "STORE": published}).test_client()
    body = client.get("/api/v1/sources/loop", headers=AUTH).json
    assert body["status"] == "error" and "no longer in the catalogue" in body["problem"]
    refused = client.post("/api/v1/sources/loop/refresh", headers=AUTH)
    assert refused.status_code == 409 and "cannot be refreshed" in refused.json["error"]
    scheduler = Scheduler(admin_settings, published)
    try:
        scheduler.start_up()
        assert "loop" not in scheduler.catalog.sources
    finally:
        scheduler.shutdown()


def test_a_catalogue_source_takes_over_an_api_id(
    admin_client: FlaskClient, published: Store, feeds_dir: Path, now: datetime
) -> None:
    add(admin_client, id="moved")
    sources = feeds_dir / "sources.toml"
    sources.write_text(
        sources.read_text() + '\n[moved]\nkind = "feed"\nurl = "https://news.example/moved"\n'
        'desk = "europe"\n'
    )
    published.sync_sources(load_catalog(feeds_dir).sources.values(), now)
    assert published.api_sources() == []
    health = published.source_health("moved")
    assert health is not None and health.origin == "catalog"
    assert '"europe"' in health.config
