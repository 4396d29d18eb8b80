"""Frozen records passed between the pipeline stages.

Every stage (catalog -> fetch -> parse -> normalise -> store -> publish) takes
and returns these values and nothing mutable, so a stage can be tested alone
with hand-made inputs and no stage can change what another one already saw.
Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from feedsvc.dates import format_utc

SourceKind = Literal["feed", "files"]


@dataclass(frozen=True, slots=True)
class Desk:
    id: str
    title: str
    description: str = ""
    bylines: tuple[str, ...] = ()
    language: str | None = None


@dataclass(frozen=True, slots=True)
class Topic:
    id: str
    title: str
    description: str = ""
    match: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    language: str | None = None


@dataclass(frozen=True, slots=True)
class Source:
    """One configured source. ``url`` is set for ``feed``, ``path`` for ``files``."""

    id: str
    kind: SourceKind
    desk: str
    every: timedelta
    url: str | None = None
    path: Path | None = None
    timezone: str = "UTC"
    topics: tuple[str, ...] = ()
    enabled: bool = True
    title: str | None = None
    origin: Literal["catalog", "api"] = "catalog"


@dataclass(frozen=True, slots=True)
class Catalog:
    """The operator's desks, topics and sources, already cross-checked."""

    root: Path
    desks: Mapping[str, Desk]
    topics: Mapping[str, Topic]
    sources: Mapping[str, Source]


@dataclass(frozen=True, slots=True)
class Validators:
    """HTTP cache validators of the last stored fetch, sent back as a conditional GET."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class Document:
    """One fetched body: the feed document, or one wire file of a folder.

    ``name`` is the final URL for a feed and the path relative to the folder
    for a wire file; ``headers`` are the response headers, lower-cased.
    """

    name: str
    content: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Fetched:
    """What a fetch brought back.

    ``not_modified`` means the source said 304 (or a folder whose files are
    all as they were): there is nothing to parse and nothing to store.
    ``max_age`` and ``retry_after`` are what the source asked of its pollers.
    """

    source_id: str
    documents: tuple[Document, ...] = ()
    not_modified: bool = False
    status: int | None = None
    validators: Validators = Validators()
    max_age: timedelta | None = None
    retry_after: timedelta | None = None
    problems: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RawItem:
    """One item as the source wrote it, before normalisation.

    Strings may hold markup (``title_html`` tells whether the title is HTML)
    and relative URLs (resolved against ``base_url``). ``published`` and
    ``updated`` may be naive, meaning "in the source's timezone".
    """

    guid: str | None
    url: str | None = None
    title: str = ""
    title_html: bool = False
    summary_html: str | None = None
    content_html: str | None = None
    author: str | None = None
    byline: str | None = None
    categories: tuple[str, ...] = ()
    published: datetime | None = None
    updated: datetime | None = None
    language: str | None = None
    base_url: str | None = None
    origin_title: str | None = None
    origin_url: str | None = None


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """A parsed document: feed-level facts, its items, and per-item problems."""

    items: tuple[RawItem, ...]
    title: str | None = None
    link: str | None = None
    language: str | None = None
    problems: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Article:
    """The one clean model every source is normalised into (see DESIGN.md).

    ``dated`` is False when the source gave no time: ``published`` is then the
    first-seen time, which the store keeps instead of overwriting on refresh.
    ``fingerprint`` is a hash of everything a reader sees, so an unchanged
    re-fetch costs no write.
    """

    id: str
    source: str
    guid: str
    url: str | None
    title: str
    summary: str
    content_html: str
    author: str | None
    desk: str
    topics: tuple[str, ...]
    published: datetime
    updated: datetime
    language: str | None
    dated: bool = True
    fingerprint: str = ""

    def to_json(self) -> dict[str, object]:
        """The contract's article JSON (DESIGN.md, "The article model")."""
        return {
            "id": self.id,
            "source": self.source,
            "guid": self.guid,
            "url": self.url,
            "title": self.title,
            "summary": self.summary,
            "content_html": self.content_html,
            "author": self.author,
            "desk": self.desk,
            "topics": list(self.topics),
            "published": format_utc(self.published),
            "updated": format_utc(self.updated),
            "language": self.language,
        }


@dataclass(frozen=True, slots=True)
class StoreResult:
    """What storing one source's batch changed."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0
    merged: int = 0
    changed_ids: tuple[str, ...] = ()
    feeds: frozenset[str] = frozenset()
    """Feed keys whose content changed: ``all``, ``desks/<id>``, ``topics/<id>``."""


@dataclass(frozen=True, slots=True)
class SourceResult:
    """The outcome of refreshing one source, as a value rather than an exception."""

    source_id: str
    ok: bool
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    merged: int = 0
    not_modified: bool = False
    error: str | None = None
    problems: tuple[str, ...] = ()
    changed_ids: tuple[str, ...] = ()
    feeds: frozenset[str] = frozenset()
    status: int | None = None
    consecutive_errors: int = 0
    max_age: timedelta | None = None
    retry_after: timedelta | None = None

    def line(self) -> str:
        """The one line ``feedsvc ingest`` prints for this source."""
        if not self.ok:
            return f"{self.source_id}: error: {self.error}"
        if self.not_modified:
            reason = "not modified" if self.status == 304 else "unchanged since the last fetch"
            text = f"{self.source_id}: {reason}"
        else:
            text = (
                f"{self.source_id}: {self.new} new, {self.updated} updated, "
                f"{self.unchanged} unchanged"
            )
            if self.merged:
                text += f", {self.merged} merged with other sources"
        if self.problems:
            text += f"; {len(self.problems)} skipped: " + "; ".join(self.problems)
        return text


@dataclass(frozen=True, slots=True)
class PublishedFeed:
    """Ready bytes of one feed with the validators every web worker serves."""

    path: str
    body: bytes
    etag: str
    media_type: str
    last_modified: datetime
    max_age: int
