"""Frozen records passed between the pipeline stages.

Every stage (catalog -> fetch -> parse -> normalise -> store -> publish) takes
and returns these values and nothing mutable, so a stage can be tested alone
with hand-made inputs and no stage can change what another one already saw.
Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, PlainSerializer, WithJsonSchema

from feedsvc.dates import format_utc
from feedsvc.urls import story_page_url

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
    priority: int = 0
    """Which source's copy a story shared by several sources shows: the highest."""
    keep: timedelta | None = None
    """Stories older than this are purged (None: the ``FEEDSVC_KEEP`` default, or forever)."""
    max_items: int = 500
    """The newest items taken from one fetch; the rest of a huge feed is ignored."""


@dataclass(frozen=True, slots=True)
class Catalog:
    """The operator's desks, topics and sources, already cross-checked."""

    root: Path
    desks: Mapping[str, Desk]
    topics: Mapping[str, Topic]
    sources: Mapping[str, Source]


@dataclass(frozen=True, slots=True)
class FileStat:
    """A wire file as last read: what tells, without opening it, that it is unchanged."""

    size: int
    mtime_ns: int


@dataclass(frozen=True, slots=True)
class Validators:
    """What the last stored fetch leaves behind so that the next one costs nothing if unchanged.

    A feed's HTTP cache validators, sent back as a conditional GET; for a
    folder, ``files``: each wire file's size and mtime as last read, by name,
    so that an unchanged file is not opened again. ``files`` is not part of
    the source's row: the refresh keeps it in its own table (``wire_files``).
    """

    etag: str | None = None
    last_modified: str | None = None
    files: Mapping[str, FileStat] = field(default_factory=dict, hash=False)


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

    ``not_modified`` means the source said 304: there is nothing to parse and
    nothing to store. A folder read never says so: its ``documents`` are only
    the files that changed (or were unknown), and the content digest of
    ``listing`` and ``validators.files`` tells an unchanged folder.
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
    listing: tuple[str, ...] | None = None
    """For a folder: the name of every wire file present now, read this time or not.

    A copy whose file is not listed was deleted, and is withdrawn; ``None``
    (a feed, or a folder listing no file that may be an unmounted share:
    ``fetch.folder``) means what is not in the documents is left alone.
    """


@dataclass(frozen=True, slots=True)
class Enclosure:
    """A media file of an item (podcast audio, video, a document).

    ``url`` is absolute http(s) once normalised (a RawItem's may be relative);
    ``type`` is a media type, ``length`` bytes and ``duration`` seconds, each
    None when the source did not say (or said nonsense). Once normalised, a
    missing type is the one of a well-known file extension (``feedsvc.media``).
    """

    url: str
    type: str | None = None
    length: int | None = None
    duration: int | None = None


@dataclass(frozen=True, slots=True)
class Origin:
    """The upstream feed an item comes from, for ``atom:source`` and attribution.

    An aggregated item names its own origin (RSS/Atom ``source``); any other
    item's origin is the feed it was read from.
    """

    title: str | None = None
    link: str | None = None
    id: str | None = None


@dataclass(frozen=True, slots=True)
class Retraction:
    """Why a story left every feed: an operator withdrew it, or its last copy went away.

    ``by`` is ``operator`` (only ``restore`` undoes it) or ``withdrawn`` (its wire
    file was deleted or its last source removed; lifted if a copy comes back).
    """

    at: datetime
    reason: str | None = None
    by: Literal["operator", "withdrawn"] = "operator"


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
    origin: Origin | None = None
    """The upstream feed: the item's own ``<source>`` when it names one, else the feed read."""
    enclosures: tuple[Enclosure, ...] = ()
    image: str | None = None
    correction: str | None = None
    """A wire article's ``Correction :`` line: a note shown with the story."""
    problems: tuple[str, ...] = ()
    """What was wrong with this item but did not stop it (an unreadable date line)."""
    given_guid: str | None = None
    """The guid as the parser handed it over, when ``guid`` differs from it (feedparser's
    loose parser leaves it XML-escaped): what releases before exact guids stored."""

    @property
    def is_empty(self) -> bool:
        """Nothing to identify or show: no guid, link, title, text or media; readers skip it."""
        return not (
            self.guid
            or self.url
            or self.title
            or self.summary_html
            or self.content_html
            or self.enclosures
        )


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
    """The one clean model every source is normalised into (see docs/architecture.md).

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
    enclosures: tuple[Enclosure, ...] = ()
    image: str | None = None
    correction: str | None = None
    origin: Origin | None = None
    retracted: Retraction | None = None
    entry_id: str | None = None
    """A listed story's feed entry id, fixed when the story was created (``render.entry_id``
    works it out for an article that has none yet). Not part of the article JSON."""

    def link(self, base_url: str) -> str:
        """Where readers go for this story: its own URL, else its page on the service.

        A story without a URL of its own (every wire article) is published at
        ``<base>articles/<id>``; ``base_url`` is the public base the output is for.
        """
        return self.url or story_page_url(base_url, self.id)

    def to_json(self, base_url: str) -> dict[str, object]:
        """The contract's article JSON (``feedsvc articles --json``, the admin API)."""
        return ArticleJson.of(self, base_url).model_dump(mode="json")


_URN_SAFE = "()+,.:=@;$_!*'-"
"""What the URN syntax (RFC 8141) allows unescaped in an article id."""


def new_entry_id(article: Article) -> str:
    """The feed entry id (RSS guid, Atom id, JSON Feed id) a story created from this copy keeps.

    The source's own guid when it is the article's permalink (readers that
    subscribed to the source elsewhere then see the same item); otherwise a
    URN built from the stable article id, since a non-URL guid from one
    source is not guaranteed unique among all sources.
    """
    if article.url and article.guid == article.url:
        return article.guid
    return "urn:feedsvc:article:" + quote(article.id, safe=_URN_SAFE)


UtcTime = Annotated[
    datetime,
    PlainSerializer(format_utc, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
"""A time as the JSON the service answers writes it: UTC, whole seconds, ``…Z``."""


class ArticleJson(BaseModel):
    """The article JSON's one definition; its fields are the Article's, by name."""

    model_config = ConfigDict(
        from_attributes=True,
        extra="forbid",
        frozen=True,
        json_schema_serialization_defaults_required=True,
    )

    id: str
    source: str
    guid: str
    url: str | None
    title: str
    summary: str
    content_html: str
    author: str | None
    desk: str
    topics: list[str]
    published: UtcTime
    updated: UtcTime
    language: str | None
    enclosures: list[EnclosureJson]
    image: str | None
    retracted: RetractionJson | None

    @classmethod
    def of(cls, article: Article, base_url: str) -> ArticleJson:
        """The article's JSON, ``url`` its link on ``base_url`` (``Article.link``)."""
        return cls.model_validate(article).model_copy(update={"url": article.link(base_url)})


class EnclosureJson(BaseModel):
    """One enclosure in the article JSON."""

    model_config = ConfigDict(from_attributes=True, extra="forbid", frozen=True)

    url: str
    type: str | None
    length: int | None
    duration: int | None


class RetractionJson(BaseModel):
    """``retracted`` in the article JSON: when, and the reason when one was given."""

    model_config = ConfigDict(from_attributes=True, extra="ignore", frozen=True)

    at: UtcTime
    reason: str | None


@dataclass(frozen=True, slots=True)
class Touched:
    """The desks and topics whose listings a change reached.

    The store says which; only publishing knows which feeds show them. Every
    article has a desk, so a change that reached anything reached a desk, and
    also the listing of every article (the combined feed).
    """

    desks: frozenset[str] = frozenset()
    topics: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.desks or self.topics)

    def __or__(self, other: Touched) -> Touched:
        return Touched(self.desks | other.desks, self.topics | other.topics)

    @classmethod
    def union(cls, many: Iterable[Touched]) -> Touched:
        desks: set[str] = set()
        topics: set[str] = set()
        for touched in many:
            desks |= touched.desks
            topics |= touched.topics
        return cls(frozenset(desks), frozenset(topics))


@dataclass(frozen=True, slots=True)
class Tombstone:
    """A retracted story as the Atom feeds that carried it announce it (RFC 6721)."""

    entry_id: str
    when: datetime
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class StoreResult:
    """What storing one source's batch did: counts per decision, and what it changed."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0
    merged: int = 0
    skipped: int = 0
    """Items whose guid came earlier in the same batch."""
    returned: int = 0
    """Copies withdrawn before (a deleted wire file) that came back."""
    withdrawn: int = 0
    """Copies whose wire file is gone, or whose source was removed."""
    merged_into: tuple[str, ...] = ()
    """The sources whose stories the merged items joined (the copy each showed), sorted."""
    changed_ids: tuple[str, ...] = ()
    """Stories whose listed state changed (shown copy, topics, feeds, retraction)."""
    touched: Touched = Touched()
    merges: tuple[str, ...] = ()
    """One line per item stored as part of another source's story, saying which."""


@dataclass(frozen=True, slots=True)
class SourceResult:
    """The outcome of refreshing one source, as a value rather than an exception.

    ``busy``: not fetched, because another process holds the source's lease
    (it is being fetched right now); neither a success nor a failure.
    """

    source_id: str
    ok: bool
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    merged: int = 0
    returned: int = 0
    withdrawn: int = 0
    merged_into: tuple[str, ...] = ()
    not_modified: bool = False
    error: str | None = None
    problems: tuple[str, ...] = ()
    merges: tuple[str, ...] = ()
    """One line per item merged into another source's story (``StoreResult.merges``);
    kept with the problems as the source's notes for its admin page and API health."""
    changed_ids: tuple[str, ...] = ()
    touched: Touched = Touched()
    status: int | None = None
    consecutive_errors: int = 0
    max_age: timedelta | None = None
    retry_after: timedelta | None = None
    busy: bool = False

    @property
    def failed(self) -> bool:
        """An error to count and show; a busy source is not one."""
        return not self.ok and not self.busy

    def line(self) -> str:
        """The one line ``feedsvc ingest`` prints for this source."""
        if self.busy:
            return f"{self.source_id}: busy: {self.error}"
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
                joined = _stories_from(self.merged, self.merged_into)
                text += f", {self.merged} merged into {joined}"
            if self.returned:
                text += f", {self.returned} back"
            if self.withdrawn:
                text += f", {self.withdrawn} withdrawn"
        if self.problems:
            text += f"; {len(self.problems)} problems: " + "; ".join(self.problems)
        return text


def _stories_from(count: int, sources: tuple[str, ...]) -> str:
    """"a story from S", or "stories from S, T": what a merge really joined."""
    names = ", ".join(sources) or "other sources"
    return f"a story from {names}" if count == 1 else f"stories from {names}"


@dataclass(frozen=True, slots=True)
class PublishedFeed:
    """Ready bytes of one feed with the validators every web worker serves."""

    path: str
    body: bytes
    etag: str
    media_type: str
    last_modified: datetime
    max_age: int
