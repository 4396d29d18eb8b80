"""Ready feed bytes for the web tier, shared through the database.

Each worker keeps every published feed in memory and looks at the publish
generation at most once a second; a request is then a dictionary lookup plus
header work, never a render and usually no query. When no public base URL is
configured, the placeholder base inside the stored bytes is replaced by the
request's origin once per (feed, origin) and remembered.
"""

from __future__ import annotations

import gzip
import json
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from feedsvc.model import PublishedFeed
from feedsvc.publish import PLACEHOLDER_BASE, etag_for
from feedsvc.store import StateKey, Store

log = logging.getLogger(__name__)

CHECK_EVERY = 1.0
MAX_VARIANTS = 256
_SAFE_ORIGIN = re.compile(
    r"^https?://[A-Za-z0-9.\-]+(?::[0-9]{1,5})?/$|^https?://\[[0-9a-fA-F:.]+\](?::[0-9]{1,5})?/$"
)


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
    def build(cls, feed: PublishedFeed, body: bytes, etag: str) -> Served:
        """Everything a response needs, computed once per change instead of per request."""
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
            headers=(("ETag", etag), *common),
            headers_gzip=(("ETag", etag_gzip), *common, ("Content-Encoding", "gzip")),
            # a 304 repeats only what RFC 9110 asks (werkzeug strips the rest anyway)
            headers_304=(("ETag", etag), ("Cache-Control", cache_control), common[2]),
            headers_304_gzip=(("ETag", etag_gzip), ("Cache-Control", cache_control), common[2]),
        )


class FeedCache:
    """Thread-safe for gthread workers; one per process."""

    def __init__(self, store: Store, base_url: str | None, check_every: float = CHECK_EVERY):
        self.store = store
        self.base_url = base_url
        self.check_every = check_every
        self._lock = threading.Lock()
        self._checked = float("-inf")
        self._generation: str | None = None
        self._feeds: dict[str, PublishedFeed] = {}
        self._variants: OrderedDict[tuple[str, str], Served] = OrderedDict()
        self.site: dict[str, Any] = {"desks": [], "topics": []}

    def refresh(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._checked < self.check_every:
            return
        with self._lock:
            if not force and now - self._checked < self.check_every:
                return
            self._checked = now
            try:
                generation = self.store.get_state(StateKey.GENERATION)
                if generation == self._generation and not force:
                    return
                feeds = {feed.path: feed for feed in self.store.load_feeds()}
                site = self.store.get_state(StateKey.SITE)
            except SQLAlchemyError as exc:
                # The database is away (restart, failover, no schema yet): keep
                # serving the bytes already here and look again next second.
                log.warning("feed cache not refreshed, serving what it has: %s", exc)
                return
            self._feeds = feeds
            self._variants = OrderedDict()
            self.site = json.loads(site) if site else {"desks": [], "topics": []}
            self._generation = generation

    def get(self, path: str, origin: Callable[[], str]) -> Served | None:
        """The feed at ``path`` as served to ``origin()`` (``https://host/``), or None.

        ``origin`` is only called when no base URL is configured: working it
        out from the request is a measurable share of a 304's cost.
        """
        self.refresh()
        feed = self._feeds.get(path)
        if feed is None:
            return None
        base = self.base_url
        if base is None:
            base = origin()
            if not _SAFE_ORIGIN.match(base):
                base = "http://localhost/"
        key = (path, base)
        served = self._variants.get(key)
        if served is None:
            placeholder = PLACEHOLDER_BASE.encode()
            if placeholder in feed.body:
                body = feed.body.replace(placeholder, base.encode())
                etag = etag_for(body)
            else:
                body, etag = feed.body, feed.etag
            served = Served.build(feed, body, etag)
            with self._lock:
                self._variants[key] = served
                while len(self._variants) > MAX_VARIANTS:
                    self._variants.popitem(last=False)
        return served
