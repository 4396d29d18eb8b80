"""The admin side's requests and responses, each shape written once as a pydantic model.

The admin API, the admin pages' forms and the command line (``feedsvc sources
add``, ``feedsvc opml import``) all hand ``SourceAdmin`` a plain payload, which
is checked here by ``checked``: all three refuse the same things in the same
words. The API's JSON is built from the store's records with the response
models, and ``web/openapi.py`` takes its component schemas and query parameters
from the same classes, so the document, the checks and the answers cannot drift
apart.

A refusal is a ``ValidationError`` that names the field at fault (the API
answers it as ``400 {"error": …, "field": …}``). Every field's description is
written to read after "expected", so it serves as the documentation and as the
error message alike. Checks that need the current catalogue (is the desk
known?) are ``feedsvc.sources``'s, once the shape is right.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Final, Literal, TypeVar, cast

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticError
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import ErrorDetails

from feedsvc.catalog import (
    DEFAULT_EVERY,
    DEFAULT_MAX_ITEMS,
    ID_PATTERN,
    ID_REGEX,
    INTERVAL_PATTERN,
    MAX_ITEMS,
    MAX_PRIORITY,
    MIN_PRIORITY,
    check_feed_url,
    check_timezone,
    format_interval,
    parse_interval,
)
from feedsvc.cursor import CURSOR_LIMIT, decode_cursor
from feedsvc.dates import DURATION_PATTERN, format_duration, parse_duration
from feedsvc.errors import ValidationError
from feedsvc.model import ArticleJson, Source, UtcTime
from feedsvc.text import without_controls
from feedsvc.urls import MAX_URL_LENGTH

if TYPE_CHECKING:
    from feedsvc.sources import SourceView
    from feedsvc.store import FetchRecord, SourceHealth, SourceNotes

CATALOG_FILE: Final = "feeds/sources.toml"
MAX_ID = 100
MAX_URL = MAX_URL_LENGTH  # the fetcher's own limit, so the API cannot disagree with it
MAX_TITLE = 200
MAX_TOPICS = 50
MAX_ZONE = 64
MAX_INTERVAL = 32
MAX_QUERY = 200
MAX_PAGE = 200
DEFAULT_PAGE = 50
MAX_OFFSET = 1_000_000_000
"""Far past any real page, and small enough for every database's OFFSET."""
MAX_REASON = 500
MAX_SHOWN = 80
"""Characters of a refused value quoted back in an error (it may be huge or hostile)."""

M = TypeVar("M", bound=BaseModel)


# -- checking a payload ------------------------------------------------------------


def checked(model: type[M], payload: object) -> M:
    """``payload`` as a ``model``; else a ValidationError for the first problem, by field."""
    try:
        return model.model_validate(payload)
    except PydanticError as exc:
        errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
        message, field = _explain(model, errors[0])
        raise ValidationError(message, field) from None


def _explain(model: type[BaseModel], error: ErrorDetails) -> tuple[str, str | None]:
    """One pydantic error in our words: (message, field), the field as the payload named it."""
    if not error["loc"]:
        return "expected a JSON object", None
    field = str(error["loc"][0])[:MAX_ID]
    info = model.model_fields.get(field)
    if error["type"] == "extra_forbidden":
        if field in getattr(model, "fixed", ()):
            return f"{field} cannot be changed; add a new source instead", field
        known = ", ".join(model.model_fields)
        return f"unknown field {_shown(field)} (known: {known})", field
    expected = info.description if info is not None else None
    required = info is not None and info.is_required()
    if error["type"] == "missing" or (required and error["input"] in ("", None)):
        return f"{field} is required: expected {expected}", field
    if error["type"] == "value_error":
        return str(error.get("ctx", {}).get("error", error["msg"])), field
    return f"bad {field}: expected {expected}, got {_shown(error['input'])}", field


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 1] + "…"


# -- field shapes, shared by the requests ------------------------------------------


def _interval(text: str) -> str:
    parse_interval(text)
    return text.strip()


def _duration(text: str | None) -> str | None:
    if text is None:
        return None
    parse_duration(text)
    return text.strip()




def _id(text: str) -> str:
    if not ID_PATTERN.fullmatch(text):
        raise ValueError(f"bad id {text!r}: use lower-case letters, digits and '-'")
    return text


ID_SCHEMA_PATTERN = f"^{ID_REGEX}$(?!\n)"
"""The id pattern for JSON Schema. ECMA's ``$`` is the end of the text; Python's also
matches before a final newline, which ``(?!\n)`` refuses: every validator reads it alike."""

SourceId = Annotated[
    str,
    Field(
        max_length=MAX_ID,
        description=f"an id: lower-case letters, digits and '-', at most {MAX_ID} characters",
        json_schema_extra={"pattern": ID_SCHEMA_PATTERN},
    ),
    AfterValidator(_id),
]
Kind = Annotated[
    Literal["feed"],
    Field(description="only 'feed': folders of wire articles are configured in " + CATALOG_FILE),
]
FeedUrl = Annotated[
    str,
    Field(
        description=f"a URL: absolute, http or https, at most {MAX_URL} characters",
        # the length is checked by http_url, so the refusal reads as the catalogue's does
        json_schema_extra={"format": "uri", "maxLength": MAX_URL},
    ),
    AfterValidator(check_feed_url),
]
DeskId = Annotated[str, Field(max_length=MAX_ID, description="a desk id of the catalogue")]
Interval = Annotated[
    str,
    Field(
        max_length=MAX_INTERVAL,
        description="a refresh interval: a number and s, m or h, such as '15m', "
        "from 1s to 7 days (168h)",
        json_schema_extra={"pattern": INTERVAL_PATTERN.pattern},
    ),
    AfterValidator(_interval),
]
TimeZone = Annotated[
    str,
    Field(max_length=MAX_ZONE, description="a time zone name such as 'Europe/Brussels'"),
    AfterValidator(check_timezone),
]
TopicIds = Annotated[
    list[Annotated[str, Field(max_length=MAX_ID)]],
    Field(
        max_length=MAX_TOPICS,
        description=f"a list of topic ids of the catalogue (at most {MAX_TOPICS})",
    ),
]
Enabled = Annotated[bool, Field(description="true or false")]


def _one_line(text: str | None) -> str | None:
    """One line of plain text: controls gone, spaces collapsed; nothing left is nothing.

    For what people read (a source's title credits its items in every feed, a
    reason is shown with a tombstone): a NUL or an escape sequence has no place
    in a feed, a page or a terminal.
    """
    if text is None:
        return None
    return " ".join(without_controls(text).split()) or None


Title = Annotated[
    Annotated[str, Field(max_length=MAX_TITLE)] | None,
    Field(description=f"a title for people: a string of at most {MAX_TITLE} characters, or null"),
    AfterValidator(_one_line),
]


Priority = Annotated[
    int,
    Field(
        ge=MIN_PRIORITY,
        le=MAX_PRIORITY,
        description=f"a priority: a whole number from {MIN_PRIORITY} to {MAX_PRIORITY} "
        "(a story several sources carry shows the copy of the highest)",
    ),
]
Keep = Annotated[
    Annotated[str, Field(max_length=MAX_INTERVAL)] | None,
    Field(
        description="a retention: a whole number and h, d or w, such as '90d' (stories "
        "older are purged), or null for the default (FEEDSVC_KEEP)",
        json_schema_extra={"pattern": DURATION_PATTERN.pattern},
    ),
    AfterValidator(_duration),
]
MaxItems = Annotated[
    int,
    Field(
        ge=1,
        le=MAX_ITEMS,
        description=f"a whole number from 1 to {MAX_ITEMS}: the newest items one fetch stores",
    ),
]


def _absent() -> Any:
    """The default of a PATCH field: not given, so not changed (never a value)."""
    return Field(default=None)


# -- requests ----------------------------------------------------------------------


class _Request(BaseModel):
    """Strict: JSON types as they are ("yes" is not true), and no field we do not know."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class NewSource(_Request):
    """A feed source to add (`POST /api/v1/sources`, the add form, the command line).

    Only `kind = "feed"`: a folder on the server's disk is for the operator's
    file to name, never for a remote caller.
    """

    id: SourceId
    kind: Kind = "feed"
    url: FeedUrl
    desk: DeskId
    every: Interval = DEFAULT_EVERY
    timezone: TimeZone = "UTC"
    topics: TopicIds = Field(default_factory=list)
    enabled: Enabled = True
    title: Title = None
    priority: Priority = 0
    keep: Keep = None
    max_items: MaxItems = DEFAULT_MAX_ITEMS

    def source(self) -> Source:
        """The Source of origin ``api`` this asks for (the catalogue not yet consulted)."""
        return Source(
            id=self.id,
            kind="feed",
            url=self.url,
            desk=self.desk,
            every=parse_interval(self.every),
            timezone=self.timezone,
            topics=tuple(dict.fromkeys(self.topics)),
            enabled=self.enabled,
            title=self.title,
            origin="api",
            priority=self.priority,
            keep=parse_duration(self.keep) if self.keep else None,
            max_items=self.max_items,
        )


class SourcePatch(_Request):
    """A change to an API source (`PATCH`, the edit form): only the fields given change."""

    fixed: ClassVar[tuple[str, ...]] = ("id", "kind")

    url: FeedUrl = _absent()
    desk: DeskId = _absent()
    every: Interval = _absent()
    timezone: TimeZone = _absent()
    topics: TopicIds = _absent()
    enabled: Enabled = _absent()
    title: Title = _absent()
    priority: Priority = _absent()
    keep: Keep = _absent()
    max_items: MaxItems = _absent()

    def apply(self, source: Source) -> Source:
        given: Mapping[str, Any] = {name: getattr(self, name) for name in self.model_fields_set}
        changes = dict(given)
        if "every" in given:
            changes["every"] = parse_interval(given["every"])
        if "topics" in given:
            changes["topics"] = tuple(dict.fromkeys(given["topics"]))
        if "keep" in given:
            changes["keep"] = parse_duration(given["keep"]) if given["keep"] else None
        return replace(source, **changes)


Reason = Annotated[
    Annotated[str, Field(max_length=MAX_REASON)] | None,
    Field(
        description=f"a reason readers may see: text of at most {MAX_REASON} characters, or null"
    ),
    AfterValidator(_one_line),
]


class RetractRequest(_Request):
    """A retraction (`POST /api/v1/articles/<id>/retract`, the admin button, the command line)."""

    reason: Reason = None


class _Query(BaseModel):
    """Query strings are text: numbers are read from it; parameters we do not know are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)


def _filter(description: str) -> Any:
    return Field(
        default=None,
        max_length=MAX_ID,
        description=description,
        json_schema_extra={"pattern": ID_SCHEMA_PATTERN},
    )


FilterId = Annotated[str, AfterValidator(_id)]
"""A desk, topic or source id to filter by: an id matched whole, or a 400 saying so."""


PageSize = Annotated[
    int, Field(ge=1, le=MAX_PAGE, description=f"a page size: a whole number from 1 to {MAX_PAGE}")
]


def _cursor(value: str) -> str:
    decode_cursor(value)  # BadCursor is a ValueError: a 400 naming ``before``
    return value


class ArticleQuery(_Query):
    """``GET /api/v1/articles``: filters, text and one page."""

    desk: FilterId | SkipJsonSchema[None] = _filter("a desk id: only this desk")
    topic: FilterId | SkipJsonSchema[None] = _filter("a topic id: only this topic")
    source: FilterId | SkipJsonSchema[None] = _filter("a source id: only this source")
    q: str | SkipJsonSchema[None] = Field(
        default=None,
        max_length=MAX_QUERY,
        description=f"words in the title or summary (full-text: every word, any case), at "
        f"most {MAX_QUERY} characters",
    )
    limit: PageSize = DEFAULT_PAGE
    before: Annotated[str, AfterValidator(_cursor)] | SkipJsonSchema[None] = Field(
        default=None,
        max_length=CURSOR_LIMIT,
        description="a cursor: the previous page's next, for the page after it (the way to "
        "page; offset still works but costs what it skips)",
    )
    offset: int = Field(
        default=0,
        ge=0,
        le=MAX_OFFSET,
        description=f"how many to skip: a whole number from 0 to {MAX_OFFSET}",
    )
    retracted: bool = Field(
        default=False, description="true or false: only retracted stories (default: only live)"
    )


class FetchQuery(_Query):
    """``GET /api/v1/sources/<id>/fetches``: how many of the newest fetches."""

    limit: PageSize = 20


def query(model: type[M], args: Mapping[str, str]) -> M:
    """A query model from request arguments; an empty parameter counts as not given."""
    return checked(model, {name: value for name, value in args.items() if value != ""})


# -- responses ---------------------------------------------------------------------

Status = Literal["ok", "error", "pending", "paused", "disabled"]


def _status(view: SourceView) -> Status:
    return cast(Status, view.status)  # one of Status's words; the model checks it again


class _Response(BaseModel):
    """Every field is always present in an answer (null when there is nothing)."""

    model_config = ConfigDict(frozen=True, json_schema_serialization_defaults_required=True)


class ErrorJson(BaseModel):
    """The one error body: `field` only when one part of the request is at fault."""

    model_config = ConfigDict(frozen=True)

    error: str = Field(description="what went wrong, for a person")
    field: str | SkipJsonSchema[None] = Field(
        default=None,
        exclude_if=lambda field: field is None,
        description="the request field at fault",
    )


class HealthJson(_Response):
    """A source's health; all empty for a source the scheduler has not registered yet."""

    last_fetch_at: UtcTime | None = None
    last_success_at: UtcTime | None = None
    last_status: int | None = Field(
        default=None, description="the HTTP status of the last fetch (304 too)"
    )
    consecutive_errors: int = Field(default=0, ge=0)
    last_error: str | None = None
    next_fetch_at: UtcTime | None = None
    refresh_requested_at: UtcTime | None = Field(
        default=None, description="an operator's refresh, queued and not yet run"
    )
    article_count: int = Field(default=0, ge=0)

    @classmethod
    def of(cls, health: SourceHealth | None) -> HealthJson:
        if health is None:
            return cls()
        return cls(
            last_fetch_at=health.last_fetch_at,
            last_success_at=health.last_success_at,
            last_status=health.last_status,
            consecutive_errors=health.error_count,
            last_error=health.last_error,
            next_fetch_at=health.next_fetch_at,
            refresh_requested_at=health.refresh_requested_at,
            article_count=health.article_count,
        )


class NotesJson(_Response):
    """What the last fetch that read the source's content said about its items."""

    at: UtcTime | None = Field(default=None, description="when; null when it said nothing")
    skipped: list[str] = Field(
        default_factory=list, description="items not taken, each with its reason"
    )
    merged: list[str] = Field(
        default_factory=list, description="items stored as part of another source's story"
    )

    @classmethod
    def of(cls, notes: SourceNotes) -> NotesJson:
        return cls(at=notes.at, skipped=list(notes.skipped), merged=list(notes.merged))


class SourceHealthJson(HealthJson):
    id: str
    status: Status
    notes: NotesJson

    @classmethod
    def of_view(cls, view: SourceView) -> SourceHealthJson:
        health = HealthJson.of(view.health)
        return cls(
            id=view.source.id,
            status=_status(view),
            notes=NotesJson.of(view.notes),
            **dict(health),
        )


class SourceJson(_Response):
    id: str
    origin: Literal["catalog", "api"]
    managed_by: Literal["feeds/sources.toml", "api"] = Field(
        description="catalogue sources may be paused, resumed and refreshed here, "
        "not edited or deleted"
    )
    editable: bool
    kind: Literal["feed", "files"]
    url: str | None
    path: str | None
    title: str | None
    desk: str
    topics: list[str]
    every: str
    every_seconds: float
    timezone: str
    enabled: bool
    priority: int
    keep: str | None = Field(description="the source's retention, null for the default")
    max_items: int
    paused: bool
    status: Status
    problem: str | None
    health: HealthJson

    @classmethod
    def of(cls, view: SourceView) -> SourceJson:
        source = view.source
        return cls(
            id=source.id,
            origin=source.origin,
            managed_by=CATALOG_FILE if source.origin == "catalog" else "api",
            editable=source.origin == "api",
            kind=source.kind,
            url=source.url,
            path=str(source.path) if source.path else None,
            title=source.title,
            desk=source.desk,
            topics=list(source.topics),
            every=format_interval(source.every),
            every_seconds=source.every.total_seconds(),
            timezone=source.timezone,
            enabled=source.enabled,
            priority=source.priority,
            keep=format_duration(source.keep) if source.keep else None,
            max_items=source.max_items,
            paused=view.paused,
            status=_status(view),
            problem=view.problem,
            health=HealthJson.of(view.health),
        )


class SourceListJson(_Response):
    sources: list[SourceJson]


class FetchJson(_Response):
    """One line of the fetch log; the fields are the record's, by name."""

    model_config = ConfigDict(from_attributes=True)

    at: UtcTime
    outcome: Literal["ok", "not_modified", "error"]
    status: int | None
    new: int
    updated: int
    duration_ms: int
    error: str | None


class FetchListJson(_Response):
    fetches: list[FetchJson]

    @classmethod
    def of(cls, records: list[FetchRecord]) -> FetchListJson:
        return cls(fetches=[FetchJson.model_validate(r) for r in records])


class RefreshQueuedJson(_Response):
    """`POST …/refresh`: the refresh is queued for the scheduler's next tick (202)."""

    status: Literal["queued"] = "queued"
    source: str
    requested_at: UtcTime
    health: str = Field(
        description="where to look: the source's health, whose refresh_requested_at is null "
        "again and whose last_fetch_at has moved once the refresh ran"
    )
    message: str


class ArticlePageJson(_Response):
    articles: list[ArticleJson]
    total: int = Field(ge=0)
    limit: int
    offset: int
    next: str | None = Field(
        default=None,
        description="a cursor for the next (older) page, to pass as before; null on the last",
    )
