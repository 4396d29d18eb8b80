"""A ``files`` source: a folder of wire articles, read so that what is in it cannot trick us.

The folder is written by others (an agency's delivery, an editor, a sync job),
so each rule here is about what a folder may hold besides finished articles:

* **Only the folder's own wire files.** A wire file is a ``*.txt`` entry of the
  folder itself. Names that mean "still being written" (a leading ``.``, a
  trailing ``.tmp``, ``.part`` or ``~``) are not even listed. Subfolders are
  not read: a wire article's identity is its file name, and a walk down
  subfolders (or a symlinked one) would be a way out of the folder.
* **What is read is what was checked.** The folder is opened once and every
  file is opened relative to it (``dir_fd``, so a renamed or swapped folder
  path changes nothing mid-read), without following a link and without
  blocking (``O_NOFOLLOW | O_NONBLOCK``), then checked on the open descriptor
  (``fstat``), never on the path. A symlink, directory, device or named pipe
  swapped in between listing and reading is skipped as a problem of that
  file: never read, and never a hang, because the open does not wait for a
  pipe's writer. A file is read up to the per-file cap and checked again
  afterwards; one that changed meanwhile is still being written.
* **Nothing half-written.** A file modified less than ``QUIET`` ago (either
  side of ``now``: clocks of a network share drift) waits for the next read,
  like one that changed while it was read.
* **Unchanged files cost no open.** ``known`` holds each file's size and mtime
  as last read (the caller keeps it, see ``Validators.files``); a listed file
  that matches is not opened.
* **A bounded read.** One read takes at most ``budget`` bytes and the source's
  ``max_items`` files, newest first; the rest wait for the next read, and that
  is reported. The listing itself has a ceiling (``MAX_ENTRIES``): past it the
  source fails rather than hand on a listing that would drop files.

* **Absent is not deleted.** A file the listing names but cannot look at
  (``stat`` refused: permissions, a share's I/O error) is still listed, so
  its story stays. A folder that cannot be opened or listed at all (missing,
  unmounted, no permission) is a ``FetchError`` of the source: nothing is
  withdrawn. A folder that lists **no wire file at all** gives no ``listing``
  (None), so nothing is withdrawn either, unless it holds ``EMPTIED_MARKER``:
  an unmounted mount point, or a share that is not there yet, is an empty
  folder too, and withdrawing every story the source has would be the worst
  answer to it. The refresh turns such a read into a source error when
  stories of the source are stored (``refresh``), so the operator hears of
  it; one who really emptied the folder leaves the marker in it.

The ``Fetched`` it returns holds the files read (``documents``, by name), the
``listing`` of every wire file present (read or not: unchanged, waiting and
unreadable ones too), and in ``validators.files`` what the caller should know
next time: the files read now, and what it knew of the other listed ones.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path

from feedsvc.errors import FetchError
from feedsvc.model import Document, Fetched, FileStat, Source, Validators
from feedsvc.text import one_line, os_reason

__all__ = [
    "BUDGET",
    "EMPTIED_MARKER",
    "MAX_ENTRIES",
    "QUIET",
    "Opener",
    "is_wire_name",
    "open_in_folder",
    "read_folder",
]

QUIET = timedelta(seconds=2)
"""A file modified more recently than this may still be being written."""
BUDGET = 64 * 1024 * 1024
"""Bytes one read of a folder takes at most; the rest waits for the next read."""
MAX_ENTRIES = 1_000_000
"""Entries a folder may hold; a larger one fails as a whole (its listing would be cut)."""
EMPTIED_MARKER = ".feedsvc-emptied"
"""A file an operator leaves in a folder emptied on purpose: its stories may be withdrawn."""
IGNORED_SUFFIXES = (".tmp", ".part", "~")
WIRE_SUFFIX = ".txt"
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_LINK_ERRNOS = frozenset({errno.ELOOP, errno.EMLINK})  # EMLINK: what FreeBSD answers
_CHUNK = 1024 * 1024

Opener = Callable[[str, int, int], int]
"""``(name, flags, dir_fd) -> fd``: how a file of the folder is opened (tests count opens)."""


def open_in_folder(name: str, flags: int, dir_fd: int) -> int:
    """The default ``Opener``: ``os.open`` relative to the folder's descriptor."""
    return os.open(name, flags, dir_fd=dir_fd)


def is_wire_name(name: str) -> bool:
    """A name the reader lists: ``*.txt``, and nothing a writer uses for a file in progress."""
    lowered = name.lower()
    if name.startswith(".") or lowered.endswith(IGNORED_SUFFIXES):
        return False
    return lowered.endswith(WIRE_SUFFIX)


def read_folder(
    source: Source,
    max_bytes: int,
    *,
    now: datetime,
    known: Mapping[str, FileStat] | None = None,
    budget: int = BUDGET,
    quiet: timedelta = QUIET,
    opener: Opener = open_in_folder,
    max_entries: int = MAX_ENTRIES,
) -> Fetched:
    """The changed wire files of ``source``'s folder, within one read's budget.

    ``max_bytes`` caps one file, ``budget`` the whole read; ``now`` is the
    wall-clock time the quiet period is measured against (file times are
    wall-clock times). A file that cannot be taken is a problem of that file
    only; a folder that cannot be listed is a ``FetchError`` of the source.
    """
    if source.path is None:
        raise FetchError(f"source {source.id} has no path")
    if max_bytes <= 0 or budget <= 0:
        raise ValueError("max_bytes and budget must be positive")
    folder = _Folder(source, source.path, max_bytes, now, quiet, opener)
    try:
        listed = folder.list_files(max_entries)
        return folder.read(listed, known or {}, budget)
    finally:
        folder.close()


class _Folder:
    """One read of one folder: its descriptor, its rules, and the problems met."""

    def __init__(
        self,
        source: Source,
        path: Path,
        max_bytes: int,
        now: datetime,
        quiet: timedelta,
        opener: Opener,
    ) -> None:
        self.source = source
        self.max_bytes = max_bytes
        self.now_ns = int(now.timestamp() * 1_000_000_000)
        self.quiet_ns = int(quiet.total_seconds() * 1_000_000_000)
        self.opener = opener
        self.problems: list[str] = []
        self.waiting: tuple[str, ...] = ()
        self.unseen: set[str] = set()
        """Wire files listed whose ``stat`` failed: present, so listed, but not read."""
        self.emptied = False
        """The folder holds ``EMPTIED_MARKER``."""
        self.fd = _open_folder(path)

    def close(self) -> None:
        os.close(self.fd)

    def list_files(self, max_entries: int) -> dict[str, FileStat]:
        """Every regular wire file as the listing sees it (``lstat``: links are not followed)."""
        files: dict[str, FileStat] = {}
        try:
            with os.scandir(self.fd) as entries:
                for count, entry in enumerate(entries, start=1):
                    if count > max_entries:
                        raise FetchError(
                            f"folder has more than {max_entries} entries: "
                            f"{self.source.path}; not read"
                        )
                    if not is_wire_name(entry.name):
                        self.emptied = self.emptied or entry.name == EMPTIED_MARKER
                        continue
                    try:
                        info = entry.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue  # removed while we listed: gone, not a problem
                    except OSError as exc:
                        self.problem(entry.name, f"cannot read: {os_reason(exc)}")
                        self.unseen.add(entry.name)  # there, so not deleted: its story stays
                        continue
                    if stat.S_ISREG(info.st_mode):
                        files[entry.name] = FileStat(info.st_size, info.st_mtime_ns)
                    elif not stat.S_ISDIR(info.st_mode):  # subfolders are not read
                        self.problem(entry.name, _kind(info.st_mode))
        except OSError as exc:
            raise FetchError(f"cannot list folder {self.source.path}: {os_reason(exc)}") from exc
        return files

    def read(
        self, listed: Mapping[str, FileStat], known: Mapping[str, FileStat], budget: int
    ) -> Fetched:
        """Read the listed files that changed, newest first, as far as the budget goes."""
        present = set(listed) | self.unseen
        remembered = {name: known[name] for name in present if name in known}
        changed = [
            name
            for name, seen in listed.items()
            if known.get(name) != seen and not self.fresh(seen)
        ]
        changed.sort(key=lambda name: (-listed[name].mtime_ns, name))
        for name in changed:
            if listed[name].size > self.max_bytes:  # refused unopened; holds nothing up
                self.problem(name, f"larger than {self.max_bytes} bytes")
        candidates = [name for name in changed if listed[name].size <= self.max_bytes]
        documents: list[Document] = []
        spent = 0
        for index, name in enumerate(candidates):
            size = listed[name].size
            full = len(documents) >= self.source.max_items or spent + size > budget
            if full and documents:  # a first file larger than the budget still goes
                self.wait_line(len(candidates) - index, budget)
                break
            outcome = self.read_file(name)
            if outcome is not None:
                content, read_as = outcome
                documents.append(Document(name=name, content=content, headers={}))
                remembered[name] = read_as
                spent += len(content)
        documents.sort(key=lambda document: document.name)
        # no wire file at all and no marker: maybe an unmounted share, so no listing
        trusted = bool(present) or self.emptied
        return Fetched(
            source_id=self.source.id,
            documents=tuple(documents),
            problems=(*sorted(self.problems), *self.waiting),  # one order: the digest sees them
            validators=Validators(files=remembered),
            listing=tuple(sorted(present)) if trusted else None,
        )

    def read_file(self, name: str) -> tuple[bytes, FileStat] | None:
        """The file's bytes and what they were read as; None when it is skipped or waits."""
        try:
            fd = self.opener(name, FILE_FLAGS, self.fd)
        except FileNotFoundError:
            return None  # removed since the listing: gone, not a problem
        except OSError as exc:
            if exc.errno in _LINK_ERRNOS:
                self.problem(name, "a symbolic link (links are not followed)")
            else:
                self.problem(name, f"cannot open: {os_reason(exc)}")
            return None
        try:
            before = os.fstat(fd)
            if not stat.S_ISREG(before.st_mode):
                self.problem(name, _kind(before.st_mode))
                return None
            read_as = FileStat(before.st_size, before.st_mtime_ns)
            if read_as.size > self.max_bytes:
                self.problem(name, f"larger than {self.max_bytes} bytes")
                return None
            if self.fresh(read_as):
                return None
            content = _read_at_most(fd, self.max_bytes + 1)
            after = os.fstat(fd)
        except OSError as exc:
            self.problem(name, f"cannot read: {os_reason(exc)}")
            return None
        finally:
            os.close(fd)
        if len(content) > self.max_bytes:
            self.problem(name, f"larger than {self.max_bytes} bytes")
            return None
        if len(content) != read_as.size or FileStat(after.st_size, after.st_mtime_ns) != read_as:
            return None  # written to while we read: still being written, next read
        return content, read_as

    def fresh(self, seen: FileStat) -> bool:
        """Modified within the quiet period (either side of now): maybe still being written."""
        return abs(self.now_ns - seen.mtime_ns) < self.quiet_ns

    def problem(self, name: str, what: str) -> None:
        self.problems.append(f"{one_line(name)}: skipped, {what}")

    def wait_line(self, waiting: int, budget: int) -> None:
        self.waiting = (
            f"{waiting} changed files wait for the next read: one read takes at most "
            f"{_size(budget)} and {self.source.max_items} files",
        )


def _open_folder(path: Path) -> int:
    """The folder's descriptor; the operator's path may itself be a link, its files not."""
    try:
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        raise FetchError(f"folder not found: {path}") from None
    except OSError as exc:
        raise FetchError(f"cannot open folder {path}: {os_reason(exc)}") from exc


def _read_at_most(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    remaining = limit
    while remaining > 0:
        chunk = os.read(fd, min(remaining, _CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _kind(mode: int) -> str:
    """What a non-regular entry is, as a skip reason."""
    if stat.S_ISLNK(mode):
        return "a symbolic link (links are not followed)"
    if stat.S_ISDIR(mode):
        return "a directory, not a file"
    if stat.S_ISFIFO(mode):
        return "a named pipe, not a file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device, not a file"
    if stat.S_ISSOCK(mode):
        return "a socket, not a file"
    return "not a regular file"


def _size(count: int) -> str:
    mib = 1024 * 1024
    return f"{count // mib} MiB" if count % mib == 0 else f"{count} bytes"
