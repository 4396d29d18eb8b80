"""The built-in hub at /websub against a subscriber written from the Recommendation.

Real HTTP both ways on 127.0.0.1: the subscriber (tests/websub_subscriber.py)
discovers the hub, subscribes through the app's own server, answers the
hub's verification at its callback and receives content distributions; the
scheduler makes every call to the callbacks, on a clock the test moves.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from feedsvc.config import Settings
from feedsvc.store import Store
from feedsvc.websub.policy import MAX_SECRET_BYTES
from feedsvc.websub.records import Intent, Mode, subscription_id
from websub_subscriber import Subscriber, discover, post_form
from websub_support import Site, site

TOPIC = "feeds/desks/nym.atom"


@pytest.fixture
def hub_site(settings: Settings, store: Store, now: datetime) -> Iterator[Site]:
    with site(settings, store, now) as running:
        yield running


@pytest.fixture
def subscriber() -> Iterator[Subscriber]:
    with Subscriber() as running:
        yield running


def subscribed(
    hub_site: Site, subscriber: Subscriber, callback: str, topic: str = TOPIC, **kw: int
) -> str:
    """Discover, subscribe and let the hub verify; the topic URL."""
    hubs, self_url = discover(hub_site.feed(topic))
    status, _ = subscriber.subscribe(hubs[0], self_url, callback, **kw)
    assert status == 202
    hub_site.scheduler.hub_worker.run_due()
    return self_url


def test_discovery_names_the_built_in_hub_and_the_feed_itself(
    hub_site: Site,
) -> None:
    for fmt in ("rss", "atom", "json"):
        hubs, self_url = discover(hub_site.feed(f"feeds/all.{fmt}"))
        assert hubs == [hub_site.hub]
        assert self_url == hub_site.feed(f"feeds/all.{fmt}")


def test_subscribe_with_a_secret_verify_and_receive_a_signed_change(
    hub_site: Site, subscriber: Subscriber
) -> None:
    callback = subscriber.callback(secret="s3cr3t-of-the-subscriber")
    hubs, topic = discover(hub_site.feed(TOPIC))
    status, text = subscriber.subscribe(hubs[0], topic, callback, lease_seconds=3600)
    assert status == 202 and "verify" in text
    assert subscriber.checks(callback) == []  # verification is asynchronous: the scheduler's
    hub_site.scheduler.hub_worker.run_due()
    (check,) = subscriber.checks(callback)
    assert check.status == 200
    assert check.params["hub.mode"] == "subscribe"
    assert check.params["hub.topic"] == topic
    assert check.params["hub.lease_seconds"] == "3600"
    assert len(check.params["hub.challenge"]) >= 32

    hub_site.add_story("zz_push", "Pushed within seconds")
    hub_site.refresh()
    (note,) = subscriber.notifications(callback)
    assert note.authentic is True and note.signature is not None
    assert note.signature.startswith("sha256=")
    assert note.content_type == "application/atom+xml; charset=utf-8"
    assert note.links == {"hub": [hub_site.hub], "self": [topic]}
    assert b"Pushed within seconds" in note.body
    assert hub_site.base.encode() in note.body and b"feedsvc.invalid" not in note.body
    served = discover(topic)  # what a poller gets now is what was pushed
    assert served[1] == topic


def test_subscribe_without_a_secret_gets_unsigned_content(
    hub_site: Site, subscriber: Subscriber
) -> None:
    callback = subscriber.callback()
    subscribed(hub_site, subscriber, callback, topic="feeds/all.json")
    hub_site.add_story("zz_unsigned", "Unsigned push")
    hub_site.refresh()
    (note,) = subscriber.notifications(callback)
    assert note.signature is None and note.authentic is None
    assert note.content_type == "application/feed+json; charset=utf-8"
    assert b"Unsigned push" in note.body


def test_the_callback_keeps_its_own_query(hub_site: Site, subscriber: Subscriber) -> None:
    callback = subscriber.callback(query="id=7")
    subscribed(hub_site, subscriber, callback)
    (check,) = subscriber.checks(callback)
    assert check.status == 200 and check.params["id"] == "7"


def test_a_callback_that_does_not_echo_the_challenge_gets_no_subscription(
    hub_site: Site, subscriber: Subscriber
) -> None:
    callback = subscriber.callback(echo=False)
    subscribed(hub_site, subscriber, callback)
    assert [c.status for c in subscriber.checks(callback)] == [200]  # answered, wrongly
    hub_site.add_story("zz_noecho", "Nobody hears this")
    hub_site.refresh()
    assert subscriber.notifications(callback) == []


def test_a_subscriber_that_did_not_ask_answers_404_and_gets_nothing(
    hub_site: Site, subscriber: Subscriber
) -> None:
    callback = subscriber.callback()
    status, _ = post_form(
        hub_site.hub,
        {"hub.mode": "subscribe", "hub.topic": hub_site.feed(TOPIC), "hub.callback": callback},
    )  # someone else asks in the callback's name
    assert status == 202
    hub_site.scheduler.hub_worker.run_due()
    assert [c.status for c in subscriber.checks(callback)] == [404]
    hub_site.add_story("zz_forged", "Not for a forged subscription")
    hub_site.refresh()
    assert subscriber.notifications(callback) == []


def test_unsubscribe_is_verified_then_nothing_more_arrives(
    hub_site: Site, subscriber: Subscriber
) -> None:
    callback = subscriber.callback()
    topic = subscribed(hub_site, subscriber, callback)
    status, _ = subscriber.unsubscribe(hub_site.hub, topic, callback)
    assert status == 202
    hub_site.scheduler.hub_worker.run_due()
    last = subscriber.checks(callback)[-1]
    assert last.params["hub.mode"] == "unsubscribe" and last.status == 200
    assert "hub.challenge" in last.params
    hub_site.add_story("zz_after", "After unsubscribing")
    hub_site.refresh()
    assert subscriber.notifications(callback) == []


def test_a_renewal_replaces_the_secret_once_verified(
    hub_site: Site, subscriber: Subscriber
) -> None:
    callback = subscriber.callback(secret="first")
    topic = subscribed(hub_site, subscriber, callback)
    subscriber.state(callback).secret = "second"
    subscriber.subscribe(hub_site.hub, topic, callback)
    hub_site.scheduler.hub_worker.run_due()
    assert [c.params["hub.mode"] for c in subscriber.checks(callback)] == ["subscribe"] * 2
    hub_site.add_story("zz_renewed", "Signed with the new secret")
    hub_site.refresh()
    (note,) = subscriber.notifications(callback)  # one subscription, renewed, not two
    assert note.authentic is True


def test_the_lease_expires(hub_site: Site, subscriber: Subscriber) -> None:
    callback = subscriber.callback()
    subscribed(hub_site, subscriber, callback, lease_seconds=600)
    assert subscriber.checks(callback)[0].params["hub.lease_seconds"] == "600"
    hub_site.clock.advance(seconds=601)
    hub_site.add_story("zz_late", "After the lease")
    hub_site.refresh()
    assert subscriber.notifications(callback) == []
    assert hub_site.store.count_subscriptions(hub_site.clock()) == 0


def test_leases_are_kept_within_the_hubs_bounds(
    hub_site: Site, subscriber: Subscriber
) -> None:
    short, long, huge, default = (subscriber.callback() for _ in range(4))
    subscribed(hub_site, subscriber, short, lease_seconds=1)
    subscribed(hub_site, subscriber, long, lease_seconds=10**9)
    # past any integer column: it was a 503 "database unavailable" on PostgreSQL
    subscribed(hub_site, subscriber, huge, lease_seconds=10**30)
    subscribed(hub_site, subscriber, default)
    granted = [int(subscriber.checks(c)[0].params["hub.lease_seconds"])
               for c in (short, long, huge, default)]  # fmt: skip
    assert granted == [300, 30 * 86400, 30 * 86400, 10 * 86400]


def test_a_failing_callback_is_retried_and_has_the_content_within_two_minutes(
    hub_site: Site, subscriber: Subscriber
) -> None:
    callback = subscriber.callback(statuses=(500, 503, 200))
    subscribed(hub_site, subscriber, callback)
    hub_site.add_story("zz_retry", "Worth retrying")
    hub_site.refresh()
    changed_at = hub_site.clock()
    worker = hub_site.scheduler.hub_worker
    assert [n.status for n in subscriber.notifications(callback)] == [500]
    delivered_at = None
    for _ in range(60):  # one-second steps: when exactly the retries come is the hub's
        hub_site.clock.advance(seconds=1)
        worker.run_due()
        if subscriber.notifications(callback)[-1].status == 200:
            delivered_at = hub_site.clock()
            break
    assert [n.status for n in subscriber.notifications(callback)] == [500, 503, 200]
    assert delivered_at is not None and delivered_at - changed_at <= timedelta(minutes=2)
    assert hub_site.store.pending_deliveries() == []  # no retry left behind


def test_a_callback_that_keeps_failing_is_dropped_but_keeps_its_subscription(
    hub_site: Site, subscriber: Subscriber
) -> None:
    callback = subscriber.callback(statuses=(500,) * 12 + (200,))
    subscribed(hub_site, subscriber, callback)
    hub_site.add_story("zz_never", "Never arrives")
    hub_site.refresh()
    for _ in range(20):
        hub_site.clock.advance(hours=1)
        hub_site.scheduler.hub_worker.run_due()
    assert [n.status for n in subscriber.notifications(callback)] == [500] * 12
    assert hub_site.store.pending_deliveries() == []
    hub_site.add_story("zz_next", "The next change is tried again")  # §7: MUST keep retrying
    hub_site.refresh()
    assert subscriber.notifications(callback)[-1].status == 200


def test_410_gone_ends_the_subscription(hub_site: Site, subscriber: Subscriber) -> None:
    callback = subscriber.callback(statuses=(410,))
    subscribed(hub_site, subscriber, callback)
    hub_site.add_story("zz_gone", "Gone")
    hub_site.refresh()
    hub_site.add_story("zz_gone2", "Still gone")
    hub_site.refresh()
    assert [n.status for n in subscriber.notifications(callback)] == [410]
    assert hub_site.store.count_subscriptions(hub_site.clock()) == 0


def test_an_unknown_topic_is_denied_through_the_callback(
    hub_site: Site, subscriber: Subscriber
) -> None:
    callback = subscriber.callback()
    for topic in (hub_site.feed("feeds/desks/sport.atom"), "https://elsewhere.example/feed"):
        status, _ = subscriber.subscribe(hub_site.hub, topic, callback)
        assert status == 202  # not an error of the request: denied asynchronously (§5.2)
    hub_site.scheduler.hub_worker.run_due()
    denials = subscriber.checks(callback)
    assert [c.params["hub.mode"] for c in denials] == ["denied", "denied"]
    assert {c.params["hub.topic"] for c in denials} == {
        hub_site.feed("feeds/desks/sport.atom"),
        "https://elsewhere.example/feed",
    }
    assert all("hub.challenge" not in c.params and c.params["hub.reason"] for c in denials)
    assert hub_site.store.count_subscriptions(hub_site.clock()) == 0


def test_a_callback_on_a_refused_address_is_never_contacted(
    hub_site: Site, settings: Settings
) -> None:
    with Subscriber(host="127.0.0.2") as outside:  # loopback, but not in the allowed networks
        callback = outside.callback()
        status, text = outside.subscribe(hub_site.hub, hub_site.feed(TOPIC), callback)
        assert status == 400 and "refused address 127.0.0.2" in text
        # and a request that reached the queue anyway is refused when the scheduler calls
        hub_site.store.queue_intent(
            Intent(
                subscription_id=subscription_id(hub_site.feed(TOPIC), callback),
                mode=Mode.SUBSCRIBE,
                topic=hub_site.feed(TOPIC),
                feed_path=TOPIC,
                self_url=hub_site.feed(TOPIC),
                callback=callback,
                callback_host="127.0.0.2",
                secret=None,
                lease_seconds=None,
                reason=None,
                requested_at=hub_site.clock(),
            )
        )
        hub_site.scheduler.hub_worker.run_due()
        assert outside.checks(callback) == []
        assert hub_site.store.count_subscriptions(hub_site.clock()) == 0


@pytest.mark.parametrize(
    ("form", "reason"),
    [
        ({"hub.topic": "T", "hub.callback": "C"}, "hub.mode is required"),
        ({"hub.mode": "follow", "hub.topic": "T", "hub.callback": "C"}, "hub.mode must be"),
        ({"hub.mode": "publish", "hub.url": "T"}, "hub.mode=publish"),
        ({"hub.mode": "subscribe", "hub.callback": "C"}, "hub.topic is required"),
        ({"hub.mode": "subscribe", "hub.topic": "T"}, "hub.callback is required"),
        ({"hub.mode": "subscribe", "hub.topic": "T", "hub.callback": "ftp://x/"},
         "refused scheme"),
        ({"hub.mode": "subscribe", "hub.topic": "T", "hub.callback": "CB",
          "hub.lease_seconds": "-5"}, "hub.lease_seconds must be a positive whole number"),
        ({"hub.mode": "subscribe", "hub.topic": "T", "hub.callback": "CB",
          "hub.lease_seconds": "0"}, "hub.lease_seconds must be a positive whole number"),
        ({"hub.mode": "subscribe", "hub.topic": "T", "hub.callback": "CB",
          "hub.secret": "x" * (MAX_SECRET_BYTES + 1)}, "less than 200 bytes"),
        ({"hub.mode": "subscribe", "hub.topic": "T", "hub.callback": "CB", "hub.secret": ""},
         "hub.secret is empty"),
    ],
)  # fmt: skip
def test_bad_requests_get_400_with_a_reason(
    hub_site: Site, subscriber: Subscriber, form: dict[str, str], reason: str
) -> None:
    callback = subscriber.callback()
    form = {k: callback if v == "CB" else v for k, v in form.items()}
    status, text = post_form(hub_site.hub, form)
    assert status == 400 and reason in text
    hub_site.scheduler.hub_worker.run_due()
    assert subscriber.checks(callback) == []


def test_the_hub_wants_a_form_and_only_post(hub_site: Site) -> None:
    import urllib.error
    import urllib.request

    def call(method: str, data: bytes | None, content_type: str) -> int:
        request = urllib.request.Request(
            hub_site.hub, data=data, method=method, headers={"Content-Type": content_type}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return int(error.code)

    assert call("POST", b'{"hub.mode": "subscribe"}', "application/json") == 400
    assert call("POST", b"hub.mode=%ff", "application/x-www-form-urlencoded") == 400
    assert call("POST", b"a" * 9000, "application/x-www-form-urlencoded") == 413
    assert call("GET", None, "text/plain") == 405


def test_ceilings_on_pending_requests_per_callback_host(
    hub_site: Site, subscriber: Subscriber
) -> None:
    answers = [
        subscriber.subscribe(hub_site.hub, hub_site.feed(TOPIC), subscriber.callback())[0]
        for _ in range(21)
    ]
    assert answers == [202] * 20 + [429]


def test_metrics_count_verifications_and_deliveries(
    hub_site: Site, subscriber: Subscriber
) -> None:
    good, bad = subscriber.callback(), subscriber.callback(statuses=(500,))
    subscribed(hub_site, subscriber, good)
    subscribed(hub_site, subscriber, bad)
    hub_site.add_story("zz_counted", "Counted")
    hub_site.refresh()
    import urllib.request

    with urllib.request.urlopen(hub_site.base + "metrics", timeout=10) as response:
        text = response.read().decode()
    assert 'feedsvc_websub_verifications_total{mode="subscribe",outcome="verified"} 2.0' in text
    assert 'feedsvc_websub_deliveries_total{outcome="ok"} 1.0' in text
    assert 'feedsvc_websub_deliveries_total{outcome="error"} 1.0' in text
    assert 'feedsvc_websub_pings_total{hub="builtin",outcome="ok"}' in text
    assert "feedsvc_websub_subscriptions 2.0" in text
