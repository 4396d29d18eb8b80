"""The one catalogue watcher: the scheduler's and the web tier's view of the files."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from feedsvc.catalog_watch import CatalogWatcher
from feedsvc.config import Settings
from feedsvc.errors import ConfigError
from feedsvc.scheduler import Scheduler
from feedsvc.store import Store
from feedsvc.web import create_app

BAD_SOURCE = '\n[broken]\nkind = "feed"\nurl = "https://x.example/f"\ndesk = "nowhere"\n'
NEW_SOURCE = '\n[extra]\nkind = "files"\npath = "inbox/nym"\ndesk = "nym"\nenabled = false\n'


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def append(feeds_dir: Path, text: str) -> None:
    path = feeds_dir / "sources.toml"
    path.write_text(path.read_text() + text)


def test_state_records_loads_and_the_last_rejected_edit(
    feeds_dir: Path, now: datetime, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock(now)
    watcher = CatalogWatcher(feeds_dir, clock=clock)
    first = watcher.poll()
    state = watcher.state
    assert (state.status, state.generation, state.loaded_at, state.sources) == (
        "loaded", 1, now, 3
    )

    good = (feeds_dir / "sources.toml").read_text()
    append(feeds_dir, BAD_SOURCE)
    clock.now = now + timedelta(minutes=1)
    with caplog.at_level(logging.ERROR, logger="feedsvc"):
        assert watcher.poll() is first  # the last good catalogue stays in force
        clock.now = now + timedelta(minutes=2)
        assert watcher.poll() is first
    state = watcher.state
    assert state.status == "rejected" and state.generation == 1 and state.loaded_at == now
    assert state.rejected is not None
    assert state.rejected.at == now + timedelta(minutes=1)  # when the edit was refused
    assert state.rejected.message == "1 problem in the catalogue"
    assert any("[broken] desk: unknown desk 'nowhere'" in p for p in state.rejected.problems)
    assert len([r for r in caplog.records if "not reloaded" in r.getMessage()]) == 1

    (feeds_dir / "sources.toml").write_text(good + NEW_SOURCE)
    clock.now = now + timedelta(minutes=3)
    taken = watcher.poll()
    assert "extra" in taken.sources and taken is not first
    state = watcher.state
    assert (state.status, state.generation, state.loaded_at, state.sources) == (
        "loaded", 2, now + timedelta(minutes=3), 4
    )
    assert state.rejected is None


def test_a_reverted_edit_clears_the_rejection_and_keeps_the_catalogue(feeds_dir: Path) -> None:
    watcher = CatalogWatcher(feeds_dir)
    first = watcher.poll()
    good = (feeds_dir / "sources.toml").read_text()
    append(feeds_dir, BAD_SOURCE)
    watcher.poll()
    assert watcher.state.status == "rejected"
    (feeds_dir / "sources.toml").write_text(good + "\n# only a comment\n")
    assert watcher.poll() is first  # the same catalogue: nothing for readers to redo
    assert watcher.state.status == "loaded" and watcher.state.generation == 1


def test_a_bad_catalogue_at_start_raises_and_is_recorded(feeds_dir: Path) -> None:
    append(feeds_dir, BAD_SOURCE)
    watcher = CatalogWatcher(feeds_dir)
    with pytest.raises(ConfigError, match="1 problem"):
        watcher()
    state = watcher.state
    assert state.status == "unreadable" and state.rejected is not None
    assert state.loaded_at is None


def test_readers_look_at_the_files_at_most_once_per_check_every(feeds_dir: Path) -> None:
    watcher = CatalogWatcher(feeds_dir, check_every=3600)
    first = watcher()
    append(feeds_dir, NEW_SOURCE)
    assert watcher() is first  # not looked again yet
    assert "extra" in watcher.poll().sources  # the scheduler looks every tick
    assert "extra" in watcher().sources


def test_the_scheduler_takes_an_edit_the_web_tier_saw_first(
    settings: Settings, store: Store, now: datetime
) -> None:
    """One watcher in one process: whoever notices the change, both get it."""
    watcher = CatalogWatcher(settings.feeds_dir)
    scheduler = Scheduler(settings, store, watcher=watcher, clock=lambda: now)
    app = create_app({"SETTINGS": settings, "STORE": store, "CATALOG_WATCHER": watcher})
    try:
        scheduler.start_up()
        assert app.extensions["feedsvc.catalog"] is watcher
        append(settings.feeds_dir, NEW_SOURCE)
        assert "extra" in watcher.poll().sources  # e.g. an admin page looked first
        scheduler.run_once()
        assert "extra" in scheduler.catalog.sources
        assert store.source_health("extra") is not None  # registered by the scheduler
    finally:
        scheduler.shutdown()
