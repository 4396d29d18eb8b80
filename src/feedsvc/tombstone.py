"""RFC 6721 tombstones: how an Atom feed says that an entry it carried was withdrawn.

Each retracted story the feed carried is an ``at:deleted-entry`` whose ``ref``
is the entry's id and whose ``when`` is the retraction time, with the reason,
when one was given, as ``at:comment``. RFC 4287's grammar admits extension
elements in a feed only before its first entry, so that is where they go; the
``at`` namespace is declared once, on the feed. Pure, like ``render``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from lxml import etree

from feedsvc.dates import format_utc
from feedsvc.model import Tombstone

NAMESPACE = "http://purl.org/atompub/tombstones/1.0"
KEEP_DAYS = 30
"""How long a feed carries a retracted story's tombstone."""

_AT = f"{{{NAMESPACE}}}"
_ATOM_ENTRY = "{http://www.w3.org/2005/Atom}entry"


def add_tombstones(
    feed: etree._Element, tombstones: Sequence[Tombstone], clean: Callable[[str], str]
) -> None:
    """Put one ``at:deleted-entry`` per tombstone before the feed's first entry.

    ``clean`` makes a text safe for XML (the renderer's own filter).
    """
    if not tombstones:
        return
    first = feed.find(_ATOM_ENTRY)
    position = feed.index(first) if first is not None else len(feed)
    for offset, tombstone in enumerate(tombstones):
        element = etree.Element(_AT + "deleted-entry", nsmap={"at": NAMESPACE})
        element.set("ref", clean(tombstone.entry_id))
        element.set("when", format_utc(tombstone.when))
        if tombstone.reason:
            comment = etree.SubElement(element, _AT + "comment")
            comment.set("type", "text")
            comment.text = clean(tombstone.reason)
        feed.insert(position + offset, element)
    etree.cleanup_namespaces(feed, top_nsmap={"at": NAMESPACE})

