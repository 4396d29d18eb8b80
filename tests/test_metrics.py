"""Operations: /metrics counters that move with real fetches and requests, across
processes; /readyz with the scheduler heartbeat; a source id on every ingest log line."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine

from admin_support import AUTH, free_port, rss, run_queued, wait_for
from feedsvc import telemetry
from feedsvc.config import Settings
from feedsvc.store import StateKey, Store
from feedsvc.telemetry import FETCH_DURATION, FETCHES, labels, observe, parse_labels, render
from feedsvc.web import create_app
from servers import LoopbackServer, Reply

ROOT = Path(__file__).resolve().parent.parent


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Parse the exposition with Prometheus's own parser (so the format is checked too)."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(text: str, name: str, **label_values: str) -> float:
    return samples(text).get((name, frozenset(label_values.items())), 0.0)


def scrape(client: FlaskClient) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return response.get_data(as_text=True)


@pytest.fixture
def feed_server() -> Iterator[LoopbackServer]:
    routes = {
        "/feed.rss": Reply(body=rss("one", "two"), etag='"v1"'),
        "/down.rss": Reply(status=503, body=b"maintenance"),
    }
    with LoopbackServer(routes) as server:
        yield server


def test_fetch_counters_move_with_real_fetches(
    admin_client: FlaskClient,
    admin_settings: Settings,
    published: Store,
    feed_server: LoopbackServer,
) -> None:
    before = scrape(admin_client)
    assert value(before, "feedsvc_fetches_total", source="nym-wire", outcome="ok") == 1
    assert value(before, "feedsvc_articles_ingested_total", source="nym-wire") == 4
    fetch_count = value(before, "feedsvc_fetch_duration_seconds_count")
    for source_id, path in (("loop", "/feed.rss"), ("down", "/down.rss")):
        created = admin_client.post(
            "/api/v1/sources",
            json={"id": source_id, "url": feed_server.url(path), "desk": "nym"},
            headers=AUTH,
        )
        assert created.status_code == 201
    for _ in range(2):  # the first tick also fetches "down", new and so due at once
        assert (
            admin_client.post("/api/v1/sources/loop/refresh", headers=AUTH).status_code == 202
        )
        run_queued(admin_settings, published)

    after = scrape(admin_client)
    assert value(after, "feedsvc_fetches_total", source="loop", outcome="ok") == 1
    assert value(after, "feedsvc_fetches_total", source="loop", outcome="not_modified") == 1
    assert value(after, "feedsvc_fetches_total", source="down", outcome="error") == 1
    assert value(after, "feedsvc_articles_ingested_total", source="loop") == 2
    assert value(after, "feedsvc_fetch_duration_seconds_count") == fetch_count + 3
    assert value(after, "feedsvc_fetch_duration_seconds_bucket", le="+Inf") == fetch_count + 3
    assert value(after, "feedsvc_publish_duration_seconds_count") > value(
        before, "feedsvc_publish_duration_seconds_count"
    )
    assert value(after, "feedsvc_source_consecutive_errors", source="down") == 1
    assert value(after, "feedsvc_sources", state="error") == 1
    assert value(after, "feedsvc_articles") == 9


def test_feed_requests_by_status_are_shared_by_workers(
    admin_client: FlaskClient, admin_settings: Settings, published: Store
) -> None:
    """Two apps on one database are two workers: one serves, the other is scraped."""
    other_worker = create_app({"SETTINGS": admin_settings, "STORE": published}).test_client()
    first = admin_client.get("/feeds/all.rss")
    assert (
        admin_client.get(
            "/feeds/all.rss", headers={"If-None-Match": first.headers["ETag"]}
        ).status_code
        == 304
    )
    admin_client.get("/feeds/all.json")
    admin_client.get("/feeds/desks/sports.atom")
    admin_client.get("/feeds.opml")
    admin_client.get("/")  # a page, not a feed: not counted
    scrape(admin_client)  # the serving worker flushes what it counted

    text = scrape(other_worker)
    requests = "feedsvc_feed_requests_total"
    assert value(text, requests, feed="/feeds/all.rss", status="200") == 1
    assert value(text, requests, feed="/feeds/all.rss", status="304") == 1
    assert value(text, requests, feed="/feeds/all.json", status="200") == 1
    assert value(text, requests, feed="other", status="404") == 1
    assert value(text, requests, feed="/feeds.opml", status="200") == 1
    total = sum(
        v for (name, _), v in samples(text).items() if name == "feedsvc_feed_requests_total"
    )
    assert total == 5


def test_feed_request_labels_stay_bounded(admin_client: FlaskClient, published: Store) -> None:
    """Anything a stranger puts in a URL is one label, ``other``; only published feeds get one."""
    for n in range(40):
        admin_client.get(f"/feeds/desks/nope-{n}.rss")
        admin_client.get(f"/feeds/all.x{n}")
        admin_client.get(f"/feeds/{n}/" + "a" * 300)
    admin_client.get("/feeds/topics/trade.json")
    text = scrape(admin_client)
    feeds = {
        dict(labels)["feed"]
        for (name, labels), _ in samples(text).items()
        if name == "feedsvc_feed_requests_total"
    }
    published_paths = {"/" + feed.path for feed in published.load_feeds()}
    assert feeds == {"other", "/feeds/topics/trade.json"} and feeds - {"other"} <= published_paths
    assert value(text, "feedsvc_feed_requests_total", feed="other", status="404") == 120


def test_histogram_rendering_is_cumulative() -> None:
    rows = (
        observe(FETCH_DURATION, 0.07)
        + observe(FETCH_DURATION, 3.0)
        + observe(FETCH_DURATION, 999.0)
    )
    text = render(rows)
    expected = {"0.05": 0, "0.1": 1, "2.5": 1, "5": 2, "60": 2, "+Inf": 3}
    for bound, count in expected.items():
        assert value(text, "feedsvc_fetch_duration_seconds_bucket", le=bound) == count
    assert value(text, "feedsvc_fetch_duration_seconds_sum") == pytest.approx(1002.07)
    assert labels(source='a"b\\c\nd') == 'source="a\\"b\\\\c\\nd"'


@given(st.text(max_size=30), st.text(max_size=10))
def test_stored_label_text_reads_back_as_it_was_counted(source: str, outcome: str) -> None:
    """Rows keep their labels as text; what a scrape shows is the label set counted."""
    assert parse_labels(labels(source=source, outcome=outcome)) == {
        "source": source,
        "outcome": outcome,
    }
    text = render(telemetry.count(FETCHES, 2, source=source, outcome=outcome))
    assert value(text, "feedsvc_fetches_total", source=source, outcome=outcome) == 2


@pytest.mark.slow
def test_metrics_under_gunicorn_with_two_workers(
    published: Store, settings: Settings, db_url: str, tmp_path: Path
) -> None:
    """Real worker processes: whichever one a scrape reaches, it counts every worker's requests."""
    port = free_port()
    env = {
        **os.environ,
        "FEEDSVC_FEEDS_DIR": str(settings.feeds_dir),
        "FEEDSVC_DATABASE_URL": db_url,
        "FEEDSVC_PORT": str(port),  # the address links use, and the Host accepted
    }
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        "2",
        "--threads",
        "2",
        "--bind",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
        "feedsvc.web:create_app({'METRICS_FLUSH_SECONDS': 0.2})",
    ]
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    base = f"http://127.0.0.1:{port}"

    def get(path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(base + path, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, ""
        except OSError:
            return 0, ""

    try:
        wait_for(lambda: get("/healthz")[0] == 200)
        for _ in range(20):
            assert get("/feeds/all.atom")[0] == 200

        def counted() -> float:
            status, text = get("/metrics")
            return (
                status == 200
                and value(text, "feedsvc_feed_requests_total", feed="/feeds/all.atom", status="200")
                == 20
            )

        wait_for(counted)
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0]
    assert "Traceback" not in output, output


def test_metrics_say_503_while_the_database_is_away(
    client: FlaskClient, app: Flask, tmp_path: Path
) -> None:
    assert client.get("/feeds/all.rss").status_code == 200  # a request waiting to be flushed
    store = app.extensions["feedsvc.store"]
    store.engine.dispose()
    store.engine = create_engine(f"sqlite:///{tmp_path / 'missing' / 'gone.sqlite3'}")
    response = client.get("/metrics")
    assert response.status_code == 503
    assert response.get_data(as_text=True).startswith("database unavailable")


def test_readyz_checks_the_scheduler_heartbeat(client: FlaskClient, published: Store) -> None:
    assert client.get("/readyz").status_code == 200  # no scheduler ever ran: database only
    cases = [
        (timedelta(seconds=5), 200, "ready"),
        (timedelta(seconds=59), 200, "ready"),
        (timedelta(minutes=3), 503, "scheduler heartbeat is 180s old"),
    ]
    for age, status, text in cases:
        with published.write() as conn:
            published.put_state(conn, StateKey.HEARTBEAT, (datetime.now(UTC) - age).isoformat())
        response = client.get("/readyz")
        assert response.status_code == status, age
        assert text in response.get_data(as_text=True)
    with published.write() as conn:
        published.put_state(conn, StateKey.HEARTBEAT, "yesterday")
    assert client.get("/readyz").status_code == 503
    assert client.get("/healthz").status_code == 200


def test_every_ingest_log_line_names_its_source(
    admin_client: FlaskClient,
    admin_settings: Settings,
    published: Store,
    feed_server: LoopbackServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    admin_client.post(
        "/api/v1/sources",
        json={"id": "down", "url": feed_server.url("/down.rss"), "desk": "nym"},
        headers=AUTH,
    )
    with caplog.at_level(logging.INFO, logger="feedsvc"):
        for source_id in ("nym-wire", "down"):
            admin_client.post(f"/api/v1/sources/{source_id}/refresh", headers=AUTH)
        run_queued(admin_settings, published)
    ingest_lines = [r for r in caplog.records if r.name in ("feedsvc.refresh", "feedsvc.sources")]
    assert len(ingest_lines) >= 4
    for record in ingest_lines:
        assert record.getMessage().startswith("source="), record.getMessage()
