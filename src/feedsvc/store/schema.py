"""The database tables, as SQLAlchemy Core metadata.

One definition serves SQLite and PostgreSQL. The Alembic migrations under
``feedsvc/migrations/`` create these tables; ``tests/test_store.py`` checks that the
migrated database and this metadata agree, so they cannot drift apart.
Times are stored as naive UTC and handed back as aware UTC (``UTCDateTime``),
because SQLite has no zone-aware type and the two back-ends must behave alike.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC in Python, naive UTC in the database; naive input is refused."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; pass aware UTC times")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# One row per source, from the catalogue or the admin API; also its schedule
# state, so several scheduler processes share the work through the database.
sources = Table(
    "sources",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("origin", String(10), nullable=False),
    Column("config", Text, nullable=False),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("paused", Boolean, nullable=False, default=False),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("content_digest", String(64)),
    Column("next_fetch_at", UTCDateTime),
    Column("lease_owner", String(100)),
    Column("lease_until", UTCDateTime),
    Column("error_count", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("last_status", Integer),
    Column("last_fetch_at", UTCDateTime),
    Column("last_success_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    # an operator's "refresh now", not yet run: due at once, paused or not (0006)
    Column("refresh_requested_at", UTCDateTime),
)

# A story: the copies of one item that several sources (or one) carry, shown as one
# entry. ``id`` is the id of the copy that created it and ``entry_id`` its feed entry
# id, both fixed then. ``identity_url`` is the canonical article URL copies of other
# sources join it by (unique; null when it has none). ``shown`` is the elected copy;
# ``published``, ``updated`` and ``topics`` (a JSON list, the union of the present
# copies' topics) are what the feeds show. A retracted story keeps its row (410 and
# tombstones need it) until the purge deletes it.
stories = Table(
    "stories",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("identity_url", Text),
    Column("entry_id", Text, nullable=False),
    Column("shown", String(64), nullable=False),
    Column("published", UTCDateTime, nullable=False),
    Column("updated", UTCDateTime, nullable=False),
    Column("topics", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("retracted_at", UTCDateTime),
    Column("retracted_reason", Text),
    Column("retracted_by", String(10)),
    UniqueConstraint("identity_url"),
    Index(None, "published", "id"),
    Index(None, "retracted_at"),
)

# One source's version of one item, key (source, guid), id ``article_id(source, guid)``:
# everything the source gave, so an election or a withdrawal can show another copy.
# ``topics``, ``enclosures`` and ``origin`` are JSON. ``withdrawn_at`` is set while the
# copy is gone (its wire file deleted, its source removed); it comes back if it reappears.
copies = Table(
    "copies",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("source", String(100), nullable=False),
    Column("guid", Text, nullable=False),
    Column(
        "story_id", String(64), ForeignKey("stories.id", ondelete="CASCADE"), nullable=False
    ),
    Column("url", Text),
    Column("identity_url", Text),
    Column("title", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("content_html", Text, nullable=False),
    Column("author", Text),
    Column("desk", String(100), nullable=False),
    Column("topics", Text, nullable=False),
    Column("language", String(35)),
    Column("published", UTCDateTime, nullable=False),
    Column("updated", UTCDateTime, nullable=False),
    Column("dated", Boolean, nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("enclosures", Text, nullable=False),
    Column("image", Text),
    Column("correction", Text),
    Column("origin", Text),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("withdrawn_at", UTCDateTime),
    UniqueConstraint("source", "guid"),
    Index(None, "story_id"),
    Index(None, "published"),  # search looks for matches in windows of time (0010)
)

# Which listings a story is in: ``all``, ``desks/<id>`` (the desk of every present copy)
# and ``topics/<id>`` (every topic of one), each row with the listing's sort key
# (published, story_id), so a feed's newest N, or the page after a key, is a walk down
# one index, never a sort. ``live`` is false while the story is retracted: the rows stay,
# to say which Atom feeds carry its tombstone.
memberships = Table(
    "memberships",
    metadata,
    Column("listing", String(110), primary_key=True),
    Column(
        "story_id",
        String(64),
        ForeignKey("stories.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("published", UTCDateTime, nullable=False),
    Column("live", Boolean, nullable=False),
    Index(None, "listing", "live", "published", "story_id"),
    Index(None, "story_id"),
)

# What the refresh knows of each wire file of a folder source: its size and
# mtime when it was last read and stored, under which rules (``rules_digest``),
# so an unchanged file is not opened again, across restarts and by whichever
# scheduler process holds the source's lease. ``name`` is the file name's bytes
# (a name need not be UTF-8). Written after the batch commits: a crash in
# between costs a re-read, never a file. It goes with its source.
wire_files = Table(
    "wire_files",
    metadata,
    Column(
        "source", String(100), ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("name", LargeBinary, primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("mtime_ns", BigInteger, nullable=False),
    Column("rules", String(64), nullable=False),
)

# A short history of fetches per source, for operators.
fetches = Table(
    "fetches",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(100), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("outcome", String(20), nullable=False),
    Column("status", Integer),
    Column("new", Integer, nullable=False, default=0),
    Column("updated", Integer, nullable=False, default=0),
    Column("duration_ms", Integer, nullable=False, default=0),
    Column("error", Text),
    Index(None, "source", "at"),
)

# Published feeds as ready bytes with their validators: a request is a lookup.
feeds = Table(
    "feeds",
    metadata,
    Column("path", String(200), primary_key=True),
    Column("body", LargeBinary, nullable=False),
    Column("etag", String(80), nullable=False),
    Column("media_type", String(80), nullable=False),
    Column("last_modified", UTCDateTime, nullable=False),
    Column("max_age", Integer, nullable=False),
)

# Small named values shared by processes (the publish generation, scheduler heartbeat).
state = Table(
    "state",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("value", Text, nullable=False),
)

# Prometheus counters and histogram buckets shared by every process (web
# workers, schedulers, the command line): each adds to its rows with an upsert,
# and ``/metrics`` reads the sums, so a scrape of any one gunicorn worker sees
# what all of them did. ``labels`` is the rendered label set, e.g.
# ``outcome="ok",source="nym-wire"``; histograms keep one row per bucket.
metrics = Table(
    "metrics",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("labels", String(500), primary_key=True),
    Column("value", Float, nullable=False, default=0.0),
)

# What the last fetch that read a source's content had to say about its items:
# items skipped (and why) and items merged into another source's story. Replaced
# by each such fetch, so a source's admin page and API health show them (0006).
source_notes = Table(
    "source_notes",
    metadata,
    Column("source", String(100), primary_key=True),
    Column("position", Integer, primary_key=True, autoincrement=False),
    Column("kind", String(10), nullable=False),
    Column("line", Text, nullable=False),
    Column("at", UTCDateTime, nullable=False),
)

# Admin sessions on the server: the cookie names a row, so logging out (deleting
# the row) or changing the token (``token_id`` no longer matches) ends every copy
# of the cookie. ``id`` is a hash of the cookie's secret, never the secret (0006).
admin_sessions = Table(
    "admin_sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("csrf", String(64), nullable=False),
    Column("token_id", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False, index=True),
)

# Failed admin authentications per client address, shared by every worker
# process, so a guesser meets one limit however requests are spread (0006).
auth_failures = Table(
    "auth_failures",
    metadata,
    Column("client", String(64), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("last_at", UTCDateTime, nullable=False, index=True),
    Column("blocked_until", UTCDateTime),
)

# -- WebSub (the built-in hub at /websub, and pings to an external hub) ------------
# Keys over two URLs (topic, callback) are a SHA-256 of both: two 2 KiB URLs
# would pass PostgreSQL's B-tree entry limit.

# Verified subscriptions, each with its lease; the built-in hub fans out to these.
websub_subscriptions = Table(
    "websub_subscriptions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("topic", Text, nullable=False),
    Column("callback", Text, nullable=False),
    Column("feed_path", String(200), nullable=False),
    Column("callback_host", String(255), nullable=False),
    Column("secret", Text),
    Column("lease_seconds", Integer, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("verified_at", UTCDateTime, nullable=False),
    Index(None, "feed_path"),
    Index(None, "callback_host"),
    Index(None, "expires_at"),
)

# Subscription requests waiting for their verification of intent (or denial), in order.
websub_intents = Table(
    "websub_intents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subscription_id", String(64), nullable=False),
    Column("mode", String(12), nullable=False),
    Column("topic", Text, nullable=False),
    Column("feed_path", String(200)),
    Column("self_url", Text),
    Column("callback", Text, nullable=False),
    Column("callback_host", String(255), nullable=False),
    Column("secret", Text),
    Column("lease_seconds", Integer),
    Column("reason", Text),
    Column("requested_at", UTCDateTime, nullable=False),
    Column("lease_owner", String(100)),
    Column("lease_until", UTCDateTime),
    Index(None, "subscription_id"),
    Index(None, "callback_host"),
)

# One pending content distribution per subscription: a newer publish bumps
# ``version`` and makes it due again, so a retry always carries the newest bytes.
websub_deliveries = Table(
    "websub_deliveries",
    metadata,
    Column(
        "subscription_id",
        String(64),
        ForeignKey("websub_subscriptions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("version", Integer, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("due_at", UTCDateTime, nullable=False),
    Column("lease_owner", String(100)),
    Column("lease_until", UTCDateTime),
    Column("last_error", Text),
    Index(None, "due_at"),
)

# Publish pings owed to an external hub (FEEDSVC_WEBSUB_HUB), one per changed feed.
websub_pings = Table(
    "websub_pings",
    metadata,
    Column("path", String(200), primary_key=True),
    Column("url", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("due_at", UTCDateTime, nullable=False),
    Column("lease_owner", String(100)),
    Column("lease_until", UTCDateTime),
    Column("last_error", Text),
    Index(None, "due_at"),
)

# -- RFC 5005 archives (feedsvc/archive.py) -----------------------------------------
# A listing's older stories are cut into pages sealed by key range: page rows hold
# only their upper key ``hi`` (published, story id); a page holds the listing's live
# stories above the previous page's ``hi`` up to its own. ``number`` names the page
# in its URL and is never given to another range. ``version`` moves whenever what the
# page shows changes (a story in it changed, its neighbours changed), so a rendered
# page is cached by (path, version) and its bytes stay put otherwise (0009).
archive_pages = Table(
    "archive_pages",
    metadata,
    Column("listing", String(110), primary_key=True),
    Column("number", Integer, primary_key=True, autoincrement=False),
    Column("hi_published", UTCDateTime, nullable=False),
    Column("hi_id", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("changed_at", UTCDateTime, nullable=False),
    UniqueConstraint("listing", "hi_published", "hi_id"),
)

# Per listing: the number the open page (stories older than the current feed, not
# yet a full page) will be sealed under, the next free number, and the current
# feed's oldest key as last published (the open page's exclusive upper bound; null
# while there is no open page). ``open_version`` moves when a story in the open page
# changes (0009).
archive_heads = Table(
    "archive_heads",
    metadata,
    Column("listing", String(110), primary_key=True),
    Column("open_number", Integer, nullable=False),
    Column("next_number", Integer, nullable=False),
    Column("boundary_published", UTCDateTime),
    Column("boundary_id", String(64)),
    Column("open_version", Integer, nullable=False),
    Column("open_changed_at", UTCDateTime, nullable=False),
)

# Archive documents whose content changed since their listing was last published:
# publishing splits or drops such pages when they grew too big or emptied, and the
# static export writes them again. ``version`` is the version that change made, so a
# later change is never cleared by an earlier export (0009).
archive_changes = Table(
    "archive_changes",
    metadata,
    Column("listing", String(110), primary_key=True),
    Column("number", Integer, primary_key=True, autoincrement=False),
    Column("version", Integer, nullable=False),
)
