"""The hub's rules and its request reader, as plain functions; the setting; Fetcher.call.

No hub runs here: leases, retry waits, topic matching and request checks are
pure, and ``Fetcher.call`` is tried against the loopback server alone.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import timedelta
from itertools import pairwise
from urllib.parse import urlencode

import pytest

from feedsvc.config import Settings, default_base, load_settings
from feedsvc.errors import BlockedAddressError, ConfigError, TooLargeError
from feedsvc.fetch import AddressPolicy, Fetcher, Limits
from feedsvc.websub.calls import signature, with_query
from feedsvc.websub.intake import BadRequest, find_topic, read_request
from feedsvc.websub.links import HubSetup, hub_url, is_topic_path, link_headers, link_value
from feedsvc.websub.policy import FIRST_RETRY, MAX_ATTEMPTS, lease_for, retry_wait
from feedsvc.websub.records import Mode
from servers import LoopbackServer, Reply

FORM = "application/x-www-form-urlencoded"
OPEN = AddressPolicy()
LOOPBACK = AddressPolicy(allow_networks=(ipaddress.ip_network("127.0.0.0/8"),))
BASES = ("http://127.0.0.1:8000/", "http://localhost:8000/")
PUBLISHED = {"feeds/all.atom", "feeds/desks/nym.rss", "feeds.opml"}


def test_retries_come_soon_then_further_apart_then_stop() -> None:
    waits = []
    failures = 1
    while (wait := retry_wait(failures)) is not None:
        waits.append(wait)
        failures += 1
    assert waits[0] == FIRST_RETRY <= timedelta(seconds=30)  # the first retry within ~30 s
    assert waits[0] + waits[1] <= timedelta(minutes=2)  # failed twice: the third try is soon
    assert all(a <= b for a, b in pairwise(waits))
    assert max(waits) == timedelta(hours=1)
    assert len(waits) == MAX_ATTEMPTS - 1  # twelve attempts in all, then dropped


def test_leases_have_a_floor_a_ceiling_and_a_default() -> None:
    assert lease_for(None) == 10 * 86400
    assert lease_for(1) == 300
    assert lease_for(3600) == 3600
    assert lease_for(10**12) == 30 * 86400


def test_a_topic_is_one_of_our_feeds_on_one_of_our_bases() -> None:
    assert find_topic("http://127.0.0.1:8000/feeds/all.atom", BASES, PUBLISHED) == (
        "http://127.0.0.1:8000/feeds/all.atom",
        "feeds/all.atom",
    )
    # §5.1.1: escapes of unreserved characters are decoded; scheme and host in any case
    assert find_topic("HTTP://LocalHost:8000/%66eeds/all%2Eatom", BASES, PUBLISHED) == (
        "http://localhost:8000/feeds/all.atom",
        "feeds/all.atom",
    )
    for other in (
        "http://127.0.0.1:8000/feeds/desks/sport.atom",  # not published
        "http://127.0.0.1:8000/feeds.opml",  # published, but no feed
        "http://127.0.0.1:8000/feeds/all.atom?x=1",  # another resource
        "http://127.0.0.1:8000/feeds%2Fall.atom",  # a reserved character stays escaped
        "http://evil.example/feeds/all.atom",
        "http://[::1",
    ):
        assert find_topic(other, BASES, PUBLISHED) is None, other


def request(**params: str) -> bytes:
    return urlencode({f"hub.{k}": v for k, v in params.items()}).encode()


def test_a_subscription_request_is_read_as_written() -> None:
    body = request(mode="subscribe", topic="T", callback="https://cb.example/x?a=1",
                   lease_seconds="007", secret="ünïcode")  # fmt: skip
    asked = read_request(body, FORM + "; charset=UTF-8", OPEN)
    assert asked.mode is Mode.SUBSCRIBE and asked.topic == "T"
    assert asked.callback == "https://cb.example/x?a=1" and asked.callback_host == "cb.example"
    assert asked.lease_seconds == 7 and asked.secret == "ünïcode"
    # an unsubscription ignores lease and secret (§5.1), even malformed ones
    body = request(mode="unsubscribe", topic="T", callback="https://cb.example/",
                   lease_seconds="x", secret="")  # fmt: skip
    unsub = read_request(body, FORM, OPEN)
    assert unsub.mode is Mode.UNSUBSCRIBE and unsub.lease_seconds is None


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        (request(mode="subscribe", topic="T", callback="https://c.example/"),
         FORM + "; charset=latin-1", "UTF-8"),
        (b"hub.mode=subscribe&hub.mode=unsubscribe", FORM, "given 2 times"),
        (b"&".join([b"p=1"] * 40), FORM, "more than 32 parameters"),
        (request(mode="subscribe", topic="T", callback="http://user:pw@c.example/"), FORM,
         "user name or password"),
        (request(mode="subscribe", topic="T", callback="http://10.0.0.1/"), FORM,
         "refused address 10.0.0.1 (private)"),
        (request(mode="subscribe", topic="T", callback="http://127.1/"), FORM,
         "refused address"),
        (request(mode="subscribe", topic="T", callback="http://[::1]/"), FORM,
         "refused address ::1 (loopback)"),
        (request(mode="subscribe", topic="T", callback="https://c.example/",
                 secret="é" * 100), FORM, "less than 200 bytes"),
        (request(mode="subscribe", topic="T\x00", callback="https://c.example/"), FORM,
         "hub.topic holds a control character"),
        (request(mode="subscribe", topic="T", callback="https://c.example/",
                 secret="a\x00b"), FORM, "hub.secret holds a control character"),
        (request(mode="subscribe", topic="http://t.example/" + "a" * 2048,
                 callback="https://c.example/"), FORM, "longer than 2048"),
    ],
)  # fmt: skip
def test_requests_the_hub_refuses_at_once(body: bytes, content_type: str, reason: str) -> None:
    with pytest.raises(BadRequest, match=re.escape(reason)) as err:
        read_request(body, content_type, OPEN)
    assert err.value.status == 400


def test_a_callback_the_operator_allows_is_taken() -> None:
    body = request(mode="subscribe", topic="T", callback="http://127.0.0.1:9/cb")
    assert read_request(body, FORM, LOOPBACK).callback_host == "127.0.0.1"


def test_links_name_the_hub_and_the_topic() -> None:
    assert hub_url(None, "http://a.example/") == "http://a.example/websub"
    assert hub_url(None, "https://a.example/news/") == "https://a.example/news/websub"
    assert hub_url("https://hub.example/", "http://a.example/") == "https://hub.example/"
    assert link_headers("H", "S") == (("Link", '<H>; rel="hub"'), ("Link", '<S>; rel="self"'))
    assert link_value("H", "S") == '<H>; rel="hub", <S>; rel="self"'
    assert is_topic_path("feeds/topics/trade.json") and not is_topic_path("feeds.opml")
    assert HubSetup().reference == "websub"
    assert HubSetup("https://hub.example/").reference == "https://hub.example/"


def test_verification_keeps_the_callbacks_query_and_drops_its_fragment() -> None:
    url = with_query("https://cb.example/x?a=1&hub.mode=mine#frag", [("hub.mode", "subscribe")])
    assert url == "https://cb.example/x?a=1&hub.mode=mine&hub.mode=subscribe"


def test_the_signature_is_an_hmac_sha256_of_the_body() -> None:
    # RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?"
    assert signature("Jefe", b"what do ya want for nothing?") == (
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )


def test_the_external_hub_setting() -> None:
    assert load_settings({}).websub_hub is None
    hub = "https://hub.example/websub?x=1"
    assert load_settings({"FEEDSVC_WEBSUB_HUB": hub}).websub_hub == hub
    for bad in ("hub.example", "ftp://hub.example/", "https:///path", "https://h.example/#x"):
        with pytest.raises(ConfigError, match=r"^FEEDSVC_WEBSUB_HUB: expected an absolute") as err:
            load_settings({"FEEDSVC_WEBSUB_HUB": bad})
        assert "\n" not in str(err.value)


def test_pings_name_feeds_on_the_public_base_else_the_address_served() -> None:
    assert default_base(Settings(base_url="https://feeds.example/")) == "https://feeds.example/"
    assert default_base(Settings(host="0.0.0.0", port=8080)) == "http://127.0.0.1:8080/"
    setup = HubSetup.from_settings(Settings(websub_hub="https://hub.example/", port=9000))
    assert setup == HubSetup("https://hub.example/", "http://127.0.0.1:9000/")


def test_call_posts_through_the_fetch_guards_and_follows_no_redirect() -> None:
    routes = {
        "/ok": Reply(body=b"challenge"),
        "/big": Reply(body=b"x" * 500),
        "/moved": Reply.redirect("/ok", status=307),
    }
    with LoopbackServer(routes) as server:
        client = Fetcher(LOOPBACK, Limits(total_timeout=5))
        answer = client.call("GET", server.url("/ok?hub.challenge=c"), read=100)
        assert answer.ok and answer.body == b"challenge"
        (seen,) = server.requests("/ok")
        assert seen.query == "hub.challenge=c" and "content-length" not in seen.headers
        moved = client.call("GET", server.url("/moved"), read=100)
        assert moved.status == 307 and not moved.ok and server.hits("/ok") == 1
        with pytest.raises(TooLargeError):
            client.call("GET", server.url("/big"), read=100)
        assert client.call("GET", server.url("/big")).body == b""  # not read when not asked
        with pytest.raises(BlockedAddressError, match=r"refused address 127\.0\.0\.1"):
            Fetcher(OPEN).call("GET", server.url("/ok"))
        assert server.hits("/ok") == 1
