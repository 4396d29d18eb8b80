"""The cost of an unchanged wire folder: what a refresh pays when nothing changed.

What it shows
    A folder source is read every few minutes, and a big agency folder holds
    many thousand files. Files whose size and mtime are known are not opened
    again, so an unchanged folder should cost a listing (one ``lstat`` per
    file), the known stats read from the database, and a hash: no open, no
    parse, no article write. This prints those costs for a folder of N files.

How it runs
    N small wire files (default 100,000, ~80 bytes each) are written to a temp
    folder. Then, timed:

    * ``read_folder``, first read: every file opened (the count of opens is
      printed, from a counting opener);
    * ``read_folder`` again with what the first read reported as known: opens
      must be 0;
    * ``fetch_and_store`` (the refresh use case, real ``Fetcher``, a fresh
      SQLite file, or a throw-away schema of the PostgreSQL ``--database-url``,
      dropped afterwards): the first refresh reads, parses and
      stores all N (``max_items`` = N, so one refresh takes them all); the
      second, unchanged, refresh loads the known stats, lists the folder and
      compares digests.

How to read it
    Seconds per step, and the files read by each refresh. Nothing fails on
    time: the figures depend on the machine and on what else runs on it.

Run: ``.venv/bin/python bench/inbox.py [--files N] [--database-url URL]``
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from sqlalchemy import create_engine, text

from feedsvc.fetch import Fetcher, read_folder
from feedsvc.model import Catalog, Desk, Fetched, Source, Validators
from feedsvc.refresh import fetch_and_store
from feedsvc.store import Store


class CountingOpener:
    def __init__(self) -> None:
        self.opens = 0

    def __call__(self, name: str, flags: int, dir_fd: int) -> int:
        self.opens += 1
        return os.open(name, flags, dir_fd=dir_fd)


T = TypeVar("T")


def timed(label: str, work: Callable[[], T]) -> T:
    started = time.perf_counter()
    result = work()
    print(f"  {label:<44} {time.perf_counter() - started:8.2f} s")
    return result


def write_folder(folder: Path, count: int) -> None:
    folder.mkdir()
    for index in range(count):
        (folder / f"{index:06d}.txt").write_bytes(
            b"Wire story %06d\n\nPublished : 10:00, 1 July 2025\n\nBody %06d.\n" % (index, index)
        )


def bench_reader(source: Source, settled: datetime) -> None:
    first_opener, again_opener = CountingOpener(), CountingOpener()
    first = timed(
        "read_folder, first read",
        lambda: read_folder(source, 1 << 20, now=settled, opener=first_opener),
    )
    timed(
        "read_folder, nothing changed",
        lambda: read_folder(
            source, 1 << 20, now=settled, known=first.validators.files, opener=again_opener
        ),
    )
    print(f"    opens: first read {first_opener.opens}, unchanged read {again_opener.opens}")


def bench_refresh(source: Source, settled: datetime, url: str, root: Path) -> None:
    store = Store.open(url)
    try:
        store.upgrade()
        catalog = Catalog(
            root=root,
            desks={"nym": Desk(id="nym", title="NYM")},
            topics={},
            sources={source.id: source},
        )
        now = datetime(2025, 7, 1, 12, 0, tzinfo=UTC)
        store.sync_sources([source], now)
        fetcher = Fetcher(wall_clock=lambda: settled)
        read: list[int] = []

        def fetch(source: Source, validators: Validators) -> Fetched:
            fetched = fetcher.fetch(source, validators)
            read.append(len(fetched.documents))
            return fetched

        backend = store.engine.dialect.name
        for tick, label in enumerate(("first (stores every file)", "unchanged")):
            at = now + tick * source.every
            result = timed(
                f"refresh {label} [{backend}]",
                lambda at=at: fetch_and_store(source, catalog, store, fetch, at),
            )
            print(f"    files read: {read[-1]}; {result.line()[:70]}")
    finally:
        store.close()


@contextmanager
def throwaway_schema(base_url: str) -> Iterator[str]:
    """A URL whose connections use a schema of their own, dropped afterwards."""
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        separator = "&" if "?" in base_url else "?"
        yield f"{base_url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args(argv)
    settled = datetime.now(UTC) + timedelta(minutes=1)  # every file written below has settled
    with tempfile.TemporaryDirectory(prefix="feedsvc-inbox-") as temp:
        folder = Path(temp) / "inbox"
        write_folder(folder, args.files)
        source = Source(
            id="big-wire",
            kind="files",
            desk="nym",
            every=timedelta(minutes=5),
            path=folder,
            max_items=args.files,
        )
        print(f"a folder of {args.files} wire files")
        bench_reader(source, settled)
        if args.database_url:
            with throwaway_schema(args.database_url) as url:
                bench_refresh(source, settled, url, Path(temp))
        else:
            sqlite = f"sqlite:///{Path(temp) / 'feedsvc.sqlite3'}"
            bench_refresh(source, settled, sqlite, Path(temp))


if __name__ == "__main__":
    main(sys.argv[1:])
