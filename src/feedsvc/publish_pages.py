"""Pages built at publish time: the index and each desk's and topic's first page.

Rendered when their content changes, as feeds are, and stored with them
(``pages/index``, ``pages/desks/<id>``), so every web worker serves them as
ready bytes with validators and a request is a lookup, whatever the archive
holds. Each is made of a few walks down listing indexes (the newest few of
each desk and topic, the newest page plus one of a touched listing), never a
count. Their links are relative; the placeholder base is replaced per
allowed host by the web cache like a feed's, so a Host never costs a render.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from feedsvc.cursor import encode_cursor
from feedsvc.pages import (
    INDEX_LATEST,
    INDEX_PATH,
    PAGE_SIZE,
    index_page,
    listing_page,
    listing_path,
)
from feedsvc.store import Store

PAGE_PREFIX = "pages/"
"""Stored paths of pages start so; no feed's does (feeds are ``feeds/…``, ``feeds.opml``)."""
PAGE_MEDIA_TYPE = "text/html; charset=utf-8"
PAGE_MAX_AGE = 60
"""Seconds a browser or CDN may keep a page: short, as people expect news pages to move."""


def render_pages(
    store: Store, site: Mapping[str, Any], keys: Iterable[str]
) -> list[tuple[str, bytes]]:
    """The index and the first page of each listing in ``keys`` (``desks/<id>``,
    ``topics/<id>``; ``all`` has the index only): (path, bytes) to store as feeds are."""

    def page(path: str, html: str) -> tuple[str, bytes]:
        return path, html.encode("utf-8")

    entries = {
        f"{kind}/{entry['id']}": (kind, entry)
        for kind in ("desks", "topics")
        for entry in site.get(kind, ())
    }
    latest = {key: store.list_range(key, None, limit=INDEX_LATEST) for key in entries}
    pages = [page(INDEX_PATH, index_page(site, latest))]
    for key in keys:
        if key not in entries:
            continue
        kind, entry = entries[key]
        found = store.list_range(key, None, limit=PAGE_SIZE + 1)
        shown = found[:PAGE_SIZE]
        older = (
            encode_cursor((shown[-1].published, shown[-1].id)) if len(found) > PAGE_SIZE else None
        )
        pages.append(
            page(listing_path(kind, entry["id"]), listing_page(site, kind, entry, shown, older))
        )
    return pages


__all__ = ["PAGE_MAX_AGE", "PAGE_MEDIA_TYPE", "PAGE_PREFIX", "render_pages"]
