"""Problems in plain sight: the catalogue's state, skipped and merged items, a lost
database file and a failing static export are shown where operators look, not only logged."""

from __future__ import annotations

import dataclasses
import os
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape

from admin_support import AUTH, log_in, rss, run_queued
from conftest import ADMIN_TOKEN, NOW
from feedsvc.catalog_watch import CatalogWatcher
from feedsvc.cli import main
from feedsvc.config import Settings
from feedsvc.errors import StoreError
from feedsvc.extract import MAX_PROBLEMS, PROBLEM_LENGTH, bounded_problems
from feedsvc.publish_pages import PAGE_PREFIX
from feedsvc.scheduler import Scheduler
from feedsvc.store import Store
from feedsvc.web import create_app
from servers import LoopbackServer, Reply
from test_metrics import scrape, value

BAD_DESK = '[broken]\ntitle = "Broken"\ncolour = "red"\n'


@pytest.fixture
def feed_server() -> Iterator[LoopbackServer]:
    with_blank = rss("one", "two").replace(b"</channel>", b"<item></item></channel>")
    routes = {
        "/first.rss": Reply(body=with_blank),
        "/second.rss": Reply(body=rss("two", "three", title="Another site")),
    }
    with LoopbackServer(routes) as server:
        yield server


def watched_app(settings: Settings, store: Store) -> Flask:
    """An app whose catalogue watcher looks at the files on every call (no 1 s wait)."""
    watcher = CatalogWatcher(settings.feeds_dir, check_every=0)
    return create_app(
        {"TESTING": True, "SETTINGS": settings, "STORE": store, "CATALOG_WATCHER": watcher}
    )


def test_a_rejected_catalogue_edit_shows_in_readyz_metrics_and_pages(
    admin_settings: Settings, published: Store, feeds_dir: Path
) -> None:
    client = watched_app(admin_settings, published).test_client()
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_data(as_text=True).startswith("ready\ncatalogue: loaded, 3 sources")
    assert value(scrape(client), "feedsvc_catalog_state", state="loaded") == 1

    (feeds_dir / "desks.toml").write_text(
        (feeds_dir / "desks.toml").read_text() + "\n" + BAD_DESK
    )
    ready = client.get("/readyz")
    assert ready.status_code == 200  # the last good catalogue serves
    body = ready.get_data(as_text=True)
    assert body.startswith("ready\ncatalogue: rejected, 3 sources, loaded at ")
    assert "catalogue edit rejected at " in body and "the last good catalogue serves" in body
    assert "1 problem (listed on /admin/ and in the log)" in body
    assert str(feeds_dir) not in body  # an anonymous probe is not told the server's paths
    text = scrape(client)
    assert value(text, "feedsvc_catalog_state", state="rejected") == 1
    assert value(text, "feedsvc_catalog_state", state="loaded") == 0
    assert value(text, "feedsvc_catalog_rejected_timestamp_seconds") > 0

    log_in(client)
    page = client.get("/admin/").get_data(as_text=True)
    assert "The last edit of the catalogue was refused" in page
    assert "colour: unknown key" in page and "keeps serving" in page

    (feeds_dir / "desks.toml").write_text(
        (feeds_dir / "desks.toml").read_text().replace(BAD_DESK, "")
    )
    assert "rejected" not in client.get("/readyz").get_data(as_text=True)
    assert "was refused" not in client.get("/admin/").get_data(as_text=True)


def test_skipped_and_merged_items_show_on_the_page_and_in_the_health(
    admin_client: FlaskClient,
    admin_settings: Settings,
    published: Store,
    feed_server: LoopbackServer,
) -> None:
    for source_id, path in (("first", "/first.rss"), ("second", "/second.rss")):
        created = admin_client.post(
            "/api/v1/sources",
            json={"id": source_id, "url": feed_server.url(path), "desk": "nym"},
            headers=AUTH,
        )
        assert created.status_code == 201
        run_queued(admin_settings, published)  # one after the other: "second" merges
    first = admin_client.get("/api/v1/sources/first/health", headers=AUTH).json["notes"]
    assert first["skipped"] == ["item 3 has no id, link, title or text; skipped"]
    assert first["merged"] == [] and first["at"] is not None
    second = admin_client.get("/api/v1/sources/second/health", headers=AUTH).json["notes"]
    assert second["skipped"] == []
    assert len(second["merged"]) == 1 and "https://news.example/two" in second["merged"][0]

    log_in(admin_client)
    page = admin_client.get("/admin/sources/first").get_data(as_text=True)
    assert 'id="skipped"' in page and "item 3 has no id, link, title or text" in page
    page = admin_client.get("/admin/sources/second").get_data(as_text=True)
    assert 'id="merged"' in page and "https://news.example/two" in page

    feed_server.route("/first.rss", Reply(body=rss("one", "two")))  # fixed at the source
    admin_client.post("/api/v1/sources/first/refresh", headers=AUTH)
    run_queued(admin_settings, published)
    notes = admin_client.get("/api/v1/sources/first/health", headers=AUTH).json["notes"]
    assert notes == {"at": None, "skipped": [], "merged": []}


def test_notes_are_bounded(sqlite_store: Store) -> None:
    sqlite_store.save_notes("s", [f"item {n} " + "x" * 1000 for n in range(80)], [], NOW)
    notes = sqlite_store.source_notes("s")
    assert len(notes.skipped) == 51 and notes.skipped[-1] == "30 more not kept"
    assert all(len(line) <= 300 for line in notes.skipped)


# -- the database file ---------------------------------------------------------------------


def test_a_deleted_sqlite_file_stops_writes_and_readiness(feeds_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "gone.sqlite3"
    store = Store.open(f"sqlite:///{path}")
    settings = Settings(feeds_dir=feeds_dir, database_url=f"sqlite:///{path}")
    try:
        store.upgrade()
        app = create_app({"TESTING": True, "SETTINGS": settings, "STORE": store})
        client = app.test_client()
        assert client.get("/readyz").status_code == 200
        os.unlink(path)
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert "was deleted while feedsvc had it open" in ready.get_data(as_text=True)
        with pytest.raises(StoreError, match="writes are stopped"):
            store.sync_sources([], NOW)
        assert not path.exists() or path.stat().st_size == 0  # nothing written anywhere
    finally:
        store.close()


def test_a_lost_database_file_is_logged_once_not_a_traceback_per_tick(
    feeds_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The scheduler ticks every second: a lasting failure was a 20-line traceback each time."""
    path = tmp_path / "moved.sqlite3"
    store = Store.open(f"sqlite:///{path}")
    settings = Settings(feeds_dir=feeds_dir, database_url=f"sqlite:///{path}")
    scheduler = Scheduler(settings, store, clock=lambda: NOW)
    try:
        store.upgrade()
        scheduler.start_up()
        os.replace(path, tmp_path / "away.sqlite3")
        with caplog.at_level("INFO", logger="feedsvc.scheduler"):
            assert [scheduler.tick() for _ in range(3)] == [0, 0, 0]
            failed = [r for r in caplog.records if r.levelname == "ERROR"]
            assert len(failed) == 1 and failed[0].exc_info is None
            assert "was deleted while feedsvc had it open" in failed[0].getMessage()
            os.replace(tmp_path / "away.sqlite3", path)  # the operator puts it back
            scheduler.tick()
            scheduler.tick()
        back = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        assert len(back) == 1 and back[0].startswith("ticks work again")
    finally:
        scheduler.shutdown()
        store.close()


def test_a_replaced_sqlite_file_stops_writes(tmp_path: Path) -> None:
    path = tmp_path / "replaced.sqlite3"
    store = Store.open(f"sqlite:///{path}")
    try:
        store.upgrade()
        assert store.file_problem() is None
        os.replace(path, tmp_path / "moved.sqlite3")
        path.write_bytes(b"")
        assert "was replaced" in (store.file_problem() or "")
        with pytest.raises(StoreError, match="writes are stopped"):
            store.sync_sources([], NOW)
        assert (tmp_path / "replaced.sqlite3").stat().st_size == 0  # the new file untouched
    finally:
        store.close()


# -- the static export -----------------------------------------------------------------------


@contextmanager
def refusing_folder(tmp_path: Path) -> Iterator[tuple[Path, Callable[[], None]]]:
    """A publish folder that refuses writes, and a function that makes it take them again.

    As root (who writes into read-only folders) a 8 KiB tmpfs that fills up,
    then grows (``remount``) as a disk whose space was freed; else a folder
    made read-only, then writable.
    """
    folder = tmp_path / "export"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield folder, lambda: folder.chmod(0o755)
        finally:
            folder.chmod(0o755)
        return
    mount = ["mount", "-t", "tmpfs", "-o", "size=8k", "tmpfs", str(folder)]
    if subprocess.run(mount, capture_output=True).returncode != 0:
        pytest.skip("root without mount: cannot make a folder refuse writes")
    try:
        yield folder, lambda: subprocess.run(
            ["mount", "-o", "remount,size=8m", str(folder)], check=True
        )
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_failing_export_is_kept_and_retried_never_raised(
    settings: Settings, published: Store, tmp_path: Path
) -> None:
    with refusing_folder(tmp_path) as (folder, make_room):
        exporting = dataclasses.replace(settings, publish_dir=folder)
        scheduler = Scheduler(exporting, published, clock=lambda: NOW)
        try:
            scheduler.start_up()  # every feed published and stored; the export fails
            expected = {
                feed.path: feed
                for feed in published.load_feeds()
                if not feed.path.startswith(PAGE_PREFIX)  # pages are the app's, not exported
            }
            assert not all((folder / path).is_file() for path in expected)
            assert scheduler.tick() == 0  # tried again and failed again: no exception
            assert not all((folder / path).is_file() for path in expected)
            make_room()
            scheduler.tick()  # the next tick's publish writes what was pending
            for path in expected:
                assert (folder / path).is_file(), path
                assert (folder / (path + ".gz")).is_file(), path
            assert (folder / "feeds/all.rss").read_bytes().startswith(b"<?xml")
        finally:
            scheduler.shutdown()


def test_cli_publish_says_when_the_export_fails(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from feedsvc.cli import main

    with refusing_folder(tmp_path) as (folder, _):
        monkeypatch.setenv("FEEDSVC_PUBLISH_DIR", str(folder))
        result = runner.invoke(main, ["publish"])
    assert result.exit_code == 1
    assert f"static export to {folder} failed" in result.output
    assert "Traceback" not in result.output


# -- items dropped from a batch ------------------------------------------------------------


def _item(guid: str, title: str = "", link: str = "") -> str:
    parts = [f"<guid isPermaLink='false'>{guid}</guid>" if guid else ""]
    parts.append(f"<title>{title}</title>" if title else "")
    parts.append(f"<link>{link}</link>" if link else "")
    return "<item>" + "".join(parts) + "</item>"


DROPPING = (
    "<?xml version='1.0'?><rss version='2.0'><channel><title>T</title>"
    "<link>https://news.example/</link><description>d</description>"
    + _item("g1", "One", "https://news.example/1")
    + _item("g2", "Two", "https://news.example/2")
    + _item("g1", "One again", "https://news.example/1b")  # a repeated guid
    + _item("")  # nothing at all
    + _item("only-a-guid")  # nothing to show
    + _item("g3", "Three", "https://news.example/3")
    + _item("g4", "Four", "https://news.example/4")  # past max_items = 3
    + "</channel></rss>"
).encode()
DROPPED = (
    "item 4 has no id, link, title or text; skipped",
    "item 'only-a-guid': item has no title, no content and no link",
    "item 'g1': its guid came earlier in this fetch; skipped",
    "1 items past the newest 3 (max_items)",
)


def test_items_dropped_from_a_batch_are_told_by_ingest_the_api_and_the_page(
    runner: CliRunner, feeds_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FEEDSVC_ALLOW_NETWORKS", "127.0.0.0/8")
    monkeypatch.setenv("FEEDSVC_ADMIN_TOKEN", ADMIN_TOKEN)
    with LoopbackServer({"/feed": Reply(body=DROPPING)}) as server:
        sources = feeds_dir / "sources.toml"
        sources.write_text(
            sources.read_text() + f'\n[dropping]\nkind = "feed"\nurl = "{server.url("/feed")}"\n'
            'desk = "nym"\nmax_items = 3\n'
        )
        assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
        result = runner.invoke(main, ["ingest", "dropping"])
    assert result.exit_code == 0, result.output
    (line,) = result.output.splitlines()
    assert line.startswith("dropping: 3 new, 0 updated, 0 unchanged; 4 problems: ")
    for problem in DROPPED:
        assert problem in line

    monkeypatch.setenv("FEEDSVC_ALLOWED_HOSTS", "localhost")  # the test client's Host
    client = create_app().test_client()
    notes = client.get("/api/v1/sources/dropping/health", headers=AUTH).json["notes"]
    assert sorted(notes["skipped"]) == sorted(DROPPED)
    log_in(client)
    page = client.get("/admin/sources/dropping").get_data(as_text=True)
    assert all(str(escape(problem)) in page for problem in DROPPED)


def test_the_problems_of_one_fetch_are_bounded() -> None:
    lines = bounded_problems([f"item {n}: " + "x\n" * 1000 for n in range(120)])
    assert len(lines) == MAX_PROBLEMS + 1 and lines[-1] == "and 70 more problems"
    assert all(len(line) <= PROBLEM_LENGTH and "\n" not in line for line in lines)
    assert bounded_problems(["one", "two"]) == ("one", "two")
