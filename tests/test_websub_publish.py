"""WebSub publishing: every feed advertises its hub and itself; the hub hears of each change.

Feeds are fetched over real HTTP and read as a subscriber would (§4
discovery), and checked by the format validators with their hub links in
place. An external hub on loopback (``FEEDSVC_WEBSUB_HUB``) records the
pings: exactly the feeds whose bytes changed, once each per publish.
"""

from __future__ import annotations

import gzip
import json
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from datetime import datetime

import atoma
import feedparser
import pytest
from lxml import etree

from feedsvc.config import Settings
from feedsvc.store import Store
from polling import wait_for
from schedule_support import add_source, rss
from servers import LoopbackServer, Reply
from test_validators import atom_errors, json_feed_errors, rss_errors
from websub_subscriber import Subscriber, discover, parse_links
from websub_support import RealClock, site

ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def subscriber() -> Iterator[Subscriber]:
    with Subscriber() as running:
        yield running


def get(url: str, **headers: str) -> tuple[dict[str, list[str]], bytes]:
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        links = parse_links(response.headers.get_all("Link") or [])
        body = response.read()
        if response.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        return links, body


def hub_in_body(fmt: str, body: bytes) -> list[str]:
    """The hubs a feed names inside itself: atom:link rel=hub, or JSON Feed hubs."""
    if fmt == "json":
        return [hub["url"] for hub in json.loads(body)["hubs"] if hub["type"] == "WebSub"]
    return [e.get("href", "") for e in etree.fromstring(body).iter(ATOM + "link")
            if e.get("rel") == "hub"]  # fmt: skip


@pytest.mark.parametrize("fmt", ["rss", "atom", "json"])
def test_every_feed_advertises_the_built_in_hub_and_itself(
    settings: Settings, store: Store, now: datetime, fmt: str
) -> None:
    with site(settings, store, now) as running:
        for path in sorted(p for p in running.feed_bytes() if p.endswith("." + fmt)):
            url = running.feed(path)
            for encoding in ("identity", "gzip"):
                links, body = get(url, **{"Accept-Encoding": encoding})
                assert links == {"hub": [running.hub], "self": [url]}, path
                assert hub_in_body(fmt, body) == [running.hub], path
            check = {"rss": rss_errors, "atom": atom_errors, "json": json_feed_errors}[fmt]
            assert check(body) == [], path
            if fmt != "json":
                parsed = feedparser.parse(body)
                assert {link.rel: link.href for link in parsed.feed.links}["hub"] == running.hub
        strict = {"rss": atoma.parse_rss_bytes, "atom": atoma.parse_atom_bytes}
        if fmt in strict:
            strict[fmt](body)  # atoma raises on anything it finds invalid
        else:
            atoma.parse_json_feed(json.loads(body))


def test_the_opml_list_is_no_topic(settings: Settings, store: Store, now: datetime) -> None:
    with site(settings, store, now) as running:
        links, _ = get(running.feed("feeds.opml"))
        assert links == {}


def test_an_external_hub_is_advertised_and_gets_exactly_the_changed_feeds(
    settings: Settings, store: Store, now: datetime, subscriber: Subscriber
) -> None:
    hub = subscriber.callback()  # a loopback server that records every POST made to it
    with site(settings, store, now, websub_hub=hub, base_url="https://feeds.example/") as running:
        links, body = get(running.feed("feeds/topics/trade.atom"))
        assert links == {"hub": [hub], "self": ["https://feeds.example/feeds/topics/trade.atom"]}
        assert hub_in_body("atom", body) == [hub]
        first = pings(subscriber, hub)
        assert set(first) == {
            "https://feeds.example/" + p for p in running.feed_bytes() if p.startswith("feeds/")
        }  # the first publishes made every feed

        before = running.feed_bytes()
        running.add_story("zz_ping", "Only the nym desk changes")
        running.refresh()
        after = running.feed_bytes()
        changed = {p for p in after if after[p] != before.get(p) and p.startswith("feeds/")}
        assert changed == {f"feeds/{n}.{f}" for n in ("all", "desks/nym")
                           for f in ("rss", "atom", "json")}  # fmt: skip
        second = pings(subscriber, hub)[len(first) :]
        assert Counter(second) == Counter("https://feeds.example/" + p for p in changed)

        running.refresh()  # nothing changed: nothing to tell
        assert len(pings(subscriber, hub)) == len(first) + len(second)


def test_pings_name_feeds_on_the_served_address_without_a_base_url(
    settings: Settings, store: Store, now: datetime, subscriber: Subscriber
) -> None:
    hub = subscriber.callback()
    with site(settings, store, now, websub_hub=hub) as running:
        assert running.feed("feeds/all.atom") in pings(subscriber, hub)


def test_a_failed_ping_is_retried(
    settings: Settings, store: Store, now: datetime, subscriber: Subscriber
) -> None:
    hub = subscriber.callback()
    with site(settings, store, now, websub_hub=hub, base_url="https://feeds.example/") as running:
        url = "https://feeds.example/feeds/desks/nym.rss"
        before = pings(subscriber, hub).count(url)
        subscriber.state(hub).statuses = [503] * 6  # each changed feed's first ping fails
        running.add_story("zz_retry_ping", "Pinged twice")
        running.refresh()
        assert pings(subscriber, hub).count(url) == before + 1
        assert [n.status for n in subscriber.notifications(hub)][-6:] == [503] * 6
        running.clock.advance(seconds=19)
        running.scheduler.hub_worker.run_due()
        assert pings(subscriber, hub).count(url) == before + 1  # not yet
        running.clock.advance(seconds=1)
        running.scheduler.hub_worker.run_due()
        assert pings(subscriber, hub).count(url) == before + 2
        assert running.store.pending_pings() == []
        assert "feedsvc_websub_pings_total" in get(running.feed("metrics"))[1].decode()


def test_the_built_in_hub_sends_subscribers_on_to_the_external_one(
    settings: Settings, store: Store, now: datetime, subscriber: Subscriber
) -> None:
    hub = subscriber.callback()
    with site(settings, store, now, websub_hub=hub) as running:
        request = urllib.request.Request(running.hub, data=b"hub.mode=subscribe", method="POST")
        opener = urllib.request.build_opener(NoRedirect)
        with pytest.raises(urllib.error.HTTPError) as answer:
            opener.open(request, timeout=10)
        assert answer.value.code == 307 and answer.value.headers["Location"] == hub


def test_a_slow_subscriber_never_delays_the_others(
    settings: Settings, store: Store, now: datetime
) -> None:
    with site(settings, store, now) as running, Subscriber() as subscriber:
        slow, fast = subscriber.callback(hang=True), subscriber.callback()
        for callback in (slow, fast):
            subscriber.subscribe(running.hub, running.feed("feeds/all.atom"), callback)
        running.scheduler.hub_worker.run_due()
        running.add_story("zz_slow", "Everyone but the slow one has it")
        running.clock.advance(minutes=1)
        running.scheduler.tick()  # fetch and queue; the calls run on the hub's own pool
        running.scheduler.drain()
        running.scheduler.flush_publish()
        running.scheduler.hub_worker.tick()
        wait_for(lambda: subscriber.notifications(fast))
        assert subscriber.state(slow).posts_started == 1  # still waiting for its answer
        assert subscriber.notifications(slow) == []
        assert b"Everyone but the slow one" in subscriber.notifications(fast)[0].body


def test_one_tick_serves_every_subscriber_of_a_change(
    settings: Settings, store: Store, now: datetime, subscriber: Subscriber
) -> None:
    """A thread that finishes a call takes the next: a burst needs no tick per call."""
    with site(settings, store, now) as running:
        callbacks = [subscriber.callback() for _ in range(12)]
        for callback in callbacks:
            subscriber.subscribe(running.hub, running.feed("feeds/all.rss"), callback)
        running.scheduler.hub_worker.run_due()
        running.add_story("zz_burst", "For all twelve")
        running.clock.advance(minutes=1)
        running.scheduler.tick()
        running.scheduler.drain()
        running.scheduler.flush_publish()
        worker = running.scheduler.hub_worker
        assert worker.tick() <= worker.workers  # at most one thread per free slot
        worker.drain()
        assert all(len(subscriber.notifications(c)) == 1 for c in callbacks)
        assert running.store.pending_deliveries() == []


def test_a_change_reaches_a_subscriber_within_seconds_of_the_publish(
    settings: Settings, store: Store, now: datetime, subscriber: Subscriber
) -> None:
    """The whole service on its own clock: the scheduler ticks, nothing is driven by hand."""
    with LoopbackServer({"/feed": Reply(body=rss("first"))}) as origin:
        add_source(settings.feeds_dir, "fast", origin.url("/feed"), every="1s")
        with site(settings, store, now, clock=RealClock()) as running:
            running.scheduler.start()
            callback = subscriber.callback(secret="live")
            hubs, topic = discover(running.feed("feeds/desks/nym.json"))
            assert subscriber.subscribe(hubs[0], topic, callback)[0] == 202
            wait_for(lambda: subscriber.state(callback).active)
            origin.route("/feed", Reply(body=rss("second", "first")))
            note = wait_for(lambda: subscriber.notifications(callback))[0]
            assert note.authentic is True
            titles = [item["title"] for item in json.loads(note.body)["items"]]
            assert "second" in titles


def pings(recorder: Subscriber, hub: str) -> list[str]:
    """The ``hub.url`` of every ``hub.mode=publish`` POST the recording hub received."""
    found = []
    for note in recorder.notifications(hub):
        form = dict(urllib.parse.parse_qsl(note.body.decode()))
        assert note.content_type == "application/x-www-form-urlencoded"
        assert form["hub.mode"] == "publish"
        found.append(form["hub.url"])
    return found


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None

