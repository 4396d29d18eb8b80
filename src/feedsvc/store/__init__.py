"""Storage: the tables of ``schema.py`` behind one ``Store``; one code for SQLite and PostgreSQL.

Each part owns what it stores and derives from ``engine.Database``, which
owns the engine and the write policy:

- ``engine``    engine creation, SQLite pragmas, write transactions and retries, migrations;
- ``sources``   the source registry (catalogue and API sources), health, the fetch log;
- ``schedule``  leases, due sources, and what each fetch leaves on its source;
- ``articles``  storing a batch (``batches``), an operator's retract and restore;
- ``listings``  stories as readers see them: feeds' listings, counts, search, one story,
                its copies, tombstones;
- ``archives``  RFC 5005 archive pages: settled at publish time, looked up for serving;
                ``archive_marks`` marks them as stories change, ``archive_rows`` their rows;
- ``retention`` the purge of stories older than their source's ``keep``, and freeing space;
- ``plan``      what a batch does (new, updated, merged, withdrawn, …): pure, no database;
- ``election``  which copy a story shows, where it is listed, its retraction: pure;
- ``copies``, ``stories``  the rows of one source's copy, and of a story and its memberships;
- ``feeds``     published feed bytes and their validators;
- ``wire_files`` what is known of each folder source's files, so unchanged ones are not re-read;
- ``state``     small values shared by processes, under the keys of ``StateKey``;
- ``metrics``   shared Prometheus counters;
- ``notes``     what the last content fetch of each source said about its items;
- ``admin``     admin sessions and failed authentications (throttling);
- ``websub``    the built-in WebSub hub's subscriptions and the requests awaiting verification;
- ``websub_queue`` content distributions and publish pings owed, with their retries;
- ``schema``    the tables; ``rows`` maps their rows to records and back, by field name.

``Store`` is all of them at once, so the rest of feedsvc holds one object.
"""

from __future__ import annotations

from feedsvc.store.admin import AdminAuth, AuthState
from feedsvc.store.archives import Archives, ArchiveState, Slot
from feedsvc.store.articles import ArticleStore, StoryChange
from feedsvc.store.engine import create_db_engine
from feedsvc.store.feeds import PublishedFeeds, SavedFeeds
from feedsvc.store.metrics import Metrics
from feedsvc.store.notes import Notes, SourceNotes
from feedsvc.store.retention import PurgeResult, Retention
from feedsvc.store.schedule import Claim, Schedule, SourceState
from feedsvc.store.sources import (
    FetchRecord,
    SourceHealth,
    SourceRegistry,
    source_config,
    source_from_config,
)
from feedsvc.store.state import SharedState, StateKey
from feedsvc.store.websub import HubSubscriptions
from feedsvc.store.websub_queue import HubQueue
from feedsvc.store.wire_files import WireFiles

__all__ = [
    "ArchiveState",
    "AuthState",
    "Claim",
    "FetchRecord",
    "PurgeResult",
    "SavedFeeds",
    "Slot",
    "SourceHealth",
    "SourceNotes",
    "SourceState",
    "StateKey",
    "Store",
    "StoryChange",
    "create_db_engine",
    "source_config",
    "source_from_config",
]


class Store(
    SourceRegistry,
    Schedule,
    ArticleStore,
    Retention,
    PublishedFeeds,
    SharedState,
    Metrics,
    Notes,
    AdminAuth,
    WireFiles,
    HubSubscriptions,
    HubQueue,
    Archives,
):
    """All reads and writes of feedsvc's data. Thread-safe: one engine, pooled connections."""
