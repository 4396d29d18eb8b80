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
