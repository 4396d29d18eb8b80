"""Human pages: the index of desks and topics, and one page per desk or topic.

Every page carries ``<link rel="alternate">`` autodiscovery for its feeds so a
reader given the page URL finds them. Pages query the store per request (they
are for people, not pollers); the catalogue's names come from the published
snapshot, so web workers never read ``feeds/`` themselves; until a worker has
loaded it, pages answer 503 (``FeedsUnavailable``), like feeds.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, current_app, render_template, request

from feedsvc.render import FORMATS, MEDIA_TYPES
from feedsvc.store import Store
from feedsvc.web.cache import FeedCache, FeedsUnavailable
from feedsvc.web.feeds import not_found
from feedsvc.web.hosts import link_base

bp = Blueprint("pages", __name__)
FORMAT_NAMES = {"rss": "RSS", "atom": "Atom", "json": "JSON Feed"}
PAGE_SIZE = 30
CSP = (
    "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' https: http:; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


def _links(path: str, title: str) -> list[dict[str, str]]:
    return [
        {
            "href": f"/{path}.{fmt}",
            "type": MEDIA_TYPES[fmt].split(";")[0],
            "title": f"{title} ({FORMAT_NAMES[fmt]})",
            "format": FORMAT_NAMES[fmt],
        }
        for fmt in FORMATS
    ]


def _page(template: str, **context: Any) -> Response:
    response = Response(render_template(template, **context), mimetype="text/html")
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
                    "links": _links(f"feeds/{kind}/{entry['id']}", entry["title"]),
                }
            )
    autodiscovery = _links("feeds/all", "All articles")
    for section in sections:
        autodiscovery += section["links"]
    return _page(
        "index.html",
        title="feedsvc",
        sections=sections,
        all_links=_links("feeds/all", "All articles"),
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
    entry = next((e for e in _site().get(kind, []) if e["id"] == ident), None)
    if entry is None:
        return not_found(f"unknown {key} {ident!r}")
    articles = _store().list_articles(
        desk=ident if kind == "desks" else None,
        topic=ident if kind == "topics" else None,
        limit=PAGE_SIZE,
    )
    links = _links(f"feeds/{kind}/{ident}", entry["title"])
    return _page(
        "listing.html",
        title=entry["title"],
        description=entry.get("description", ""),
        articles=articles,
        links=links,
        autodiscovery=links,
        base=link_base(request.environ),
    )
