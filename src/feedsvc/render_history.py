"""RFC 5005 in rendered feeds: archive links, ``fh:archive`` and ``fh:complete``.

Where each goes, so every document stays valid:

- Atom: ``atom:link`` elements with ``rel`` ``current``, ``prev-archive`` and
  ``next-archive`` beside the feed's other links; ``fh:archive`` /
  ``fh:complete`` in the head, before the first entry (RFC 4287's grammar
  admits extension elements in a feed only there).
- RSS 2.0 (RFC 5005 Appendix B): the same ``atom:link`` elements, and the
  ``fh`` elements, in the channel.
- JSON Feed: ``next_url`` names the next older document (the one
  ``prev-archive`` names); JSON Feed has no word for the rest.

Pure, like ``render``: the links are the history's paths on the document's base.
"""

from __future__ import annotations

from lxml import etree

from feedsvc.archive import History

NAMESPACE = "http://purl.org/syndication/history/1.0"
_FH = f"{{{NAMESPACE}}}"
_ATOM = "{http://www.w3.org/2005/Atom}"
_HEAD_ENDS = (_ATOM + "entry", "{http://purl.org/atompub/tombstones/1.0}deleted-entry", "item")


def history_links(history: History, base: str, fmt: str) -> list[tuple[str, str]]:
    """(rel, absolute URL) of each archive link the document carries, in that order."""
    links = [("current", history.current), ("prev-archive", history.prev)]
    links.append(("next-archive", history.next))
    return [(rel, f"{base}{path}.{fmt}") for rel, path in links if path is not None]


def add_history(
    head: etree._Element, history: History | None, base: str, fmt: str, media: str
) -> None:
    """Put the history's links and marks into an Atom ``feed`` or an RSS ``channel``.

    ``media`` is the links' ``type`` (the document's own media type, without charset).
    """
    if history is None:
        return
    anchor = _last_link(head)
    for rel, url in history_links(history, base, fmt):
        link = etree.Element(_ATOM + "link", rel=rel, href=url, type=media)
        if anchor is None:
            head.insert(0, link)
        else:
            anchor.addnext(link)
        anchor = link
    marks = ["archive"] if history.archive else []
    marks += ["complete"] if history.complete else []
    position = _head_end(head)
    for offset, name in enumerate(marks):
        head.insert(position + offset, etree.Element(_FH + name, nsmap={"fh": NAMESPACE}))
    etree.cleanup_namespaces(head.getroottree().getroot(), top_nsmap={"fh": NAMESPACE})


def json_next_url(history: History | None, base: str) -> str | None:
    """JSON Feed's ``next_url``: the next older document, as ``prev-archive`` names it."""
    if history is None or history.prev is None:
        return None
    return f"{base}{history.prev}.json"


def _last_link(head: etree._Element) -> etree._Element | None:
    links = [child for child in head if child.tag == _ATOM + "link"]
    return links[-1] if links else None


def _head_end(head: etree._Element) -> int:
    """Where the head ends: before the first entry, tombstone or item."""
    for index, child in enumerate(head):
        if child.tag in _HEAD_ENDS:
            return index
    return len(head)
