"""Archive documents: finding one by its URL, and rendering it from the stored stories.

A page's bytes are not stored (a million stories make ten thousand pages per
feed): the web tier renders a page when it is asked for and keeps it by
(path, version), and publishing renders the pages that changed for the static
export. Both come here, so they cannot disagree. What a number names is the
store's (``Archives.archive_slot``); what its URL must then answer is decided
here: a sealed page, the open page under its current token, a redirect from
an open page's old URL, or "no such page".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from feedsvc.archive import (
    MOST_ENTRIES,
    SEALED_MAX_AGE,
    ArchiveRequest,
    History,
    Key,
    open_path,
    page_path,
    token_of,
)
from feedsvc.errors import NotFound
from feedsvc.render import FeedSpec, render
from feedsvc.store import Slot, Store


@dataclass(frozen=True, slots=True)
class Located:
    """An archive document that exists: the stories it holds and where it sits.

    ``version`` identifies its content for caches: it moves whenever a story
    in it, or a link of it, changes.
    """

    listing: str
    path: str
    lo: Key | None
    hi: Key
    inclusive: bool
    history: History
    version: int
    last_modified: datetime
    sealed: bool


@dataclass(frozen=True, slots=True)
class Moved:
    """The URL asked for names another document now: ``path`` (without format)."""

    path: str
    permanent: bool


def locate(store: Store, request: ArchiveRequest, feed_path: str) -> Located | Moved:
    """What an archive URL answers; NotFound (with the reason) when it answers nothing.

    ``feed_path`` is the current document's path (``feeds/desks/nym``). An open
    page's URL whose token is no longer current moves to the open page's new
    URL, or to the sealed page that took its number; the open page's bare
    number (a sealed page's ``next-archive``) moves to the open page, or to the
    feed itself while nothing is older than the feed.
    """
    listing, number = request.listing, request.number
    slot = store.archive_slot(listing, number)
    if slot is None:
        raise NotFound(f"no archive page {number} of {listing}")
    if slot.page is not None:
        if request.token is not None:
            return Moved(page_path(listing, number), permanent=True)
        return _sealed(slot, feed_path)
    if not slot.is_open:
        raise NotFound(
            f"archive page {number} of {listing} is no more (its stories moved to other "
            f"pages, or were retracted); follow the archive links from {feed_path}"
        )
    boundary = slot.head.boundary
    if boundary is None:
        return Moved(feed_path, permanent=False)
    token = token_of(boundary)
    if request.token != token:
        return Moved(open_path(listing, number, token), permanent=False)
    return _open(slot, boundary, token, feed_path)


def located(store: Store, listing: str, number: int, feed_path: str) -> Located | None:
    """The document page ``number`` of ``listing`` is now (sealed, or the open page), or
    None: for publishing, which renders what changed."""
    slot = store.archive_slot(listing, number)
    if slot is None:
        return None
    if slot.page is not None:
        return _sealed(slot, feed_path)
    boundary = slot.head.boundary
    if not slot.is_open or boundary is None:
        return None
    return _open(slot, boundary, token_of(boundary), feed_path)


def _sealed(slot: Slot, feed_path: str) -> Located:
    page = slot.page
    if page is None:  # the callers check; this keeps the types honest
        raise LookupError("a sealed slot without its page")
    listing = slot.head.listing
    path = page_path(listing, page.number)
    history = History(
        self_path=path,
        current=feed_path,
        prev=page_path(listing, slot.prev) if slot.prev is not None else None,
        next=page_path(listing, slot.next) if slot.next is not None else None,
        archive=True,
    )
    return Located(
        listing,
        path,
        slot.lo,
        page.hi,
        True,
        history,
        page.version,
        page.changed_at,
        sealed=True,
    )


def _open(slot: Slot, boundary: Key, token: str, feed_path: str) -> Located:
    head = slot.head
    path = open_path(head.listing, head.open_number, token)
    history = History(
        self_path=path,
        current=feed_path,
        prev=page_path(head.listing, slot.prev) if slot.prev is not None else None,
        archive=True,
    )
    return Located(
        head.listing,
        path,
        slot.lo,
        boundary,
        False,
        history,
        head.open_version,
        head.open_changed_at,
        sealed=False,
    )


def archive_spec(spec: FeedSpec, found: Located) -> FeedSpec:
    """The feed's description as its archive documents carry it: no hub (one subscribes
    to the feed, not to its archive), a sealed page's ``ttl`` as long as its max-age."""
    ttl = timedelta(seconds=SEALED_MAX_AGE) if found.sealed else spec.ttl
    return replace(spec, hub=None, ttl=ttl)


def render_documents(
    store: Store,
    found: Located,
    spec: FeedSpec,
    formats: Sequence[str],
    base: str,
    source_titles: Mapping[str, str],
) -> dict[str, bytes]:
    """The archive document's bytes in each of ``formats``: its stories, newest first
    (read once), and its links."""
    articles = store.list_range(
        found.listing, found.lo, found.hi, inclusive=found.inclusive, limit=MOST_ENTRIES
    )
    described = archive_spec(spec, found)
    return {
        fmt: render(described, articles, base, fmt, source_titles, (), found.history)
        for fmt in formats
    }


def spec_record(spec: FeedSpec) -> dict[str, Any]:
    """What the web tier needs of a feed's description to render its archive documents,
    as the published site snapshot carries it (web workers never read the catalogue)."""
    return {
        "path": spec.path,
        "title": spec.title,
        "description": spec.description,
        "home_path": spec.home_path,
        "ttl": int(spec.ttl.total_seconds()),
        "language": spec.language,
    }


def spec_from_record(record: dict[str, Any]) -> FeedSpec:
    return FeedSpec(
        path=str(record["path"]),
        title=str(record["title"]),
        description=str(record["description"]),
        home_path=str(record["home_path"]),
        ttl=timedelta(seconds=int(record["ttl"])),
        language=record.get("language"),
    )
