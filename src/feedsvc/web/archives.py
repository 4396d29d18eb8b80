"""Archive documents over HTTP (RFC 5005): rendered when asked for, kept by version, served
like feeds.

A page's bytes are not stored: ten thousand pages per feed would be, at a
million stories. A request reads what its number names (a few index lookups,
``archive_docs.locate``) and renders the page only when this worker has no
copy of that version on that base; copies are kept up to a byte budget,
least recently used out first. Answers carry a strong ETag, Last-Modified and
gzip like feeds: a sealed page a long ``max-age``, the open page its feed's.
An open page's old URL redirects (301 to the sealed page that took its
number, 302 to its new URL); a bad or unknown page is a 404 with a reason.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from flask import Flask, Response, request
from sqlalchemy.exc import SQLAlchemyError

from feedsvc.archive import SEALED_MAX_AGE, parse_archive_path
from feedsvc.archive_docs import Moved, locate, render_documents, spec_from_record
from feedsvc.errors import NotFound, StoreError
from feedsvc.model import PublishedFeed
from feedsvc.publish import etag_for, max_age_seconds
from feedsvc.render import MEDIA_TYPES
from feedsvc.store import Store
from feedsvc.web.cache import FeedCache, FeedsUnavailable, Served
from feedsvc.web.feeds import (
    OTHER,
    PLAIN_HEADERS,
    REQUEST_COUNTER,
    not_found,
    respond,
    unavailable,
)
from feedsvc.web.hosts import link_base

CACHE_BYTES = 32 * 1024 * 1024
"""What one worker keeps of rendered archive documents (both encodings counted)."""

CacheKey = tuple[str, str, int, str]


class ArchiveCache:
    """Rendered archive documents by (path, base, version, site), within a byte budget."""

    def __init__(self, budget: int = CACHE_BYTES) -> None:
        self.budget = budget
        self.size = 0
        self._lock = threading.Lock()
        self._items: OrderedDict[CacheKey, Served] = OrderedDict()

    def get(self, key: CacheKey) -> Served | None:
        with self._lock:
            served = self._items.get(key)
            if served is not None:
                self._items.move_to_end(key)
            return served

    def put(self, key: CacheKey, served: Served) -> None:
        with self._lock:
            if key in self._items:
                return
            self._items[key] = served
            self.size += _weight(served)
            while self.size > self.budget and len(self._items) > 1:
                _, old = self._items.popitem(last=False)
                self.size -= _weight(old)

    def __len__(self) -> int:
        return len(self._items)


def _weight(served: Served) -> int:
    return len(served.body) + len(served.gzipped)


def init_app(app: Flask) -> None:
    extensions = app.extensions
    cache = ArchiveCache()
    extensions["feedsvc.archive_cache"] = cache

    def count(label: str, status: int) -> None:
        counter = extensions.get(REQUEST_COUNTER)
        if counter is not None:
            counter.add(label, status)

    def archive(rest: str) -> Response:
        feeds: FeedCache = extensions["feedsvc.cache"]
        if not feeds.refresh():
            raise FeedsUnavailable(rest)
        try:
            wanted = parse_archive_path("feeds/archive/" + rest)
        except NotFound as exc:
            count(OTHER, 404)
            return not_found(str(exc))
        record = feeds.site.get("feeds", {}).get(wanted.listing)
        if record is None or wanted.fmt not in MEDIA_TYPES:
            count(OTHER, 404)
            return not_found(_why_unknown(wanted.listing, wanted.fmt))
        spec = spec_from_record(record)
        store: Store = extensions["feedsvc.store"]
        base = link_base(request.environ)
        label = f"/feeds/archive/{wanted.listing}"  # one label per feed: bounded
        try:
            found = locate(store, wanted, spec.path)
            if isinstance(found, Moved):
                count(label, 301 if found.permanent else 302)
                age = SEALED_MAX_AGE if found.permanent else max_age_seconds(spec.ttl)
                return _moved(f"{base}{found.path}.{wanted.fmt}", found.permanent, age)
            key = (f"{found.path}.{wanted.fmt}", base, found.version, feeds.site_stamp)
            served = cache.get(key)
            if served is None:
                titles = _source_titles(feeds.site)
                body = render_documents(store, found, spec, [wanted.fmt], base, titles)
                body_bytes = body[wanted.fmt]
                age = SEALED_MAX_AGE if found.sealed else max_age_seconds(spec.ttl)
                document = PublishedFeed(
                    key[0],
                    body_bytes,
                    etag_for(body_bytes),
                    MEDIA_TYPES[wanted.fmt],
                    found.last_modified,
                    age,
                )
                served = Served.build(document, body_bytes, document.etag)
                cache.put(key, served)
        except NotFound as exc:
            count(label, 404)
            return not_found(str(exc))
        except (SQLAlchemyError, StoreError):
            return unavailable()
        response = respond(served)
        count(label, response.status_code)
        return response

    rules = (("/feeds/archive/<anypath:rest>", None), ("/feeds/archive/", {"rest": ""}))
    for rule, defaults in rules:
        app.add_url_rule(
            rule, "feeds.archive", archive, methods=["GET", "HEAD"], defaults=defaults
        )


def _moved(location: str, permanent: bool, max_age: int) -> Response:
    response = Response(
        f"moved to {location}\n",
        status=301 if permanent else 302,
        mimetype="text/plain",
        headers={**PLAIN_HEADERS, "Location": location},
    )
    response.headers["Cache-Control"] = f"public, max-age={max_age}"
    return response


def _why_unknown(listing: str, fmt: str) -> str:
    if fmt not in MEDIA_TYPES:
        return f"unknown feed format {fmt!r}: use .rss, .atom or .json"
    kind, _, ident = listing.partition("/")
    if kind == "desks":
        return f"unknown desk {ident!r}"
    if kind == "topics":
        return f"unknown topic {ident!r}"
    return "no feeds published yet"


def _source_titles(site: dict[str, Any]) -> dict[str, str]:
    """A source's credit line, as publishing has it: its title, else its id."""
    return {
        str(s["id"]): str(s.get("title") or s["id"])
        for s in site.get("sources", [])
        if isinstance(s, dict) and "id" in s
    }

