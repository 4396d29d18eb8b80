"""Trusted links: the Host a request names decides nothing but which allowed base it gets."""

from __future__ import annotations

import dataclasses
import json
import random
import tracemalloc
from collections import Counter
from datetime import datetime

import pytest
from flask.testing import FlaskClient

from admin_support import AUTH
from feedsvc.catalog import load_catalog
from feedsvc.config import Settings, default_base, load_settings
from feedsvc.errors import ConfigError
from feedsvc.publish import Publisher
from feedsvc.store import Store
from feedsvc.web import create_app
from feedsvc.web.hosts import HostPolicy
from test_web import FEEDS, MEDIA


def test_links_follow_an_allowed_host_only(settings: Settings, published: Store) -> None:
    allowed = dataclasses.replace(settings, allowed_hosts=("localhost", "news.example:8443"))
    client = create_app({"TESTING": True, "SETTINGS": allowed, "STORE": published}).test_client()
    response = client.get("/feeds/all.json", base_url="https://news.example:8443")
    feed = json.loads(response.data)
    assert feed["feed_url"] == "https://news.example:8443/feeds/all.json"
    assert "feedsvc.invalid" not in response.get_data(as_text=True)
    # a wire story's link is its page, on the same checked host as every other link
    assert {item["url"] for item in feed["items"]} == {
        f"https://news.example:8443/articles/{a.id}" for a in published.list_articles()
    }
    story = feed["items"][0]["url"].removeprefix("https://news.example:8443")
    page = client.get(story, base_url="https://news.example:8443")
    assert 'rel="canonical" href="https://news.example:8443/articles/' in page.get_data(True)
    for host in ('evil"><script>', "other.example", "news.example", "news.example:8444"):
        refused = client.get("/feeds/all.json", headers={"Host": host})
        assert refused.status_code == 400, host
        assert refused.data == b"unknown Host: this server answers only for its own address\n"
        assert client.get("/", headers={"Host": host}).status_code == 400
    # probes and scrapers reach a worker by its IP address; those answers carry no links
    assert client.get("/healthz", headers={"Host": "10.1.2.3:8000"}).status_code == 200


def test_without_allowed_hosts_links_use_the_address_served_on(
    settings: Settings, published: Store
) -> None:
    served = dataclasses.replace(settings, allowed_hosts=(), host="0.0.0.0", port=8123)
    client = create_app({"TESTING": True, "SETTINGS": served, "STORE": published}).test_client()
    assert client.get("/feeds/all.json").status_code == 400  # Host: localhost, no port
    for host in ("127.0.0.1:8123", "localhost:8123", "[::1]:8123"):
        feed = json.loads(client.get("/feeds/all.json", headers={"Host": host}).data)
        assert feed["feed_url"] == f"http://{host}/feeds/all.json"
    policy = HostPolicy(served)  # HTTP/1.0 without a Host: the server's own address
    assert policy.base_for({"wsgi.url_scheme": "http"}) == "http://127.0.0.1:8123/"
    assert policy.bases == {
        f"{scheme}://{host}:8123/"
        for scheme in ("http", "https")
        for host in ("127.0.0.1", "localhost", "[::1]")
    }


def test_a_base_url_is_the_only_base_whatever_the_host(
    settings: Settings, published: Store, now: datetime
) -> None:
    fixed = dataclasses.replace(settings, base_url="https://feeds.example.org/", allowed_hosts=())
    catalog = load_catalog(settings.feeds_dir)
    Publisher(published, catalog, base_url=fixed.base_url, feed_size=50).publish(None, now)
    app = create_app({"TESTING": True, "SETTINGS": fixed, "STORE": published})
    client = app.test_client()
    for host in ("localhost", "anything.example:9", "x"):
        feed = json.loads(client.get("/feeds/all.json", headers={"Host": host}).data)
        assert feed["feed_url"] == "https://feeds.example.org/feeds/all.json"
    assert app.extensions["feedsvc.cache"].variants == 1


def test_a_flood_of_random_hosts_costs_no_render_and_no_memory(
    settings: Settings, published: Store
) -> None:
    """Each new Host used to cost a re-render and a kept copy of every feed (up to 256)."""
    app = create_app({"TESTING": True, "SETTINGS": settings, "STORE": published})
    client = app.test_client()
    cache = app.extensions["feedsvc.cache"]
    paths = [f"/{path}.{fmt}" for path in FEEDS for fmt in MEDIA]
    for path in paths:
        assert client.get(path).status_code == 200
    variants = cache.variants
    assert variants == len(paths)  # one base (http://localhost/) per feed
    rng = random.Random(12)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        statuses = Counter(
            client.get(
                paths[n % len(paths)],
                headers={"Host": f"h{rng.getrandbits(64):x}.example:{rng.randrange(1, 65536)}"},
            ).status_code
            for n in range(2000)
        )
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert statuses == {400: 2000}
    assert cache.variants == variants
    # 2000 renders of a 20 KB+ feed would keep megabytes; the fixed 400 keeps nothing
    assert grown < 512 * 1024, grown
    assert client.get("/feeds/all.rss").status_code == 200


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("feeds.example.org", ("feeds.example.org",)),
        (
            " Feeds.Example.org:8080 , feeds.example.org ,",
            ("feeds.example.org:8080", "feeds.example.org"),
        ),
        ("[::1]:8000,127.0.0.1", ("[::1]:8000", "127.0.0.1")),
    ],
)
def test_allowed_hosts_are_read_as_host_headers(value: str, expected: tuple[str, ...]) -> None:
    assert load_settings({"FEEDSVC_ALLOWED_HOSTS": value}).allowed_hosts == expected


@pytest.mark.parametrize(
    "value",
    ["*", "*.example.org", "https://feeds.example.org", "feeds.example.org/x", "a b", "x:0",
     "x:70000", "x:", "[nonsense]:80", "under_score.example"],
)  # fmt: skip
def test_a_bad_allowed_host_is_one_line_naming_the_variable(value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"FEEDSVC_ALLOWED_HOSTS": f"ok.example,{value}"})
    message = str(caught.value)
    assert message.startswith("FEEDSVC_ALLOWED_HOSTS: ") and "\n" not in message


def test_the_allowed_hosts_list_is_short() -> None:
    many = ",".join(f"h{n}.example" for n in range(21))
    with pytest.raises(ConfigError, match="FEEDSVC_ALLOWED_HOSTS: at most 20"):
        load_settings({"FEEDSVC_ALLOWED_HOSTS": many})


@pytest.mark.parametrize(
    ("name", "value"),
    [("FEEDSVC_PORT", "0"), ("FEEDSVC_PORT", "http"), ("FEEDSVC_WORKERS", "0"),
     ("FEEDSVC_WORKERS", "1000"), ("FEEDSVC_HOST", "not a host")],
)  # fmt: skip
def test_bad_serve_settings_name_their_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"^{name}: "):
        load_settings({name: value})


def test_a_base_url_with_allowed_hosts_still_refuses_other_hosts(settings: Settings) -> None:
    both = dataclasses.replace(
        settings, base_url="https://feeds.example.org/", allowed_hosts=("internal.example:8000",)
    )
    policy = HostPolicy(both)
    for host in ("feeds.example.org", "FEEDS.example.org", "internal.example:8000", None):
        environ = {"wsgi.url_scheme": "http"} | ({"HTTP_HOST": host} if host else {})
        assert policy.base_for(environ) == "https://feeds.example.org/", host
    assert policy.base_for({"HTTP_HOST": "other.example", "wsgi.url_scheme": "http"}) is None
    assert policy.bases == {"https://feeds.example.org/"}


@pytest.mark.parametrize(
    ("host", "port", "base_url", "expected"),
    [
        ("127.0.0.1", 8000, None, "http://127.0.0.1:8000/"),
        ("0.0.0.0", 8080, None, "http://127.0.0.1:8080/"),
        ("::", 80, None, "http://127.0.0.1:80/"),
        ("news.example", 8000, None, "http://news.example:8000/"),
        ("2001:db8::1", 8000, None, "http://[2001:db8::1]:8000/"),
        ("0.0.0.0", 8000, "https://n.example/", "https://n.example/"),
    ],
)
def test_links_made_outside_a_request_use_the_base_a_hostless_request_gets(
    host: str, port: int, base_url: str | None, expected: str
) -> None:
    """``feedsvc articles --json`` and the web tier agree on where a story's page is."""
    settings = Settings(host=host, port=port, base_url=base_url)
    assert default_base(settings) == expected
    policy = HostPolicy(settings)
    assert policy.default_base == expected
    assert policy.base_for({"wsgi.url_scheme": "http"}) == expected


NUL_REQUESTS = [
    ("GET", "/articles/%00"),
    ("GET", "/desks/%00"),
    ("GET", "/feeds/desks/nym%00.rss"),
    ("GET", "/feeds/archive/all/1-%00.rss"),
    ("GET", "/search?q=%00"),
    ("GET", "/search?q=a%00b"),
    ("POST", "/websub?hub.mode=%00"),
    ("GET", "/api/v1/articles?q=%00"),
    ("GET", "/api/v1/articles?desk=%00"),
    ("POST", "/api/v1/articles/%00/retract"),
    ("POST", "/api/v1/articles/%00/restore"),
    ("GET", "/api/v1/sources/%00/health"),
    ("GET", "/admin/articles/%00"),
    ("GET", "/admin/login?next=/admin/%00"),
]


@pytest.mark.parametrize(("method", "path"), NUL_REQUESTS)
def test_a_nul_in_the_path_or_query_is_400_on_every_database(
    admin_client: FlaskClient, method: str, path: str
) -> None:
    """PostgreSQL refuses a NUL in any text it compares: without this answer it was a
    503 "database unavailable" for the public story page, the API's filters and ids."""
    response = admin_client.open(path, method=method, headers=AUTH)
    assert response.status_code == 400, response.data
    if path.startswith("/api/"):  # the API's errors are JSON
        assert "NUL character" in response.json["error"]
    else:
        assert response.mimetype == "text/plain" and b"NUL character" in response.data
    assert admin_client.get("/api/v1/articles?q=a", headers=AUTH).status_code == 200
