"""The admin pages: log in, cookie flags, CSRF on every form, escaping, and a real browser.

The browser test drives Debian's headless Chromium (``/usr/bin/chromium``) with
Playwright against the app served on a real loopback socket; it is skipped,
saying why, where no chromium binary is installed. Nothing is downloaded.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient

from admin_support import AUTH, LiveApp, csrf_of, log_in, rss, run_queued
from conftest import ADMIN_TOKEN
from feedsvc.config import Settings
from feedsvc.refresh import utcnow
from feedsvc.store import Store
from feedsvc.web import create_app
from servers import LoopbackServer, Reply, closed_port

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
@pytest.fixture
def feed_server() -> Iterator[LoopbackServer]:
    with LoopbackServer({"/feed.rss": Reply(body=rss("one", "two"), etag='"v1"')}) as server:
        yield server


def test_admin_is_403_without_a_configured_token(client: FlaskClient) -> None:
    for path in ("/admin/", "/admin/login", "/admin/sources/nym-wire"):
        response = client.get(path)
        assert response.status_code == 403
        assert b"FEEDSVC_ADMIN_TOKEN" in response.data


def test_pages_need_a_login(admin_client: FlaskClient) -> None:
    response = admin_client.get("/admin/sources/nym-wire")
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/login?next=/admin/sources/nym-wire"
    assert admin_client.get("/admin/static/admin.css").status_code == 200  # the style, not data


def test_login_sets_a_strict_session_cookie(admin_client: FlaskClient) -> None:
    page = admin_client.get("/admin/login")
    cookie = page.headers["Set-Cookie"]
    for flag in ("feedsvc_admin=", "HttpOnly", "SameSite=Lax", "Path=/admin"):
        assert flag in cookie
    token = csrf_of(page.data)
    wrong = admin_client.post("/admin/login", data={"token": "nope", "csrf_token": token})
    assert wrong.status_code == 401 and b"Wrong token" in wrong.data
    right = admin_client.post("/admin/login", data={"token": ADMIN_TOKEN, "csrf_token": token})
    assert right.status_code == 302 and right.headers["Location"] == "/admin/"
    cookie = right.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert admin_client.get("/admin/").status_code == 200


def test_login_redirects_only_inside_admin(admin_client: FlaskClient) -> None:
    token = csrf_of(admin_client.get("/admin/login").data)
    for target, expected in (
        ("/admin/sources/nym-wire", "/admin/sources/nym-wire"),
        ("//evil.example/admin/", "/admin/"),
        ("https://evil.example/", "/admin/"),
        ("/admin/\\\\evil.example", "/admin/"),
        # dot segments leave /admin/ once a browser resolves them, %2e as well (WHATWG URL)
        ("/admin/../feeds/all.rss", "/admin/"),
        ("/admin/sources/../../x", "/admin/"),
        ("/admin/%2e%2e/x", "/admin/"),
        ("/admin/.%2E/x?next=1", "/admin/"),
        ("/admin/./", "/admin/"),
        ("/admin/sources/a..b", "/admin/sources/a..b"),
    ):
        admin_client.post("/admin/logout", data={"csrf_token": token})
        token = csrf_of(admin_client.get("/admin/login").data)
        response = admin_client.post(
            "/admin/login", data={"token": ADMIN_TOKEN, "csrf_token": token, "next": target}
        )
        assert response.headers["Location"] == expected, target
        token = csrf_of(admin_client.get("/admin/").data)


def test_every_form_refuses_a_missing_or_wrong_csrf_token(
    admin_client: FlaskClient, published: Store
) -> None:
    good = log_in(admin_client)
    forms = [
        (
            "/admin/sources/new",
            {
                "id": "x",
                "url": "https://n.example/",
                "desk": "nym",
                "every": "5m",
                "timezone": "UTC",
            },
        ),
        ("/admin/sources/nym-wire/pause", {}),
        ("/admin/sources/nym-wire/resume", {}),
        ("/admin/sources/nym-wire/refresh", {}),
        ("/admin/sources/nym-wire/delete", {}),
        ("/admin/sources/nym-wire/edit", {"url": "https://n.example/"}),
        ("/admin/logout", {}),
        ("/admin/login", {"token": ADMIN_TOKEN}),
    ]
    fetched_before = published.source_health("nym-wire").last_fetch_at
    for path, data in forms:
        for token in (None, "forged", good[:-1]):
            sent = {**data, **({"csrf_token": token} if token is not None else {})}
            response = admin_client.post(path, data=sent)
            assert response.status_code == 400, (path, token)
            assert b"CSRF token" in response.data
    health = published.source_health("nym-wire")
    assert health.paused is False and health.last_fetch_at == fetched_before
    assert published.api_sources() == []
    assert admin_client.get("/admin/").status_code == 200  # still logged in


def test_pages_escape_untrusted_text_under_a_strict_policy(
    admin_client: FlaskClient, published: Store
) -> None:
    evil = "<script>alert(1)</script>"
    created = admin_client.post(
        "/api/v1/sources",
        json={"id": "evil", "url": "https://news.example/?a=1&b=<x>", "desk": "nym", "title": evil},
        headers=AUTH,
    )
    assert created.status_code == 201
    published.record_failure("evil", '<img src=x onerror="alert(2)">', 500, datetime.now(UTC))
    log_in(admin_client)
    for path in ("/admin/", "/admin/sources/evil"):
        response = admin_client.get(path)
        html = response.get_data(as_text=True)
        assert "<script>" not in html and "<img src=x" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "&lt;img src=x onerror=" in html
        policy = response.headers["Content-Security-Policy"]
        assert "default-src 'none'" in policy and "script-src" not in policy
        assert response.headers["X-Frame-Options"] == "DENY"
        assert not re.search(r'(?:src|href)="(?:https?:)?//', html.split("<main>")[0])


def test_forms_show_validation_errors_and_catalogue_sources_are_read_only(
    admin_client: FlaskClient,
) -> None:
    token = log_in(admin_client)
    bad = admin_client.post(
        "/admin/sources/new",
        data={
            "csrf_token": token,
            "id": "x1",
            "url": "ftp://n.example/",
            "desk": "nym",
            "every": "5m",
            "timezone": "UTC",
        },
    )
    assert bad.status_code == 400
    page = bad.get_data(as_text=True)
    assert "only http and https" in page
    assert 'id="url" name="url" type="url" value="ftp://n.example/"' in page
    assert 'class="invalid"' in page
    edit = admin_client.get("/admin/sources/nym-wire/edit")
    assert edit.status_code == 409 and b"managed by feeds/sources.toml" in edit.data
    delete = admin_client.post(
        "/admin/sources/nym-wire/delete", data={"csrf_token": token}, follow_redirects=True
    )
    assert b"managed by feeds/sources.toml" in delete.data
    assert admin_client.get("/admin/sources/nope").status_code == 404


def test_edit_and_delete_an_api_source(admin_client: FlaskClient, published: Store) -> None:
    token = log_in(admin_client)
    added = admin_client.post(
        "/admin/sources/new",
        data={
            "csrf_token": token,
            "id": "mine",
            "url": "https://n.example/rss",
            "desk": "nym",
            "every": "5m",
            "timezone": "UTC",
            "topics": ["trade", "security"],
            "enabled": "on",
        },
    )
    assert added.status_code == 302 and added.headers["Location"] == "/admin/sources/mine"
    form = admin_client.get("/admin/sources/mine/edit").get_data(as_text=True)
    assert 'value="5m"' in form and 'value="trade" checked' in form
    saved = admin_client.post(
        "/admin/sources/mine/edit",
        data={
            "csrf_token": token,
            "url": "https://n.example/rss2",
            "desk": "europe",
            "every": "2h",
            "timezone": "Europe/Brussels",
            "title": "Mine",
        },
    )
    assert saved.status_code == 302
    (source,) = published.api_sources()
    assert (source.url, source.desk, source.topics, source.enabled) == (
        "https://n.example/rss2",
        "europe",
        (),
        False,
    )
    gone = admin_client.post("/admin/sources/mine/delete", data={"csrf_token": token})
    assert gone.status_code == 302 and published.api_sources() == []


@contextmanager
def chromium_page(executable: str, problems: list[str]) -> Iterator[Any]:
    """A page of Debian's headless Chromium (under playwright) that reports every console
    error, uncaught exception and dialog into ``problems``: a test asserts it empty."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_ARGS, timeout=30_000
        )
        try:
            page = browser.new_page()
            page.set_default_timeout(15_000)
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("dialog", lambda d: problems.append(f"dialog: {d.message}"))
            yield page
        finally:
            browser.close()


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("no chromium binary (Debian package 'chromium'); .ci/run installs it")
    return path


def test_browser_login_add_refresh_pause(
    admin_settings: Settings, published: Store, feed_server: LoopbackServer
) -> None:
    """A person's path through the pages; ``expect`` waits for each page the click loads."""
    executable = chromium()
    sync_api = pytest.importorskip("playwright.sync_api")
    expect = sync_api.expect
    problems: list[str] = []
    port = closed_port()  # the address the app is told it serves on (its accepted Host)
    served = dataclasses.replace(admin_settings, port=port)
    admin_app = create_app({"TESTING": True, "SETTINGS": served, "STORE": published})
    with LiveApp(admin_app, port) as live, chromium_page(executable, problems) as page:

        page.goto(f"{live.url}/admin/")
        expect(page).to_have_url(re.compile(r".*/admin/login\?next=/admin/$"))
        page.fill("#token", ADMIN_TOKEN)
        page.click("button[type=submit]")
        expect(page).to_have_url(f"{live.url}/admin/")
        expect(page.locator("h1")).to_have_text("Sources")
        cookie = next(c for c in page.context.cookies() if c["name"] == "feedsvc_admin")
        assert cookie["httpOnly"] is True and cookie["sameSite"] == "Lax"

        page.click("text=Add a source")
        page.fill("#id", "loop")
        page.fill("#url", feed_server.url("/feed.rss"))
        page.select_option("#desk", "europe")
        page.fill("#every", "10m")
        page.check("input[name=topics][value=trade]")
        page.click("button:has-text('Add source')")
        expect(page).to_have_url(f"{live.url}/admin/sources/loop")
        expect(page.locator("#status")).to_have_text("pending")

        page.click("button[value=refresh]")
        expect(page.locator(".flash")).to_contain_text("Refresh of loop queued")
        expect(page.locator("#next-fetch")).to_contain_text("refresh queued")
        assert feed_server.hits("/feed.rss") == 0  # queued, not fetched by the web thread
        assert run_queued(served, published, utcnow) >= 1  # the scheduler's next tick
        page.reload()
        expect(page.locator("#status")).to_have_text("ok")
        expect(page.locator("#last-success")).to_have_text(re.compile(r"s ago$"))
        expect(page.locator("#article-count")).to_have_text("2")
        expect(page.locator("#articles li")).to_have_count(2)
        expect(page.locator("#fetches tbody tr")).to_have_count(1)

        page.click("button[value=pause]")
        expect(page.locator(".flash")).to_contain_text("Source loop paused.")
        expect(page.locator("#status")).to_have_text("paused")
        page.goto(f"{live.url}/admin/")
        row = page.locator("#source-loop")
        expect(row).to_have_attribute("data-status", "paused")
        expect(row.locator(".status")).to_have_text("paused")
        colour = row.locator(".status").evaluate("e => getComputedStyle(e).backgroundColor")
        assert colour not in ("", "rgba(0, 0, 0, 0)")  # the stylesheet loaded under the CSP
    assert feed_server.hits("/feed.rss") == 1
    assert problems == []
