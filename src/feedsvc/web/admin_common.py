"""What the admin API and the admin pages share: the token check and the sources service.

The admin token (``FEEDSVC_ADMIN_TOKEN``) is compared in constant time (both
sides hashed first, so not even the length leaks). The cookie signing key is
derived from the token with HMAC, so every worker derives the same key with
no shared secret file; sessions themselves live in the database
(``web.admin_auth``). The ``SourceAdmin`` for an app is built once per
process and kept in ``app.extensions``; it reads the catalogue through the
app's watcher, which keeps the last good one (``feedsvc.catalog_watch``).
Both admin blueprints refuse a body over ``MAX_BODY`` before reading it.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
from collections.abc import Callable
from typing import TypeVar

from flask import Flask, current_app, request

from feedsvc.catalog_watch import CatalogState, CatalogWatcher
from feedsvc.config import Settings
from feedsvc.errors import ConfigError
from feedsvc.lifecycle import Lifecycle
from feedsvc.publish import publisher_for
from feedsvc.sources import SourceAdmin
from feedsvc.store import Store

SERVICE_KEY = "feedsvc.admin"
MAX_BODY = 1024 * 1024
"""The largest request body the admin side reads (and the app's MAX_CONTENT_LENGTH):
a source's settings are a few hundred bytes."""
LIFECYCLE_KEY = "feedsvc.lifecycle"

T = TypeVar("T")


def token_matches(given: str | None, token: str | None) -> bool:
    """Constant time, whatever the lengths; no token configured never matches."""
    if not token or not given:
        return False
    return hmac.compare_digest(
        hashlib.sha256(given.encode()).digest(), hashlib.sha256(token.encode()).digest()
    )


def session_key(token: str) -> str:
    """The Flask secret key: the same in every worker, new whenever the token changes."""
    return hmac.new(token.encode(), b"feedsvc admin session v1", hashlib.sha256).hexdigest()


def settings() -> Settings:
    return current_app.config["SETTINGS"]


def lifecycle(app: Flask | None = None) -> Lifecycle:
    """The app's Lifecycle (retract, restore), built on first use like ``service``."""

    def build(app: Flask) -> Lifecycle:
        admin = service(app)
        return Lifecycle(admin.store, admin.merged, app.config["SETTINGS"], admin.clock)

    return _per_app(app, LIFECYCLE_KEY, build)


def service(app: Flask | None = None) -> SourceAdmin:
    """The app's SourceAdmin, built on first use (web workers that serve no admin pay nothing)."""

    def build(app: Flask) -> SourceAdmin:
        store: Store = app.extensions["feedsvc.store"]
        config: Settings = app.config["SETTINGS"]
        return SourceAdmin(
            store,
            app.extensions["feedsvc.catalog"],
            publisher=lambda catalog: publisher_for(store, catalog, config),
        )

    return _per_app(app, SERVICE_KEY, build)


def _per_app(app: Flask | None, key: str, build: Callable[[Flask], T]) -> T:
    """``build(app)``, made once per app (the current one by default), kept in its extensions."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    found: T | None = app.extensions.get(key)
    if found is None:
        found = app.extensions[key] = build(app)
    return found


def catalog_state() -> CatalogState:
    """The catalogue's state as this process sees it, looking at the files first
    (at most once a second); a catalogue that never loaded reads ``unreadable``."""
    watcher: CatalogWatcher = current_app.extensions["feedsvc.catalog"]
    with contextlib.suppress(ConfigError):  # the state records the refusal
        watcher()
    return watcher.state


def body_too_large() -> bool:
    """A declared body over the limit, refused before a byte of it is read.

    A body without a length (chunked) is cut at the same limit while it is
    read (``MAX_CONTENT_LENGTH``, which werkzeug enforces with a 413).
    """
    return (request.content_length or 0) > MAX_BODY
