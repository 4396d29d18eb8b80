"""Ready feed bytes for the web tier, shared through the database.

Each worker loads every published feed before it answers (``create_app``
does the first load) and then looks at the publish generation at most once a
second; a request is a dictionary lookup plus header work, never a render and
usually no query. When no public base URL is configured, the placeholder base
inside the stored bytes is replaced by the request's checked base
(``web.hosts``) once per (feed, base) and remembered: the bases are a short
list fixed at start-up, so the variants are too. The WebSub discovery headers
of a feed (``Link: <hub>; rel="hub"`` and ``Link: <self>; rel="self"``) are
built with it, once per variant, never per request.

A feed is never answered "not found" because of the cache: until one load has
succeeded, ``get`` raises ``FeedsUnavailable`` (a 503), and once feeds are
loaded they keep being served while the database is away.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from feedsvc.errors import StoreError
from feedsvc.model import PublishedFeed
from feedsvc.publish import etag_for, on_base
from feedsvc.store import StateKey, Store
from feedsvc.websub.links import hub_url, is_topic_path, link_headers

log = logging.getLogger(__name__)

CHECK_EVERY = 1.0
FIRST_LOAD_WAIT = 10.0  # a request waits this long for another thread's first load


class FeedsUnavailable(Exception):
    """No published feed could be loaded yet (the database cannot be read)."""


@dataclass(frozen=True, slots=True)
class Served:
    """A feed as HTTP wants it: both encodings and their own strong ETags."""

    body: bytes
    gzipped: bytes
    etag: str
    etag_gzip: str
    media_type: str
    last_modified: datetime
    last_modified_http: str
    cache_control: str
    headers: tuple[tuple[str, str], ...]
    headers_gzip: tuple[tuple[str, str], ...]
    headers_304: tuple[tuple[str, str], ...]
    headers_304_gzip: tuple[tuple[str, str], ...]

    @classmethod
    def build(
        cls,
        feed: PublishedFeed,
        body: bytes,
        etag: str,
        links: tuple[tuple[str, str], ...] = (),
    ) -> Served:
        """Everything a response needs, computed once per change instead of per request.

        ``links`` are ``Link`` headers sent with the 200s (WebSub discovery).
        """
        gzipped = gzip.compress(body, compresslevel=6, mtime=0)
        etag_gzip = etag[:-1] + '-gz"'
        last_modified_http = format_datetime(feed.last_modified, usegmt=True)
        cache_control = f"public, max-age={feed.max_age}"
        common = (
            ("Last-Modified", last_modified_http),
            ("Cache-Control", cache_control),
            ("Vary", "Accept-Encoding"),
            ("Content-Type", feed.media_type),
        )
        return cls(
            body=body,
            gzipped=gzipped,
            etag=etag,
            etag_gzip=etag_gzip,
            media_type=feed.media_type,
            last_modified=feed.last_modified,
            last_modified_http=last_modified_http,
            cache_control=cache_control,
            headers=(("ETag", etag), *common, *links),
            headers_gzip=(("ETag", etag_gzip), *common, *links, ("Content-Encoding", "gzip")),
            # a 304 repeats only what RFC 9110 asks (werkzeug strips the rest anyway)
            headers_304=(("ETag", etag), ("Cache-Control", cache_control), common[2]),
            headers_304_gzip=(("ETag", etag_gzip), ("Cache-Control", cache_control), common[2]),
        )


class FeedCache:
    """Thread-safe for threaded workers; one per process."""

    def __init__(
        self, store: Store, check_every: float = CHECK_EVERY, websub_hub: str | None = None
    ):
        """``websub_hub`` is ``FEEDSVC_WEBSUB_HUB`` (None: the built-in hub on each base)."""
        self.store = store
        self.check_every = check_every
        self.websub_hub = websub_hub
        self.loaded = False
        self._lock = threading.Lock()
        self._checked = float("-inf")
        self._generation: str | None = None
        self._feeds: dict[str, PublishedFeed] = {}
        self._variants: dict[tuple[str, str], Served] = {}
        self.site: dict[str, Any] = {"desks": [], "topics": []}
        self.site_stamp = ""
        """Names the loaded site snapshot: what is rendered from it is cached under it."""

    def refresh(self) -> bool:
        """Look for a new publish at most once per ``check_every``; True once loaded.

        While feeds are loaded, a request never waits for another thread's
        look (it serves what is here); before the first load it waits, so no
        request sees an empty cache while feeds are being read.
        """
        if time.monotonic() - self._checked < self.check_every:
            return self.loaded
        if self.loaded:
            if not self._lock.acquire(blocking=False):
                return True
        elif not self._lock.acquire(timeout=FIRST_LOAD_WAIT):
            return self.loaded
        try:
            if time.monotonic() - self._checked >= self.check_every:
                self._load()
                self._checked = time.monotonic()
        finally:
            self._lock.release()
        return self.loaded

    def preload(self) -> None:
        """Load before the first request; that request still looks for a newer publish."""
        with self._lock:
            self._load()

    def _load(self) -> None:
        try:
            generation = self.store.get_state(StateKey.GENERATION)
            if self.loaded and generation == self._generation:
                return
            feeds = {feed.path: feed for feed in self.store.load_feeds()}
            site = self.store.get_state(StateKey.SITE)
        except (SQLAlchemyError, StoreError) as exc:
            # The database is away (restart, failover, no schema yet): keep serving
            # the bytes already here and look again after check_every.
            log.warning("published feeds not (re)loaded, serving what is here: %s", exc)
            return
        self._feeds = feeds
        self._variants = {}
        self.site = json.loads(site) if site else {"desks": [], "topics": []}
        self.site_stamp = hashlib.sha256((site or "").encode()).hexdigest()[:16]
        self._generation = generation
        self.loaded = True

    def get(self, path: str, base: str) -> Served | None:
        """The feed at ``path`` with links on ``base`` (a checked base URL), or None.

        Raises FeedsUnavailable while nothing could be loaded yet.
        """
        if not self.refresh():
            raise FeedsUnavailable(path)
        feed = self._feeds.get(path)
        if feed is None:
            return None
        key = (path, base)
        served = self._variants.get(key)
        if served is None:
            body = on_base(feed.body, base)
            etag = feed.etag if body is feed.body else etag_for(body)
            links: tuple[tuple[str, str], ...] = ()
            if is_topic_path(path):
                links = link_headers(hub_url(self.websub_hub, base), base + path)
            served = Served.build(feed, body, etag, links)
            self._variants[key] = served  # bounded: bases are a short list fixed at start
        return served

    def has(self, path: str) -> bool:
        """Whether ``path`` is published. Raises FeedsUnavailable while nothing is loaded."""
        if not self.refresh():
            raise FeedsUnavailable(path)
        return path in self._feeds

    @property
    def generation(self) -> str | None:
        """The publish generation loaded: what is rendered per request is kept under it."""
        return self._generation

    @property
    def variants(self) -> int:
        """How many (feed, base) variants this process keeps (for tests and metrics)."""
        return len(self._variants)


class PageMemo:
    """Pages rendered per request (older pages, story pages, search results), kept per
    publish generation: the first request after a publish renders, the next ones look up.

    Bounded in count and in bytes (least recently used out first; a story page may
    hold 512 KiB of content, and which pages are asked for is the client's choice),
    and emptied when the generation moves, so nothing shown outlives the publish
    that changed it.
    """

    def __init__(self, size: int = 512, max_bytes: int = 32 * 1024 * 1024) -> None:
        self.size = size
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._generation: str | None = None
        self._pages: OrderedDict[tuple[str, ...], bytes] = OrderedDict()
        self._bytes = 0

    def get(self, generation: str | None, key: tuple[str, ...]) -> bytes | None:
        with self._lock:
            if generation != self._generation:
                return None
            page = self._pages.get(key)
            if page is not None:
                self._pages.move_to_end(key)
            return page

    def put(self, generation: str | None, key: tuple[str, ...], page: bytes) -> None:
        with self._lock:
            if generation != self._generation:
                self._pages.clear()
                self._bytes = 0
                self._generation = generation
            if len(page) > self.max_bytes:
                return
            old = self._pages.pop(key, None)
            self._bytes += len(page) - (len(old) if old is not None else 0)
            self._pages[key] = page
            while len(self._pages) > self.size or self._bytes > self.max_bytes:
                _, dropped = self._pages.popitem(last=False)
                self._bytes -= len(dropped)
