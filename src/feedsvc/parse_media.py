"""Enclosures and a lead image from one feedparser entry (RSS, Atom, Media RSS, iTunes).

Where feedparser puts them: RSS ``<enclosure>`` and Atom ``link
rel="enclosure"`` are both links with that rel (``href``, ``type``,
``length``); every ``media:content``, inside a ``media:group`` or not, is one
dict of ``media_content`` (``url``, ``type``, ``filesize``, ``duration``,
``medium``); ``media:thumbnail`` is ``media_thumbnail``; an item's
``itunes:image`` is its ``image`` and ``itunes:duration`` its
``itunes_duration``.

Which is what: links and ``media:content`` that are not pictures are the
enclosures, in document order. A ``media:content`` picture (``medium="image"``,
or an ``image/*`` type with no medium) is a news site's photo of the story,
not a file to download: it is a lead-image candidate. The lead image is the
first ``media:thumbnail``, else ``itunes:image``, else such a picture; the
normaliser falls back further (an image enclosure, the content's first
image). ``itunes:duration`` is the episode's length, so it goes to the first
enclosure when that has none of its own. URLs stay as written: the
normaliser resolves and checks them (``feedsvc.media``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from feedsvc.media import MAX_RAW_ENCLOSURES, read_duration, read_length
from feedsvc.model import Enclosure
from feedsvc.text import stripped

__all__ = ["entry_media"]


def _get(mapping: object, key: str) -> Any:
    """A field exactly as feedparser stored it (no alias lookups), or None."""
    return dict.get(mapping, key) if isinstance(mapping, dict) else None


def _dicts(value: object) -> Iterator[Mapping[str, Any]]:
    """The dicts of a feedparser list (it holds only what the bounded document held)."""
    if isinstance(value, list):
        yield from (v for v in value if isinstance(v, dict))


def _is_picture(content: Mapping[str, Any]) -> bool:
    medium = (stripped(_get(content, "medium")) or "").lower()
    kind = (stripped(_get(content, "type")) or "").lower()
    return medium == "image" or (not medium and kind.startswith("image/"))


def _enclosure_links(entry: Mapping[str, Any], resolve: Callable[[str], str]) -> list[Enclosure]:
    found: list[Enclosure] = []
    for link in _dicts(_get(entry, "links")):
        href = stripped(_get(link, "href"))
        if href and _get(link, "rel") == "enclosure":
            found.append(
                Enclosure(
                    url=resolve(href),
                    type=stripped(_get(link, "type")),
                    length=read_length(_get(link, "length")),
                )
            )
            if len(found) == MAX_RAW_ENCLOSURES:
                break
    return found


def entry_media(
    entry: Mapping[str, Any], resolve: Callable[[str], str] = str
) -> tuple[tuple[Enclosure, ...], str | None]:
    """The entry's raw enclosures (bounded in number) and its lead-image candidate.

    ``resolve`` is applied to enclosure links, which feedparser already
    resolved against an ``xml:base`` (see ``parse._locate``).
    """
    enclosures = _enclosure_links(entry, resolve)
    pictures: list[str] = []
    for content in _dicts(_get(entry, "media_content")):
        if len(enclosures) == MAX_RAW_ENCLOSURES:
            break
        url = stripped(_get(content, "url"))
        if not url:
            continue
        if _is_picture(content):
            pictures.append(url)
            continue
        enclosures.append(
            Enclosure(
                url=url,
                type=stripped(_get(content, "type")),
                length=read_length(_get(content, "filesize")),
                duration=read_duration(_get(content, "duration")),
            )
        )
    duration = read_duration(_get(entry, "itunes_duration"))
    if enclosures and duration is not None and enclosures[0].duration is None:
        first = enclosures[0]
        enclosures[0] = Enclosure(first.url, first.type, first.length, duration)
    thumbnails = [stripped(_get(t, "url")) for t in _dicts(_get(entry, "media_thumbnail"))]
    artwork = _get(entry, "image")
    candidates = [
        *thumbnails,
        stripped(_get(artwork, "href")) or stripped(_get(artwork, "url")),
        *pictures,
    ]
    image = next((url for url in candidates if url), None)
    return tuple(enclosures[:MAX_RAW_ENCLOSURES]), image
