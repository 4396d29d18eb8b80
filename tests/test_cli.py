"""The `feedsvc` command as an operator uses it: messages, exit codes, the article JSON."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from feedsvc.catalog import load_catalog
from feedsvc.cli import main
from feedsvc.refresh import LEASE
from feedsvc.store import Store
from servers import LoopbackServer, Reply

ARTICLE_KEYS = [
    "id",
    "source",
    "guid",
    "url",
    "title",
    "summary",
    "content_html",
    "author",
    "desk",
    "topics",
    "published",
    "updated",
    "language",
    "enclosures",
    "image",
    "retracted",
]


def test_check_accepts_the_sample(runner: CliRunner) -> None:
    result = runner.invoke(main, ["check"])
    assert result.exit_code == 0, result.output
    assert "2 desks, 4 topics, 3 sources" in result.output


def test_check_names_file_and_key(runner: CliRunner, feeds_dir: Path) -> None:
    sources = feeds_dir / "sources.toml"
    sources.write_text(
        sources.read_text() + '\n[bad]\nkind = "feed"\nurl = "https://x.example/"'
        '\ndesk = "sports"\nevery = "often"\n'
    )
    result = runner.invoke(main, ["check"])
    assert result.exit_code == 1
    assert "2 problems in the catalogue" in result.output
    assert f"{sources} [bad] desk: unknown desk 'sports'" in result.output
    assert f"{sources} [bad] every: bad interval 'often'" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("FEEDSVC_FEED_SIZE", "lots", "FEEDSVC_FEED_SIZE: expected a whole number"),
        ("FEEDSVC_ARCHIVE_SIZE", "0", "FEEDSVC_ARCHIVE_SIZE: expected a whole number from 1"),
        ("FEEDSVC_DATABASE_URL", "mysql://x", "FEEDSVC_DATABASE_URL: expected"),
        ("FEEDSVC_ALLOW_NETWORKS", "10.0.0.0/8,nonsense", "FEEDSVC_ALLOW_NETWORKS: 'nonsense'"),
        ("FEEDSVC_BASE_URL", "news.example", "FEEDSVC_BASE_URL: expected an absolute"),
        # links are the base plus a path, and go into Link headers
        ("FEEDSVC_BASE_URL", "https://news.example/?x=1", "FEEDSVC_BASE_URL: expected scheme"),
        ("FEEDSVC_BASE_URL", "https://news.example/#top", "FEEDSVC_BASE_URL: expected scheme"),
        ("FEEDSVC_BASE_URL", "https://u:p@news.example/", "FEEDSVC_BASE_URL: expected scheme"),
        ("FEEDSVC_BASE_URL", "https://news.example/a b/", "FEEDSVC_BASE_URL: expected printable"),
        ("FEEDSVC_BASE_URL", "https://news.example/\x01", "FEEDSVC_BASE_URL: expected printable"),
        ("FEEDSVC_ADMIN_TOKEN", "short", "FEEDSVC_ADMIN_TOKEN: at least 16 characters"),
        ("FEEDSVC_WEBSUB_HUB", "https://hub.example/a\nb", "FEEDSVC_WEBSUB_HUB: expected"),
        # a header is read as Latin-1: the API could never match these
        ("FEEDSVC_ADMIN_TOKEN", "a-long-enough\x01token", "FEEDSVC_ADMIN_TOKEN: only printable"),
        ("FEEDSVC_ADMIN_TOKEN", "a-long-enough-tökén", "FEEDSVC_ADMIN_TOKEN: only printable"),
    ],
)
def test_bad_setting_is_one_clear_line(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    result = runner.invoke(main, ["check"])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0]


def test_ingest_articles_and_publish(runner: CliRunner) -> None:
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    result = runner.invoke(main, ["ingest"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [  # one line per source, nothing else
        "nym-wire: 4 new, 0 updated, 0 unchanged",
        "europe-wire: 3 new, 0 updated, 0 unchanged",
    ]
    again = runner.invoke(main, ["ingest", "nym-wire"])
    assert again.output.splitlines()[0] == "nym-wire: unchanged since the last fetch"

    listed = runner.invoke(main, ["articles", "--json"])
    rows = [json.loads(line) for line in listed.output.splitlines()]
    assert len(rows) == 7
    assert all(list(row) == ARTICLE_KEYS for row in rows)
    assert [r["published"] for r in rows] == sorted((r["published"] for r in rows), reverse=True)
    seed = next(r for r in rows if r["guid"] == "000_8566422078d4f727.txt")
    assert seed["published"] == "2025-06-23T19:09:00Z"
    assert seed["desk"] == "nym" and seed["source"] == "nym-wire"
    # a wire story's url is its page, on the address the server would be started on
    assert all(r["url"] == f"http://127.0.0.1:8000/articles/{r['id']}" for r in rows)
    assert seed["author"] == "NYM Desk"

    trade = runner.invoke(main, ["articles", "--topic", "trade", "--json", "--limit", "1"])
    (row,) = [json.loads(line) for line in trade.output.splitlines()]
    assert "trade" in row["topics"]
    assert runner.invoke(main, ["articles", "--desk", "europe"]).output.count("\n") == 3

    published = runner.invoke(main, ["publish"])
    assert published.exit_code == 0 and "0 changed" in published.output

    public = runner.invoke(
        main, ["articles", "--json", "--limit", "1"], env={"FEEDSVC_BASE_URL": "https://n.example/"}
    )
    (row,) = [json.loads(line) for line in public.output.splitlines()]
    assert row["url"] == f"https://n.example/articles/{row['id']}"


def test_ingest_exits_1_after_storing_the_others(
    runner: CliRunner, feeds_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FEEDSVC_ALLOW_NETWORKS", "127.0.0.0/8")
    with LoopbackServer({"/feed": Reply(status=500, body=b"down")}) as server:
        sources = feeds_dir / "sources.toml"
        sources.write_text(
            sources.read_text() + f'\n[broken]\nkind = "feed"\n'
            f'url = "{server.url("/feed")}"\ndesk = "nym"\n'
        )
        result = runner.invoke(main, ["ingest"])
    assert result.exit_code == 1
    assert "broken: error: HTTP 500" in result.output
    assert "nym-wire: 4 new" in result.output
    listed = runner.invoke(main, ["articles", "--json"])
    assert len(listed.output.splitlines()) == 7


def test_ingest_reports_a_source_another_process_fetches_and_moves_on(
    runner: CliRunner, db_url: str, feeds_dir: Path
) -> None:
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    store = Store.open(db_url)
    try:
        store.sync_sources(load_catalog(feeds_dir).sources.values(), datetime.now(UTC))
        assert store.claim_source("nym-wire", "scheduler:other", datetime.now(UTC), LEASE)
        result = runner.invoke(main, ["ingest"])
        assert result.exit_code == 0, result.output  # busy is not a failure
        assert result.output.splitlines() == [
            "nym-wire: busy: being fetched by another process",
            "europe-wire: 3 new, 0 updated, 0 unchanged",
        ]
        assert store.list_articles(source="nym-wire") == []
        europe = store.source_health("europe-wire")  # the command's own lease is given back
        assert europe is not None and europe.lease_until is None and europe.next_fetch_at
    finally:
        store.close()


def test_loopback_is_refused_without_allow_networks(runner: CliRunner, feeds_dir: Path) -> None:
    with LoopbackServer({"/feed": Reply(body=b"<rss/>")}) as server:
        sources = feeds_dir / "sources.toml"
        sources.write_text(
            sources.read_text() + f'\n[local]\nkind = "feed"\n'
            f'url = "{server.url("/feed")}"\ndesk = "nym"\n'
        )
        result = runner.invoke(main, ["ingest", "local"])
        assert server.hits("/feed") == 0
    assert result.exit_code == 1
    assert "local: error: refused address 127.0.0.1" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["articles", "--limit", "0"], "--limit"),
        (["articles", "--limit", "9223372036854775808"], "--limit"),  # was an OverflowError
        (["articles", "--limit", "99999999999999999999999"], "--limit"),
        (["articles", "--limit", "ten"], "--limit"),
    ],
)
def test_bad_arguments_are_a_usage_error_not_a_traceback(
    runner: CliRunner, args: list[str], message: str
) -> None:
    result = runner.invoke(main, args)
    assert result.exit_code == 2 and message in result.output, result.exception
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_unknown_source_name(runner: CliRunner) -> None:
    result = runner.invoke(main, ["ingest", "nope"])
    assert result.exit_code == 1
    assert "unknown source: nope" in result.output


def test_core_imports_no_web_cli_or_scheduler() -> None:
    """The pipeline stages must stay usable without Flask, click or APScheduler."""
    code = (
        "import sys\n"
        "import feedsvc.catalog, feedsvc.config, feedsvc.fetch, feedsvc.parse, feedsvc.wire\n"
        "import feedsvc.normalise, feedsvc.store, feedsvc.render, feedsvc.publish\n"
        "import feedsvc.refresh, feedsvc.catalog_watch, feedsvc.model, feedsvc.errors\n"
        "import feedsvc.pages, feedsvc.text, feedsvc.urls, feedsvc.classify\n"
        "import feedsvc.websub.intake, feedsvc.websub.worker, feedsvc.websub.calls\n"
        "import feedsvc.lifecycle, feedsvc.tombstone, feedsvc.sources\n"
        "import feedsvc.archive, feedsvc.archive_docs, feedsvc.archive_export\n"
        "import feedsvc.render_history\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'flask', 'click', 'apscheduler', 'werkzeug', 'waitress', 'gunicorn', 'granian'})\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_serve_on_a_busy_port_says_so(runner: CliRunner) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(main, ["serve", "--port", str(port)])
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.output
    assert "Traceback" not in result.output


def test_unreachable_database_is_one_clear_line(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("FEEDSVC_DATABASE_URL", f"postgresql+psycopg://u@127.0.0.1:{port}/x")
    result = runner.invoke(main, ["articles"])
    assert result.exit_code == 1
    assert result.output.startswith("feedsvc: database error: ")
    assert "Traceback" not in result.output


def test_wsgi_with_a_bad_setting_is_one_line(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parent.parent
    env = {"PATH": "/usr/bin:/bin", "FEEDSVC_FEED_SIZE": "0",
           "FEEDSVC_DATABASE_URL": f"sqlite:///{tmp_path / 'w.sqlite3'}"}
    result = subprocess.run([sys.executable, "-c", "import wsgi"], cwd=root, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "feedsvc: FEEDSVC_FEED_SIZE: expected a whole number from 1 to 1000, got '0'"
    )
