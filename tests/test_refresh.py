"""The refresh use case: every caller takes the lease, so no source is fetched twice at once.

The last test runs the real ``feedsvc ingest`` command beside a running
scheduler on one database (SQLite and PostgreSQL) and asks a loopback server,
whose answer is held back until the test lets it go, how many requests it was
answering at once.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from ipaddress import ip_network
from pathlib import Path

import pytest

from feedsvc.catalog import load_catalog
from feedsvc.config import Settings
from feedsvc.fetch import AddressPolicy, Fetcher
from feedsvc.model import Catalog, Fetched, Source, Validators
from feedsvc.refresh import CRASH_RETRY, FetchFunction, Refresher
from feedsvc.scheduler import Scheduler
from feedsvc.store import Store
from polling import wait_for
from schedule_support import add_source, rss
from servers import LoopbackServer, Recorded, Reply

LOOPBACK = (ip_network("127.0.0.0/8"),)
BUSY_LINE = "remote: busy: being fetched by another process"


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer({"/feed": Reply(body=rss("one"))}) as running:
        yield running


@pytest.fixture
def catalog(feeds_dir: Path, server: LoopbackServer, store: Store, now: datetime) -> Catalog:
    add_source(feeds_dir, "remote", server.url("/feed"), every="10m")
    catalog = load_catalog(feeds_dir)
    store.sync_sources(catalog.sources.values(), now)
    return catalog


def refresher(
    store: Store, now: datetime, owner: str = "cli:test", fetch: FetchFunction | None = None
) -> Refresher:
    fetch = fetch or Fetcher(AddressPolicy(LOOPBACK)).fetch
    return Refresher(store, fetch, owner=owner, clock=lambda: now, rng=lambda: 0.0)


def test_a_refresh_gives_the_lease_back_and_sets_the_next_fetch(
    store: Store, catalog: Catalog, server: LoopbackServer, now: datetime
) -> None:
    result = refresher(store, now).refresh(catalog.sources["remote"], catalog)
    assert result.ok and result.new == 1 and result.touched
    health = store.source_health("remote")
    assert health is not None and health.lease_until is None
    assert health.next_fetch_at == now + timedelta(minutes=10)
    assert server.hits("/feed") == 1


def test_a_source_leased_elsewhere_is_busy_and_not_fetched(
    store: Store, catalog: Catalog, server: LoopbackServer, now: datetime
) -> None:
    assert store.claim_source("remote", "scheduler:elsewhere", now, timedelta(minutes=5))
    result = refresher(store, now).refresh(catalog.sources["remote"], catalog)
    assert result.busy and not result.ok and not result.failed
    assert result.line() == BUSY_LINE
    assert not result.touched
    assert server.hits("/feed") == 0
    health = store.source_health("remote")  # the other process keeps its lease
    assert health is not None and health.lease_until == now + timedelta(minutes=5)


def test_a_lease_whose_holder_died_is_taken_over(
    store: Store, catalog: Catalog, server: LoopbackServer, now: datetime
) -> None:
    dead = now - timedelta(minutes=6)
    assert store.claim_source("remote", "scheduler:killed", dead, timedelta(minutes=5))
    result = refresher(store, now).refresh(catalog.sources["remote"], catalog)
    assert result.ok and result.new == 1 and server.hits("/feed") == 1


def test_a_source_missing_from_the_database_is_an_error_not_busy(
    store: Store, catalog: Catalog, now: datetime
) -> None:
    ghost = dataclasses.replace(catalog.sources["remote"], id="ghost")
    result = refresher(store, now).refresh(ghost, catalog)
    assert result.failed and not result.busy
    assert "not registered" in (result.error or "")


def test_an_interrupted_refresh_gives_the_lease_back(
    store: Store, catalog: Catalog, now: datetime
) -> None:
    def interrupted(source: Source, validators: Validators) -> Fetched:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        refresher(store, now, fetch=interrupted).refresh(catalog.sources["remote"], catalog)
    health = store.source_health("remote")
    assert health is not None and health.lease_until is None
    assert health.next_fetch_at == now + CRASH_RETRY


def test_a_lease_is_only_run_for_its_own_source(
    store: Store, catalog: Catalog, server: LoopbackServer, now: datetime
) -> None:
    one = refresher(store, now)
    lease = one.claim("remote")
    assert lease is not None
    with pytest.raises(ValueError, match="lease for 'remote'"):
        one.run(lease, catalog.sources["nym-wire"], catalog)
    assert refresher(store, now, owner="other").claim("remote") is None  # still held
    one.put_back(lease, timedelta(seconds=2))
    health = store.source_health("remote")
    assert health is not None and health.lease_until is None
    assert health.next_fetch_at == now + timedelta(seconds=2)
    assert server.hits("/feed") == 0


# -- the command line beside a running scheduler --------------------------------------


def feedsvc_ingest(env: dict[str, str], *source_ids: str) -> subprocess.Popen[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")}
    environment.update(env)
    return subprocess.Popen(
        [sys.executable, "-m", "feedsvc", "ingest", *source_ids],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_ingest_beside_a_running_scheduler_never_fetches_a_source_twice_at_once(
    feeds_dir: Path, db_url: str, store: Store
) -> None:
    """Both ways round: the command while the scheduler fetches, the scheduler while the
    command fetches. The origin answers only when the test lets it, so each overlap is
    certain, not a matter of timing; a probe source shows the scheduler kept ticking."""
    gate = threading.Event()

    def held_back(request: Recorded) -> Reply:
        gate.wait(60)  # the bound only ends a broken test; the test opens the gate
        return Reply(body=rss("one"))

    routes = {"/feed": held_back, "/probe": Reply(body=rss("probe"))}
    with LoopbackServer(routes) as server:
        add_source(feeds_dir, "remote", server.url("/feed"), every="1h")
        add_source(feeds_dir, "probe", server.url("/probe"), every="1s")
        settings = Settings(feeds_dir=feeds_dir, database_url=db_url, allow_networks=LOOPBACK)
        env = {
            "FEEDSVC_FEEDS_DIR": str(feeds_dir),
            "FEEDSVC_DATABASE_URL": db_url,
            "FEEDSVC_ALLOW_NETWORKS": "127.0.0.0/8",
        }
        scheduler = Scheduler(settings, store, tick_seconds=0.1)
        scheduler.start()
        try:
            # 1. the scheduler is fetching "remote": the command reports it busy
            wait_for(lambda: server.in_flight("/feed") == 1)
            busy = feedsvc_ingest(env, "remote")
            out, err = busy.communicate(timeout=120)
            assert busy.returncode == 0, err  # busy is not a failure
            assert out.splitlines() == [BUSY_LINE]
            assert server.hits("/feed") == 1
            gate.set()
            wait_for(lambda: (h := store.source_health("remote")) and h.lease_until is None)

            # 2. the command is fetching "remote", which is due: the scheduler leaves it
            gate.clear()
            command = feedsvc_ingest(env, "remote")
            try:
                wait_for(lambda: server.in_flight("/feed") == 1)
                assert store.set_paused("remote", False)  # "resume": due at once
                probed = server.hits("/probe")
                wait_for(lambda: server.hits("/probe") >= probed + 2)  # ticks went by
                assert server.hits("/feed") == 2
            finally:
                gate.set()
                out, err = command.communicate(timeout=120)
            assert command.returncode == 0, err
            assert out.splitlines() == ["remote: unchanged since the last fetch"]
        finally:
            gate.set()
            scheduler.shutdown()
        assert server.peak("/feed") == 1
        assert server.hits("/feed") == 2
