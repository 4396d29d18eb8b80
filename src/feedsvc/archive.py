"""RFC 5005 archives: how a feed's older stories are cut into archive documents. Pure.

Every feed (``all``, a desk, a topic) is one *listing* ordered by the key
(published, story id). Its current document shows the newest ``feed_size``
live stories; everything older lives in archive documents that a reader
reaches by following ``prev-archive`` links from the feed (JSON Feed:
``next_url``):

- **Sealed pages**, cut by key range: a page stores only its upper key, and
  holds the listing's live stories above the previous page's upper key up to
  its own. A story added, corrected or retracted elsewhere never moves a
  page's range, so a sealed page's bytes change only when a story *in it*
  changes (or a neighbour it links to is replaced): such pages are served
  with a long ``max-age``. A page is sealed when the stories below the
  current document reach ``page_size``; one that backfilled stories grow past
  ``SPLIT_FACTOR`` pages is split, one left empty is dropped.
- **The open page**: the stories older than the current document that do not
  fill a page yet. Its URL names its upper bound (a token of the current
  document's oldest key), so a URL never stands for a growing set: a reader
  that stops at an archive it has seen (RFC 5005 §4.2) misses nothing, and
  the open page's old URLs redirect to what replaced them.

Pages are numbered in the order they were made, never by position: a split
gives new numbers, and a number is never given to another range, so a URL a
reader kept keeps meaning what it meant. The chain runs by key, through the
links; ``fh:archive`` marks archive documents and ``fh:complete`` a current
document with nothing older.

URLs, on the feed's base::

    feeds/archive/<listing>/<n>.<fmt>          a sealed page (immutable)
    feeds/archive/<listing>/<n>-<token>.<fmt>  the open page, up to the feed's oldest story
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime

from feedsvc.errors import NotFound

Key = tuple[datetime, str]
"""A story's place in a listing: (published, story id), compared as a pair."""

ROOT = "feeds/archive/"
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
SPLIT_FACTOR = 2
"""A sealed page that backfilled stories grow past this many pages is split."""
MOST_ENTRIES = SPLIT_FACTOR * MAX_PAGE_SIZE
"""Most entries one archive document shows, whatever happened since its last publish."""
SEALED_MAX_AGE = 86400
"""``max-age`` of a sealed page: a day, so a retraction in it reaches caches within a day."""
MAX_NUMBER = 2**31 - 1

_ID = r"[a-z0-9][a-z0-9-]{0,99}"
_PATH = re.compile(
    rf"^feeds/archive/(?P<listing>all|desks/{_ID}|topics/{_ID})/"
    r"(?P<number>[1-9][0-9]{0,9})(?:-(?P<token>[0-9a-f]{16}))?\.(?P<fmt>[a-z]+)$"
)


@dataclass(frozen=True, slots=True)
class ArchiveRequest:
    """One archive URL, read: which listing, which page, the open page's token, the format."""

    listing: str
    number: int
    token: str | None
    fmt: str


@dataclass(frozen=True, slots=True)
class History:
    """Where one document sits in its feed's archive chain: RFC 5005's links and marks.

    Paths are on the feed's base, without the format (``feeds/archive/all/3``);
    ``render`` adds the format of the document it writes. The current document
    has ``prev`` (its newest archive) or ``complete``; an archive document has
    ``self_path``, ``current`` and ``archive``, ``prev`` unless it is the
    oldest and ``next`` unless it is the open page.
    """

    self_path: str | None = None
    current: str | None = None
    prev: str | None = None
    next: str | None = None
    archive: bool = False
    complete: bool = False


def page_path(listing: str, number: int) -> str:
    return f"{ROOT}{listing}/{number}"


def open_path(listing: str, number: int, token: str) -> str:
    return f"{ROOT}{listing}/{number}-{token}"


def token_of(key: Key) -> str:
    """The open page's name for its upper bound: short, fixed for a key, opaque."""
    published, story = key
    text = f"{published.isoformat()}|{story}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def parse_archive_path(path: str) -> ArchiveRequest:
    """An archive URL's path (no leading slash) read and checked; NotFound says why not.

    Whether the format is one we publish, the listing is known and the page
    exists is for the caller and the store to say.
    """
    found = _PATH.match(path)
    if found is None:
        raise NotFound(
            "not an archive document: use feeds/archive/<all|desks/<desk>|topics/<topic>>/"
            "<page>.<rss|atom|json>"
        )
    number = int(found["number"])
    if number > MAX_NUMBER:
        raise NotFound(f"no archive page {number}")
    return ArchiveRequest(found["listing"], number, found["token"], found["fmt"])
