"""A ``files`` source: a folder of wire articles (``*.txt``), read as documents.

No network here, but the same rule as for HTTP: the bytes come from outside,
so a file too large, unreadable, or a link that leaves the folder is refused,
and that costs the one file, not the folder.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from feedsvc.errors import FetchError
from feedsvc.model import Document, Fetched, Source
from feedsvc.text import os_reason

__all__ = ["read_folder"]


def read_folder(source: Source, max_bytes: int) -> Fetched:
    """Every wire article (``*.txt``) of a folder, sorted by name, as documents.

    A file that cannot be taken (too large, unreadable, a symlink leaving the
    folder) is a problem of that file only, reported in ``problems``; it is
    still in ``listing``, so its stored story is not withdrawn for it.
    """
    if source.path is None:
        raise FetchError(f"source {source.id} has no path")
    folder = Path(source.path)
    if not folder.is_dir():
        raise FetchError(f"folder not found: {folder}")
    root = folder.resolve()
    documents: list[Document] = []
    problems: list[str] = []
    listing: list[str] = []
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if entry.name.startswith(".") or not entry.name.lower().endswith(".txt"):
            continue
        listing.append(entry.name)
        outcome = _read_wire_file(root, Path(entry.path), entry.name, max_bytes)
        if isinstance(outcome, Document):
            documents.append(outcome)
        elif outcome is not None:
            problems.append(outcome)
    return Fetched(
        source_id=source.id,
        documents=tuple(documents),
        problems=tuple(problems),
        listing=tuple(listing),
    )


def _read_wire_file(root: Path, path: Path, name: str, max_bytes: int) -> Document | str | None:
    """The file as a Document, a problem message, or None for what is silently not ours."""
    try:
        real = path.resolve(strict=True)
        if real.parent != root:
            return f"{name}: skipped, a link that points outside the folder"
        info = real.stat()
        if not stat.S_ISREG(info.st_mode):
            return None
        if info.st_size > max_bytes:
            return f"{name}: skipped, larger than {max_bytes} bytes"
        with real.open("rb") as handle:
            content = handle.read(max_bytes + 1)
    except FileNotFoundError:
        return None  # removed while we listed the folder: gone, not a problem
    except OSError as exc:
        return f"{name}: skipped, cannot read: {os_reason(exc)}"
    if len(content) > max_bytes:
        return f"{name}: skipped, larger than {max_bytes} bytes"
    return Document(name=name, content=content, headers={})
