"""Publishing: after a change, render the feeds it touched and keep them as ready bytes.

Feeds are rendered here, when their content changes, never per request: the
bytes, a strong ETag (a hash of the bytes) and Last-Modified go to the
database, where every web worker reads them. A feed whose bytes did not change
keeps its row, ETag and Last-Modified untouched, so pollers keep getting 304s
across publishes and restarts. With ``FEEDSVC_PUBLISH_DIR`` the same bytes are
also written as static files with ``.gz`` siblings, atomically, and only when
they changed, ready for nginx (``deploy/nginx/``) or a CDN.

When no public base URL is configured, feeds are stored with a placeholder
base that the web tier replaces with the request's own origin.

Each feed's older stories are its RFC 5005 archive (``feedsvc.archive``):
before a feed is rendered its archive pages are settled, and the feed links
its newest archive document or says it is complete; archive pages are not
stored as bytes but rendered on request, and exported when sealed or changed.

Every feed advertises its WebSub hub, and the hub is told about exactly the
feeds whose bytes changed: the built-in hub by queueing a delivery for each
subscriber in the database, an external one (``FEEDSVC_WEBSUB_HUB``) by
queueing a ping. The scheduler makes those calls, never the publishing path.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from feedsvc.archive import DEFAULT_PAGE_SIZE, ROOT, SEALED_MAX_AGE, History, page_path
from feedsvc.archive_docs import spec_record
from feedsvc.archive_export import ArchiveExport, open_url_path
from feedsvc.config import Settings
from feedsvc.model import Catalog, PublishedFeed, Source, Touched
from feedsvc.opml import opml_document
from feedsvc.publish_pages import PAGE_MAX_AGE, PAGE_MEDIA_TYPE, PAGE_PREFIX, render_pages
from feedsvc.render import FORMATS, MEDIA_TYPES, FeedSpec, feed_url, render
from feedsvc.store import ArchiveState, Store
from feedsvc.telemetry import PUBLISH_DURATION, WEBSUB_PINGS, count, observe
from feedsvc.text import os_reason
from feedsvc.tombstone import KEEP_DAYS
from feedsvc.websub.links import HubSetup, is_topic_path

log = logging.getLogger(__name__)

PLACEHOLDER_BASE = "http://feedsvc.invalid/"
STATIC_FALLBACK_BASE = "http://127.0.0.1:8000/"
OPML_PATH = "feeds.opml"
OPML_DEFAULT = "atom"
OPML_PATHS = {fmt: OPML_PATH if fmt == OPML_DEFAULT else f"feeds.{fmt}.opml" for fmt in FORMATS}
"""One published OPML document per format: ``/feeds.opml`` (Atom, the default) and
``/feeds.opml?format=rss|json``, served from ``feeds.rss.opml`` and ``feeds.json.opml``."""
OPML_TYPES = {"rss": "rss", "atom": "rss", "json": "json"}
"""An outline's ``type``: OPML 2.0 subscription lists say ``rss`` for a feed, and readers
take RSS and Atom alike under it; JSON Feed is no RSS, so it says ``json`` and a reader
that cannot read it is not told it could."""
OPML_MEDIA_TYPE = "text/x-opml; charset=utf-8"
ALL = "all"
OPML_TTL = timedelta(hours=1)
MAX_AGE_MAP = "max-age.map"  # beside the export; nginx includes it (deploy/nginx/)
MIN_MAX_AGE = timedelta(seconds=10)
MAX_MAX_AGE = timedelta(hours=1)
DEFAULT_EVERY = timedelta(minutes=15)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class PublishResult:
    changed: tuple[str, ...]
    unchanged: int
    export_error: str | None = None
    """Why the static export (``FEEDSVC_PUBLISH_DIR``) failed, if it did: the feeds are
    stored and served, their files are not written; publish them again to retry."""
    notified: tuple[str, ...] = ()
    """The feeds whose bytes changed, which the WebSub hub was told about."""


def etag_for(body: bytes) -> str:
    """A strong validator: equal bytes, equal ETag, in every process and after restarts."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def desk_key(desk: str) -> str:
    return f"desks/{desk}"


def topic_key(topic: str) -> str:
    return f"topics/{topic}"


def feed_keys(touched: Touched) -> list[str]:
    """The feeds that list what changed: its desks, its topics, and the combined one."""
    if not touched:
        return []
    desks = [desk_key(desk) for desk in sorted(touched.desks)]
    return [ALL, *desks, *(topic_key(topic) for topic in sorted(touched.topics))]


def feed_specs(catalog: Catalog, hub: str | None = None) -> dict[str, FeedSpec]:
    """Every feed the catalogue implies, by key: ``all``, ``desks/<id>``, ``topics/<id>``.

    ``hub`` is the WebSub hub every feed advertises (``HubSetup.reference``).
    """
    fastest = _fastest(catalog.sources.values())
    specs = {
        ALL: FeedSpec(
            path="feeds/all",
            title="All articles",
            description="Every article from every desk",
            home_path="",
            ttl=fastest,
            language=_shared_language(catalog),
            hub=hub,
        )
    }
    for desk in catalog.desks.values():
        own = [s for s in catalog.sources.values() if s.desk == desk.id]
        specs[desk_key(desk.id)] = FeedSpec(
            path=f"feeds/{desk_key(desk.id)}",
            title=desk.title,
            description=desk.description or f"Articles from the {desk.title}",
            home_path=desk_key(desk.id),
            ttl=_fastest(own) if own else fastest,
            language=desk.language,
            hub=hub,
        )
    for topic in catalog.topics.values():
        specs[topic_key(topic.id)] = FeedSpec(
            path=f"feeds/{topic_key(topic.id)}",
            title=topic.title,
            description=topic.description or f"Articles about {topic.title}",
            home_path=topic_key(topic.id),
            ttl=fastest,
            language=topic.language,
            hub=hub,
        )
    return specs


def on_base(body: bytes, base: str) -> bytes:
    """Stored bytes with their links on ``base``: the placeholder replaced, as served."""
    placeholder = PLACEHOLDER_BASE.encode()
    return body.replace(placeholder, base.encode()) if placeholder in body else body


def _shared_language(catalog: Catalog) -> str | None:
    """The combined feed's language: the desks' one, when they all state the same."""
    languages = {desk.language for desk in catalog.desks.values()}
    return languages.pop() if len(languages) == 1 else None


def _fastest(sources: Iterable[Source]) -> timedelta:
    intervals = [s.every for s in sources if s.enabled]
    return min(intervals) if intervals else DEFAULT_EVERY


def max_age_seconds(ttl: timedelta) -> int:
    """``Cache-Control: max-age``: the refresh interval, kept within sane bounds."""
    return int(min(max(ttl, MIN_MAX_AGE), MAX_MAX_AGE).total_seconds())


def render_opml(specs: Mapping[str, FeedSpec], base_url: str, fmt: str = OPML_DEFAULT) -> bytes:
    """OPML 2.0 listing every feed once, in one format, its desk or topic as category.

    A reader importing it subscribes to each feed once: the combined feed,
    every desk and every topic. The markup is ``opml.opml_document``'s, as for
    ``feedsvc opml export``.
    """
    outlines = [
        {
            "type": OPML_TYPES[fmt],
            "text": spec.title,
            "title": spec.title,
            "xmlUrl": feed_url(spec, base_url, fmt),
            "htmlUrl": base_url + spec.home_path,
            "category": "/" + key,
        }
        for key, spec in specs.items()
    ]
    title = f"feedsvc feeds ({FORMAT_TITLES[fmt]})"
    return opml_document(title, {"ownerId": base_url}, outlines)


FORMAT_TITLES = {"rss": "RSS", "atom": "Atom", "json": "JSON Feed"}


def site_snapshot(catalog: Catalog) -> str:
    """What the web tier needs of the catalogue, shared through the database.

    Web workers never read ``feeds/`` themselves: the process that publishes
    owns the catalogue, so every process shows the same desks and topics.
    """
    return json.dumps(
        {
            "desks": [
                {"id": d.id, "title": d.title, "description": d.description}
                for d in catalog.desks.values()
            ],
            "topics": [
                {"id": t.id, "title": t.title, "description": t.description}
                for t in catalog.topics.values()
            ],
            # story pages name a third-party story's source
            "sources": [
                {"id": s.id, "title": s.title, "kind": s.kind} for s in catalog.sources.values()
            ],
            # archive documents are rendered by the web tier, with the feed's description
            "feeds": {key: spec_record(spec) for key, spec in feed_specs(catalog).items()},
        },
        sort_keys=True,
        ensure_ascii=False,
    )


class Publisher:
    """Renders feeds after a change; knows the catalogue, the store and where to write."""

    def __init__(
        self,
        store: Store,
        catalog: Catalog,
        *,
        base_url: str | None,
        feed_size: int,
        publish_dir: Path | None = None,
        hub: HubSetup | None = None,
        archive_size: int = DEFAULT_PAGE_SIZE,
    ) -> None:
        """``archive_size``: stories per sealed archive page (``FEEDSVC_ARCHIVE_SIZE``)."""
        self.store = store
        self.catalog = catalog
        self.base_url = base_url
        self.feed_size = feed_size
        self.archive_size = archive_size
        self.publish_dir = publish_dir
        self.hub = hub or HubSetup()
        self.specs = feed_specs(catalog, self.hub.reference)
        self.source_titles = {s.id: s.title or s.id for s in catalog.sources.values()}

    def publish(self, touched: Touched | None, now: datetime) -> PublishResult:
        """Render the feeds that list ``touched`` (every feed when None); store changed bytes."""
        started = time.monotonic()
        everything = touched is None
        keys = list(self.specs) if touched is None else feed_keys(touched)
        wanted = [key for key in keys if key in self.specs]
        base = self.base_url or PLACEHOLDER_BASE
        rendered: list[PublishedFeed] = []
        archives: dict[str, ArchiveState] = {}
        for key in wanted:
            feeds, archives[key] = self._render_key(key, base, now)
            rendered.extend(feeds)
        if everything:
            rendered.extend(
                self._feed(path, render_opml(self.specs, base, fmt), OPML_MEDIA_TYPE, OPML_TTL, now)
                for fmt, path in OPML_PATHS.items()
            )
        site = site_snapshot(self.catalog)
        pages = self._pages(json.loads(site), wanted, now) if wanted else []
        keep = {feed.path for feed in [*rendered, *pages]} if everything else None
        saved = self.store.save_feeds([*rendered, *pages], site, keep)
        export_error = None
        if self.publish_dir is not None:
            try:
                self._export(self.publish_dir, rendered, saved.last_modified)
            except OSError as exc:  # full, read-only, gone: the stored feeds still serve
                export_error = f"static export to {self.publish_dir} failed: {os_reason(exc)}"
                log.error("%s; it is tried again at the next publish", export_error)
        archive_export = ArchiveExport(
            self.store,
            self.publish_dir,
            self.base_url or STATIC_FALLBACK_BASE,
            self.source_titles,
            export_file,
        )
        for key, state in archives.items():
            error = archive_export.export(self.specs[key], key, state)
            if error is not None and export_error is None:
                export_error = f"static export to {self.publish_dir} failed: {error}"
                log.error("%s; it is tried again at the next publish", export_error)
        notified = self._tell_hub(saved.new_bytes, now)
        self.store.add_metrics(observe(PUBLISH_DURATION, time.monotonic() - started))
        changed = tuple(path for path in saved.changed if not path.startswith(PAGE_PREFIX))
        return PublishResult(
            changed=changed,
            unchanged=len(rendered) - len(changed),
            export_error=export_error,
            notified=notified,
        )

    def _pages(
        self, site: dict[str, object], keys: list[str], now: datetime
    ) -> list[PublishedFeed]:
        """The index and the touched listings' first pages, stored with the feeds
        (``publish_pages``); not exported: the static export is for feeds."""
        ttl = timedelta(seconds=PAGE_MAX_AGE)
        return [
            self._feed(path, body, PAGE_MEDIA_TYPE, ttl, now)
            for path, body in render_pages(self.store, site, keys)
        ]

    def _tell_hub(self, paths: Sequence[str], now: datetime) -> tuple[str, ...]:
        """Queue what the hub owes for feeds whose bytes changed; the calls are the scheduler's.

        The built-in hub gets a delivery per running subscription (its "ping"
        is this write); an external hub gets one ``hub.mode=publish`` ping per
        feed, naming the feed on ``HubSetup.feed_base``.
        """
        topics = tuple(path for path in paths if is_topic_path(path))
        if not topics:
            return ()
        if self.hub.external is None:
            self.store.queue_deliveries(topics, now)
            self.store.add_metrics(count(WEBSUB_PINGS, len(topics), hub="builtin", outcome="ok"))
        else:
            self.store.queue_pings({path: self.hub.feed_base + path for path in topics}, now)
        return topics

    def _render_key(
        self, key: str, base: str, now: datetime
    ) -> tuple[list[PublishedFeed], ArchiveState]:
        """A feed's three formats, and its archive as they link to it.

        The archive pages are settled first (sealed, unsealed, split or dropped),
        so the current document (the newest ``feed_size`` live stories above the
        newest page) and the archive partition the listing; the document links
        its newest archive (RFC 5005) or says it is complete. Atom also says
        which of its entries were retracted in the last ``KEEP_DAYS`` (RFC
        6721), so readers drop what they already took.
        """
        spec = self.specs[key]
        archive = self.store.settle_archive(key, self.feed_size, self.archive_size, now)
        kind, _, ident = key.partition("/")
        desk = ident if kind == "desks" else None
        topic = ident if kind == "topics" else None
        newest = archive.newest.hi if archive.newest is not None else None
        articles = self.store.list_range(key, newest, limit=self.feed_size)
        if tuple((a.published, a.id) for a in articles) != archive.shown:
            # a story changed since settling: the open page ends where this document begins
            boundary = None
            if len(articles) == self.feed_size:
                oldest = (articles[-1].published, articles[-1].id)
                if self.store.list_range(key, newest, oldest, inclusive=False, limit=1):
                    boundary = oldest
            if boundary != archive.head.boundary:
                opened = self.store.open_archive(key, boundary, now)
                archive = replace(opened, previous=archive.previous)
        tombstones = self.store.tombstones(now - timedelta(days=KEEP_DAYS), desk, topic)
        history = current_history(archive)
        feeds = [
            self._feed(
                f"{spec.path}.{fmt}",
                render(spec, articles, base, fmt, self.source_titles, tombstones, history),
                MEDIA_TYPES[fmt],
                spec.ttl,
                now,
            )
            for fmt in FORMATS
        ]
        return feeds, archive

    @staticmethod
    def _feed(
        path: str, body: bytes, media_type: str, ttl: timedelta, now: datetime
    ) -> PublishedFeed:
        return PublishedFeed(
            path=path,
            body=body,
            etag=etag_for(body),
            media_type=media_type,
            last_modified=now,
            max_age=max_age_seconds(ttl),
        )

    def _export(
        self, folder: Path, feeds: Sequence[PublishedFeed], last_modified: Mapping[str, datetime]
    ) -> None:
        """Write static copies; an unchanged file is left alone so its mtime stays."""
        base = self.base_url or STATIC_FALLBACK_BASE
        for feed in feeds:
            body = feed.body.replace(PLACEHOLDER_BASE.encode(), base.encode())
            export_file(folder / feed.path, body, last_modified.get(feed.path))
        write_if_changed(folder / MAX_AGE_MAP, render_max_age_map(self.specs), None)


def current_history(archive: ArchiveState) -> History:
    """The current document's place in its archive chain: the open page when it holds
    stories, else the newest sealed page, else nothing older (``fh:complete``)."""
    opened = open_url_path(archive.head)
    if opened is not None:
        return History(prev=opened)
    if archive.newest is not None:
        return History(prev=page_path(archive.head.listing, archive.newest.number))
    return History(complete=True)


def render_max_age_map(specs: Mapping[str, FeedSpec]) -> bytes:
    """Each exported file's ``Cache-Control: max-age``, as the app sends it, for nginx.

    Entries of an nginx ``map $uri`` block (``deploy/nginx/feedsvc.conf``
    includes the file), so the static server sends what the app would.
    """
    lines = ["# written by feedsvc: max-age of each exported file, for an nginx map $uri block"]
    for key, spec in specs.items():
        age = max_age_seconds(spec.ttl)
        lines += [f"/{spec.path}.{fmt} {age};" for fmt in FORMATS]
        # archive pages: a sealed one keeps long, the open one (named by a token) as its feed
        lines.append(f'"~^/{ROOT}{key}/[0-9]+-[0-9a-f]{{16}}\\.(rss|atom|json)$" {age};')
    lines.append(f'"~^/{ROOT}.+/[0-9]+\\.(rss|atom|json)$" {SEALED_MAX_AGE};')
    lines += [f"/{path} {max_age_seconds(OPML_TTL)};" for path in OPML_PATHS.values()]
    return ("\n".join(lines) + "\n").encode()


def write_if_changed(target: Path, body: bytes, modified: datetime | None) -> bool:
    """Atomic replace (temp file + rename) unless the file already holds these bytes."""
    stamp = None
    if modified is not None:  # exact nanoseconds: a float timestamp would round them
        aware = modified if modified.tzinfo else modified.replace(tzinfo=UTC)
        stamp = (aware - EPOCH) // timedelta(microseconds=1) * 1000
    return _write_if_changed(target, body, stamp)


def export_file(target: Path, body: bytes, modified: datetime | None) -> bool:
    """A static file and its ``.gz`` sibling, for nginx's ``gzip_static`` or a CDN.

    Each is written atomically and only when its bytes change (the gzip is
    deterministic), and the ``.gz`` carries its source's mtime, so both
    representations have one Last-Modified. A missing ``.gz`` (an export made
    before they existed) is written even when the source is unchanged.
    """
    changed = write_if_changed(target, body, modified)
    zipped = gzip.compress(body, compresslevel=9, mtime=0)
    _write_if_changed(target.with_name(target.name + ".gz"), zipped, target.stat().st_mtime_ns)
    return changed


def _write_if_changed(target: Path, body: bytes, mtime_ns: int | None) -> bool:
    try:
        if target.read_bytes() == body:
            return False
    except FileNotFoundError:
        pass
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(body)
        os.chmod(temp, 0o644)
        if mtime_ns is not None:
            os.utime(temp, ns=(mtime_ns, mtime_ns))
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return True


def publisher_for(store: Store, catalog: Catalog, settings: Settings) -> Publisher:
    """The Publisher the settings describe. The command line, the scheduler, the admin
    side and the lifecycle all build theirs here, so a publishing setting is wired once."""
    return Publisher(
        store,
        catalog,
        base_url=settings.base_url,
        feed_size=settings.feed_size,
        publish_dir=settings.publish_dir,
        hub=HubSetup.from_settings(settings),
        archive_size=settings.archive_size,
    )
