"""The fetch package against real loopback servers: conditional GET, limits, redirects,
policy. The folder reader has its own tests (``test_folder.py``).

Only 127.0.0.0/8 is ever contacted. Every refused address in here is refused by
the policy before any socket is opened; the tests that prove it use literal
addresses, so not even a DNS query leaves the machine.
"""

from __future__ import annotations

import gzip
import socket
import tracemalloc
import zlib
from collections.abc import Iterator
from datetime import timedelta
from ipaddress import ip_network

import pytest

from feedsvc.errors import BlockedAddressError, FetchError, TooLargeError
from feedsvc.fetch import ACCEPT, AddressPolicy, Fetcher, Limits, check_url
from feedsvc.model import Fetched, Source, Validators
from servers import LoopbackServer, Recorded, Reply, closed_port

LOOPBACK = AddressPolicy(allow_networks=(ip_network("127.0.0.0/8"),))
RSS = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'
LAST_MODIFIED = "Mon, 23 Jun 2025 19:09:00 GMT"


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as running:
        yield running


def feed_source(url: str) -> Source:
    return Source(id="world", kind="feed", desk="world", every=timedelta(minutes=15), url=url)


def fetch(url: str, validators: Validators | None = None, **limits: float) -> Fetched:
    """Fetch with loopback allowed and the given limits, as most tests here need."""
    fetcher = Fetcher(policy=LOOPBACK, limits=Limits(**limits))  # type: ignore[arg-type]
    return fetcher.fetch(feed_source(url), validators or Validators())


# -- success and conditional GET -------------------------------------------------


def test_200_returns_body_headers_and_validators(server: LoopbackServer) -> None:
    server.route(
        "/feed.rss",
        Reply(
            body=RSS,
            etag='"v1"',
            last_modified=LAST_MODIFIED,
            headers={
                "Content-Type": "application/rss+xml; charset=utf-8",
                "Cache-Control": "public, max-age=300",
            },
        ),
    )
    url = server.url("/feed.rss")

    fetched = Fetcher(policy=LOOPBACK).fetch(feed_source(url), Validators())

    assert fetched.source_id == "world"
    assert fetched.status == 200
    assert not fetched.not_modified
    (document,) = fetched.documents
    assert document.name == url
    assert document.content == RSS
    assert document.headers["content-type"] == "application/rss+xml; charset=utf-8"
    assert document.headers["etag"] == '"v1"'
    assert fetched.validators == Validators(etag='"v1"', last_modified=LAST_MODIFIED)
    assert fetched.max_age == timedelta(seconds=300)
    assert fetched.retry_after is None
    sent = server.requests("/feed.rss")[0].headers
    assert sent["host"] == f"127.0.0.1:{server.port}"
    assert sent["user-agent"] == "feedsvc/0.1 (+https://github.com/feedsvc)"
    assert sent["accept"] == ACCEPT
    assert sent["accept-encoding"] == "gzip, deflate"
    assert "if-none-match" not in sent and "if-modified-since" not in sent


def test_304_via_if_none_match(server: LoopbackServer) -> None:
    server.route("/feed", Reply(body=RSS, etag='"v2"'))

    fetched = fetch(server.url("/feed"), Validators(etag='"v2"', last_modified=LAST_MODIFIED))

    assert fetched.not_modified
    assert fetched.status == 304
    assert fetched.documents == ()
    assert fetched.validators == Validators(etag='"v2"', last_modified=LAST_MODIFIED)
    assert server.requests("/feed")[0].headers["if-none-match"] == '"v2"'


def test_304_via_if_modified_since(server: LoopbackServer) -> None:
    server.route("/feed", Reply(body=RSS, last_modified=LAST_MODIFIED))

    fetched = fetch(server.url("/feed"), Validators(last_modified=LAST_MODIFIED))

    assert fetched.not_modified
    assert fetched.validators.last_modified == LAST_MODIFIED
    assert server.requests("/feed")[0].headers["if-modified-since"] == LAST_MODIFIED


def test_304_refreshes_validators_from_the_response(server: LoopbackServer) -> None:
    server.route(
        "/feed", Reply(status=304, headers={"ETag": '"new"', "Cache-Control": "max-age=60"})
    )

    fetched = fetch(server.url("/feed"), Validators(etag='"old"', last_modified=LAST_MODIFIED))

    assert fetched.not_modified
    assert fetched.validators == Validators(etag='"new"', last_modified=LAST_MODIFIED)
    assert fetched.max_age == timedelta(seconds=60)


def test_changed_etag_gets_the_new_body(server: LoopbackServer) -> None:
    server.route("/feed", Reply(body=RSS, etag='"v3"'))

    fetched = fetch(server.url("/feed"), Validators(etag='"v2"'))

    assert not fetched.not_modified
    assert fetched.documents[0].content == RSS
    assert fetched.validators.etag == '"v3"'


# -- encodings and size --------------------------------------------------------------


def raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", raw_deflate),
    ],
)
def test_compressed_bodies_are_decoded(server: LoopbackServer, encoding: str, encode) -> None:
    body = RSS * 50
    server.route("/feed", Reply(body=encode(body), headers={"Content-Encoding": encoding}))

    fetched = fetch(server.url("/feed"))

    assert fetched.documents[0].content == body
    assert "content-encoding" not in fetched.documents[0].headers


def test_multi_member_gzip_is_decoded_whole(server: LoopbackServer) -> None:
    server.route(
        "/feed",
        Reply(
            body=gzip.compress(b"<rss>") + gzip.compress(b"</rss>"),
            headers={"Content-Encoding": "gzip"},
        ),
    )

    assert fetch(server.url("/feed")).documents[0].content == b"<rss></rss>"


def test_chunked_body_is_read(server: LoopbackServer) -> None:
    body = bytes(range(256)) * 100
    server.route("/feed", Reply(body=body, chunked=True))

    assert fetch(server.url("/feed")).documents[0].content == body


def gzip_bomb(size: int) -> bytes:
    packer = zlib.compressobj(wbits=16 + zlib.MAX_WBITS)
    zeros = bytes(1024 * 1024)
    parts = [packer.compress(zeros) for _ in range(size // len(zeros))]
    return b"".join(parts) + packer.flush()


def test_gzip_bomb_is_refused_without_inflating(server: LoopbackServer) -> None:
    bomb = gzip_bomb(50 * 1024 * 1024)
    assert len(bomb) < 100 * 1024
    server.route("/bomb", Reply(body=bomb, headers={"Content-Encoding": "gzip"}))

    tracemalloc.start()
    try:
        with pytest.raises(TooLargeError, match="larger than 1048576 bytes"):
            fetch(server.url("/bomb"), max_bytes=1024 * 1024)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 1024 * 1024


def test_content_length_over_the_cap_is_refused_before_reading(server: LoopbackServer) -> None:
    # The body is tiny: only the announced length can have triggered the refusal.
    server.route("/big", Reply(body=b"<rss/>", headers={"Content-Length": "5000000"}))

    with pytest.raises(TooLargeError, match="larger than 1000 bytes") as caught:
        fetch(server.url("/big"), max_bytes=1000)
    assert "Content-Length 5000000" in str(caught.value)


def test_streamed_body_over_the_cap_is_refused(server: LoopbackServer) -> None:
    server.route("/big", Reply(body=b"x" * 50_000, chunked=True))

    with pytest.raises(TooLargeError, match="larger than 10000 bytes"):
        fetch(server.url("/big"), max_bytes=10_000)


def test_body_exactly_at_the_cap_is_accepted(server: LoopbackServer) -> None:
    server.route("/feed", Reply(body=b"y" * 4096, headers={"Content-Encoding": "identity"}))

    assert len(fetch(server.url("/feed"), max_bytes=4096).documents[0].content) == 4096


def test_lying_content_length_is_a_truncated_response(server: LoopbackServer) -> None:
    server.route("/short", Reply(body=b"<rss>only part", headers={"Content-Length": "500"}))

    with pytest.raises(FetchError, match="truncated response: 14 of 500"):
        fetch(server.url("/short"))


def test_truncated_chunked_body_is_an_error(server: LoopbackServer) -> None:
    raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n100\r\n<rss>"
    server.route("/cut", Reply(raw=raw))

    with pytest.raises(FetchError, match="truncated response"):
        fetch(server.url("/cut"))


def test_truncated_gzip_body_is_an_error(server: LoopbackServer) -> None:
    cut = gzip.compress(RSS * 20)[:-12]
    server.route("/cut", Reply(body=cut, headers={"Content-Encoding": "gzip"}))

    with pytest.raises(FetchError, match="truncated compressed response"):
        fetch(server.url("/cut"))


def test_corrupt_gzip_is_an_error(server: LoopbackServer) -> None:
    server.route(
        "/bad", Reply(body=b"\x1f\x8b\x08\x00garbage" * 4, headers={"Content-Encoding": "gzip"})
    )

    with pytest.raises(FetchError, match="corrupt compressed response"):
        fetch(server.url("/bad"))


def test_unknown_content_encoding_is_an_error(server: LoopbackServer) -> None:
    server.route("/br", Reply(body=b"\x00\x01", headers={"Content-Encoding": "br"}))

    with pytest.raises(FetchError, match="unsupported Content-Encoding 'br'"):
        fetch(server.url("/br"))


def test_empty_200_is_an_error(server: LoopbackServer) -> None:
    server.route("/empty", Reply(body=b""))

    with pytest.raises(FetchError, match="empty response") as caught:
        fetch(server.url("/empty"))
    assert caught.value.status == 200


# -- HTTP errors --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "text"), [(404, "HTTP 404 Not Found"), (500, "HTTP 500 Internal Server Error")]
)
def test_http_errors_carry_the_status(server: LoopbackServer, status: int, text: str) -> None:
    server.route("/feed", Reply(status=status, body=b"nope"))

    with pytest.raises(FetchError) as caught:
        fetch(server.url("/feed"))
    assert str(caught.value) == text
    assert caught.value.status == status
    assert caught.value.retry_after is None


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_in_seconds(server: LoopbackServer, status: int) -> None:
    server.route("/feed", Reply(status=status, headers={"Retry-After": "120"}))

    with pytest.raises(FetchError) as caught:
        fetch(server.url("/feed"))
    assert caught.value.status == status
    assert caught.value.retry_after == timedelta(seconds=120)


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_as_http_date_counts_from_the_servers_date(
    server: LoopbackServer, status: int
) -> None:
    server.route(
        "/feed",
        Reply(
            status=status,
            headers={
                "Date": "Mon, 23 Jun 2025 19:09:00 GMT",
                "Retry-After": "Mon, 23 Jun 2025 19:19:30 GMT",
            },
        ),
    )

    with pytest.raises(FetchError) as caught:
        fetch(server.url("/feed"))
    assert caught.value.retry_after == timedelta(minutes=10, seconds=30)


def test_retry_after_is_ignored_on_other_errors(server: LoopbackServer) -> None:
    server.route("/feed", Reply(status=500, headers={"Retry-After": "120"}))

    with pytest.raises(FetchError) as caught:
        fetch(server.url("/feed"))
    assert caught.value.retry_after is None


# -- redirects ---------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_relative_redirect_is_followed(server: LoopbackServer, status: int) -> None:
    server.route("/old/feed", Reply.redirect("../new/feed.xml?x=1", status=status))
    server.route("/new/feed.xml", Reply(body=RSS))

    fetched = fetch(server.url("/old/feed"))

    assert fetched.documents[0].name == server.url("/new/feed.xml?x=1")
    assert fetched.documents[0].content == RSS
    assert server.requests("/new/feed.xml")[0].query == "x=1"


def test_absolute_redirect_to_another_server_is_followed(server: LoopbackServer) -> None:
    with LoopbackServer({"/feed": Reply(body=RSS)}) as other:
        server.route("/feed", Reply.redirect(other.url("/feed"), status=301))

        fetched = fetch(server.url("/feed"))

        assert fetched.documents[0].name == other.url("/feed")
        assert other.hits("/feed") == 1
        assert other.requests("/feed")[0].headers["host"] == f"127.0.0.1:{other.port}"


def test_redirect_loop_is_detected(server: LoopbackServer) -> None:
    server.route("/a", Reply.redirect("/b"))
    server.route("/b", Reply.redirect("/a"))

    with pytest.raises(FetchError, match="redirect loop"):
        fetch(server.url("/a"))
    assert server.hits("/a") == 1
    assert server.hits("/b") == 1


def test_too_many_redirects(server: LoopbackServer) -> None:
    for hop in range(5):
        server.route(f"/r{hop}", Reply.redirect(f"/r{hop + 1}"))
    server.route("/r5", Reply(body=RSS))

    with pytest.raises(FetchError, match=r"too many redirects \(more than 3\)"):
        fetch(server.url("/r0"), max_redirects=3)
    assert server.hits("/r4") == 0
    assert fetch(server.url("/r0"), max_redirects=5).documents[0].content == RSS


def test_redirect_without_location_is_an_error(server: LoopbackServer) -> None:
    server.route("/feed", Reply(status=302))

    with pytest.raises(FetchError, match="HTTP 302 Found without a Location"):
        fetch(server.url("/feed"))


def test_redirect_to_metadata_address_is_refused(server: LoopbackServer) -> None:
    server.route("/feed", Reply.redirect("http://169.254.169.254/latest/meta-data/"))

    with pytest.raises(
        BlockedAddressError, match=r"refused address 169\.254\.169\.254 .*link-local"
    ):
        fetch(server.url("/feed"))


@pytest.mark.parametrize(
    "location", ["file:///etc/passwd", "gopher://127.0.0.1:70/", "ftp://127.0.0.1/f"]
)
def test_redirect_to_another_scheme_is_refused(server: LoopbackServer, location: str) -> None:
    server.route("/feed", Reply.redirect(location))

    with pytest.raises(BlockedAddressError, match="refused scheme"):
        fetch(server.url("/feed"))


def test_redirect_to_a_loopback_address_outside_the_allow_list_never_connects(
    server: LoopbackServer,
) -> None:
    try:
        other = LoopbackServer({"/feed": Reply(body=RSS)}, host="127.0.0.2").start()
    except OSError:
        pytest.skip("this system cannot bind 127.0.0.2")
    try:
        server.route("/feed", Reply.redirect(other.url("/feed")))
        only_first = AddressPolicy(allow_networks=(ip_network("127.0.0.1/32"),))

        with pytest.raises(BlockedAddressError, match=r"refused address 127\.0\.0\.2 .*loopback"):
            Fetcher(policy=only_first).fetch(feed_source(server.url("/feed")), Validators())

        assert server.hits("/feed") == 1
        assert other.requests() == []
    finally:
        other.stop()


# -- time ----------------------------------------------------------------------------


def test_slow_drip_cannot_stretch_the_total_deadline(server: LoopbackServer) -> None:
    server.route("/drip", Reply(body=RSS, drip=0.2))

    with pytest.raises(FetchError, match=r"timed out after 0\.5 s"):
        fetch(server.url("/drip"), total_timeout=0.5)


def test_slow_drip_of_the_body_hits_the_deadline(server: LoopbackServer) -> None:
    server.route("/drip", Reply(body=RSS, drip=0.2, drip_headers=False))

    with pytest.raises(FetchError, match=r"timed out after 0\.5 s"):
        fetch(server.url("/drip"), total_timeout=0.5)


def test_server_that_never_answers_hits_the_deadline(server: LoopbackServer) -> None:
    server.route("/hang", Reply(hang=True))

    with pytest.raises(FetchError, match="timed out"):
        fetch(server.url("/hang"), total_timeout=0.5)
    assert server.hits("/hang") == 1


def test_connection_refused_is_a_short_reason() -> None:
    port = closed_port()

    with pytest.raises(FetchError) as caught:
        fetch(f"http://127.0.0.1:{port}/feed")
    assert str(caught.value) == f"connection refused by 127.0.0.1 (127.0.0.1 port {port})"


def test_tls_failure_is_a_short_reason(server: LoopbackServer) -> None:
    # A plain-HTTP server cannot complete a TLS handshake.
    server.route("/feed", Reply(body=RSS))
    url = f"https://127.0.0.1:{server.port}/feed"

    with pytest.raises(FetchError, match=r"^TLS handshake with 127\.0\.0\.1 failed: "):
        fetch(url, total_timeout=2)


def test_tls_server_that_never_handshakes_hits_the_deadline() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        url = f"https://127.0.0.1:{listener.getsockname()[1]}/feed"

        with pytest.raises(FetchError, match=r"timed out after 0\.5 s"):
            fetch(url, total_timeout=0.5)


def test_ipv6_loopback_is_reached_when_allowed() -> None:
    try:
        six = LoopbackServer({"/feed": Reply(body=RSS)}, host="::1").start()
    except OSError:
        pytest.skip("no IPv6 loopback on this system")
    try:
        policy = AddressPolicy(allow_networks=(ip_network("::1/128"),))
        fetched = Fetcher(policy=policy).fetch(feed_source(six.url("/feed")), Validators())

        assert fetched.documents[0].content == RSS
        assert six.requests("/feed")[0].headers["host"] == f"[::1]:{six.port}"
    finally:
        six.stop()


def test_stored_validators_that_are_not_header_safe_are_not_sent(server: LoopbackServer) -> None:
    server.route("/feed", Reply(body=RSS, etag='"v1"'))

    fetched = fetch(server.url("/feed"), Validators(etag='"v1"\r\nX-Injected: 1'))

    assert fetched.documents[0].content == RSS
    sent = server.requests("/feed")[0].headers
    assert "if-none-match" not in sent
    assert "x-injected" not in sent


def test_garbage_instead_of_http_is_an_error(server: LoopbackServer) -> None:
    server.route("/feed", Reply(raw=b"SSH-2.0-OpenSSH_9.6\r\n"))

    with pytest.raises(FetchError, match=r"bad HTTP response from 127\.0\.0\.1"):
        fetch(server.url("/feed"))


# -- the address policy, without any network ----------------------------------------

REFUSED = [
    ("127.1", "127.0.0.1", "loopback"),
    ("0x7f000001", "127.0.0.1", "loopback"),
    ("2130706433", "127.0.0.1", "loopback"),
    ("0177.0.0.1", "127.0.0.1", "loopback"),
    ("[::ffff:127.0.0.1]", "::ffff:7f00:1", "loopback"),
    ("[::1]", "::1", "loopback"),
    ("0.0.0.0", "0.0.0.0", "unspecified"),
    ("[::]", "::", "unspecified"),
    ("10.0.0.1", "10.0.0.1", "private"),
    ("172.16.0.1", "172.16.0.1", "private"),
    ("192.168.1.1", "192.168.1.1", "private"),
    ("100.64.0.1", "100.64.0.1", "CGNAT"),
    ("169.254.169.254", "169.254.169.254", "link-local"),
    ("[fe80::1]", "fe80::1", "link-local"),
    ("[fc00::1]", "fc00::1", "private"),
    ("[fec0::1]", "fec0::1", "site-local"),
    ("224.0.0.1", "224.0.0.1", "multicast"),
    ("[ff02::1]", "ff02::1", "multicast"),
    ("240.0.0.1", "240.0.0.1", "reserved"),
    ("192.0.2.1", "192.0.2.1", "not globally routable"),
    ("[64:ff9b::a9fe:a9fe]", "64:ff9b::a9fe:a9fe", "link-local"),
    ("[2002:a00:1::]", "2002:a00:1::", "private"),
    ("[::10.0.0.1]", "::a00:1", "private"),
]


@pytest.mark.parametrize(("host", "address", "reason"), REFUSED)
def test_policy_refuses_non_public_addresses(host: str, address: str, reason: str) -> None:
    policy = AddressPolicy()

    assert not policy.allows(host)
    assert reason in (policy.refusal(host) or "")


@pytest.mark.parametrize(("host", "address", "reason"), REFUSED)
def test_fetch_refuses_non_public_hosts_before_connecting(
    host: str, address: str, reason: str
) -> None:
    with pytest.raises(BlockedAddressError) as caught:
        Fetcher().fetch(feed_source(f"http://{host}:9/feed"), Validators())
    message = str(caught.value)
    assert message.startswith(f"refused address {address} for host ")
    assert reason in message
    assert "FEEDSVC_ALLOW_NETWORKS" in message


@pytest.mark.parametrize("address", ["93.184.216.34", "1.1.1.1", "2606:4700::1", "[2606:4700::1]"])
def test_policy_allows_public_addresses(address: str) -> None:
    assert AddressPolicy().allows(address)
    assert AddressPolicy().refusal(address) is None


def test_allow_networks_opens_exactly_those_networks() -> None:
    policy = AddressPolicy(allow_networks=(ip_network("127.0.0.0/8"), ip_network("fd00::/8")))

    assert policy.allows("127.0.0.1")
    assert policy.allows("127.1")
    assert policy.allows("::ffff:127.0.0.1")
    assert policy.allows("fd12::1")
    assert not policy.allows("::1")
    assert not policy.allows("10.0.0.1")
    assert policy.allows("93.184.216.34")


def test_policy_rejects_text_that_is_not_an_address() -> None:
    with pytest.raises(ValueError, match="not an IP address"):
        AddressPolicy().allows("example.org")


def test_loopback_server_is_refused_without_the_allow_list(server: LoopbackServer) -> None:
    server.route("/feed", Reply(body=RSS))

    with pytest.raises(
        BlockedAddressError, match=r"refused address 127\.0\.0\.1 for host 127\.0\.0\.1 \(loopback"
    ):
        Fetcher().fetch(feed_source(server.url("/feed")), Validators())
    assert server.hits("/feed") == 0
    assert fetch(server.url("/feed")).documents[0].content == RSS


# -- URLs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "gopher://127.0.0.1:70/_x",
        "data:text/xml,<rss/>",
        "ftp://127.0.0.1/feed.xml",
        "feed.xml",
    ],
)
def test_other_schemes_are_refused(url: str) -> None:
    with pytest.raises(BlockedAddressError, match="refused scheme"):
        check_url(url)
    with pytest.raises(BlockedAddressError, match="refused scheme"):
        Fetcher(policy=LOOPBACK).fetch(feed_source(url), Validators())


@pytest.mark.parametrize(
    "url",
    [
        "http:///feed",
        "http://user:pw@example.org/",
        "http://exa mple.org/",
        "http://example.org:99999/",
        "http://[::zz]/",
    ],
)
def test_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(BlockedAddressError, match="bad URL"):
        check_url(url)


@pytest.mark.parametrize(
    "url",
    ["https://example.org/world.rss", "HTTP://Example.org:8080/a?b=c", "http://[2606:4700::1]/"],
)
def test_check_url_returns_good_urls_unchanged(url: str) -> None:
    assert check_url(url) == url


def test_non_ascii_paths_are_sent_percent_encoded(server: LoopbackServer) -> None:
    server.route("/caf%C3%A9/feed%20x", Reply(body=RSS))

    fetched = fetch(server.url("/café/feed x"))

    assert fetched.documents[0].content == RSS
    assert fetched.documents[0].name == server.url("/caf%C3%A9/feed%20x")


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        Limits(total_timeout=0)
    with pytest.raises(ValueError, match="positive"):
        Limits(max_bytes=-1)


def test_recorded_requests_are_plain_values(server: LoopbackServer) -> None:
    # The server helper itself: handlers see the request and may answer by it.
    server.route("/echo", lambda request: Reply(body=request.headers["user-agent"].encode()))

    fetched = Fetcher(policy=LOOPBACK, user_agent="probe/1").fetch(
        feed_source(server.url("/echo")), Validators()
    )

    assert fetched.documents[0].content == b"probe/1"
    assert isinstance(server.requests("/echo")[0], Recorded)
