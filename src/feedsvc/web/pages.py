"""Human pages: the index of desks and topics, one page per desk or topic, one per story.

Every page carries ``<link rel="alternate">`` autodiscovery for its feeds so a
reader given the page URL finds them. Pages query the store per request (they
are for people, not pollers) and are rendered by ``feedsvc.pages``, pure
functions of what is shown and the request's checked base; the catalogue's
names come from the published snapshot, so web workers never read ``feeds/``
themselves; until a worker has loaded it, pages answer 503
(``FeedsUnavailable``), like feeds. An unknown story is a 404 and a retracted
one a 410, both short plain text, as feeds answer.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, current_app, request

from feedsvc.model import Retraction
from feedsvc.pages import feed_links, render_page, retraction_notice, source_name, story_page
from feedsvc.store import Store
from feedsvc.text import one_line
from feedsvc.web.cache import FeedCache, FeedsUnavailable
from feedsvc.web.feeds import PLAIN_HEADERS, not_found
from feedsvc.web.hosts import link_base

bp = Blueprint("pages", __name__)
PAGE_SIZE = 30
MAX_ID_LENGTH = 64  # longer than any story id: answered 404 without a query
CSP = (
    "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' https: http:; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


def _page(template: str, **context: Any) -> Response:
    return _html(render_page(template, **context))


def _html(page: str) -> Response:
    response = Response(page, mimetype="text/html")
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _site() -> dict[str, Any]:
    cache: FeedCache = current_app.extensions["feedsvc.cache"]
    if not cache.refresh():
        raise FeedsUnavailable("site")
    return cache.site


def _store() -> Store:
    return current_app.extensions["feedsvc.store"]


@bp.get("/")
def index() -> Response:
    site = _site()
    store = _store()
    sections = []
    for kind, key in (("desks", "desk"), ("topics", "topic")):
        for entry in site.get(kind, []):
            latest = store.list_articles(**{key: entry["id"]}, limit=3)
            sections.append(
                {
                    "kind": kind,
                    "id": entry["id"],
                    "title": entry["title"],
                    "description": entry.get("description", ""),
                    "count": store.count_articles(**{key: entry["id"]}),
                    "latest": latest,
                    "links": feed_links(f"feeds/{kind}/{entry['id']}", entry["title"]),
                }
            )
    autodiscovery = feed_links("feeds/all", "All articles")
    for section in sections:
        autodiscovery += section["links"]
    return _page(
        "index.html",
        title="feedsvc",
        sections=sections,
        all_links=feed_links("feeds/all", "All articles"),
        autodiscovery=autodiscovery,
        total=store.count_articles(),
    )


@bp.get("/desks/<ident>")
def desk(ident: str) -> Response:
    return _listing("desks", "desk", ident)


@bp.get("/topics/<ident>")
def topic(ident: str) -> Response:
    return _listing("topics", "topic", ident)


def _listing(kind: str, key: str, ident: str) -> Response:
    site = _site()
    entry = next((e for e in site.get(kind, []) if e["id"] == ident), None)
    if entry is None:
        return not_found(f"unknown {key} {ident!r}")
    articles = _store().list_articles(
        desk=ident if kind == "desks" else None,
        topic=ident if kind == "topics" else None,
        limit=PAGE_SIZE,
    )
    links = feed_links(f"feeds/{kind}/{ident}", entry["title"])
    return _page(
        "listing.html",
        title=entry["title"],
        description=entry.get("description", ""),
        articles=[(article, source_name(article, site)) for article in articles],
        links=links,
        autodiscovery=links,
    )


@bp.get("/articles/<ident>")
def story(ident: str) -> Response:
    site = _site()
    article = _store().article(ident) if len(ident) <= MAX_ID_LENGTH else None
    if article is None:
        return not_found(f"unknown article {one_line(ident, MAX_ID_LENGTH)!r}")
    if article.retracted is not None:
        return gone(article.retracted)
    return _html(story_page(article, site, link_base(request.environ)))


def gone(retraction: Retraction) -> Response:
    """410 with the reason: the story existed and was taken down (readers drop it)."""
    body = one_line(retraction_notice(retraction), 500) + "\n"
    return Response(body, status=410, mimetype="text/plain", headers=PLAIN_HEADERS)
