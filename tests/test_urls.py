"""One table of URLs through every check that decides whether feedsvc fetches a URL.

The catalogue loader (``feedsvc check``, the scheduler), the admin API and the
fetcher must agree: a URL an operator can save is a URL every fetch will try,
and a URL the fetcher would refuse is refused where it is written, with the
same reason. Each row goes through the real catalogue loader (all rows in one
``sources.toml``), the real admin API, and a real fetch.

"Tried" means the fetcher got past its URL check: whatever happened next
(an answer, a refused address, a name that does not resolve) is not a URL
refusal. Hosts that are not numeric or ``localhost`` end in ``.invalid``
(RFC 6761: no resolver answers for it), so nothing here leaves the machine;
only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from ipaddress import ip_network
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st

from admin_support import AUTH
from feedsvc.catalog import check_feed_url, load_catalog
from feedsvc.errors import BlockedAddressError, ConfigError, FetchError, InvalidUrlError
from feedsvc.fetch import AddressPolicy, Fetcher, Limits
from feedsvc.model import Source, Validators
from feedsvc.urls import MAX_URL_LENGTH, canonical_url, http_url
from servers import LoopbackServer, Reply

LOOPBACK = AddressPolicy(allow_networks=(ip_network("127.0.0.0/8"),))
FETCHER = Fetcher(policy=LOOPBACK, limits=Limits(connect_timeout=5, total_timeout=10))
RSS = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'


@dataclass(frozen=True)
class Row:
    """One URL; ``{server}`` is the loopback server (127.0.0.1:port), ``{port}`` its port.

    ``{pad}`` grows the path until the URL is exactly MAX_URL_LENGTH long,
    ``{pad+1}`` one longer. ``arrives`` is the path the loopback server must
    then see, for rows whose fetch reaches it on every machine.
    """

    name: str
    url: str
    fetched: bool
    reason: str = ""  # for a refusal: what its message must name
    arrives: str | None = None

    def on(self, server: LoopbackServer) -> str:
        url = self.url.replace("{server}", f"127.0.0.1:{server.port}")
        url = url.replace("{port}", str(server.port))
        for token, length in (("{pad}", MAX_URL_LENGTH), ("{pad+1}", MAX_URL_LENGTH + 1)):
            url = url.replace(token, "a" * (length - len(url) + len(token)))
        return url


URLS = [
    # fetched
    Row("plain", "http://{server}/feed", True, arrives="/feed"),
    Row("https (the TLS handshake then fails)", "https://{server}/feed", True),
    Row("scheme and host in upper case", "HTTP://LOCALHOST:{port}/feed", True),
    Row("surrounding spaces", "  http://{server}/feed \n", True, arrives="/feed"),
    Row("spaces in the path", "http://{server}/a feed", True, arrives="/a%20feed"),
    Row("non-ASCII path", "http://{server}/café?q=thé", True, arrives="/caf%C3%A9"),
    Row("fragment", "http://{server}/feed#top", True, arrives="/feed"),
    Row("empty port", "http://news.invalid:/feed", True),
    Row("legacy IPv4 spelling", "http://127.1:{port}/feed", True, arrives="/feed"),
    Row("IPv6", "http://[::1]:{port}/feed", True),
    Row("IPv4-mapped IPv6", "http://[::ffff:127.0.0.1]:{port}/feed", True),
    Row("IDNA host", "http://bücher.invalid/feed", True),
    Row("punycode host", "http://xn--bcher-kva.invalid/feed", True),
    Row("underscore in host", "http://my_feeds.invalid/feed", True),
    Row("trailing dot", "http://news.invalid./feed", True),
    Row("host of 253", "http://" + "a." * 123 + "invalid/", True),
    Row("longest URL", "http://{server}/{pad}", True, arrives=""),
    # refused
    Row("user and password", "http://user:pw@{server}/feed", False, "user name or password"),
    Row("user only", "https://user@{server}/feed", False, "user name or password"),
    Row("empty user info", "http://@{server}/feed", False, "user name or password"),
    Row("space in host", "http://local host:{port}/feed", False, "bad host name"),
    Row("space in IDNA host", "http://bü cher.invalid/feed", False, "bad host name"),
    Row("empty label", "http://news..invalid/feed", False, "bad host name"),
    Row("label starts with '-'", "http://-news.invalid/feed", False, "bad host name"),
    Row("label ends with '-'", "http://news-.invalid/feed", False, "bad host name"),
    Row("label of 64", "http://" + "a" * 64 + ".invalid/feed", False, "bad host name"),
    Row("host of 255", "http://" + "a." * 124 + "invalid/", False, "longer than 253"),
    Row("percent in host", "http://loc%61lhost:{port}/feed", False, "bad host name"),
    Row("bad IDNA", "http://" + "ü" * 64 + ".invalid/", False, "not a valid international"),
    Row("no host", "http:///feed", False, "no host"),
    Row("no host, no path", "https://", False, "no host"),
    Row("no slashes", "http:news.invalid/feed", False, "no host"),
    Row("port 0", "http://127.0.0.1:0/feed", False, "bad port '0'"),
    Row("port 65536", "http://127.0.0.1:65536/feed", False, "bad port '65536'"),
    Row("port not a number", "http://127.0.0.1:http/feed", False, "bad port 'http'"),
    Row("signed port", "http://127.0.0.1:+80/feed", False, "bad port '+80'"),
    Row("two ports", "http://{server}:80/feed", False, "bad port"),
    Row("bad IPv6", "http://[::zz]:{port}/feed", False, "::zz"),
    Row("unclosed IPv6", "http://[::1:{port}/feed", False, "IPv6"),
    Row("IPv6 without brackets", "http://::1/feed", False, "no host"),
    Row("IPv6 zone", "http://[fe80::1%25lo]:{port}/feed", False, "zone identifiers"),
    Row("junk after IPv6", "http://[::1]x:{port}/feed", False, "IPv6"),
    Row("too long", "http://{server}/{pad+1}", False, f"longer than {MAX_URL_LENGTH}"),
    Row("too long encoded", "http://{server}/" + "é" * 700, False, "once percent-encoded"),
    Row("newline", "http://{server}/fe\ned", False, "U+000A, a control character"),
    Row("tab in host", "http://local\thost:{port}/feed", False, "U+0009, a control character"),
    Row("NUL", "http://{server}/\x00", False, "U+0000, a control character"),
    Row("DEL", "http://{server}/\x7f", False, "U+007F, a control character"),
    Row("C1 control", "http://{server}/\x9bfeed", False, "U+009B, a control character"),
    Row("lone surrogate", "http://{server}/\ud800", False, "U+D800, a lone surrogate"),
    Row("ftp", "ftp://{server}/feed", False, "refused scheme 'ftp'"),
    Row("file", "file:///etc/passwd", False, "refused scheme 'file'"),
    Row("javascript", "javascript:alert(1)", False, "refused scheme 'javascript'"),
    Row("data", "data:application/rss+xml,<rss/>", False, "refused scheme 'data'"),
    Row("feed scheme", "feed://{server}/feed", False, "refused scheme 'feed'"),
    Row("relative", "/feed.xml", False, "refused scheme (none)"),
    Row("protocol-relative", "//{server}/feed", False, "refused scheme (none)"),
]
IDS = [row.name for row in URLS]


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer({"/feed": Reply(body=RSS)}) as running:
        yield running


def _fetcher_refusal(url: str) -> str | None:
    """The fetcher's URL refusal, or None when it tried the URL (whatever came of it)."""
    source = Source(id="u", kind="feed", desk="nym", every=timedelta(minutes=15), url=url)
    try:
        FETCHER.fetch(source, Validators())
    except BlockedAddressError as exc:
        return str(exc) if isinstance(exc.__cause__, InvalidUrlError) else None
    except FetchError:
        return None
    return None


@pytest.mark.parametrize("row", URLS, ids=IDS)
def test_catalogue_check_and_fetcher_agree(row: Row, server: LoopbackServer) -> None:
    url = row.on(server)
    before = len(server.requests())
    try:
        check_feed_url(url)
        catalogue_refusal = None
    except ValueError as exc:
        catalogue_refusal = str(exc)

    fetcher_refusal = _fetcher_refusal(url)

    assert catalogue_refusal == fetcher_refusal  # the same check, so the same words
    arrived = [request.path for request in server.requests()[before:]]
    if row.fetched:
        assert catalogue_refusal is None
        if row.arrives is not None:
            assert arrived == [row.arrives or urlsplit(url).path]
    else:
        assert catalogue_refusal is not None and row.reason in catalogue_refusal
        assert arrived == []  # not one byte went out


def _toml_string(text: str) -> str:
    """A TOML basic string holding ``text`` exactly, controls escaped."""
    escaped = "".join(
        "\\" + ch if ch in '"\\' else ch if ch.isprintable() else f"\\u{ord(ch):04X}"
        for ch in text
    )
    return f'"{escaped}"'


def test_catalogue_file_agrees(feeds_dir: Path, server: LoopbackServer) -> None:
    """All rows in one sources.toml: the loader refuses exactly the refused rows."""
    expressible = [row for row in URLS if "\ud800" not in row.url]  # TOML cannot hold one
    with (feeds_dir / "sources.toml").open("a", encoding="utf-8") as handle:
        for number, row in enumerate(expressible):
            url = _toml_string(row.on(server))
            handle.write(f'\n[url-{number}]\nkind = "feed"\nurl = {url}\ndesk = "nym"\n')

    with pytest.raises(ConfigError) as caught:
        load_catalog(feeds_dir)

    refused: dict[int, str] = {}
    for problem in caught.value.problems:
        found = re.search(r"\[url-(\d+)\] url: (.*)$", problem)
        assert found, problem  # no other problem than the URLs
        refused[int(found.group(1))] = found.group(2)
    for number, row in enumerate(expressible):
        assert (number not in refused) is row.fetched, (row.name, refused.get(number))
        assert row.reason in refused.get(number, ""), row.name


def test_admin_api_agrees(admin_client: FlaskClient, server: LoopbackServer) -> None:
    """One database per backend for the whole table: each row is one request."""
    for number, row in enumerate(URLS):
        payload = {"id": f"url-{number}", "url": row.on(server), "desk": "nym"}
        response = admin_client.post("/api/v1/sources", json=payload, headers=AUTH)
        if row.fetched:
            assert response.status_code == 201, (row.name, response.json)
        elif "\ud800" in row.url:  # no valid JSON text holds one: the body itself is refused
            assert response.status_code == 400, row.name
            assert "expected a JSON object body" in response.json["error"], row.name
        else:
            assert response.status_code == 400, row.name
            assert response.json["field"] == "url", row.name
            assert row.reason in response.json["error"], (row.name, response.json)


# --------------------------------------------------------------------------- the check itself


def test_accepted_url_is_split_for_the_request() -> None:
    checked = http_url("  HTTPS://Bücher.Example:8443/a b/é?q=1 2#top ")
    assert checked.written == "HTTPS://Bücher.Example:8443/a b/é?q=1 2#top"
    assert checked.url == "https://Bücher.Example:8443/a%20b/%C3%A9?q=1%202"
    assert (checked.scheme, checked.host, checked.port) == ("https", "xn--bcher-kva.example", 8443)
    assert checked.target == "/a%20b/%C3%A9?q=1%202"
    assert checked.host_header == "xn--bcher-kva.example:8443"


def test_ipv6_host_is_bare_for_sockets_and_bracketed_for_the_header() -> None:
    checked = http_url("http://[2001:DB8:0::1]/")
    assert checked.host == "2001:db8::1"
    assert checked.host_header == "[2001:db8::1]"
    assert http_url("http://[2001:db8::1]:8080/").host_header == "[2001:db8::1]:8080"


@pytest.mark.parametrize("value", [None, 42, b"http://x.invalid/", "", "   "])
def test_what_is_no_url_string(value: object) -> None:
    with pytest.raises(InvalidUrlError, match="expected a URL string"):
        http_url(value)


def test_a_long_url_is_cut_in_the_message() -> None:
    with pytest.raises(InvalidUrlError) as caught:
        http_url("ftp://x.invalid/" + "a" * 5000)
    assert len(str(caught.value)) < 200


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=60),
        st.builds(
            lambda host, rest: f"http://{host}{rest}", st.text(max_size=20), st.text(max_size=30)
        ),
    )
)
def test_a_fetchable_url_also_has_a_canonical_form(url: str) -> None:
    """Whatever http_url accepts, the link rules read too: they share host and port rules."""
    try:
        checked = http_url(url)
    except InvalidUrlError as exc:
        assert str(exc).startswith(("bad URL", "expected a URL"))
        return
    assert canonical_url(checked.url) is not None
