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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from feedsvc.admin_models import CATALOG_FILE, NewSource, SourcePatch, checked
from feedsvc.errors import Conflict, NotFound, ValidationError
from feedsvc.model import Catalog, Source, StoreResult
from feedsvc.publish import Publisher
from feedsvc.store import FetchRecord, SourceHealth, SourceNotes, Store

log = logging.getLogger(__name__)

MAX_API_SOURCES = 2_000
"""Sources added through the API, the pages or the command line (an OPML file of 5 MiB
names some 70,000): each is scheduled, and the API's and the admin page's lists show
them all at once. Past it, adding is a 409 saying so; the catalogue file is not counted."""


# -- validation ------------------------------------------------------------------


def validate_new(payload: object, catalog: Catalog) -> Source:
    """A payload (API JSON, the add form, the command line) → a Source of origin ``api``.

    The shape is ``NewSource``'s; then its desk and topics must be the
    catalogue's. A ValidationError names the field at fault.
    """
    source = checked(NewSource, payload).source()
    _check_catalog(catalog, source.desk, source.topics)
    return source


def validate_edit(source: Source, payload: object, catalog: Catalog) -> Source:
    """A partial update (PATCH, the edit form) of an API source; only the fields given change."""
    if source.origin != "api":
        raise managed_by_file(source.id)
    patch = checked(SourcePatch, payload)
    _check_catalog(catalog, patch.desk, patch.topics or ())
    return patch.apply(source)


def _check_catalog(catalog: Catalog, desk: str | None, topics: Iterable[str]) -> None:
    """The desk and topics named must be the catalogue's (those not named are not checked)."""
    if desk is not None and desk not in catalog.desks:
        known = ", ".join(sorted(catalog.desks))
        raise ValidationError(f"unknown desk {desk!r} (known: {known})", "desk")
    for topic in topics:
        if topic not in catalog.topics:
            known = ", ".join(sorted(catalog.topics))
            raise ValidationError(f"unknown topic {topic!r} (known: {known})", "topics")


def managed_by_file(source_id: str) -> Conflict:
    return Conflict(
        f"source {source_id!r} is managed by {CATALOG_FILE}: edit or remove it there; "
        "the admin API and `feedsvc sources` may only pause, resume or refresh it"
    )


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


# -- the service ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SourceView:
    """A source with its health, as the API, the pages and the command line show it."""

    source: Source
    health: SourceHealth | None
    problem: str | None = None
    notes: SourceNotes = field(default_factory=SourceNotes)
    """Items the last content fetch skipped or merged (only in one source's view)."""

    @property
    def status(self) -> str:
        if self.problem:
            return "error"
        return self.health.status if self.health else "pending"

    @property
    def paused(self) -> bool:
        return bool(self.health and self.health.paused)


def precise_now() -> datetime:
    """Now, to the microsecond: two refresh requests a moment apart are told apart."""
    return datetime.now(UTC)


class SourceAdmin:
    """Add, edit, pause, refresh and inspect sources; no web or command-line code.

    ``catalog`` is called for the current catalogue (the web tier passes a
    loader that keeps the last good one). Nothing here fetches: a refresh is
    a request the scheduler carries out (``request_refresh``), so no web
    thread ever waits on a remote server.
    """

    def __init__(
        self,
        store: Store,
        catalog: Callable[[], Catalog],
        *,
        publisher: Callable[[Catalog], Publisher] | None = None,
        clock: Callable[[], datetime] = precise_now,
    ) -> None:
        self.store = store
        self._catalog = catalog
        self.clock = clock
        self.publisher = publisher

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
        """One source with its health and its last content fetch's notes."""
        source = self.get(source_id)
        return SourceView(
            source,
            self.store.source_health(source_id),
            self.problem(source),
            self.store.source_notes(source_id),
        )

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
        if self.store.count_api_sources() >= MAX_API_SOURCES:
            raise Conflict(
                f"at most {MAX_API_SOURCES} sources may be added outside {CATALOG_FILE}: "
                "remove some first, or list them in the file"
            )
        self.store.add_source(source, self.clock())
        log.info("source=%s added through the admin API: %s", source.id, source.url)
        return source

    def edit(self, source_id: str, payload: object) -> Source:
        source = validate_edit(self.get(source_id), payload, self.catalog())
        if not self.store.update_source(source):
            raise NotFound(f"no source {source_id!r}")
        log.info("source=%s edited through the admin API", source_id)
        return source

    def remove(self, source_id: str) -> StoreResult:
        """Remove an API source; its copies are withdrawn and the feeds that showed them
        are published again (a story it alone carried leaves them, with a tombstone)."""
        source = self.get(source_id)
        if source.origin != "api":
            raise managed_by_file(source_id)
        catalog = self.merged()
        result = self.store.delete_source(source_id, self.clock())
        if result is None:
            raise NotFound(f"no source {source_id!r}")
        if result.touched and self.publisher is not None:
            self.publisher(catalog).publish(result.touched, self.clock())
        log.info(
            "source=%s removed through the admin API: %d copies withdrawn",
            source_id,
            result.withdrawn,
        )
        return result

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

    def request_refresh(self, source_id: str) -> datetime:
        """Ask for a fetch at the scheduler's next tick; returns when it was asked.

        The source is marked due now in the database, whichever process runs
        the scheduler; it runs once even when paused or disabled (an operator
        asked for it) and stays paused. A request made while the source is
        being fetched runs after that fetch. The result shows in the source's
        health: ``refresh_requested_at`` is cleared and ``last_fetch_at``
        moves when it ran.
        """
        source = self.get(source_id)
        problem = self.problem(source)
        if problem:
            raise Conflict(f"source {source_id!r} cannot be refreshed: {problem}")
        self._register(source_id)
        now = self.clock()
        if not self.store.request_refresh(source_id, now):
            raise NotFound(f"no source {source_id!r}")
        log.info("source=%s refresh requested by an operator", source_id)
        return now
