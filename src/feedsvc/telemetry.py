"""Prometheus metrics kept in the database, so every process counts into the same totals.

feedsvc runs as several processes: gunicorn web workers, one or more
schedulers, the command line. An in-memory counter would show whichever worker
a scrape happened to reach, and fetches happen in the scheduler, not the web
tier. So counters live in the ``metrics`` table: each process adds to its rows
with an upsert (the store does it in the same transaction that logs a fetch)
and ``/metrics`` shows the sums. Histograms keep one row per bucket (not
cumulative, so an observation touches one row) plus ``_sum`` and ``_count``;
``families`` makes the buckets cumulative as Prometheus expects.

This module does no I/O: it names the metrics, turns observations into row
increments, and turns rows (and gauges read at scrape time) back into
prometheus_client metric families. ``StoredMetrics`` is the prometheus_client
collector over them; prometheus_client writes the text format.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric as Family
from prometheus_client.registry import Collector

Increment = tuple[str, str, float]
"""(metric row name, rendered labels, amount to add)."""

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""What ``generate_latest`` writes (the classic text format)."""


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    kind: str  # counter, histogram or gauge
    help: str
    buckets: tuple[float, ...] = ()


FETCHES = Metric(
    "feedsvc_fetches_total",
    "counter",
    "Source fetches by source and outcome (ok; not_modified: HTTP 304 or an unchanged folder; "
    "error).",
)
FETCH_DURATION = Metric(
    "feedsvc_fetch_duration_seconds",
    "histogram",
    "Time to fetch, parse, normalise and store one source.",
    (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
ARTICLES_INGESTED = Metric(
    "feedsvc_articles_ingested_total",
    "counter",
    "New articles stored, by source.",
)
ARTICLES_UPDATED = Metric(
    "feedsvc_articles_updated_total",
    "counter",
    "Stored articles that a source changed, by source.",
)
FEED_REQUESTS = Metric(
    "feedsvc_feed_requests_total",
    "counter",
    "Feed requests answered, by feed (its path; 'other' for anything not published) and "
    "HTTP status (304 = not modified).",
)
PUBLISH_DURATION = Metric(
    "feedsvc_publish_duration_seconds",
    "histogram",
    "Time to render and store the feeds one change touched.",
    (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
WEBSUB_PINGS = Metric(
    "feedsvc_websub_pings_total",
    "counter",
    "Feeds whose change the WebSub hub was told of, by hub (builtin: queued for its "
    "subscribers; external: a hub.mode=publish ping) and outcome (ok; error: to be retried; "
    "dropped: given up).",
)
WEBSUB_DELIVERIES = Metric(
    "feedsvc_websub_deliveries_total",
    "counter",
    "Content distributions to subscribers, by outcome (ok; error: to be retried; "
    "gone: HTTP 410 ended the subscription; dropped: given up).",
)
WEBSUB_VERIFICATIONS = Metric(
    "feedsvc_websub_verifications_total",
    "counter",
    "Verifications of intent and denials sent to callbacks, by mode and outcome "
    "(verified, failed, refused: the hub's ceiling; sent: a denial).",
)
STORED = (
    FETCHES,
    FETCH_DURATION,
    ARTICLES_INGESTED,
    ARTICLES_UPDATED,
    FEED_REQUESTS,
    PUBLISH_DURATION,
    WEBSUB_PINGS,
    WEBSUB_DELIVERIES,
    WEBSUB_VERIFICATIONS,
)


def labels(**values: object) -> str:
    """Render a label set canonically (sorted names, escaped values): the row's key."""
    return ",".join(f'{name}="{_escape(str(values[name]))}"' for name in sorted(values))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def count(metric: Metric, amount: float = 1, **label_values: object) -> list[Increment]:
    if amount == 0:
        return []
    return [(metric.name, labels(**label_values), float(amount))]


def observe(metric: Metric, value: float, **label_values: object) -> list[Increment]:
    """One histogram observation: its bucket row, ``_sum`` and ``_count``."""
    base = labels(**label_values)
    bound = next((b for b in metric.buckets if value <= b), math.inf)
    bucket = _join(base, labels(le=_number(bound)))
    return [
        (metric.name + "_bucket", bucket, 1.0),
        (metric.name + "_sum", base, float(value)),
        (metric.name + "_count", base, 1.0),
    ]


def fetch_increments(
    source_id: str, outcome: str, new: int, updated: int, duration_ms: int
) -> list[Increment]:
    """What one recorded fetch adds: its outcome, its duration, the articles it brought."""
    return [
        *count(FETCHES, outcome=outcome, source=source_id),
        *observe(FETCH_DURATION, duration_ms / 1000),
        *count(ARTICLES_INGESTED, new, source=source_id),
        *count(ARTICLES_UPDATED, updated, source=source_id),
    ]


def _join(*parts: str) -> str:
    return ",".join(part for part in parts if part)


def _number(value: float) -> str:
    """A bucket bound as the ``le`` label of its rows: ``5``, ``0.05``, ``+Inf``."""
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
_UNESCAPE = {"\\\\": "\\", "\\n": "\n", '\\"': '"'}


def parse_labels(text: str) -> dict[str, str]:
    """The inverse of ``labels``: a stored row's label text back into a label set."""
    return {
        name: re.sub(r"\\.", lambda m: _UNESCAPE.get(m.group(0), m.group(0)), value)
        for name, value in _LABEL.findall(text)
    }


@dataclass(frozen=True, slots=True)
class Gauge:
    """A value read at scrape time (from the database), not stored as a counter."""

    metric: Metric
    samples: Sequence[tuple[Mapping[str, str], float]]  # (label set, value)


def families(rows: Iterable[Increment], gauges: Sequence[Gauge] = ()) -> list[Family]:
    """The stored rows (every known metric, even at zero) and the gauges, as metric families."""
    values: dict[str, dict[str, float]] = {}
    for name, label_text, value in rows:  # rows of one key add up
        by_labels = values.setdefault(name, {})
        by_labels[label_text] = by_labels.get(label_text, 0.0) + value
    found: list[Family] = []
    for metric in STORED:
        if metric.kind == "histogram":
            found.append(_histogram(metric, values))
        else:
            family = Family(metric.name.removesuffix("_total"), metric.help, metric.kind)
            for label_text, value in sorted(values.get(metric.name, {}).items()):
                family.add_sample(metric.name, parse_labels(label_text), value)
            found.append(family)
    for gauge in gauges:
        family = Family(gauge.metric.name, gauge.metric.help, gauge.metric.kind)
        for label_set, value in gauge.samples:
            family.add_sample(gauge.metric.name, dict(label_set), value)
        found.append(family)
    return found


def _histogram(metric: Metric, values: Mapping[str, Mapping[str, float]]) -> Family:
    """Cumulative buckets per label set; a histogram never observed shows zeros."""
    buckets = values.get(metric.name + "_bucket", {})
    sums = values.get(metric.name + "_sum", {})
    counts = values.get(metric.name + "_count", {})
    family = Family(metric.name, metric.help, "histogram")
    for base in sorted(set(counts) | set(sums)) or [""]:
        base_labels = parse_labels(base)
        running = 0.0
        for bound in (*metric.buckets, math.inf):
            le = labels(le=_number(bound))
            running += buckets.get(_join(base, le), 0.0)
            family.add_sample(
                metric.name + "_bucket", {**base_labels, "le": _number(bound)}, running
            )
        family.add_sample(metric.name + "_sum", base_labels, sums.get(base, 0.0))
        family.add_sample(metric.name + "_count", base_labels, counts.get(base, 0.0))
    return family


class StoredMetrics(Collector):
    """A prometheus_client collector over rows and gauges read when it is collected.

    ``read`` is called at every scrape (it reads the database), so the
    registry holding this collector always shows every process's totals.
    """

    def __init__(self, read: Callable[[], tuple[Iterable[Increment], Sequence[Gauge]]]) -> None:
        self._read = read

    def collect(self) -> Iterator[Family]:
        rows, gauges = self._read()
        yield from families(rows, gauges)


def render(rows: Iterable[Increment], gauges: Sequence[Gauge] = ()) -> str:
    """The text exposition of some rows and gauges, as ``/metrics`` writes it."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoredMetrics(lambda: (rows, gauges)))
    return generate_latest(registry).decode("utf-8")
