"""``/metrics`` in Prometheus text format, right whichever gunicorn worker answers.

Counters live in the database (see ``feedsvc.telemetry``): fetch outcomes,
durations and ingested articles are counted by the process that fetched, in
the transaction that logged the fetch; publish durations by the process that
published. Feed requests are counted here, per web worker, in memory, and
flushed to the same table at most ``FLUSH_EVERY`` seconds after the first
unflushed request (a short timer thread) and at every scrape; so a scrape of
any worker shows every worker's requests, at most a few seconds late. (An app
built with TESTING starts no timer: its counts reach the table at a scrape.) Gauges
(sources by state, stored articles, scheduler heartbeat) are read at scrape time.

Each app has its own prometheus_client registry holding one
``telemetry.StoredMetrics`` collector, which reads all of that at collection;
prometheus_client writes the text.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from datetime import UTC, datetime

from flask import Blueprint, Flask, Response, current_app
from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy.exc import SQLAlchemyError

from feedsvc.errors import StoreError
from feedsvc.store import StateKey, Store
from feedsvc.telemetry import (
    CONTENT_TYPE,
    FEED_REQUESTS,
    Gauge,
    Increment,
    Metric,
    StoredMetrics,
    count,
)
from feedsvc.web.admin_common import catalog_state
from feedsvc.web.feeds import REQUEST_COUNTER
from feedsvc.web.ops import database_unavailable

log = logging.getLogger(__name__)

FLUSH_EVERY = 5.0
COUNTER_KEY = REQUEST_COUNTER
REGISTRY_KEY = "feedsvc.metrics_registry"

SOURCES = Metric("feedsvc_sources", "gauge", "Registered sources by state.")
ARTICLES = Metric("feedsvc_articles", "gauge", "Articles stored.")
SOURCE_ERRORS = Metric(
    "feedsvc_source_consecutive_errors", "gauge", "Consecutive failed fetches, by source."
)
LAST_SUCCESS = Metric(
    "feedsvc_source_last_success_timestamp_seconds",
    "gauge",
    "When each source was last fetched without error (Unix time).",
)
HEARTBEAT = Metric(
    "feedsvc_scheduler_heartbeat_timestamp_seconds",
    "gauge",
    "The newest scheduler heartbeat (Unix time); absent when no scheduler ever ran.",
)
WEBSUB_SUBSCRIPTIONS = Metric(
    "feedsvc_websub_subscriptions", "gauge", "Subscriptions the built-in WebSub hub holds "
    "(each removed within a minute of its lease's end)."
)
STATES = ("ok", "error", "pending", "paused", "disabled")
CATALOG = Metric(
    "feedsvc_catalog_state",
    "gauge",
    "The catalogue as this process sees it: 1 for its state (loaded; rejected: the last edit "
    "was refused and the last good catalogue serves; unreadable: none ever loaded), else 0.",
)
CATALOG_REJECTED = Metric(
    "feedsvc_catalog_rejected_timestamp_seconds",
    "gauge",
    "When the refused catalogue edit was noticed (Unix time); absent while the files load.",
)
CATALOG_STATES = ("loaded", "rejected", "unreadable")

bp = Blueprint("metrics", __name__)


class RequestCounter:
    """Feed requests counted in this process and added to the shared table in batches."""

    def __init__(self, store: Store, flush_every: float | None = FLUSH_EVERY) -> None:
        self.store = store
        self.flush_every = flush_every
        self._lock = threading.Lock()
        self._pending: Counter[tuple[str, int]] = Counter()
        self._timer: threading.Timer | None = None

    def add(self, feed: str, status: int) -> None:
        """One request: ``feed`` is a published feed's path, or ``other``."""
        with self._lock:
            self._pending[(feed, status)] += 1
            if self._timer is None and self.flush_every is not None:
                self._timer = threading.Timer(self.flush_every, self.flush)
                self._timer.daemon = True
                self._timer.start()

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, Counter()
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        if not pending:
            return
        increments = [
            row
            for (feed, status), amount in sorted(pending.items())
            for row in count(FEED_REQUESTS, amount, feed=feed, status=status)
        ]
        self.store.add_metrics(increments)


def init_app(app: Flask) -> None:
    # Under TESTING no timer thread outlives a test: counts reach the table at a scrape.
    flush_every = app.config.get("METRICS_FLUSH_SECONDS", None if app.testing else FLUSH_EVERY)
    store: Store = app.extensions["feedsvc.store"]
    counter = RequestCounter(store, None if flush_every is None else float(flush_every))
    app.extensions[COUNTER_KEY] = counter

    def read() -> tuple[list[Increment], list[Gauge]]:
        counter.flush()  # this worker's requests first, so the sums include them
        return store.metric_values(), [*_gauges(store), *_catalog_gauges(app)]

    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoredMetrics(read))
    app.extensions[REGISTRY_KEY] = registry
    # web.feeds counts its own responses (no after_request hook on every request)
    app.register_blueprint(bp)


@bp.get("/metrics")
def metrics() -> Response:
    try:
        text = generate_latest(current_app.extensions[REGISTRY_KEY])
    except (StoreError, SQLAlchemyError) as exc:
        # The driver's message names the database's host and port: the log keeps it,
        # an anonymous scraper gets none of it.
        return database_unavailable(exc)
    return Response(text, content_type=CONTENT_TYPE)


def _catalog_gauges(app: Flask) -> list[Gauge]:
    with app.app_context():
        state = catalog_state()
    gauges = [Gauge(CATALOG, [({"state": s}, float(s == state.status)) for s in CATALOG_STATES])]
    if state.rejected is not None:
        gauges.append(Gauge(CATALOG_REJECTED, [({}, state.rejected.at.timestamp())]))
    return gauges


def _gauges(store: Store) -> list[Gauge]:
    health = store.list_health()
    by_state = {state: 0 for state in STATES}
    for entry in health:
        by_state[entry.status] = by_state.get(entry.status, 0) + 1
    gauges = [
        Gauge(SOURCES, [({"state": state}, float(n)) for state, n in by_state.items()]),
        Gauge(ARTICLES, [({}, float(store.count_articles()))]),
        Gauge(SOURCE_ERRORS, [({"source": h.id}, float(h.error_count)) for h in health]),
        Gauge(
            LAST_SUCCESS,
            [
                ({"source": h.id}, h.last_success_at.timestamp())
                for h in health
                if h.last_success_at is not None
            ],
        ),
    ]
    gauges.append(Gauge(WEBSUB_SUBSCRIPTIONS, [({}, float(store.count_subscriptions()))]))
    beat = store.get_state(StateKey.HEARTBEAT)
    if beat:
        try:
            moment = datetime.fromisoformat(beat)
        except ValueError:
            moment = None
        if moment is not None:
            stamp = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
            gauges.append(Gauge(HEARTBEAT, [({}, stamp.timestamp())]))
    return gauges
