"""The static export of archive documents (``FEEDSVC_PUBLISH_DIR``).

A page is written when it is sealed or its version changes, never all pages at
every publish: the store marks what changed (``archive_changes``) and each
publish writes those and forgets them, only once written, so a failed export is
tried again at the next publish. The open page is written under its current
URL and its previous URL's files are removed. A listing whose newest page
has no file (a new export folder, an archive older than the export) gets every
page once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path

from feedsvc.archive import open_path, page_path, token_of
from feedsvc.archive_docs import located, render_documents
from feedsvc.render import FORMATS, FeedSpec
from feedsvc.store import ArchiveState, Store
from feedsvc.store.archive_rows import Head
from feedsvc.text import os_reason

Write = Callable[[Path, bytes, datetime | None], bool]


def open_url_path(head: Head | None) -> str | None:
    """The open page's path (without format) under ``head``; None while there is none."""
    if head is None or head.boundary is None:
        return None
    return open_path(head.listing, head.open_number, token_of(head.boundary))


class ArchiveExport:
    """Writes a listing's changed archive documents; with no folder it only forgets them."""

    def __init__(
        self,
        store: Store,
        folder: Path | None,
        base: str,
        source_titles: Mapping[str, str],
        write: Write,
    ) -> None:
        self.store = store
        self.folder = folder
        self.base = base
        self.source_titles = source_titles
        self.write = write

    def export(self, spec: FeedSpec, listing: str, state: ArchiveState) -> str | None:
        """Write what changed; None when done, else why it failed (tried again next time)."""
        if self.folder is not None:
            try:
                self._write(self.folder, spec, listing, state)
            except OSError as exc:
                return os_reason(exc)
        self.store.clear_archive_changes(listing, state.changes)
        return None

    def _write(self, folder: Path, spec: FeedSpec, listing: str, state: ArchiveState) -> None:
        numbers = list(state.changes)
        newest = state.newest
        if newest is not None and not _exported(folder, page_path(listing, newest.number)):
            # never exported (a new folder, an archive older than the export): every page,
            # the newest last, so its file stands for all of them having been written
            numbers = [*self.store.archive_numbers(listing), *numbers]
        opened = open_url_path(state.head)
        if opened is not None and not _exported(folder, opened):
            numbers.append(state.head.open_number)
        done: set[int] = set()
        for number in numbers:
            if number in done:
                continue
            done.add(number)
            found = located(self.store, listing, number, spec.path)
            if found is None:
                continue
            bodies = render_documents(
                self.store, found, spec, FORMATS, self.base, self.source_titles
            )
            for fmt, body in bodies.items():
                self.write(folder / f"{found.path}.{fmt}", body, found.last_modified)
        before = open_url_path(state.previous)
        if before is not None and before != opened:
            for fmt in FORMATS:
                for name in (f"{before}.{fmt}", f"{before}.{fmt}.gz"):
                    (folder / name).unlink(missing_ok=True)


def _exported(folder: Path, path: str) -> bool:
    return all((folder / f"{path}.{fmt}").exists() for fmt in FORMATS)
