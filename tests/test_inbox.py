"""A wire inbox end to end: what a refresh withdraws, and what it refuses to (issue 11).

Deleting a file retracts its story; a folder that is missing, unreadable, or
empty with no word that it was emptied on purpose (an unmounted share looks
like that) is a source error, and every story stays.
"""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from feedsvc.catalog import load_catalog
from feedsvc.fetch import Fetcher
from feedsvc.fetch.folder import EMPTIED_MARKER
from feedsvc.model import Catalog
from feedsvc.refresh import fetch_and_store
from feedsvc.store import Store
from test_ingest import FAST, LOOPBACK


@pytest.fixture
def catalog(feeds_dir: Path) -> Catalog:
    return load_catalog(feeds_dir)


def refresh(store: Store, catalog: Catalog, at: datetime) -> tuple[bool, str, int, int]:
    """Refresh europe-wire: (ok, error, withdrawn, stories live)."""
    wire = catalog.sources["europe-wire"]
    result = fetch_and_store(wire, catalog, store, Fetcher(LOOPBACK, FAST).fetch, at)
    live = store.count_articles(source="europe-wire")
    return result.ok, result.error or "", result.withdrawn, live


def empty(folder: Path) -> None:
    for path in folder.iterdir():
        path.unlink()


def remove(folder: Path) -> None:
    shutil.rmtree(folder)


def empty_with_marker(folder: Path) -> None:
    empty(folder)
    (folder / EMPTIED_MARKER).touch()


def delete_one(folder: Path) -> None:
    next(iter(sorted(folder.glob("*.txt")))).unlink()


@pytest.mark.parametrize(
    ("change", "ok", "error", "withdrawn", "live"),
    [
        (remove, False, "folder not found", 0, 3),
        (empty, False, "no wire file, but 3 stories of it are stored: nothing withdrawn", 0, 3),
        (empty_with_marker, True, "", 3, 0),
        (delete_one, True, "", 1, 2),
    ],
    ids=["missing", "empty", "emptied on purpose", "one file deleted"],
)
def test_what_a_changed_inbox_withdraws(
    store: Store,
    catalog: Catalog,
    now: datetime,
    change: object,
    ok: bool,
    error: str,
    withdrawn: int,
    live: int,
) -> None:
    store.sync_sources(catalog.sources.values(), now)
    assert refresh(store, catalog, now) == (True, "", 0, 3)
    folder = catalog.sources["europe-wire"].path
    assert folder is not None and callable(change)
    change(folder)

    got_ok, got_error, got_withdrawn, got_live = refresh(store, catalog, now + timedelta(minutes=5))
    assert (got_ok, got_withdrawn, got_live) == (ok, withdrawn, live)
    assert error in got_error
    if not ok:  # said again on every read while the share is away, and healed by its return
        assert refresh(store, catalog, now + timedelta(minutes=10))[:2] == (False, got_error)
