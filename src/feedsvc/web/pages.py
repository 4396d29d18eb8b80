"""Human pages: the index, one page per desk or topic (and its older pages), one per
story, and search.

Every page carries ``<link rel="alternate">`` autodiscovery for its feeds so a
reader given the page URL finds them. No page's cost grows with the archive:

- the index and each desk's and topic's first page are rendered at publish
  time and served from the feed cache like a feed (``publish_pages``): a
  lookup, with ETag, 304 and gzip, and the checked base put in per host;
- older pages (``?before=<cursor>``, a keyset cursor, never an offset), story
  pages and search results are a walk down one index (or the full-text
  index), rendered once per publish generation and kept (``PageMemo``), with
  the placeholder base, so a Host never costs a render either.

Pages are rendered by ``feedsvc.pages``; the catalogue's names come from the
published snapshot, so web workers never read ``feeds/``; until a worker has
loaded it, pages answer 503 (``FeedsUnavailable``), like feeds. An unknown
story is a 404 and a retracted one a 410; a bad cursor is a 400; all short
plain text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request

from feedsvc.cursor import BadCursor, decode_cursor, encode_cursor, search_text
from feedsvc.model import Article, Retraction
from feedsvc.pages import (
    INDEX_LATEST,
    INDEX_PATH,
    PAGE_SIZE,
    index_page,
    listing_page,
    listing_path,
    retraction_notice,
    search_page,
    story_page,
)
from feedsvc.publish import PLACEHOLDER_BASE, on_base
from feedsvc.store import Store
from feedsvc.text import one_line
from feedsvc.web.cache import FeedCache, FeedsUnavailable, PageMemo
from feedsvc.web.feeds import PLAIN_HEADERS, not_found, respond
from feedsvc.web.hosts import link_base

bp = Blueprint("pages", __name__)
MAX_ID_LENGTH = 64  # longer than any story id: answered 404 without a query
MEMO = "feedsvc.page_memo"
CSP = (
    "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' https: http:; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def init_app(app: Flask) -> None:
    app.extensions[MEMO] = PageMemo()
    app.register_blueprint(bp)


def _html(page: bytes | str) -> Response:
    response = Response(page, mimetype="text/html")
    response.headers.update(PAGE_HEADERS)
    return response


def _cache() -> FeedCache:
    cache: FeedCache = current_app.extensions["feedsvc.cache"]
    if not cache.refresh():
        raise FeedsUnavailable("site")
    return cache


def _store() -> Store:
    return current_app.extensions["feedsvc.store"]


def _kept(key: tuple[str, ...], render: Callable[[], str]) -> bytes:
    """A page rendered (with the placeholder base) once per publish generation."""
    cache = _cache()
    memo: PageMemo = current_app.extensions[MEMO]
    generation = cache.generation
    page = memo.get(generation, key)
    if page is None:
        page = render().encode("utf-8")
        memo.put(generation, key, page)
    return on_base(page, link_base(request.environ))


def _published(path: str, render: Callable[[], str]) -> Response:
    """The page publishing stored at ``path``; rendered here only when none is stored
    (a database published by a version that did not store pages, until its next publish)."""
    served = _cache().get(path, link_base(request.environ))
    if served is None:
        return _html(_kept(("published", path), render))
    response = respond(served)
    response.headers.update(PAGE_HEADERS)
    return response


def _before() -> tuple[str | None, Any]:
    """The ``before`` cursor asked for and its key, or (None, None); a bad one is a 400."""
    cursor = request.args.get("before")
    if cursor is None:
        return None, None
    return cursor, decode_cursor(cursor)


def _older(found: list[Article]) -> tuple[list[Article], str | None]:
    """One page of ``found`` (a page and one more) and the cursor of the next, if any."""
    shown = found[:PAGE_SIZE]
    if len(found) <= PAGE_SIZE:
        return shown, None
    return shown, encode_cursor((shown[-1].published, shown[-1].id))


@bp.errorhandler(BadCursor)
def bad_cursor(exc: BadCursor) -> Response:
    body = f"bad before= cursor: {one_line(str(exc))}\n"
    return Response(body, status=400, mimetype="text/plain", headers=PLAIN_HEADERS)


@bp.get("/")
def index() -> Response:
    def render() -> str:
        site = _cache().site
        latest = {
            f"{kind}/{entry['id']}": _store().list_range(
                f"{kind}/{entry['id']}", None, limit=INDEX_LATEST
            )
            for kind in ("desks", "topics")
            for entry in site.get(kind, [])
        }
        return index_page(site, latest)

    return _published(INDEX_PATH, render)


@bp.get("/desks/<ident>")
def desk(ident: str) -> Response:
    return _listing("desks", ident)


@bp.get("/topics/<ident>")
def topic(ident: str) -> Response:
    return _listing("topics", ident)


def _listing(kind: str, ident: str) -> Response:
    site = _cache().site
    entry = next((e for e in site.get(kind, []) if e["id"] == ident), None)
    if entry is None:
        return not_found(f"unknown {kind[:-1]} {one_line(ident, MAX_ID_LENGTH)!r}")
    cursor, key = _before()

    def render() -> str:
        found = _store().list_range(
            f"{kind}/{ident}", None, key, inclusive=False, limit=PAGE_SIZE + 1
        )
        shown, older = _older(found)
        return listing_page(site, kind, entry, shown, older)

    if cursor is None:
        return _published(listing_path(kind, ident), render)
    return _html(_kept(("listing", kind, ident, cursor), render))


@bp.get("/search")
def search() -> Response:
    """``/search?q=…``: stories whose title or summary hold every word, newest first;
    no words (or no ``q``) shows the form alone. Retracted stories are never found."""
    site = _cache().site
    wanted = search_text(request.args.get("q"))
    cursor, key = _before()

    def render() -> str:
        if not wanted:
            return search_page(site, "", None, None)
        found, _ = _store().search_articles(
            text=wanted, limit=PAGE_SIZE + 1, before=key, total=False
        )
        shown, older = _older(found)
        return search_page(site, wanted, shown, older)

    return _html(_kept(("search", wanted, cursor or ""), render))


@bp.get("/articles/<ident>")
def story(ident: str) -> Response:
    site = _cache().site
    if len(ident) > MAX_ID_LENGTH:
        return not_found(f"unknown article {one_line(ident, MAX_ID_LENGTH)!r}")
    memo: PageMemo = current_app.extensions[MEMO]
    generation = _cache().generation
    page = memo.get(generation, ("story", ident))
    if page is None:
        article = _store().article(ident)
        if article is None:
            return not_found(f"unknown article {one_line(ident, MAX_ID_LENGTH)!r}")
        if article.retracted is not None:
            return gone(article.retracted)
        page = story_page(article, site, PLACEHOLDER_BASE).encode("utf-8")
        memo.put(generation, ("story", ident), page)
    return _html(on_base(page, link_base(request.environ)))


def gone(retraction: Retraction) -> Response:
    """410 with the reason: the story existed and was taken down (readers drop it)."""
    body = one_line(retraction_notice(retraction), 500) + "\n"
    return Response(body, status=410, mimetype="text/plain", headers=PLAIN_HEADERS)
