"""What the refresh knows of a folder's files, on SQLite and PostgreSQL.

Unchanged files are not read again, also after a restart (a new Store on the
same database); the knowledge is written after the batch commits, so losing
it costs a re-read and never a file; the read budget spreads a big folder
over several refreshes and every file is stored once; a young file waits; a
catalogue edit reads everything again; the knowledge goes with its source.
"""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select

from feedsvc.catalog import load_catalog
from feedsvc.extract import rules_digest
from feedsvc.fetch import Fetcher, Limits
from feedsvc.model import Catalog, Fetched, FileStat, Source, SourceResult, Validators
from feedsvc.refresh import fetch_and_store
from feedsvc.store import Store
from feedsvc.store.schema import wire_files
from inbox_support import settle


def later() -> datetime:
    return datetime.now(UTC) + timedelta(minutes=1)


class Reads:
    """A fetch function around a real Fetcher that remembers what each read brought."""

    def __init__(self, fetcher: Fetcher) -> None:
        self.fetcher = fetcher
        self.reads: list[Fetched] = []

    def __call__(self, source: Source, validators: Validators) -> Fetched:
        fetched = self.fetcher.fetch(source, validators)
        self.reads.append(fetched)
        return fetched

    @property
    def last(self) -> list[str]:
        return [document.name for document in self.reads[-1].documents]

    @property
    def every_name(self) -> list[str]:
        return [document.name for fetched in self.reads for document in fetched.documents]


@pytest.fixture
def catalog(feeds_dir: Path, store: Store, now: datetime) -> Catalog:
    catalog = load_catalog(feeds_dir)
    store.sync_sources(catalog.sources.values(), now)
    return catalog


@pytest.fixture
def reads() -> Reads:
    return Reads(Fetcher(wall_clock=later))


def refresh(
    store: Store, catalog: Catalog, reads: Reads, now: datetime, source_id: str = "nym-wire"
) -> SourceResult:
    result = fetch_and_store(catalog.sources[source_id], catalog, store, reads, now)
    assert result.ok, result
    return result


SEEDS = 4  # wire files of the sample's nym-wire folder


def test_unchanged_files_are_not_read_again_even_after_a_restart(
    store: Store, db_url: str, catalog: Catalog, reads: Reads, now: datetime
) -> None:
    first = refresh(store, catalog, reads, now)
    assert first.new == SEEDS and len(reads.last) == SEEDS

    second = refresh(store, catalog, reads, now + timedelta(minutes=5))
    assert reads.last == [] and second.not_modified
    assert second.line() == "nym-wire: unchanged since the last fetch"

    restarted = Store.open(db_url)
    try:
        restarted.upgrade()
        third = refresh(restarted, catalog, reads, now + timedelta(minutes=10))
        assert reads.last == [] and third.not_modified

        wire = catalog.sources["nym-wire"]
        assert wire.path is not None
        seed = wire.path / "000_8566422078d4f727.txt"
        seed.write_bytes(seed.read_bytes().replace(b"landmark", b"historic"))
        settle(seed)
        fourth = refresh(restarted, catalog, reads, now + timedelta(minutes=15))
        assert reads.last == [seed.name]
        assert (fourth.new, fourth.updated) == (0, 1)
        assert restarted.count_articles(source="nym-wire") == SEEDS
    finally:
        restarted.close()


def test_lost_knowledge_costs_a_re_read_never_a_file(
    store: Store, catalog: Catalog, reads: Reads, now: datetime
) -> None:
    refresh(store, catalog, reads, now)
    # What a crash between the batch's commit and saving the knowledge leaves behind:
    with store.write() as conn:
        conn.execute(delete(wire_files))

    again = refresh(store, catalog, reads, now + timedelta(minutes=5))

    assert len(reads.last) == SEEDS  # read again …
    assert again.not_modified  # … found to be what is stored
    assert store.count_articles(source="nym-wire") == SEEDS
    refresh(store, catalog, reads, now + timedelta(minutes=10))
    assert reads.last == []  # and known again


def _big_folder(folder: Path, count: int) -> list[str]:
    folder.mkdir()
    names = [f"{index:03d}.txt" for index in range(count)]
    for age, name in enumerate(names):
        (folder / name).write_bytes(
            b"Wire story %03d\n\nNYM Desk\n\nPublished : 10:00, 1 July 2025\n\nBody %03d.\n"
            % (age, age)
        )
        settle(folder / name, age=100 + age)  # 000.txt the newest
    return names


def test_the_budget_spreads_a_big_folder_and_every_file_is_stored_once(
    store: Store, catalog: Catalog, now: datetime, tmp_path: Path
) -> None:
    names = _big_folder(tmp_path / "big", 25)
    source = Source(
        id="big-wire", kind="files", desk="nym", every=timedelta(minutes=5), path=tmp_path / "big"
    )
    catalog = replace(catalog, sources={**catalog.sources, source.id: source})
    store.sync_sources(catalog.sources.values(), now)
    size = (tmp_path / "big" / names[0]).stat().st_size
    reads = Reads(Fetcher(limits=Limits(folder_budget=4 * size + 2), wall_clock=later))

    results: list[SourceResult] = []
    for tick in range(20):
        results.append(refresh(store, catalog, reads, now + tick * source.every, "big-wire"))
        if not reads.last:
            break
        assert store.count_articles(source="big-wire") == sum(r.new for r in results)

    assert [len(fetched.documents) for fetched in reads.reads] == [4, 4, 4, 4, 4, 4, 1, 0]
    assert reads.every_name == names  # newest first, each file once
    assert [r.new for r in results] == [4, 4, 4, 4, 4, 4, 1, 0]
    assert all(r.updated == 0 for r in results)
    assert results[0].problems == (
        "21 changed files wait for the next read: "
        f"one read takes at most {4 * size + 2} bytes and 500 files",
    )
    assert results[-2].problems == ()
    stored = store.list_articles(source="big-wire", limit=None)
    assert sorted(article.guid for article in stored) == names
    assert results[-1].not_modified  # all read and stored: the folder is as the store knows it


def test_a_young_file_waits_for_the_next_refresh(
    store: Store, catalog: Catalog, now: datetime
) -> None:
    refresh(store, catalog, Reads(Fetcher(wall_clock=later)), now)
    wire = catalog.sources["nym-wire"]
    assert wire.path is not None
    (wire.path / "zz_new.txt").write_bytes(b"Just written\n\nBody.\n")

    right_now = Reads(Fetcher())  # the real wall clock: the file is seconds old
    waiting = refresh(store, catalog, right_now, now + timedelta(minutes=1))
    assert right_now.last == [] and waiting.new == 0
    assert right_now.reads[-1].listing is not None
    assert "zz_new.txt" in right_now.reads[-1].listing

    settled = Reads(Fetcher(wall_clock=later))
    taken = refresh(store, catalog, settled, now + timedelta(minutes=2))
    assert settled.last == ["zz_new.txt"] and taken.new == 1


def test_a_catalogue_edit_reads_every_file_again(
    store: Store, catalog: Catalog, reads: Reads, now: datetime
) -> None:
    refresh(store, catalog, reads, now, "europe-wire")
    ukraine = replace(catalog.topics["ukraine"], match=("tariffs",))
    edited = replace(catalog, topics={**catalog.topics, "ukraine": ukraine})

    result = refresh(store, edited, reads, now + timedelta(minutes=5), "europe-wire")

    assert len(reads.last) == store.count_articles(source="europe-wire") == 3
    assert result.updated >= 1
    refresh(store, edited, reads, now + timedelta(minutes=10), "europe-wire")
    assert reads.last == []
    rules = rules_digest(edited.sources["europe-wire"], edited)
    with store.engine.connect() as conn:  # the rows of the old rules are gone
        rows = conn.execute(select(wire_files.c.rules).where(wire_files.c.source == "europe-wire"))
        assert {row.rules for row in rows} == {rules}


def test_a_deleted_file_reaches_the_store_and_is_forgotten(
    store: Store, catalog: Catalog, reads: Reads, now: datetime
) -> None:
    refresh(store, catalog, reads, now)
    wire = catalog.sources["nym-wire"]
    assert wire.path is not None
    gone = sorted(wire.path.glob("*.txt"))[0]
    gone.unlink()

    result = refresh(store, catalog, reads, now + timedelta(minutes=5))

    assert reads.last == []
    assert not result.not_modified  # the listing changed: the store hears of it
    assert reads.reads[-1].listing is not None and gone.name not in reads.reads[-1].listing
    rules = rules_digest(wire, catalog)
    assert gone.name not in store.wire_files("nym-wire", rules)
    assert len(store.wire_files("nym-wire", rules)) == SEEDS - 1
    assert refresh(store, catalog, reads, now + timedelta(minutes=10)).not_modified


# -- the store's part ----------------------------------------------------------------------


def test_only_the_difference_is_written_and_rules_filter(store: Store, catalog: Catalog) -> None:
    odd = os.fsdecode(b"caf\xe9.txt")  # not UTF-8: stored as its bytes
    first = {"a.txt": FileStat(10, 1), odd: FileStat(20, 2)}
    store.save_wire_files("nym-wire", "r1", {}, first)
    assert store.wire_files("nym-wire", "r1") == first
    assert store.wire_files("nym-wire", "r2") == {}  # other rules: as good as unknown

    second = {odd: FileStat(21, 3), "b.txt": FileStat(30, 4)}
    store.save_wire_files("nym-wire", "r1", first, second)
    assert store.wire_files("nym-wire", "r1") == second

    store.save_wire_files("nym-wire", "r2", {}, {"b.txt": FileStat(30, 4)})
    assert store.wire_files("nym-wire", "r2") == {"b.txt": FileStat(30, 4)}
    assert store.wire_files("nym-wire", "r1") == {}  # rows of the old rules went
    assert store.wire_files("europe-wire", "r2") == {}


def test_the_knowledge_goes_with_its_source(store: Store, catalog: Catalog, now: datetime) -> None:
    store.save_wire_files("nym-wire", "r", {}, {"a.txt": FileStat(1, 1)})
    store.save_wire_files("europe-wire", "r", {}, {"b.txt": FileStat(1, 1)})

    store.sync_sources([s for s in catalog.sources.values() if s.id != "nym-wire"], now)

    with store.engine.connect() as conn:
        per_source = dict(
            conn.execute(
                select(wire_files.c.source, func.count()).group_by(wire_files.c.source)
            ).all()
        )
    assert per_source == {"europe-wire": 1}
    # a source removed while its folder was read has nothing to remember
    store.save_wire_files("nym-wire", "r", {}, {"a.txt": FileStat(1, 1)})
    assert store.wire_files("nym-wire", "r") == {}
