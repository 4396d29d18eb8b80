"""Public feed endpoints: a lookup of ready bytes, answered with the validators pollers need.

Pollers hit feeds every minute, so a feed that exists is answered by
``FeedServer``, a WSGI layer in front of Flask (as WhiteNoise serves static
files): no request context, no routing, headers built once per change. Misses
fall through to the Flask views below, which explain the 404. Until the
worker has loaded the published feeds, feeds answer 503 with ``Retry-After``:
a reader or a CDN takes a 404 as "gone".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC
from typing import Any
from urllib.parse import parse_qs

from flask import Flask, Response, request
from werkzeug.http import parse_date
from werkzeug.routing import PathConverter

from feedsvc.publish import OPML_DEFAULT, OPML_PATHS
from feedsvc.render import FORMATS
from feedsvc.web.cache import FeedCache, FeedsUnavailable, Served
from feedsvc.web.hosts import link_base

REQUEST_COUNTER = "feedsvc.request_counter"  # set by web.metrics when it is installed
OTHER = "other"
"""The ``feed`` label of every request that is not for a published feed: one label for
whatever a stranger puts in a URL, so the metric's series stay as many as the feeds."""
StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

# A 404's reason quotes the request path, which anyone can fill with markup:
# the browser must never sniff it into HTML nor run anything it holds.
PLAIN_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'",
}
STATUS_LINES = {200: "200 OK", 304: "304 Not Modified"}
RETRY_AFTER = "5"
UNAVAILABLE_BODY = b"feeds are not loaded yet: the database cannot be read; try again shortly\n"
UNAVAILABLE_HEADERS = [
    ("Content-Type", "text/plain; charset=utf-8"),
    ("Content-Length", str(len(UNAVAILABLE_BODY))),
    ("Retry-After", RETRY_AFTER),
    ("Cache-Control", "no-store"),
    *PLAIN_HEADERS.items(),
]


def init_app(app: Flask) -> None:
    """The fast path in front of Flask, and the views that explain misses."""
    extensions = app.extensions

    def count(feed: str, status: int) -> None:
        counter = extensions.get(REQUEST_COUNTER)
        if counter is not None:
            counter.add(feed, status)

    def feed(name: str) -> Response:
        stem, dot, fmt = name.rpartition(".")
        if not dot or fmt not in FORMATS:
            count(OTHER, 404)
            return not_found(f"unknown feed format {fmt!r}: use .rss, .atom or .json")
        served = extensions["feedsvc.cache"].get(f"feeds/{name}", link_base(request.environ))
        if served is None:
            count(OTHER, 404)
            return not_found(_why_missing(stem))
        return respond(served)  # only when published between the fast path and here

    def opml() -> Response:
        key = opml_key(request.environ.get("QUERY_STRING", ""))
        if key is None:
            count(OTHER, 404)
            return not_found("unknown OPML format: use ?format=rss, atom or json")
        served = extensions["feedsvc.cache"].get(key, link_base(request.environ))
        if served is None:
            count(OTHER, 404)
            return not_found("no feeds published yet")
        return respond(served)

    app.register_error_handler(FeedsUnavailable, unavailable)
    app.url_map.converters["anypath"] = AnyPath
    app.add_url_rule("/feeds/<anypath:name>", "feeds.feed", feed, methods=["GET", "HEAD"])
    app.add_url_rule("/feeds.opml", "feeds.opml", opml, methods=["GET", "HEAD"])
    app.wsgi_app = FeedServer(app.wsgi_app, extensions["feedsvc.cache"], count)  # type: ignore[method-assign]


class AnyPath(PathConverter):
    """``path``, across line breaks too: ``/feeds/desks/a%0A.rss`` is an unknown feed (a 404
    with its reason, counted), not a request that no route matches (Flask's HTML page)."""

    regex = "(?s:[^/].*?)"


class FeedServer:
    """Answers GET/HEAD for published feeds straight from the cache; the rest goes to Flask."""

    def __init__(self, app: WSGIApp, cache: FeedCache, count: Callable[[str, int], None]):
        self.app = app
        self.cache = cache
        self.count = count

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path: str = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD")
        key: str | None = None
        if method == "GET" or method == "HEAD":
            if path == "/feeds.opml":
                key = opml_key(environ.get("QUERY_STRING", ""))
            elif path.startswith(("/feeds/", "/feeds.")):
                key = path[1:]
        if key is not None:
            try:
                served = self.cache.get(key, link_base(environ))
            except FeedsUnavailable:
                start_response("503 Service Unavailable", list(UNAVAILABLE_HEADERS))
                return [] if method == "HEAD" else [UNAVAILABLE_BODY]
            if served is not None:
                status, headers, body = answer(served, environ)
                self.count("/" + key, status)  # a published feed: the label set stays bounded
                if status == 304:  # no Content-Length: it would have to be the 200's
                    start_response(STATUS_LINES[304], list(headers))
                    return []
                start_response(STATUS_LINES[200], [*headers, ("Content-Length", str(len(body)))])
                return [] if method == "HEAD" else [body]
        return self.app(environ, start_response)


def opml_key(query: str) -> str | None:
    """The published OPML document ``/feeds.opml?format=…`` asks for; None for a format
    there is none of (the Flask view explains the 404)."""
    if not query:
        return OPML_PATHS[OPML_DEFAULT]
    formats = parse_qs(query).get("format")
    if not formats:
        return OPML_PATHS[OPML_DEFAULT]
    return OPML_PATHS.get(formats[0])


def not_found(reason: str) -> Response:
    return Response(reason + "\n", status=404, mimetype="text/plain", headers=PLAIN_HEADERS)


def unavailable(_exc: FeedsUnavailable | None = None) -> Response:
    """503 while nothing is loaded, for feeds and pages alike: the fast path's answer."""
    headers = [h for h in UNAVAILABLE_HEADERS if h[0] != "Content-Length"]
    return Response(UNAVAILABLE_BODY, status=503, headers=headers)


def _why_missing(stem: str) -> str:
    kind, _, ident = stem.partition("/")
    if kind == "desks" and ident:
        return f"unknown desk {ident!r}"
    if kind == "topics" and ident:
        return f"unknown topic {ident!r}"
    if stem == "all":
        return "no feeds published yet"
    return f"unknown feed {stem!r}: use all, desks/<desk> or topics/<topic>"


def answer(
    served: Served, environ: dict[str, Any]
) -> tuple[int, tuple[tuple[str, str], ...], bytes]:
    """200 or 304 with strong ETag, Last-Modified and max-age; gzip when asked."""
    use_gzip = _accepts_gzip(environ.get("HTTP_ACCEPT_ENCODING"))
    if _not_modified(served, environ):
        return 304, (served.headers_304_gzip if use_gzip else served.headers_304), b""
    if use_gzip:
        return 200, served.headers_gzip, served.gzipped
    return 200, served.headers, served.body


def respond(served: Served) -> Response:
    status, headers, body = answer(served, request.environ)
    return Response(body, status=status, headers=headers)


def _accepts_gzip(header: str | None) -> bool:
    """``gzip`` acceptable per RFC 9110 (an explicit ``gzip`` entry wins over ``*``).

    Hand-rolled because a full header parse is a measurable share of a 304.
    """
    if not header:
        return False
    header = header.lower()
    if "gzip" not in header and "*" not in header:
        return False
    qualities: dict[str, float] = {}
    for part in header.split(","):
        name, _, params = part.partition(";")
        name = name.strip()
        if name in ("gzip", "x-gzip", "*"):
            qualities["gzip" if name == "x-gzip" else name] = _quality(params)
    return qualities.get("gzip", qualities.get("*", 0.0)) > 0


def _quality(params: str) -> float:
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "q":
            try:
                return float(value.strip())
            except ValueError:
                return 0.0
    return 1.0


def _not_modified(served: Served, environ: dict[str, Any]) -> bool:
    """RFC 9110: If-None-Match wins over If-Modified-Since; weak comparison for INM."""
    if_none_match = environ.get("HTTP_IF_NONE_MATCH")
    if if_none_match is not None:
        if if_none_match.strip() == "*":
            return True
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return served.etag in tags or served.etag_gzip in tags
    since = environ.get("HTTP_IF_MODIFIED_SINCE")
    if since:
        moment = parse_date(since)
        if moment is not None:
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            return served.last_modified.replace(microsecond=0) <= moment
    return False
