"""Helpers for the admin tests: a real HTTP server for the app, and small RSS documents.

``LiveApp`` serves a Flask app with werkzeug's threaded server on 127.0.0.1
and a free port, in a thread, so a browser (or any HTTP client) talks to the
real app over a real socket; stopping it joins the thread.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime
from types import TracebackType
from typing import TypeVar

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import BaseWSGIServer, make_server

from conftest import ADMIN_TOKEN, NOW
from feedsvc.config import Settings
from feedsvc.scheduler import Scheduler
from feedsvc.store import Store

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
T = TypeVar("T")


def csrf_of(page: bytes) -> str:
    match = CSRF.search(page.decode())
    assert match, "the page has no CSRF token"
    return match.group(1)


def log_in(client: FlaskClient) -> str:
    """Log in through the admin form; returns the session's CSRF token."""
    token = csrf_of(client.get("/admin/login").data)
    response = client.post("/admin/login", data={"token": ADMIN_TOKEN, "csrf_token": token})
    assert response.status_code == 302
    return csrf_of(client.get("/admin/").data)


def rss(*slugs: str, title: str = "Loopback news") -> bytes:
    """An RSS 2.0 document with one item per slug, each with its own link and guid."""
    items = "".join(
        f"<item><title>Story {slug}</title><link>https://news.example/{slug}</link>"
        f"<guid>https://news.example/{slug}</guid>"
        f"<description>About {slug}, security and trade.</description>"
        f"<pubDate>Mon, 23 Jun 2025 19:0{n % 10}:00 GMT</pubDate></item>"
        for n, slug in enumerate(slugs)
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{title}</title><link>https://news.example/</link>"
        f"<description>test</description>{items}</channel></rss>"
    ).encode()


class LiveApp:
    """The app on a real loopback socket for the length of a ``with`` block."""

    def __init__(self, app: Flask, port: int = 0) -> None:
        self.app = app
        self.port = port  # the app must know it: links and accepted Host follow it
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> LiveApp:
        self._server = make_server("127.0.0.1", self.port, self.app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_port}"


def wait_for(condition: Callable[[], T], timeout: float = 20.0, every: float = 0.05) -> T:
    """Poll until ``condition`` gives something truthy; fail after ``timeout`` seconds.

    For things that happen in another process (a gunicorn worker's flush);
    the timeout is a safety net, never what the test measures.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {value!r}")
        time.sleep(every)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_queued(
    settings: Settings, store: Store, clock: Callable[[], datetime] = lambda: NOW
) -> int:
    """One tick of a real scheduler, as a running one would do next: it fetches what is due
    (the refreshes the admin side queued) and publishes what they changed.

    The default clock is the fixtures' ``NOW``, at which the sample catalogue's
    sources are not due again, so only queued and never-fetched sources run.
    """
    scheduler = Scheduler(settings, store, clock=clock)
    try:
        return scheduler.run_once()
    finally:
        scheduler.shutdown()
