"""An article's enclosures and lead image in each published format.

Part of rendering (pure, deterministic; ``render.py`` calls it), kept apart
because each format says media its own way:

- RSS 2.0 allows one ``<enclosure>`` per item, with ``url``, ``length`` and
  ``type`` all required: the first enclosure, with length "0" and type
  ``application/octet-stream`` when unknown, as the RSS Advisory Board
  advises. The others follow as Media RSS ``media:content``; the lead image
  is ``media:thumbnail``; the first enclosure's duration is
  ``itunes:duration`` (whole seconds), which podcast apps show.
- Atom: one ``link rel="enclosure"`` per enclosure, with ``type`` and
  ``length`` when known, and the lead image as ``media:thumbnail`` (an
  extension element RFC 4287 allows; feed readers show it). Atom has no
  place for a duration.
- JSON Feed 1.1: ``attachments`` (``mime_type`` is required, so unknown is
  ``application/octet-stream``) and ``image``.

The Media RSS and iTunes namespaces are declared only by feeds that use
them, so a feed without media is byte for byte what it was before.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from feedsvc.model import Enclosure

__all__ = ["ITUNES", "MEDIA_RSS", "UNKNOWN_TYPE", "Media", "add_media", "json_media"]

MEDIA_RSS = "http://search.yahoo.com/mrss/"
ITUNES = "http://www.itunes.com/dtds/podcast-1.0.dtd"
UNKNOWN_TYPE = "application/octet-stream"
_EXTENSION = "feedsvc_media"

Media = tuple[tuple[Enclosure, ...], str | None]
"""One entry's enclosures and lead image, as ``render._Entry`` holds them."""


def _type(enclosure: Enclosure) -> str:
    return enclosure.type or UNKNOWN_TYPE


def _namespaces(fmt: str, media: Iterable[Media]) -> dict[str, str]:
    """The prefixes this feed's media needs, and nothing else."""
    used: dict[str, str] = {}
    for enclosures, image in media:
        if image or (fmt == "rss" and len(enclosures) > 1):
            used["media"] = MEDIA_RSS
        if fmt == "rss" and enclosures and enclosures[0].duration:
            used["itunes"] = ITUNES
    return used


def _feed_extension(namespaces: Mapping[str, str]) -> type[BaseExtension]:
    class Namespaces(BaseExtension):
        def extend_ns(self) -> dict[str, str]:
            return dict(namespaces)

    return Namespaces


class _EntryMedia(BaseEntryExtension):
    """feedgen's hook into each entry's element once feedgen has built it."""

    def __init__(self) -> None:
        self.media: Media = ((), None)

    def extend_rss(self, item: Any) -> Any:
        enclosures, image = self.media
        if enclosures:
            first = enclosures[0]
            attributes = {"url": first.url, "length": str(first.length or 0), "type": _type(first)}
            etree.SubElement(item, "enclosure", attributes)
        for extra in enclosures[1:]:
            content = etree.SubElement(item, f"{{{MEDIA_RSS}}}content", url=extra.url)
            content.set("type", _type(extra))
            if extra.length:
                content.set("fileSize", str(extra.length))
            if extra.duration:
                content.set("duration", str(extra.duration))
        if image:
            etree.SubElement(item, f"{{{MEDIA_RSS}}}thumbnail", url=image)
        if enclosures and enclosures[0].duration:
            etree.SubElement(item, f"{{{ITUNES}}}duration").text = str(enclosures[0].duration)
        return item

    def extend_atom(self, entry: Any) -> Any:
        enclosures, image = self.media
        for enclosure in enclosures:
            # feedgen builds Atom without a namespace and declares it as text on the root
            link = etree.SubElement(entry, "link", rel="enclosure", href=enclosure.url)
            if enclosure.type:
                link.set("type", enclosure.type)
            if enclosure.length:
                link.set("length", str(enclosure.length))
        if image:
            etree.SubElement(entry, f"{{{MEDIA_RSS}}}thumbnail", url=image)
        return entry


def add_media(fg: FeedGenerator, fmt: str, media: Sequence[Media]) -> None:
    """Give the entries already added to ``fg`` (in order) their media in ``fmt`` (rss, atom).

    Nothing is registered when no entry has media, so such a feed keeps its bytes.
    """
    if not any(enclosures or image for enclosures, image in media):
        return
    rss = fmt == "rss"
    fg.register_extension(
        _EXTENSION, _feed_extension(_namespaces(fmt, media)), _EntryMedia, atom=not rss, rss=rss
    )
    for entry, entry_media in zip(fg.entry(), media, strict=True):
        getattr(entry, _EXTENSION).media = entry_media


def json_media(media: Media) -> dict[str, object]:
    """The ``attachments`` and ``image`` keys of one JSON Feed item (none when empty)."""
    enclosures, image = media
    keys: dict[str, object] = {}
    if enclosures:
        attachments: list[dict[str, object]] = []
        for enclosure in enclosures:
            attachment: dict[str, object] = {"url": enclosure.url, "mime_type": _type(enclosure)}
            if enclosure.length:
                attachment["size_in_bytes"] = enclosure.length
            if enclosure.duration:
                attachment["duration_in_seconds"] = enclosure.duration
            attachments.append(attachment)
        keys["attachments"] = attachments
    if image:
        keys["image"] = image
    return keys
