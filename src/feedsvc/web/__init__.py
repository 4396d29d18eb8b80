"""The Flask web tier: public feeds, HTML pages, operations endpoints.

``create_app`` never starts a scheduler: under granian or gunicorn every
worker calls it, and the schedule runs in ``feedsvc serve`` (once, in the
parent process) or ``feedsvc scheduler`` instead. It does load the published
feeds, so a worker never answers a feed request from an empty cache.
The app's catalogue watcher (``app.extensions["feedsvc.catalog"]``) is the
scheduler's own when both run in one process, so both see one catalogue state.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from feedsvc.catalog_watch import CatalogWatcher
from feedsvc.config import Settings, load_settings
from feedsvc.store import Store
from feedsvc.web import (
    admin_api,
    admin_articles,  # noqa: F401 - adds its pages to admin_pages' blueprint
    admin_common,
    admin_pages,
    archives,
    feeds,
    metrics,
    ops,
    pages,
    websub,
)
from feedsvc.web.cache import FeedCache
from feedsvc.web.hosts import HostPolicy, TrustedHosts


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app; ``test_config`` may carry ``SETTINGS``, ``STORE`` and
    ``CATALOG_WATCHER`` to use instead of building them."""
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = admin_common.MAX_BODY  # no request body reads past it
    app.config.from_mapping(test_config or {})
    settings: Settings = app.config.get("SETTINGS") or load_settings()
    store: Store = app.config.get("STORE") or Store.open(settings.database_url)
    app.config["SETTINGS"] = settings
    app.extensions["feedsvc.store"] = store
    app.extensions["feedsvc.catalog"] = app.config.get("CATALOG_WATCHER") or CatalogWatcher(
        settings.feeds_dir
    )
    cache = FeedCache(store, websub_hub=settings.websub_hub)
    cache.preload()  # before the first request; a database that is away means 503s until it is back
    app.extensions["feedsvc.cache"] = cache
    feeds.init_app(app)
    archives.init_app(app)
    pages.init_app(app)
    ops.init_app(app)
    metrics.init_app(app)
    admin_api.init_app(app)
    admin_pages.init_app(app)
    hosts = HostPolicy(settings)
    websub.init_app(app, hosts)
    app.wsgi_app = TrustedHosts(app.wsgi_app, hosts)  # type: ignore[method-assign]
    return app
