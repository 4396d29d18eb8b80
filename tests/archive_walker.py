"""A reader of RFC 5005 archived feeds, written from the RFC (and JSON Feed 1.1), not from
feedsvc's code: it knows only what a feed document says.

It fetches the subscription document, then follows ``prev-archive`` (JSON Feed:
``next_url``) from document to document until one has none, as §4.2 tells a
consumer to reconstruct a feed. It refuses what the RFC forbids along the way:
a link that loops, an archive document without ``fh:archive``, a subscription
document that says ``fh:complete`` and still links an archive, an archive
whose ``current`` link is not the feed, a paged-feed link (``next``,
``previous``, ``first``, ``last``: §4 forbids them in archived feeds).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from lxml import etree

FH = "{http://purl.org/syndication/history/1.0}"
ATOM = "{http://www.w3.org/2005/Atom}"
PAGING = {"next", "previous", "first", "last"}

Fetch = Callable[[str], tuple[int, dict[str, str], bytes]]
"""GET an absolute URL: (status, headers, body)."""


class WalkError(AssertionError):
    """The archive breaks a rule of RFC 5005 (or the walk could not go on)."""


@dataclass
class Document:
    url: str
    body: bytes
    entries: list[str]
    links: dict[str, str] = field(default_factory=dict)
    archive: bool = False
    complete: bool = False


@dataclass
class Walk:
    current: Document
    archives: list[Document]

    @property
    def documents(self) -> list[Document]:
        return [self.current, *self.archives]

    @property
    def entries(self) -> list[str]:
        return [entry for document in self.documents for entry in document.entries]

    def once(self) -> set[str]:
        """Every entry of the feed, each found exactly once (else the walk is wrong)."""
        twice = {entry: n for entry, n in Counter(self.entries).items() if n > 1}
        if twice:
            raise WalkError(f"entries found more than once: {twice}")
        return set(self.entries)


def read(body: bytes, fmt: str, url: str) -> Document:
    """One feed document: its entry ids, its links by relation, its fh: marks."""
    if fmt == "json":
        feed = json.loads(body)
        links = {"current": feed["feed_url"]}
        if "next_url" in feed:
            links["prev-archive"] = feed["next_url"]
        return Document(url, body, [item["id"] for item in feed["items"]], links)
    root = etree.fromstring(body)
    if fmt == "atom":
        head, entries = root, [entry.findtext(ATOM + "id") for entry in root.iter(ATOM + "entry")]
    else:
        head = root.find("channel")
        if head is None:
            raise WalkError(f"{url}: RSS without a channel")
        entries = [item.findtext("guid") for item in head.iter("item")]
    links: dict[str, str] = {}
    for link in head.findall(ATOM + "link"):
        rel, href = link.get("rel", "alternate"), link.get("href", "")
        if rel in PAGING:
            raise WalkError(f"{url}: a paged-feed link ({rel}) in an archived feed")
        if rel in links and rel != "alternate":
            raise WalkError(f"{url}: two {rel} links")
        links[rel] = href
    return Document(
        url,
        body,
        [entry or "" for entry in entries],
        links,
        archive=head.find(FH + "archive") is not None,
        complete=head.find(FH + "complete") is not None,
    )


def walk(fetch: Fetch, url: str, fmt: str, most: int = 100_000) -> Walk:
    """The subscription document at ``url`` and every archive document behind it, newest
    first."""
    current = _get(fetch, url, fmt)
    if current.archive:
        raise WalkError(f"{url}: the subscription document says fh:archive")
    if current.complete and "prev-archive" in current.links:
        raise WalkError(f"{url}: fh:complete, yet it links an archive")
    archives: list[Document] = []
    seen = {url}
    following = current.links.get("prev-archive")
    while following is not None:
        if following in seen:
            raise WalkError(f"the archive links loop back to {following}")
        if len(archives) >= most:
            raise WalkError(f"more than {most} archive documents")
        seen.add(following)
        document = _get(fetch, following, fmt)
        if fmt != "json":
            if not document.archive:
                raise WalkError(f"{following}: an archive document without fh:archive")
            if document.links.get("current") != url:
                raise WalkError(f"{following}: its current link is not {url}")
        elif document.links.get("current") != url:
            raise WalkError(f"{following}: its feed_url is not {url}")
        archives.append(document)
        following = document.links.get("prev-archive")
    return Walk(current, archives)


def _get(fetch: Fetch, url: str, fmt: str) -> Document:
    status, _, body = fetch(url)
    if status != 200:
        raise WalkError(f"{url}: HTTP {status}")
    return read(body, fmt, url)
