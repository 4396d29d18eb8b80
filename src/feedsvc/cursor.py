"""Keyset cursors and search text: what a reader may put in ``?before=`` and ``?q=``.

A cursor names a position in a listing, the (published, story id) key of the
last story a page showed; the next page is the stories keyed below it, one
walk down the listing's index however deep the archive, never an ``OFFSET``.
It is opaque to readers (base64url of the key, so it is URL-safe as it is)
and checked on the way in: anything that is not a cursor this module made is
``BadCursor`` with a one-line reason, which the web tier answers as a 400.

Search text is cut to ``SEARCH_LIMIT`` characters and cleared of control
characters (PostgreSQL refuses NUL in text); ``search_terms`` splits it into
words for SQLite's FTS5, each quoted so no operator or quote a reader types is
FTS5 syntax. Pure: no database, no web.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime, timedelta

from feedsvc.archive import Key
from feedsvc.text import without_controls

__all__ = [
    "CURSOR_LIMIT",
    "SEARCH_LIMIT",
    "BadCursor",
    "decode_cursor",
    "encode_cursor",
    "search_terms",
    "search_text",
]

CURSOR_LIMIT = 200
"""Characters of a cursor: far more than any key needs, so a longer one is refused unread."""
SEARCH_LIMIT = 200
"""Characters of search text that are looked at; the rest is ignored."""
MAX_TERMS = 16
"""Words of one search: a query of thousands of words is cut, not run."""
_VERSION = "1"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_ID = re.compile(r"[0-9A-Za-z_.:-]{1,64}")
_WORD = re.compile(r"\w+", re.UNICODE)


class BadCursor(ValueError):
    """A ``before`` value that is no cursor of ours; the message says why, on one line."""


def encode_cursor(key: Key) -> str:
    """The cursor of ``key``: the position just after a page's last story."""
    published, story = key
    micros = (published - _EPOCH) // _MICROSECOND  # exact: a float timestamp would round
    raw = f"{_VERSION}.{micros}.{story}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> Key:
    """The key a cursor names; ``BadCursor`` for anything else."""
    if not cursor or len(cursor) > CURSOR_LIMIT:
        raise BadCursor(f"a cursor has 1 to {CURSOR_LIMIT} characters")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        version, micros, story = raw.decode("ascii").split(".", 2)
        published = _EPOCH + int(micros) * _MICROSECOND
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError, OSError):
        raise BadCursor('not a cursor: use the link of a page\'s "older" or next') from None
    if version != _VERSION or not _ID.fullmatch(story):
        raise BadCursor('not a cursor: use the link of a page\'s "older" or next')
    return published, story


def search_text(text: str | None) -> str:
    """What of a reader's search text is searched for: at most ``SEARCH_LIMIT`` characters,
    no control characters, spaces collapsed; empty when nothing is left."""
    if not text:
        return ""
    return " ".join(without_controls(text[: SEARCH_LIMIT * 2]).split())[:SEARCH_LIMIT]


def search_terms(text: str) -> list[str]:
    """The words of ``text`` (letters and digits), at most ``MAX_TERMS``, in order."""
    return _WORD.findall(text)[:MAX_TERMS]
