"""Media: an item's enclosures and lead image, read leniently and kept only when sane.

Two halves, one policy. The readers (``parse_media`` for RSS, Atom, Media RSS
and iTunes through feedparser; ``parse_json`` for JSON Feed) turn what a
source wrote into numbers with ``read_length`` and ``read_duration``, which
never raise. The normaliser then calls ``clean_enclosures`` and
``lead_image``: every URL made absolute http(s) (anything else is dropped),
a type kept only when it looks like a media type, a length or duration only
within range, one enclosure per URL, and at most ``MAX_ENCLOSURES`` of them,
so no item can make a feed grow without bound. An enclosure without a usable
type gets the type of its file's extension when that is a well-known one
(``GUESSED_TYPES``), so every format and the article JSON say the same. Pure:
no I/O.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from html import unescape
from posixpath import splitext
from types import MappingProxyType
from urllib.parse import urlsplit

from feedsvc.model import Enclosure
from feedsvc.urls import content_url

__all__ = [
    "GUESSED_TYPES",
    "MAX_DURATION",
    "MAX_ENCLOSURES",
    "MAX_LENGTH",
    "MAX_RAW_ENCLOSURES",
    "MIN_IMAGE_SIZE",
    "clean_enclosures",
    "clean_image",
    "content_image",
    "guess_type",
    "lead_image",
    "media_type",
    "read_duration",
    "read_length",
]

MAX_ENCLOSURES = 20
"""Enclosures kept per item: a podcast episode has one, a gallery a few."""

MAX_RAW_ENCLOSURES = 100
"""Candidates a reader takes from one item before cleaning, so junk cannot cost time."""

MAX_LENGTH = 2**53 - 1
"""The largest length kept, in bytes: every JSON reader holds it exactly (and any bigint)."""

MAX_DURATION = 7 * 24 * 3600
"""The longest duration kept, in seconds: a week; anything longer is a unit mistake."""

MIN_IMAGE_SIZE = 50
"""An image of content declared narrower or lower than this (pixels) is no lead image.

Tracking pixels (1x1), smileys and icons come first in many bodies.
"""

# A number as feeds write one: digits, perhaps a fraction. Long runs of digits
# are refused before int() sees them (Python refuses over 4,300 digits anyway).
_NUMBER = re.compile(r"\d{1,20}(?:\.\d{0,9})?")
# iTunes durations: seconds, MM:SS or H:MM:SS (hours may exceed 24; fractions allowed).
_CLOCK = re.compile(r"(?:(\d{1,6}):)?(\d{1,6}):(\d{1,2})(?:\.\d{0,9})?")

# RFC 6838: type "/" subtype, restricted names; the registered top-level types.
_TOP_LEVEL_TYPES = frozenset(
    {"application", "audio", "font", "image", "message", "model", "multipart", "text", "video"}
)
_SUBTYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")

# The types of the files podcasts, video feeds and galleries carry, by extension,
# for an enclosure whose source gave no type: podcast apps skip a file whose
# type is not audio or video. A fixed table, not ``mimetypes``, whose answers
# depend on the machine's /etc/mime.types.
GUESSED_TYPES: Mapping[str, str] = MappingProxyType(
    {
        ".mp3": "audio/mpeg",
        ".m4a": "audio/mp4",
        ".aac": "audio/aac",
        ".ogg": "audio/ogg",
        ".oga": "audio/ogg",
        ".opus": "audio/opus",
        ".flac": "audio/flac",
        ".wav": "audio/wav",
        ".mp4": "video/mp4",
        ".m4v": "video/mp4",
        ".mov": "video/quicktime",
        ".webm": "video/webm",
        ".pdf": "application/pdf",
        ".epub": "application/epub+zip",
        ".jpg": "image/jpeg",
        ".jpeg": "image/jpeg",
        ".png": "image/png",
        ".gif": "image/gif",
        ".webp": "image/webp",
    }
)

# Sanitised HTML (``normalise.sanitise_html``) writes every attribute
# double-quoted with '"' escaped, so one pattern reads a tag and its attributes.
_IMG_TAG = re.compile(r"<img\b[^>]*>")
_ATTRIBUTE = re.compile(r'\s([a-z]+)="([^"]*)"')


# --------------------------------------------------------------------------- reading


def _number(value: object) -> int | float | None:
    """A non-negative finite number from a JSON number or a string of digits; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float):
        return value if math.isfinite(value) and value >= 0 else None
    if isinstance(value, str) and _NUMBER.fullmatch(text := value.strip()):
        return float(text) if "." in text else int(text)
    return None


def read_length(value: object) -> int | None:
    """A byte count as a source wrote it ("12345", 12345), or None when it is none."""
    number = _number(value)
    if number is None or (isinstance(number, float) and not number.is_integer()):
        return None
    return int(number)


def read_duration(value: object) -> int | None:
    """Seconds from a number or from iTunes' [[H:]MM:]SS text; fractions rounded; else None.

    "1800", "30:00" and "0:30:00" are all half an hour; "90:00" is read as
    ninety minutes, as podcast apps read it.
    """
    number = _number(value)
    if number is not None:
        return round(number)
    if not isinstance(value, str):
        return None
    clock = _CLOCK.fullmatch(value.strip())
    if clock is None:
        return None
    hours, minutes, seconds = (int(part or 0) for part in clock.groups())
    if seconds >= 60 or (hours and minutes >= 60):
        return None
    return hours * 3600 + minutes * 60 + seconds


# --------------------------------------------------------------------------- cleaning


def media_type(value: str | None) -> str | None:
    """A media type's essence, lower-case ("audio/mpeg"), or None when it does not look like one.

    Parameters (``; codecs=…``) are dropped; "mp3", "audio" or "x/y" are not
    media types and say nothing a reader could use.
    """
    if not value:
        return None
    essence = value.split(";", 1)[0].strip().lower()
    top, slash, sub = essence.partition("/")
    if not slash or top not in _TOP_LEVEL_TYPES or not _SUBTYPE.fullmatch(sub):
        return None
    return essence


def guess_type(url: str) -> str | None:
    """The media type of a well-known file extension in the URL's path; None otherwise."""
    return GUESSED_TYPES.get(splitext(urlsplit(url).path)[1].lower())


def _in_range(value: int | None, ceiling: int) -> int | None:
    """A positive count up to ``ceiling``; 0 (RSS's "unknown"), negatives and giants are None."""
    if value is None or not 0 < value <= ceiling:
        return None
    return value


def clean_enclosures(raw: Iterable[Enclosure], base: str | None) -> tuple[Enclosure, ...]:
    """The item's enclosures as published: absolute http(s), sane, one per URL, bounded.

    When one file is listed twice (an RSS enclosure and the same file as
    ``media:content``), the first mention wins and later ones only fill in
    what it did not say.
    """
    kept: dict[str, Enclosure] = {}
    for index, enclosure in enumerate(raw):
        if index >= MAX_RAW_ENCLOSURES:
            break
        url = content_url(enclosure.url, base)
        if url is None:
            continue
        clean = Enclosure(
            url=url,
            type=media_type(enclosure.type) or guess_type(url),
            length=_in_range(enclosure.length, MAX_LENGTH),
            duration=_in_range(enclosure.duration, MAX_DURATION),
        )
        known = kept.get(url)
        if known is not None:
            kept[url] = replace(
                known,
                type=known.type or clean.type,
                length=known.length or clean.length,
                duration=known.duration or clean.duration,
            )
        elif len(kept) < MAX_ENCLOSURES:
            kept[url] = clean
    return tuple(kept.values())


def clean_image(url: str | None, base: str | None) -> str | None:
    """The lead image a source named, made absolute http(s); None for anything else."""
    return content_url(url, base)


def content_image(content_html: str) -> str | None:
    """The first image of sanitised content that is not declared tiny; None if none.

    Reads ``normalise.sanitise_html`` output only, whose ``src`` is already
    absolute http(s).
    """
    for tag in _IMG_TAG.finditer(content_html):
        attributes = dict(_ATTRIBUTE.findall(tag.group()))
        sizes = [attributes.get("width", ""), attributes.get("height", "")]
        if any(size.isdigit() and int(size) < MIN_IMAGE_SIZE for size in sizes):
            continue
        if src := attributes.get("src"):
            return unescape(src)
    return None


def lead_image(
    image: str | None,
    base: str | None,
    enclosures: tuple[Enclosure, ...],
    content_html: str,
) -> str | None:
    """The item's picture: the one the source named, else an image enclosure, else content's.

    ``enclosures`` are cleaned ones; ``content_html`` is sanitised.
    """
    named = clean_image(image, base)
    if named:
        return named
    for enclosure in enclosures:
        if enclosure.type and enclosure.type.startswith("image/"):
            return enclosure.url
    return content_image(content_html)
