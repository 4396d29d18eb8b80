"""Admin sessions that end, guessing that is throttled, and bad input that is a 4xx.

Runs on SQLite and PostgreSQL: sessions and failure counts live in the
database, so two apps on one database stand for two worker processes.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from admin_support import AUTH, LiveApp, csrf_of, log_in
from conftest import ADMIN_TOKEN
from feedsvc.auth import FREE_FAILURES, client_key, lockout
from feedsvc.catalog import load_catalog
from feedsvc.config import Settings, load_settings
from feedsvc.errors import ConfigError
from feedsvc.store import Store
from feedsvc.web import create_app
from servers import closed_port

WRONG = {"Authorization": "Bearer not-the-admin-token-at-all"}


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def worker(settings: Settings, store: Store, **config: object) -> Flask:
    """One more app on the same database: another worker process, as far as state goes."""
    return create_app({"TESTING": True, "SETTINGS": settings, "STORE": store, **config})


# -- sessions ----------------------------------------------------------------------------


def copy_cookie(source: FlaskClient, target: FlaskClient) -> None:
    cookie = source.get_cookie("feedsvc_admin", path="/admin")
    assert cookie is not None
    target.set_cookie("feedsvc_admin", cookie.value, path="/admin")


def test_logout_ends_every_copy_of_the_session(
    admin_client: FlaskClient, admin_app: Flask, published: Store
) -> None:
    token = log_in(admin_client)
    thief = admin_app.test_client()
    copy_cookie(admin_client, thief)
    assert thief.get("/admin/").status_code == 200  # a copy works while the session lives
    admin_client.post("/admin/logout", data={"csrf_token": token})

    assert thief.get("/admin/").status_code == 302  # to the login page
    refused = thief.post("/admin/sources/nym-wire/pause", data={"csrf_token": token})
    assert refused.status_code == 401 and b"log in again" in refused.data
    assert published.source_health("nym-wire").paused is False
    assert admin_client.get("/admin/").status_code == 302


def test_a_token_change_ends_every_session(
    admin_settings: Settings, published: Store
) -> None:
    """Even with a signing key that stays (set explicitly), the session's row names the
    token it was opened with."""
    fixed_key = {"SECRET_KEY": "a-signing-key-that-does-not-change"}
    before = worker(admin_settings, published, **fixed_key).test_client()
    log_in(before)
    changed = dataclasses.replace(admin_settings, admin_token="another-admin-token-now")
    after = worker(changed, published, **fixed_key).test_client()
    copy_cookie(before, after)
    assert after.get("/admin/").status_code == 302
    assert before.get("/admin/").status_code == 200  # the old worker still has the old token


def test_sessions_are_shared_by_workers(admin_settings: Settings, published: Store) -> None:
    one = worker(admin_settings, published).test_client()
    two = worker(admin_settings, published).test_client()
    token = log_in(one)
    copy_cookie(one, two)
    assert two.get("/admin/").status_code == 200
    assert two.post("/admin/logout", data={"csrf_token": token}).status_code == 302
    assert one.get("/admin/").status_code == 302  # logged out on the other worker


def test_a_session_expires(admin_settings: Settings, published: Store) -> None:
    clock = Clock()
    client = worker(admin_settings, published, CLOCK=clock).test_client()
    log_in(client)
    clock.advance(12 * 3600 - 1)
    assert client.get("/admin/").status_code == 200
    clock.advance(2)
    assert client.get("/admin/").status_code == 302


# -- throttling ---------------------------------------------------------------------------


def test_lockout_grows_and_is_capped() -> None:
    assert [lockout(n) for n in range(FREE_FAILURES + 1)] == [None] * (FREE_FAILURES + 1)
    waits = [lockout(FREE_FAILURES + n) for n in range(1, 12)]
    assert waits[:4] == [timedelta(seconds=s) for s in (1, 2, 4, 8)]
    assert waits[-1] == timedelta(minutes=15) and lockout(10**9) == timedelta(minutes=15)


def test_client_keys_group_ipv6_by_64() -> None:
    assert client_key("192.0.2.7") == "192.0.2.7"
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:ffff::9")
    assert client_key("2001:db8:1:2:aaaa::1") != client_key("2001:db8:1:3::1")
    assert client_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert client_key(None) == client_key("not an address") == "unknown"


def test_api_guessing_is_locked_out_across_workers(
    admin_settings: Settings, published: Store
) -> None:
    clock = Clock()
    one = worker(admin_settings, published, CLOCK=clock).test_client()
    two = worker(admin_settings, published, CLOCK=clock).test_client()
    statuses = [
        (one if n % 2 else two).get("/api/v1/sources", headers=WRONG).status_code
        for n in range(FREE_FAILURES + 1)
    ]
    assert statuses == [401] * FREE_FAILURES + [429]  # one count, whichever worker answered
    locked = one.get("/api/v1/sources", headers=AUTH)  # even the right token: not looked at
    assert locked.status_code == 429 and locked.headers["Retry-After"] == "1"
    assert "too many wrong tokens" in locked.json["error"]
    elsewhere = {"REMOTE_ADDR": "198.51.100.4"}
    assert one.get("/api/v1/sources", headers=AUTH, environ_base=elsewhere).status_code == 200

    clock.advance(1)  # the lockout is over: one more wrong token doubles it
    assert two.get("/api/v1/sources", headers=WRONG).status_code == 429
    assert two.get("/api/v1/sources", headers=AUTH).headers["Retry-After"] == "2"
    clock.advance(2)
    assert two.get("/api/v1/sources", headers=AUTH).status_code == 200  # and forgets the count
    assert [two.get("/api/v1/sources", headers=WRONG).status_code for _ in range(2)] == [401] * 2


def test_login_form_guessing_is_locked_out(admin_settings: Settings, published: Store) -> None:
    clock = Clock()
    client = worker(admin_settings, published, CLOCK=clock).test_client()
    token = csrf_of(client.get("/admin/login").data)
    wrong = {"csrf_token": token, "token": "not-the-admin-token-at-all"}
    statuses = [
        client.post("/admin/login", data=wrong).status_code for _ in range(FREE_FAILURES + 1)
    ]
    assert statuses == [401] * FREE_FAILURES + [429]
    right = {"csrf_token": token, "token": ADMIN_TOKEN}
    locked = client.post("/admin/login", data=right)
    assert locked.status_code == 429 and locked.headers["Retry-After"] == "1"
    assert b"Too many wrong tokens" in locked.data
    assert client.get("/api/v1/sources", headers=AUTH).status_code == 429  # one count for both
    clock.advance(1)
    assert client.post("/admin/login", data=right).status_code == 302


def test_a_right_token_is_never_counted(admin_client: FlaskClient, published: Store) -> None:
    for _ in range(FREE_FAILURES * 3):
        assert admin_client.get("/api/v1/sources", headers=AUTH).status_code == 200
    assert published.auth_state("127.0.0.1", datetime.now(UTC)).failures == 0


# -- bad input ----------------------------------------------------------------------------


def test_a_short_admin_token_stops_start_up() -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings({"FEEDSVC_ADMIN_TOKEN": "t0ken"})
    message = str(refused.value)
    assert message.startswith("FEEDSVC_ADMIN_TOKEN: at least 16 characters, got 5")
    assert "\n" not in message
    assert load_settings({"FEEDSVC_ADMIN_TOKEN": "x" * 16}).admin_token == "x" * 16


def test_deep_or_huge_json_is_a_400_or_413(admin_client: FlaskClient) -> None:
    json_type = {**AUTH, "Content-Type": "application/json"}
    deep = b"[" * 100_000 + b"]" * 100_000
    response = admin_client.post("/api/v1/sources", data=deep, headers=json_type)
    assert response.status_code == 400 and "recursion limit" in response.json["error"]
    huge = b'{"id": "' + b"x" * (1024 * 1024) + b'"}'
    response = admin_client.post("/api/v1/sources", data=huge, headers=json_type)
    assert response.status_code == 413 and "larger than" in response.json["error"]
    for body in (b'{"id": NaN}', b"[1e400]"):
        response = admin_client.post("/api/v1/sources", data=body, headers=json_type)
        assert response.status_code == 400, body


def test_a_chunked_body_is_cut_at_the_limit(
    admin_settings: Settings, published: Store
) -> None:
    """No Content-Length to refuse up front: the body is never read past the limit."""
    port = closed_port()
    app = worker(dataclasses.replace(admin_settings, port=port), published)

    def chunks() -> Iterator[bytes]:
        yield b'{"id": "'
        for _ in range(40):
            yield b"x" * 65536
        yield b'"}'

    with LiveApp(app, port):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            connection.request(
                "POST", "/api/v1/sources", body=chunks(), encode_chunked=True,
                headers={**AUTH, "Content-Type": "application/json"},
            )  # fmt: skip
            response = connection.getresponse()
            assert response.status == 413
            assert "larger than" in json.loads(response.read())["error"]
        finally:
            connection.close()


INTERVALS = [
    ("100000000h", "at most 7 days"),
    ("99999999999999h", "at most 7 days"),
    ("9" * 30 + "h", "at most 7 days"),
    ("169h", "at most 7 days"),
    ("0.5s", "at least 1s"),
    ("0s", "at least 1s"),
]


def test_intervals_are_bounded_in_the_api_the_pages_and_the_catalogue(
    admin_client: FlaskClient, feeds_dir: Path
) -> None:
    payload = {"id": "loop", "url": "https://news.example/feed", "desk": "nym"}
    for every, reason in INTERVALS:
        body = {**payload, "every": every}
        response = admin_client.post("/api/v1/sources", json=body, headers=AUTH)
        assert response.status_code == 400 and response.json["field"] == "every", every
        assert reason in response.json["error"], (every, response.json)
    accepted = admin_client.post("/api/v1/sources", json={**payload, "every": "168h"}, headers=AUTH)
    assert accepted.status_code == 201 and accepted.json["every_seconds"] == 7 * 86400
    patched = admin_client.patch(
        "/api/v1/sources/loop", json={"every": "100000000h"}, headers=AUTH
    )
    assert patched.status_code == 400 and "at most 7 days" in patched.json["error"]

    token = log_in(admin_client)
    form = {
        "csrf_token": token, "id": "paged", "url": "https://news.example/f", "desk": "nym",
        "timezone": "UTC", "every": "100000000h",
    }  # fmt: skip
    page = admin_client.post("/admin/sources/new", data=form)
    assert page.status_code == 400 and b"at most 7 days" in page.data

    sources = feeds_dir / "sources.toml"
    sources.write_text(sources.read_text().replace('every = "1m"', 'every = "99999999999999h"', 1))
    with pytest.raises(ConfigError) as refused:
        load_catalog(feeds_dir)
    assert any("every" in p and "at most 7 days" in p for p in refused.value.problems)


def test_ids_must_match_whole(admin_client: FlaskClient) -> None:
    payload = {"id": "a\n", "url": "https://news.example/feed", "desk": "nym"}
    response = admin_client.post("/api/v1/sources", json=payload, headers=AUTH)
    assert response.status_code == 400 and response.json["field"] == "id"
    assert admin_client.get("/api/v1/sources/a%0A", headers=AUTH).status_code == 404


@pytest.mark.parametrize(
    "target", ["/admin/\nSet-Cookie: x=1", "/admin/\r\nX: y", "/admin/é", "/admin/ x"]
)
def test_a_header_breaking_next_falls_back(admin_client: FlaskClient, target: str) -> None:
    page = admin_client.get("/admin/login", query_string={"next": target})
    assert page.status_code == 200
    token = csrf_of(page.data)
    response = admin_client.post(
        "/admin/login", data={"token": ADMIN_TOKEN, "csrf_token": token, "next": target}
    )
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"


def test_a_page_form_over_the_limit_is_413(admin_client: FlaskClient) -> None:
    token = log_in(admin_client)
    response = admin_client.post(
        "/admin/sources/new", data={"csrf_token": token, "title": "x" * (1024 * 1024)}
    )
    assert response.status_code == 413



def test_a_non_ascii_csrf_token_is_a_400(admin_client: FlaskClient) -> None:
    log_in(admin_client)
    response = admin_client.post("/admin/sources/nym-wire/pause", data={"csrf_token": "é" * 43})
    assert response.status_code == 400 and b"CSRF token" in response.data
    login = admin_client.post("/admin/login", data={"csrf_token": "é", "token": "ü"})
    assert login.status_code == 400
