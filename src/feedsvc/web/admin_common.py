"""What the admin API and the admin pages share: the token check and the sources service.

The admin token (``FEEDSVC_ADMIN_TOKEN``) is compared in constant time (both
sides hashed first, so not even the length leaks). The session signing key is
derived from the token with HMAC, so every gunicorn worker derives the same
key with no shared secret file, and changing the token logs every session out.
The ``SourceAdmin`` for an app is built once per process and kept in
``app.extensions``; it reads the catalogue through a watcher that keeps the
last good one, like the scheduler.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

from flask import Flask, current_app

from feedsvc.config import Settings
from feedsvc.dates import format_utc
from feedsvc.fetch import AddressPolicy, Fetcher
from feedsvc.model import Source
from feedsvc.publish import Publisher
from feedsvc.sources import CatalogWatcher, SourceAdmin, SourceView, format_interval
from feedsvc.store import FetchRecord, SourceHealth, Store

SERVICE_KEY = "feedsvc.admin"


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


def service(app: Flask | None = None) -> SourceAdmin:
    """The app's SourceAdmin, built on first use (web workers that serve no admin pay nothing)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    found = app.extensions.get(SERVICE_KEY)
    if found is None:
        config: Settings = app.config["SETTINGS"]
        store: Store = app.extensions["feedsvc.store"]
        found = SourceAdmin(
            store,
            CatalogWatcher(config.feeds_dir),
            fetch=Fetcher(AddressPolicy(config.allow_networks)).fetch,
            publisher=lambda catalog: Publisher(
                store,
                catalog,
                base_url=config.base_url,
                feed_size=config.feed_size,
                publish_dir=config.publish_dir,
            ),
        )
        app.extensions[SERVICE_KEY] = found
    return found


def iso(moment: datetime | None) -> str | None:
    return format_utc(moment) if moment else None


def health_json(health: SourceHealth | None) -> dict[str, object]:
    """The contract's health fields; a source the scheduler has not registered yet is empty."""
    if health is None:
        return {
            "last_fetch_at": None,
            "last_success_at": None,
            "last_status": None,
            "consecutive_errors": 0,
            "last_error": None,
            "next_fetch_at": None,
            "article_count": 0,
        }
    return {
        "last_fetch_at": iso(health.last_fetch_at),
        "last_success_at": iso(health.last_success_at),
        "last_status": health.last_status,
        "consecutive_errors": health.error_count,
        "last_error": health.last_error,
        "next_fetch_at": iso(health.next_fetch_at),
        "article_count": health.article_count,
    }


def source_json(view: SourceView) -> dict[str, object]:
    source: Source = view.source
    return {
        "id": source.id,
        "origin": source.origin,
        "managed_by": "feeds/sources.toml" if source.origin == "catalog" else "api",
        "editable": source.origin == "api",
        "kind": source.kind,
        "url": source.url,
        "path": str(source.path) if source.path else None,
        "title": source.title,
        "desk": source.desk,
        "topics": list(source.topics),
        "every": format_interval(source.every),
        "every_seconds": source.every.total_seconds(),
        "timezone": source.timezone,
        "enabled": source.enabled,
        "paused": view.paused,
        "status": view.status,
        "problem": view.problem,
        "health": health_json(view.health),
    }


def fetch_json(record: FetchRecord) -> dict[str, object]:
    return {
        "at": iso(record.at),
        "outcome": record.outcome,
        "status": record.status,
        "new": record.new,
        "updated": record.updated,
        "duration_ms": record.duration_ms,
        "error": record.error,
    }
