"""The schedule, driven tick by tick with an injected clock against real loopback servers."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from ipaddress import ip_network

import pytest

from feedsvc.config import Settings
from feedsvc.scheduler import Scheduler
from feedsvc.store import Store
from inbox_support import settle
from schedule_support import add_source, rss
from servers import LoopbackServer, Reply

LOOPBACK = (ip_network("127.0.0.0/8"),)


class Clock:
    """A clock the test moves by hand: no sleeping, no flaky timing."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer({"/feed": Reply(body=rss("one"), etag='"1"')}) as running:
        yield running


@pytest.fixture
def clock(now: datetime) -> Clock:
    return Clock(now)


def make_scheduler(settings: Settings, store: Store, clock: Clock, **kw: object) -> Scheduler:
    settings = dataclasses.replace(settings, allow_networks=LOOPBACK)
    scheduler = Scheduler(settings, store, clock=clock, rng=lambda: 0.0, **kw)  # type: ignore[arg-type]
    scheduler.start_up()
    return scheduler


def test_due_sources_run_and_wait_their_interval(
    settings: Settings, store: Store, clock: Clock, server: LoopbackServer
) -> None:
    add_source(settings.feeds_dir, "remote", server.url("/feed"))
    scheduler = make_scheduler(settings, store, clock)
    assert scheduler.run_once() == 3  # nym-wire, europe-wire, remote (example-world is disabled)
    assert server.hits("/feed") == 1
    assert scheduler.run_once() == 0  # nothing due until the interval has passed
    clock.advance(seconds=59)
    assert scheduler.run_once() == 0
    clock.advance(seconds=1)
    assert scheduler.run_once() == 3
    assert server.hits("/feed") == 2
    assert server.requests("/feed")[-1].headers["if-none-match"] == '"1"'


def test_changed_feed_is_published_without_any_command(
    settings: Settings, store: Store, clock: Clock, server: LoopbackServer
) -> None:
    add_source(settings.feeds_dir, "remote", server.url("/feed"))
    scheduler = make_scheduler(settings, store, clock)
    scheduler.run_once()
    server.route("/feed", Reply(body=rss("two", "one"), etag='"2"'))
    clock.advance(minutes=1)
    scheduler.run_once()
    feeds = {feed.path: feed.body for feed in store.load_feeds()}
    assert b"https://news.example/two" in feeds["feeds/desks/nym.rss"]
    assert b"https://news.example/two" not in feeds["feeds/desks/europe.rss"]


def test_failing_source_backs_off_and_recovers(
    settings: Settings, store: Store, clock: Clock, server: LoopbackServer
) -> None:
    server.route("/feed", Reply(status=500, body=b"down"))
    add_source(settings.feeds_dir, "remote", server.url("/feed"))
    scheduler = make_scheduler(settings, store, clock)
    waits = []
    for _ in range(5):
        before = clock.now
        scheduler.run_once()
        state = store.source_state("remote")
        assert state is not None and state.next_fetch_at is not None
        waits.append(state.next_fetch_at - before)
        clock.now = state.next_fetch_at
    assert waits == [timedelta(minutes=m) for m in (1, 2, 4, 8, 16)]
    assert server.hits("/feed") == 5
    state = store.source_state("remote")
    assert state is not None and state.error_count == 5 and "HTTP 500" in (state.last_error or "")

    server.route("/feed", Reply(body=rss("back")))
    scheduler.run_once()
    state = store.source_state("remote")
    assert state is not None and state.error_count == 0 and state.last_error is None
    assert state.next_fetch_at == clock.now + timedelta(minutes=1)


def test_retry_after_is_honoured(
    settings: Settings, store: Store, clock: Clock, server: LoopbackServer
) -> None:
    server.route("/feed", Reply(status=429, headers={"Retry-After": "3600"}))
    add_source(settings.feeds_dir, "remote", server.url("/feed"))
    scheduler = make_scheduler(settings, store, clock)
    scheduler.run_once()
    for _ in range(5):
        clock.advance(minutes=10)
        scheduler.run_once()
    assert server.hits("/feed") == 1  # not before the hour the source asked for
    clock.advance(minutes=10)
    scheduler.run_once()
    assert server.hits("/feed") == 2


def test_cache_control_max_age_is_honoured(
    settings: Settings, store: Store, clock: Clock, server: LoopbackServer
) -> None:
    server.route("/feed", Reply(body=rss("one"), headers={"Cache-Control": "max-age=600"}))
    add_source(settings.feeds_dir, "remote", server.url("/feed"))
    scheduler = make_scheduler(settings, store, clock)
    scheduler.run_once()
    clock.advance(minutes=5)
    scheduler.run_once()
    assert server.hits("/feed") == 1
    clock.advance(minutes=5)
    scheduler.run_once()
    assert server.hits("/feed") == 2


def test_state_survives_a_restart(
    settings: Settings, store: Store, clock: Clock, server: LoopbackServer
) -> None:
    server.route("/feed", Reply(status=500))
    add_source(settings.feeds_dir, "remote", server.url("/feed"))
    make_scheduler(settings, store, clock).run_once()
    clock.advance(minutes=1)
    make_scheduler(settings, store, clock).run_once()  # a new process, same database
    state = store.source_state("remote")
    assert state is not None and state.error_count == 2
    assert state.next_fetch_at == clock.now + timedelta(minutes=2)


def test_a_dead_schedulers_lease_expires(
    settings: Settings, store: Store, clock: Clock, server: LoopbackServer
) -> None:
    add_source(settings.feeds_dir, "remote", server.url("/feed"))
    dead = make_scheduler(settings, store, clock)
    claimed = store.claim_due(dead.owner, clock.now, dead.lease, 10)  # claimed, then "killed"
    assert "remote" in [claim.source_id for claim in claimed]
    alive = make_scheduler(settings, store, clock)
    assert alive.run_once() == 0  # leased to the dead one
    clock.advance(minutes=5, seconds=1)
    assert alive.run_once() == 3
    assert server.hits("/feed") == 1


def test_two_schedulers_never_claim_the_same_source(
    settings: Settings, store: Store, clock: Clock
) -> None:
    first = make_scheduler(settings, store, clock)
    second = make_scheduler(settings, store, clock)
    a = [claim.source_id for claim in store.claim_due(first.owner, clock.now, first.lease, 1)]
    b = [claim.source_id for claim in store.claim_due(second.owner, clock.now, second.lease, 10)]
    assert len(a) == 1 and a[0] not in b
    assert sorted(a + b) == ["europe-wire", "nym-wire"]


def test_catalogue_edits_apply_without_restart(
    settings: Settings, store: Store, clock: Clock, server: LoopbackServer
) -> None:
    scheduler = make_scheduler(settings, store, clock)
    scheduler.run_once()
    add_source(settings.feeds_dir, "remote", server.url("/feed"))
    assert scheduler.run_once() == 1  # the new source, picked up by the next tick
    assert server.hits("/feed") == 1
    assert "remote" in scheduler.catalog.sources

    path = settings.feeds_dir / "sources.toml"
    good = path.read_text()
    path.write_text(good + '\n[broken]\nkind = "feed"\ndesk = "nowhere"\n')
    clock.advance(minutes=1)
    assert scheduler.run_once() == 3  # the last good catalogue stays in force
    assert "broken" not in scheduler.catalog.sources

    path.write_text(
        good.replace('every = "1m"\n\n# A remote', 'every = "1m"\nenabled = false\n\n# A remote', 1)
    )
    clock.advance(minutes=1)
    started = scheduler.run_once()
    assert "remote" in scheduler.catalog.sources
    assert started == 2  # europe-wire paused by the edit; nym-wire and remote run


def test_new_wire_file_is_picked_up(settings: Settings, store: Store, clock: Clock) -> None:
    scheduler = make_scheduler(settings, store, clock)
    scheduler.run_once()
    inbox = settings.feeds_dir / "inbox" / "nym"
    (inbox / "zz_new.txt").write_text(
        "Fresh wire story\n\nNYM Desk\n\nPublished : 10:00, 1 July"
        " 2025\n\nA short body about NATO.\n"
    )
    settle(inbox / "zz_new.txt")
    clock.advance(minutes=1)
    scheduler.run_once()
    titles = [a.title for a in store.list_articles(source="nym-wire")]
    assert "Fresh wire story" in titles
    feeds = {feed.path: feed.body for feed in store.load_feeds()}
    assert b"Fresh wire story" in feeds["feeds/topics/security.atom"]


def test_a_slow_source_does_not_delay_the_others(settings: Settings, store: Store,
                                                 clock: Clock) -> None:
    routes = {"/slow": Reply(body=rss("slow"), hang=True), "/fast": Reply(body=rss("fast"))}
    with LoopbackServer(routes) as server:
        add_source(settings.feeds_dir, "slow", server.url("/slow"))
        add_source(settings.feeds_dir, "fast", server.url("/fast"))
        scheduler = make_scheduler(settings, store, clock, workers=4)
        assert scheduler.tick() == 4
        # the fast source is stored while the slow one is still waiting for its answer
        # (the slow request may reach the server after the fast one is stored: wait for both)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (
            store.list_articles(source="fast") and server.hits("/slow") == 1
        ):
            time.sleep(0.05)
        assert [a.title for a in store.list_articles(source="fast")] == ["fast"]
        assert server.hits("/slow") == 1 and not store.list_articles(source="slow")
    scheduler.drain()  # the stopped server ends the slow fetch with an error
    state = store.source_state("slow")
    assert state is not None and state.error_count == 1


def test_at_most_per_host_fetches_to_one_host(settings: Settings, store: Store, clock: Clock,
                                              server: LoopbackServer) -> None:
    server.route("/feed", Reply(body=rss("one"), delay=0.3))
    for n in range(3):
        add_source(settings.feeds_dir, f"same{n}", server.url("/feed") + f"?n={n}")
    scheduler = make_scheduler(settings, store, clock, workers=5, per_host=1)
    scheduler.run_once()
    assert server.hits("/feed") == 1  # the two others were put back for a moment
    postponed = [store.source_state(f"same{n}") for n in range(3)]
    waits = sorted((s.next_fetch_at - clock.now) for s in postponed if s and s.next_fetch_at)
    assert waits == [timedelta(seconds=2), timedelta(seconds=2), timedelta(minutes=1)]
    clock.advance(seconds=2)
    scheduler.run_once()
    assert server.hits("/feed") == 2
