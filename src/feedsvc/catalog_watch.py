"""The catalogue in force for a long-running process, re-read when its files change.

One watcher serves the scheduler and the web tier (``feedsvc serve`` hands
both the same object). An edit that does not load never replaces the
catalogue in force: the last good one keeps serving, and the refusal is
remembered with its problems and time as the watcher's ``state``, so it can be
shown where operators look rather than only logged.

Changes are noticed by the files' modification time, size and inode (an
editor that saves by renaming changes the inode); looking costs three
``stat`` calls, so the scheduler looks every tick, and web requests at most
once per ``check_every`` seconds.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from feedsvc.catalog import FILES, load_catalog
from feedsvc.errors import ConfigError
from feedsvc.model import Catalog

log = logging.getLogger(__name__)

Stamp = tuple[int, int, int] | None


def _wall_clock() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@dataclass(frozen=True, slots=True)
class RejectedEdit:
    """An edit of the catalogue files that did not load, and why."""

    at: datetime
    message: str
    problems: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CatalogState:
    """What the watcher knows of the catalogue, for readiness, metrics and admin pages.

    ``generation`` counts the different catalogues taken (0: none loaded yet),
    so a reader can tell "changed since I last looked" without comparing
    catalogues. ``rejected`` is the latest refused edit, cleared as soon as the
    files load again; with a catalogue in force the service keeps serving it.
    """

    generation: int = 0
    loaded_at: datetime | None = None
    sources: int = 0
    rejected: RejectedEdit | None = None

    @property
    def status(self) -> str:
        """``loaded``, ``rejected`` (the last good catalogue serves) or ``unreadable``."""
        if self.generation == 0:
            return "unreadable"
        return "rejected" if self.rejected else "loaded"


class CatalogWatcher:
    """The current catalogue: ``watcher()`` for readers, ``watcher.poll()`` for the scheduler.

    The first load raises ConfigError when the files are bad (there is no
    last good catalogue to fall back on); later bad edits are logged once per
    change of the files and recorded in ``state``. Thread-safe; one per process.
    """

    def __init__(
        self,
        root: Path,
        check_every: float = 1.0,
        clock: Callable[[], datetime] = _wall_clock,
    ) -> None:
        self.root = Path(root)
        self.check_every = check_every
        self.clock = clock
        self._lock = threading.Lock()
        self._checked = float("-inf")
        self._stamps: tuple[Stamp, ...] | None = None
        self._catalog: Catalog | None = None
        self._state = CatalogState()

    def __call__(self) -> Catalog:
        """The catalogue in force, looking at the files at most once per ``check_every``."""
        with self._lock:
            if self._catalog is not None and time.monotonic() - self._checked < self.check_every:
                return self._catalog
            return self._check()

    def poll(self) -> Catalog:
        """Look at the files now, whenever they were last looked at."""
        with self._lock:
            return self._check()

    @property
    def state(self) -> CatalogState:
        with self._lock:
            return self._state

    def _check(self) -> Catalog:
        self._checked = time.monotonic()
        stamps = self._read_stamps()
        if self._catalog is not None and stamps == self._stamps:
            return self._catalog
        changed, self._stamps = stamps != self._stamps, stamps
        try:
            catalog = load_catalog(self.root)
        except ConfigError as exc:
            if changed or self._state.rejected is None:  # the same bad files: same refusal
                self._refused(exc)
            if self._catalog is None:
                raise
            return self._catalog
        return self._take(catalog)

    def _take(self, catalog: Catalog) -> Catalog:
        """Keep the catalogue object in force when the files load to an equal one."""
        state = self._state
        if self._catalog is None or catalog != self._catalog:
            if self._catalog is not None:
                log.info("catalogue reloaded: %d sources", len(catalog.sources))
            self._catalog = catalog
            state = CatalogState(state.generation + 1, self.clock(), len(catalog.sources))
        elif state.rejected is not None:
            log.info("catalogue files load again; the catalogue in force is unchanged")
        self._state = CatalogState(state.generation, state.loaded_at, state.sources, None)
        return self._catalog

    def _refused(self, exc: ConfigError) -> None:
        rejected = RejectedEdit(self.clock(), str(exc), exc.problems)
        state = self._state
        self._state = CatalogState(state.generation, state.loaded_at, state.sources, rejected)
        if self._catalog is not None:
            log.error(
                "catalogue not reloaded, keeping the last good one: %s: %s",
                exc,
                "; ".join(exc.problems),
            )

    def _read_stamps(self) -> tuple[Stamp, ...]:
        stamps: list[Stamp] = []
        for name in FILES:
            try:
                info = os.stat(self.root / name)
            except OSError:
                stamps.append(None)
            else:
                stamps.append((info.st_mtime_ns, info.st_size, info.st_ino))
        return tuple(stamps)
