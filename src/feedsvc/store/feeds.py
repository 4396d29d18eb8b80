"""Published feeds: ready bytes with their validators, so a request is a lookup.

A feed whose bytes did not change keeps its row, ETag and Last-Modified, so
pollers keep getting 304s across publishes and restarts. Any change moves
the shared generation, which tells every web worker to load the feeds again.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, insert, select, text, update

from feedsvc.model import PublishedFeed
from feedsvc.store.engine import Database
from feedsvc.store.rows import from_row, to_row
from feedsvc.store.schema import feeds
from feedsvc.store.state import StateKey, read_state, write_state

PUBLISH_LOCK = 0x66656564  # an arbitrary, fixed advisory-lock key for save_feeds


@dataclass(frozen=True, slots=True)
class SavedFeeds:
    """What ``save_feeds`` did: the paths it changed, and each feed's Last-Modified as stored.

    ``new_bytes`` are the changed paths whose bytes changed (``changed`` also
    counts a new media type or max-age): what a WebSub hub is told about.
    """

    changed: tuple[str, ...]
    last_modified: Mapping[str, datetime]
    new_bytes: tuple[str, ...] = ()


class PublishedFeeds(Database):
    def save_feeds(
        self, rendered: Sequence[PublishedFeed], site: str, keep: set[str] | None
    ) -> SavedFeeds:
        """Store feeds whose bytes changed; keep the others' ETag and Last-Modified.

        ``keep`` (when publishing everything) drops feeds the catalogue no
        longer has. Any change moves the generation, which web workers watch.
        """

        def work(conn: Connection) -> SavedFeeds:
            if conn.dialect.name == "postgresql":  # publishers in several processes take turns
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PUBLISH_LOCK})
            known = {
                row.path: row
                for row in conn.execute(
                    select(
                        feeds.c.path,
                        feeds.c.etag,
                        feeds.c.media_type,
                        feeds.c.max_age,
                        feeds.c.last_modified,
                    )
                )
            }
            changed: list[str] = []
            new_bytes: list[str] = []
            modified: dict[str, datetime] = {}
            for feed in rendered:
                row = known.get(feed.path)
                same_bytes = row is not None and row.etag == feed.etag
                modified[feed.path] = (
                    row.last_modified if row is not None and same_bytes else feed.last_modified
                )
                if row is None:
                    conn.execute(insert(feeds).values(to_row(feed)))
                elif row.etag != feed.etag:
                    conn.execute(
                        update(feeds).where(feeds.c.path == feed.path).values(to_row(feed))
                    )
                elif (row.media_type, row.max_age) != (feed.media_type, feed.max_age):
                    conn.execute(
                        update(feeds)
                        .where(feeds.c.path == feed.path)
                        .values(media_type=feed.media_type, max_age=feed.max_age)
                    )
                else:
                    continue
                changed.append(feed.path)
                if not same_bytes:
                    new_bytes.append(feed.path)
            stale = sorted(set(known) - keep) if keep is not None else []
            if stale:
                conn.execute(delete(feeds).where(feeds.c.path.in_(stale)))
            old_site = read_state(conn, StateKey.SITE)
            if old_site != site:
                write_state(conn, StateKey.SITE, site)
            if changed or stale or old_site != site:
                write_state(conn, StateKey.GENERATION, uuid.uuid4().hex)
            return SavedFeeds(tuple(changed), modified, tuple(new_bytes))

        return self.transact(work)

    def load_feeds(self) -> list[PublishedFeed]:
        with self.engine.connect() as conn:
            return [from_row(PublishedFeed, row) for row in conn.execute(select(feeds))]
