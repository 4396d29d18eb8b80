"""Prometheus metrics kept in the database, so every process counts into the same totals.

feedsvc runs as several processes: gunicorn web workers, one or more
schedulers, the command line. An in-memory counter would show whichever worker
a scrape happened to reach, and fetches happen in the scheduler, not the web
tier. So counters live in the ``metrics`` table: each process adds to its rows
with an upsert (the store does it in the same transaction that logs a fetch)
and ``/metrics`` renders the sums. Histograms keep one row per bucket (not
cumulative, so an observation touches one row) plus ``_sum`` and ``_count``;
rendering makes the buckets cumulative as Prometheus expects.

This module is pure: it names the metrics, turns observations into row
increments, and renders the text exposition format (version 0.0.4).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

Increment = tuple[str, str, float]
"""(metric row name, rendered labels, amount to add)."""

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


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
    "Feed requests answered, by format and HTTP status (304 = not modified).",
)
PUBLISH_DURATION = Metric(
    "feedsvc_publish_duration_seconds",
    "histogram",
    "Time to render and store the feeds one change touched.",
    (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
STORED = (
    FETCHES,
    FETCH_DURATION,
    ARTICLES_INGESTED,
    ARTICLES_UPDATED,
    FEED_REQUESTS,
    PUBLISH_DURATION,
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
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


@dataclass(frozen=True, slots=True)
class Gauge:
    """A value read at scrape time (from the database), not stored as a counter."""

    metric: Metric
    samples: Sequence[tuple[str, float]]  # (rendered labels, value)


def render(rows: Iterable[Increment], gauges: Sequence[Gauge] = ()) -> str:
    """The text exposition of the stored rows (every known metric, even at zero) and gauges."""
    values: dict[str, dict[str, float]] = {}
    for name, label_text, value in rows:  # rows of one key add up
        by_labels = values.setdefault(name, {})
        by_labels[label_text] = by_labels.get(label_text, 0.0) + value
    lines: list[str] = []
    for metric in STORED:
        lines += _header(metric)
        if metric.kind == "histogram":
            lines += _histogram(metric, values)
        else:
            for label_text, value in sorted(values.get(metric.name, {}).items()):
                lines.append(_sample(metric.name, label_text, value))
    for gauge in gauges:
        lines += _header(gauge.metric)
        for label_text, value in gauge.samples:
            lines.append(_sample(gauge.metric.name, label_text, value))
    return "\n".join(lines) + "\n"


def _header(metric: Metric) -> list[str]:
    return [f"# HELP {metric.name} {metric.help}", f"# TYPE {metric.name} {metric.kind}"]


def _sample(name: str, label_text: str, value: float) -> str:
    shown = _number(value) if math.isinf(value) or value == int(value) else repr(value)
    return f"{name}{{{label_text}}} {shown}" if label_text else f"{name} {shown}"


def _histogram(metric: Metric, values: Mapping[str, Mapping[str, float]]) -> list[str]:
    """Cumulative buckets per label set; a histogram never observed shows zeros."""
    buckets = values.get(metric.name + "_bucket", {})
    sums = values.get(metric.name + "_sum", {})
    counts = values.get(metric.name + "_count", {})
    label_sets = sorted(set(counts) | set(sums)) or [""]
    bounds = [*metric.buckets, math.inf]
    lines: list[str] = []
    for base in label_sets:
        running = 0.0
        for bound in bounds:
            running += buckets.get(_join(base, labels(le=_number(bound))), 0.0)
            lines.append(
                _sample(metric.name + "_bucket", _join(base, labels(le=_number(bound))), running)
            )
        lines.append(_sample(metric.name + "_sum", base, sums.get(base, 0.0)))
        lines.append(_sample(metric.name + "_count", base, counts.get(base, 0.0)))
    return lines
