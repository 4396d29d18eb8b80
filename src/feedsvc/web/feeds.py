"""Public feed endpoints: a lookup of ready bytes, answered with the validators pollers need."""

from __future__ import annotations

from datetime import UTC

from flask import Blueprint, Flask, Response, current_app, request
from werkzeug.http import parse_date

from feedsvc.render import FORMATS
from feedsvc.web.cache import FeedCache, Served

bp = Blueprint("feeds", __name__)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


def not_found(reason: str) -> Response:
    return Response(reason + "\n", status=404, mimetype="text/plain")


def origin() -> str:
    return request.host_url


@bp.route("/feeds/<path:name>", methods=["GET", "HEAD"])
def feed(name: str) -> Response:
    stem, dot, fmt = name.rpartition(".")
    if not dot or fmt not in FORMATS:
        return not_found(f"unknown feed format {fmt!r}: use .rss, .atom or .json")
    cache: FeedCache = current_app.extensions["feedsvc.cache"]
    served = cache.get(f"feeds/{name}", origin())
    if served is None:
        return not_found(_why_missing(stem))
    return respond(served)


@bp.route("/feeds.opml", methods=["GET", "HEAD"])
def opml() -> Response:
    cache: FeedCache = current_app.extensions["feedsvc.cache"]
    served = cache.get("feeds.opml", origin())
    if served is None:
        return not_found("no feeds published yet")
    return respond(served)


def _why_missing(stem: str) -> str:
    kind, _, ident = stem.partition("/")
    if kind == "desks" and ident:
        return f"unknown desk {ident!r}"
    if kind == "topics" and ident:
        return f"unknown topic {ident!r}"
    if stem == "all":
        return "no feeds published yet"
    return f"unknown feed {stem!r}: use all, desks/<desk> or topics/<topic>"


def respond(served: Served) -> Response:
    """200 or 304 with strong ETag, Last-Modified and max-age; gzip when asked."""
    use_gzip = "gzip" in request.headers.get("Accept-Encoding", "") and _accepts_gzip()
    etag = served.etag_gzip if use_gzip else served.etag
    headers = {
        "ETag": etag,
        "Last-Modified": served.last_modified_http,
        "Cache-Control": served.cache_control,
        "Vary": "Accept-Encoding",
    }
    if _not_modified(served):
        return Response(status=304, headers=headers)
    body = served.gzipped if use_gzip else served.body
    if use_gzip:
        headers["Content-Encoding"] = "gzip"
    response = Response(body, status=200, headers=headers, content_type=served.media_type)
    return response


def _accepts_gzip() -> bool:
    return request.accept_encodings["gzip"] > 0


def _not_modified(served: Served) -> bool:
    """RFC 9110: If-None-Match wins over If-Modified-Since; weak comparison for INM."""
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        if if_none_match.strip() == "*":
            return True
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return served.etag in tags or served.etag_gzip in tags
    since = request.headers.get("If-Modified-Since")
    if since:
        moment = parse_date(since)
        if moment is not None:
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            return served.last_modified.replace(microsecond=0) <= moment
    return False
