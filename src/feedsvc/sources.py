"""Sources as operators manage them: the catalogue file's and the admin API's, side by side.

Sources come from two places. ``feeds/sources.toml`` is the operator's file:
the API, the admin pages and ``feedsvc sources`` may pause, resume and
refresh those, never edit or delete them (the file would only put them back).
Sources added through the API (or ``feedsvc sources add`` / ``opml import``)
live in the database, survive restarts, and are validated here with the same
checks the catalogue loader uses, against the catalogue's desks and topics.

``SourceAdmin`` is the one implementation behind the API, the pages and the
command line; it has no web or command-line code, so each of those is a thin
mapping of its results and errors. Errors carry the field at fault.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from feedsvc.catalog import (
    FILES,
    ID_PATTERN,
    check_feed_url,
    check_timezone,
    load_catalog,
    parse_interval,
)
from feedsvc.errors import ConfigError, Conflict, NotFound, ValidationError
from feedsvc.ingest import FetchFunction, guarded_refresh, next_fetch_at
from feedsvc.model import Catalog, Source, SourceResult
from feedsvc.publish import Publisher
from feedsvc.store import FetchRecord, SourceHealth, Store
from feedsvc.urls import MAX_URL_LENGTH

log = logging.getLogger(__name__)

CATALOG_FILE = "feeds/sources.toml"
CREATE_FIELDS = ("id", "kind", "url", "desk", "every", "timezone", "topics", "enabled", "title")
EDIT_FIELDS = ("url", "desk", "every", "timezone", "topics", "enabled", "title")
DEFAULT_EVERY = "15m"
MAX_TITLE = 200
MAX_URL = MAX_URL_LENGTH  # the fetcher's own limit, so the API cannot disagree with it
MAX_ID = 100
REFRESH_LEASE = timedelta(minutes=2)
CRASH_RETRY = timedelta(minutes=1)


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def format_interval(every: timedelta) -> str:
    """The catalogue's notation back from a timedelta: 900 s → ``"15m"``."""
    seconds = every.total_seconds()
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s" if seconds == int(seconds) else f"{seconds:g}s"


# -- validation ------------------------------------------------------------------


def validate_new(payload: object, catalog: Catalog) -> Source:
    """An API payload → a Source of origin ``api``; ValidationError names the bad field.

    Only ``kind = "feed"`` is accepted: a folder on the server's disk is for the
    operator's file to name, never for a remote caller.
    """
    data = _object(payload)
    _known_fields(data, CREATE_FIELDS)
    source_id = data.get("id")
    if not isinstance(source_id, str) or not source_id:
        raise ValidationError("id is required: lower-case letters, digits and '-'", "id")
    if len(source_id) > MAX_ID or not ID_PATTERN.match(source_id):
        raise ValidationError(
            f"bad id {source_id!r}: use lower-case letters, digits and '-' "
            f"(at most {MAX_ID} characters)",
            "id",
        )
    kind = data.get("kind", "feed")
    if kind != "feed":
        raise ValidationError(
            f"kind {kind!r} cannot be added here: only 'feed' sources; folders of wire "
            f"articles are configured in {CATALOG_FILE}",
            "kind",
        )
    if "url" not in data:
        raise ValidationError("url is required", "url")
    if "desk" not in data:
        raise ValidationError("desk is required", "desk")
    base = Source(
        id=source_id,
        kind="feed",
        desk="",
        every=parse_interval(DEFAULT_EVERY),
        url="",
        origin="api",
    )
    return _apply(base, data, catalog)


def validate_edit(source: Source, payload: object, catalog: Catalog) -> Source:
    """A partial update (PATCH) of an API source; only the fields given change."""
    if source.origin != "api":
        raise managed_by_file(source.id)
    data = _object(payload)
    for name in ("id", "kind"):
        if name in data:
            raise ValidationError(f"{name} cannot be changed; add a new source instead", name)
    _known_fields(data, EDIT_FIELDS)
    return _apply(source, data, catalog)


def managed_by_file(source_id: str) -> Conflict:
    return Conflict(
        f"source {source_id!r} is managed by {CATALOG_FILE}: edit or remove it there; "
        "the admin API and `feedsvc sources` may only pause, resume or refresh it"
    )


def _object(payload: object) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise ValidationError("expected a JSON object")
    return payload


def _known_fields(data: Mapping[str, Any], allowed: Iterable[str]) -> None:
    allowed = tuple(allowed)
    for name in data:
        if name not in allowed:
            raise ValidationError(
                f"unknown field {name!r} (known: {', '.join(allowed)})", str(name)
            )


def _apply(source: Source, data: Mapping[str, Any], catalog: Catalog) -> Source:
    changes: dict[str, Any] = {}
    if "url" in data:
        url = data["url"]
        if isinstance(url, str) and len(url) > MAX_URL:
            raise ValidationError(f"bad URL: longer than {MAX_URL} characters", "url")
        changes["url"] = _checked("url", check_feed_url, url)
    if "desk" in data:
        desk = data["desk"]
        if not isinstance(desk, str) or desk not in catalog.desks:
            known = ", ".join(sorted(catalog.desks))
            raise ValidationError(f"unknown desk {desk!r} (known: {known})", "desk")
        changes["desk"] = desk
    if "every" in data:
        changes["every"] = _checked("every", parse_interval, data["every"])
    if "timezone" in data:
        changes["timezone"] = _checked("timezone", check_timezone, data["timezone"])
    if "topics" in data:
        topics = data["topics"]
        if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
            raise ValidationError("expected a list of topic ids", "topics")
        for topic in topics:
            if topic not in catalog.topics:
                known = ", ".join(sorted(catalog.topics))
                raise ValidationError(f"unknown topic {topic!r} (known: {known})", "topics")
        changes["topics"] = tuple(dict.fromkeys(topics))
    if "enabled" in data:
        if not isinstance(data["enabled"], bool):
            raise ValidationError("expected true or false", "enabled")
        changes["enabled"] = data["enabled"]
    if "title" in data:
        title = data["title"]
        if title is not None and (not isinstance(title, str) or len(title) > MAX_TITLE):
            raise ValidationError(
                f"expected a string of at most {MAX_TITLE} characters, or null", "title"
            )
        changes["title"] = (title.strip() or None) if title is not None else None
    return replace(source, **changes)


def _checked(field: str, check: Callable[[object], Any], value: object) -> Any:
    try:
        return check(value)
    except ValueError as exc:
        raise ValidationError(str(exc), field) from None


# -- the catalogue with the API's sources -------------------------------------------


def with_api_sources(catalog: Catalog, api_sources: Iterable[Source]) -> Catalog:
    """The catalogue's own sources plus the API's, which never shadow a file source.

    An API source whose desk or a topic has since left the catalogue is left
    out (it would be normalised into a desk no feed shows); its health page
    says why (``SourceAdmin.problem``).
    """
    own = {key: s for key, s in catalog.sources.items() if s.origin == "catalog"}
    merged = dict(own)
    for source in api_sources:
        if source.id not in own and _fits(source, catalog):
            merged[source.id] = source
    return replace(catalog, sources=merged)


def _fits(source: Source, catalog: Catalog) -> bool:
    return source.desk in catalog.desks and all(t in catalog.topics for t in source.topics)


class CatalogWatcher:
    """The current catalogue for a long-running process: re-read when its files change.

    A bad edit is logged and the last good catalogue stays, as in the
    scheduler. Looks at the files' times at most once per ``check_every``
    seconds. Thread-safe; one per process.
    """

    def __init__(self, root: Path, check_every: float = 1.0) -> None:
        self.root = Path(root)
        self.check_every = check_every
        self._lock = threading.Lock()
        self._checked = float("-inf")
        self._stamps: tuple[int, ...] | None = None
        self._catalog: Catalog | None = None

    def __call__(self) -> Catalog:
        with self._lock:
            now = time.monotonic()
            if self._catalog is not None and now - self._checked < self.check_every:
                return self._catalog
            self._checked = now
            stamps = self._read_stamps()
            if self._catalog is None or stamps != self._stamps:
                try:
                    self._catalog = load_catalog(self.root)
                except ConfigError as exc:
                    if self._catalog is None:
                        raise
                    log.error("catalogue not reloaded, keeping the last good one: %s", exc)
                self._stamps = stamps
            return self._catalog

    def _read_stamps(self) -> tuple[int, ...]:
        stamps = []
        for name in FILES:
            try:
                stamps.append((self.root / name).stat().st_mtime_ns)
            except OSError:
                stamps.append(-1)
        return tuple(stamps)


# -- the service ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SourceView:
    """A source with its health, as the API, the pages and the command line show it."""

    source: Source
    health: SourceHealth | None
    problem: str | None = None

    @property
    def status(self) -> str:
        if self.problem:
            return "error"
        return self.health.status if self.health else "pending"

    @property
    def paused(self) -> bool:
        return bool(self.health and self.health.paused)


class SourceAdmin:
    """Add, edit, pause, refresh and inspect sources; no web or command-line code.

    ``catalog`` is called for the current catalogue (the web tier passes a
    loader that keeps the last good one). ``fetch`` and ``publisher`` are only
    needed for ``refresh``.
    """

    def __init__(
        self,
        store: Store,
        catalog: Callable[[], Catalog],
        *,
        fetch: FetchFunction | None = None,
        publisher: Callable[[Catalog], Publisher] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self._catalog = catalog
        self.fetch = fetch
        self.publisher = publisher
        self.clock = clock
        self.owner = f"admin:{uuid.uuid4().hex[:8]}"

    def catalog(self) -> Catalog:
        return self._catalog()

    def merged(self) -> Catalog:
        return with_api_sources(self.catalog(), self.store.api_sources())

    def all_sources(self) -> dict[str, Source]:
        """File sources then API sources (all of them, even ones that no longer fit)."""
        found = dict(self.catalog().sources)
        for source in self.store.api_sources():
            found.setdefault(source.id, source)
        return found

    def get(self, source_id: str) -> Source:
        source = self.all_sources().get(source_id)
        if source is None:
            raise NotFound(f"no source {source_id!r}")
        return source

    def view(self, source_id: str) -> SourceView:
        source = self.get(source_id)
        return SourceView(source, self.store.source_health(source_id), self.problem(source))

    def views(self) -> list[SourceView]:
        health = {h.id: h for h in self.store.list_health()}
        catalog = self.catalog()
        return [
            SourceView(source, health.get(source.id), self._problem(source, catalog))
            for source in self.all_sources().values()
        ]

    def problem(self, source: Source) -> str | None:
        return self._problem(source, self.catalog())

    @staticmethod
    def _problem(source: Source, catalog: Catalog) -> str | None:
        if source.origin != "api" or _fits(source, catalog):
            return None
        return "its desk or a topic is no longer in the catalogue; it is not fetched"

    def fetches(self, source_id: str, limit: int = 20) -> list[FetchRecord]:
        self.get(source_id)
        return self.store.recent_fetches(source_id, limit)

    # -- changes -------------------------------------------------------------------

    def add(self, payload: object) -> Source:
        catalog = self.catalog()
        source = validate_new(payload, catalog)
        if source.id in catalog.sources:
            raise Conflict(f"source id {source.id!r} is already taken (by {CATALOG_FILE})", "id")
        self.store.add_source(source, self.clock())
        log.info("source=%s added through the admin API: %s", source.id, source.url)
        return source

    def edit(self, source_id: str, payload: object) -> Source:
        source = validate_edit(self.get(source_id), payload, self.catalog())
        if not self.store.update_source(source):
            raise NotFound(f"no source {source_id!r}")
        log.info("source=%s edited through the admin API", source_id)
        return source

    def remove(self, source_id: str) -> None:
        source = self.get(source_id)
        if source.origin != "api":
            raise managed_by_file(source_id)
        if not self.store.delete_source(source_id):
            raise NotFound(f"no source {source_id!r}")
        log.info("source=%s removed through the admin API", source_id)

    def set_paused(self, source_id: str, paused: bool) -> None:
        self.get(source_id)
        self._register(source_id)
        if not self.store.set_paused(source_id, paused):
            raise NotFound(f"no source {source_id!r}")
        log.info("source=%s %s", source_id, "paused" if paused else "resumed")

    def _register(self, source_id: str) -> None:
        """A catalogue source the scheduler has not registered yet gets its row now."""
        if self.store.source_health(source_id) is None:
            self.store.sync_sources(self.catalog().sources.values(), self.clock())

    def refresh(self, source_id: str) -> SourceResult:
        """Fetch one source now (paused or not) and publish what it changed.

        The refresh takes the source's lease like a scheduler would, so it never
        runs beside a scheduled fetch of the same source, and sets its next
        scheduled time from the result.
        """
        if self.fetch is None or self.publisher is None:
            raise RuntimeError("SourceAdmin was built without a fetcher or publisher")
        catalog = self.merged()
        source = self.get(source_id)
        problem = self.problem(source)
        if problem:
            raise Conflict(f"source {source_id!r} cannot be refreshed: {problem}")
        now = self.clock()
        self._register(source_id)
        if not self.store.claim_source(source_id, self.owner, now, REFRESH_LEASE):
            raise Conflict(f"source {source_id!r} is being fetched right now; try again shortly")
        try:
            result = guarded_refresh(source, catalog, self.store, self.fetch, now)
        except BaseException:
            self.store.finish(source_id, self.owner, now + CRASH_RETRY)  # give the lease back
            raise
        due = next_fetch_at(source, result, now, random.random())
        self.store.finish(source_id, self.owner, due)
        if result.feeds:
            self.publisher(catalog).publish(result.feeds, self.clock())
        log.info("source=%s refreshed by an operator: %s", source_id, result.line())
        return result
