"""Real processes: `feedsvc serve` and `feedsvc scheduler` as operators run them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.exc import OperationalError

from feedsvc.store.schema import copies, fetches, state, stories
from polling import wait_for
from schedule_support import add_source, rss
from servers import LoopbackServer, Reply

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def feedsvc(*args: str, env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")}
    environment.update(env)
    process = subprocess.Popen(
        [sys.executable, "-m", "feedsvc", *args],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    return output


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def test_serve_fills_the_feeds_and_follows_a_changing_source(
    feeds_dir: Path, tmp_path: Path
) -> None:
    port = free_port()
    with LoopbackServer({"/feed": Reply(body=rss("first"))}) as server:
        add_source(feeds_dir, "remote", server.url("/feed"), every="1s")
        env = {
            "FEEDSVC_FEEDS_DIR": str(feeds_dir),
            "FEEDSVC_DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.sqlite3'}",
            "FEEDSVC_ALLOW_NETWORKS": "127.0.0.0/8",
        }
        with feedsvc("serve", "--port", str(port), env=env) as process:
            url = f"http://127.0.0.1:{port}/feeds/all.json"
            feed = wait_for(lambda: (f := get_json(url)) and len(f["items"]) == 8 and f)
            assert any(i.get("url") == "https://news.example/first" for i in feed["items"])
            server.route("/feed", Reply(body=rss("second", "first")))
            wait_for(
                lambda: any(
                    i.get("url") == "https://news.example/second" for i in get_json(url)["items"]
                )
            )
            output = stop(process)
    assert process.returncode == 0, output
    assert "stopped" in output
    assert "Traceback" not in output


def test_two_schedulers_share_sources_on_postgres(feeds_dir: Path, postgres_url: str) -> None:
    routes = {f"/f{n}": Reply(body=rss(f"story{n}")) for n in range(4)}
    with LoopbackServer(routes) as server:
        for n in range(4):
            add_source(feeds_dir, f"remote{n}", server.url(f"/f{n}"), every="2s")
        env = {
            "FEEDSVC_FEEDS_DIR": str(feeds_dir),
            "FEEDSVC_DATABASE_URL": postgres_url,
            "FEEDSVC_ALLOW_NETWORKS": "127.0.0.0/8",
        }
        with feedsvc("db", "upgrade", env=env) as upgrade:
            assert upgrade.wait(timeout=60) == 0
        with feedsvc("scheduler", env=env) as one, feedsvc("scheduler", env=env) as two:
            wait_for(lambda: all(server.hits(f"/f{n}") >= 4 for n in range(4)), timeout=60)
            outputs = [stop(one), stop(two)]
        hits = [server.hits(f"/f{n}") for n in range(4)]
    assert all("Traceback" not in output for output in outputs), outputs
    engine = create_engine(postgres_url)
    with engine.connect() as conn:
        rows = conn.execute(
            select(fetches.c.source, fetches.c.at)
            .where(fetches.c.source.like("remote%"))
            .order_by(fetches.c.source, fetches.c.at)
        ).all()
        stored = conn.execute(select(func.count()).select_from(stories)).scalar()
    engine.dispose()
    times: dict[str, list[Any]] = {}
    for row in rows:
        times.setdefault(row.source, []).append(row.at)
    assert sum(len(v) for v in times.values()) == sum(hits)
    for source, moments in times.items():
        gaps = [(b - a).total_seconds() for a, b in pairwise(moments)]
        # each fetch waits its 2 s interval (times are stored to the second): never twice at once
        assert all(gap >= 1 for gap in gaps), (source, gaps)
    assert stored == 7 + 4


def test_kill_9_mid_ingest_loses_nothing(feeds_dir: Path, tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'crash.sqlite3'}"
    with LoopbackServer({"/slow": Reply(body=rss("slow"), delay=30)}) as server:
        add_source(feeds_dir, "slow", server.url("/slow"), every="1s")
        env = {
            "FEEDSVC_FEEDS_DIR": str(feeds_dir),
            "FEEDSVC_DATABASE_URL": database,
            "FEEDSVC_ALLOW_NETWORKS": "127.0.0.0/8",
        }
        engine = create_engine(database)

        def count(table: Any) -> int:
            try:
                with engine.connect() as conn:
                    return conn.execute(select(func.count()).select_from(table)).scalar() or 0
            except OperationalError:  # the scheduler has not created the schema yet
                return 0

        def heartbeat() -> str | None:
            with engine.connect() as conn:
                return conn.execute(
                    select(state.c.value).where(state.c.key == "scheduler_heartbeat")
                ).scalar()

        with feedsvc("scheduler", env=env) as process:
            wait_for(lambda: count(stories) == 7 and server.hits("/slow") == 1)
            process.send_signal(signal.SIGKILL)  # mid-fetch of the slow source
            process.wait(timeout=10)
        assert count(stories) == 7
        before = heartbeat()
        with feedsvc("scheduler", env=env) as again:
            wait_for(lambda: heartbeat() != before)  # the restarted scheduler is ticking
            output = stop(again)
        assert again.returncode == 0, output
        assert count(stories) == 7  # nothing stored before the kill is lost
        assert count(copies) == 7  # and nothing is duplicated
