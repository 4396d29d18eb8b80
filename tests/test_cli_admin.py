"""`feedsvc sources …` and `feedsvc opml …`: the admin operations from the shell."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from admin_support import rss
from feedsvc.cli import main
from servers import LoopbackServer, Reply

OPML = """<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head><title>A reader's export</title></head>
  <body>
    <outline text="NYM Desk">
      <outline type="rss" text="Brussels Briefing" xmlUrl="https://brussels.example/rss" />
      <outline type="rss" text="Nested" >
        <outline type="rss" text="Deep Feed" xmlUrl="https://deep.example/feed" />
      </outline>
    </outline>
    <outline type="rss" text="EU Tech" xmlUrl="https://eutech.example/atom"
             category="/europe,/Digital Policy" />
    <outline type="rss" text="Local gopher" xmlUrl="gopher://old.example/1" category="/nym" />
    <outline type="rss" text="No desk" xmlUrl="https://nodesk.example/rss" category="/sports" />
    <outline type="rss" text="Brussels Briefing" xmlUrl="https://brussels.example/rss"
             category="/nym" />
    <outline type="rss" text="Missing URL" category="/nym" />
  </body>
</opml>
"""


@pytest.fixture
def cli(runner: CliRunner) -> CliRunner:
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    return runner


@pytest.fixture
def feed_server() -> Iterator[LoopbackServer]:
    with LoopbackServer({"/feed.rss": Reply(body=rss("x", "y"))}) as server:
        yield server


def run(runner: CliRunner, *args: str, code: int = 0) -> str:
    result = runner.invoke(main, list(args))
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result.output


def test_sources_add_list_pause_resume_remove(cli: CliRunner) -> None:
    out = run(
        cli,
        "sources",
        "add",
        "brief",
        "--url",
        "https://brief.example/rss",
        "--desk",
        "europe",
        "--every",
        "30m",
        "--topic",
        "trade",
        "--title",
        "Brief",
    )
    assert out.strip() == "added brief: https://brief.example/rss (desk europe, every 30m)"
    listing = run(cli, "sources", "list")
    lines = {line.split()[0]: line for line in listing.splitlines() if line[:1].strip()}
    assert set(lines) == {"nym-wire", "europe-wire", "example-world", "brief"}
    assert lines["brief"].split()[1:4] == ["api", "pending", "europe"]
    assert lines["nym-wire"].split()[1] == "file"

    assert run(cli, "sources", "pause", "brief").strip() == "paused brief"
    assert run(cli, "sources", "pause", "nym-wire").strip() == "paused nym-wire"
    rows = [json.loads(line) for line in run(cli, "sources", "list", "--json").splitlines()]
    by_id = {row["id"]: row for row in rows}
    assert by_id["brief"]["paused"] and by_id["brief"]["status"] == "paused"
    assert by_id["brief"]["topics"] == ["trade"] and by_id["brief"]["every"] == "30m"
    assert by_id["nym-wire"]["paused"]
    run(cli, "sources", "resume", "nym-wire")
    assert run(cli, "sources", "remove", "brief").strip() == "removed brief: 0 copies withdrawn"
    assert "brief" not in run(cli, "sources", "list")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["sources", "add", "x", "--url", "https://x.example/", "--desk", "sports"],
            "feedsvc: desk: unknown desk 'sports'",
        ),
        (
            ["sources", "add", "x", "--url", "ftp://x.example/", "--desk", "nym"],
            "feedsvc: url: bad URL 'ftp://x.example/'",
        ),
        (
            [
                "sources",
                "add",
                "x",
                "--url",
                "https://x.example/",
                "--desk",
                "nym",
                "--every",
                "soon",
            ],
            "feedsvc: every: bad interval 'soon'",
        ),
        (
            ["sources", "add", "nym-wire", "--url", "https://x.example/", "--desk", "nym"],
            "feedsvc: source id 'nym-wire' is already taken",
        ),
        (
            ["sources", "remove", "nym-wire"],
            "feedsvc: source 'nym-wire' is managed by feeds/sources.toml",
        ),
        (["sources", "pause", "nope"], "feedsvc: no source 'nope'"),
        (["sources", "remove", "nope"], "feedsvc: no source 'nope'"),
    ],
)
def test_sources_errors_are_one_clear_line(cli: CliRunner, args: list[str], message: str) -> None:
    output = run(cli, *args, code=1)
    assert output.startswith(message), output


def test_ingest_includes_api_sources(
    cli: CliRunner, feed_server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FEEDSVC_ALLOW_NETWORKS", "127.0.0.0/8")
    run(cli, "sources", "add", "loop", "--url", feed_server.url("/feed.rss"), "--desk", "nym")
    out = run(cli, "ingest")
    assert "loop: 2 new, 0 updated, 0 unchanged" in out
    assert "nym-wire: 4 new" in out
    assert run(cli, "ingest", "loop").splitlines()[0] == "loop: unchanged since the last fetch"
    run(cli, "sources", "pause", "loop")
    assert "loop:" not in run(cli, "ingest")  # paused: left out unless named
    assert run(cli, "ingest", "loop").startswith("loop: unchanged")  # named: fetched anyway
    listed = run(cli, "articles", "--source", "loop")
    assert "Story x" in listed and "Story y" in listed


def test_opml_import_maps_desks_and_reports_every_skip(cli: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "reader.opml"
    path.write_text(OPML)
    out = run(cli, "opml", "import", str(path))
    assert "added brussels-briefing: https://brussels.example/rss (desk nym)" in out
    assert "added deep-feed: https://deep.example/feed (desk nym)" in out
    assert "added eu-tech: https://eutech.example/atom (desk europe)" in out
    skipped = [line for line in out.splitlines() if line.startswith("skipped")]
    assert len(skipped) == 4, out
    assert any("'Local gopher'" in s and "only http and https" in s for s in skipped)
    assert any("'No desk'" in s and "no category names a desk (sports)" in s for s in skipped)
    assert any("https://brussels.example/rss is already a source" in s for s in skipped)
    assert any("'Missing URL'): no xmlUrl, not a feed" in s for s in skipped)
    assert out.splitlines()[-1] == "added 3 sources, skipped 4"
    rows = {
        json.loads(line)["id"]: json.loads(line)
        for line in run(cli, "sources", "list", "--json").splitlines()
    }
    assert rows["eu-tech"]["topics"] == ["digital"]  # "Digital Policy" names a topic


def test_opml_import_default_desk_and_dry_run(cli: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "reader.opml"
    path.write_text(OPML)
    out = run(cli, "opml", "import", str(path), "--desk", "europe", "--dry-run")
    assert out.splitlines()[-1] == "would add 4 sources, skipped 3"  # no desk now defaults
    assert "api" not in run(cli, "sources", "list")
    run(cli, "opml", "import", str(path), "--desk", "europe", "--every", "1h")
    rows = {
        json.loads(line)["id"]: json.loads(line)
        for line in run(cli, "sources", "list", "--json").splitlines()
    }
    assert rows["no-desk"]["desk"] == "europe" and rows["no-desk"]["every"] == "1h"
    assert rows["brussels-briefing"]["desk"] == "nym"  # its folder still wins
    assert run(cli, "opml", "import", str(path), "--desk", "sports", code=1).startswith(
        "feedsvc: --desk: unknown desk 'sports'"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("<rss version='2.0'><channel/></rss>", "not an OPML file: the root element is <rss>"),
        ("<opml version='2.0'><head/></opml>", "not an OPML file: no <body>"),
        ("not xml at all", "not an OPML file"),
        (
            '<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY a "aaaaaaaaaa">'
            '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
            '<opml version="2.0"><body><outline text="&b;" xmlUrl="https://x.example/"/>'
            "</body></opml>",
            "not an OPML file",
        ),
        (
            '<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            '<opml version="2.0"><body><outline text="&x;" xmlUrl="https://x.example/"/>'
            "</body></opml>",
            "not an OPML file",
        ),
        (  # folders in folders, 3,000 deep: was a RecursionError traceback
            '<opml version="2.0"><body>' + '<outline text="f">' * 3000
            + '<outline text="x" xmlUrl="https://x.example/"/>' + "</outline>" * 3000
            + "</body></opml>",
            "not an OPML file we read: folders nested deeper than 50",
        ),
    ],
    ids=["rss", "no-body", "not-xml", "entity-expansion", "external-entity", "deep-folders"],
)
def test_opml_import_refuses_what_is_not_safe_opml(
    cli: CliRunner, tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "bad.opml"
    path.write_text(content)
    assert run(cli, "opml", "import", str(path), code=1).startswith(f"feedsvc: {message}")


def test_opml_export_then_import_round_trips(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(
        cli,
        "sources",
        "add",
        "brief",
        "--url",
        "https://brief.example/rss?a=1&b=2",
        "--desk",
        "europe",
        "--every",
        "30m",
        "--topic",
        "trade",
        "--title",
        "Brief & <co>",
    )
    exported = run(cli, "opml", "export")
    assert exported.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    assert 'xmlUrl="https://brief.example/rss?a=1&amp;b=2"' in exported
    assert 'category="/europe,/trade"' in exported
    assert 'xmlUrl="https://example.org/world.rss"' in exported  # the file's feed source too
    target = tmp_path / "out.opml"
    run(cli, "opml", "export", "-o", str(target))
    # The same document but for dateCreated, which is the clock's: the two
    # exports may fall on either side of a second.
    assert _undated(target.read_text()) == _undated(exported)

    monkeypatch.setenv("FEEDSVC_DATABASE_URL", f"sqlite:///{tmp_path / 'other.sqlite3'}")
    out = run(cli, "opml", "import", str(target))
    assert "added brief: https://brief.example/rss?a=1&b=2 (desk europe)" in out
    assert "https://example.org/world.rss is already a source" in out
    rows = [json.loads(line) for line in run(cli, "sources", "list", "--json").splitlines()]
    (brief,) = [row for row in rows if row["origin"] == "api"]
    assert (brief["id"], brief["every"], brief["topics"]) == ("brief", "30m", ["trade"])


def test_opml_ids_that_are_not_ids_become_slugs(cli: CliRunner, tmp_path: Path) -> None:
    """An id is matched whole: a feedsvcId with a newline is slugged, never taken as it is."""
    path = tmp_path / "ids.opml"
    path.write_text(
        '<opml version="2.0"><body>'
        '<outline text="A" xmlUrl="https://a.example/rss" category="/nym" feedsvcId="news&#10;" />'
        '<outline text="B" xmlUrl="https://b.example/rss" category="/nym" feedsvcId="Big News" />'
        "</body></opml>"
    )
    out = run(cli, "opml", "import", str(path))
    assert "added news: https://a.example/rss" in out
    assert "added big-news: https://b.example/rss" in out


def test_the_admin_core_imports_no_web_or_command_line_package() -> None:
    code = (
        "import sys\n"
        "import feedsvc.sources, feedsvc.opml, feedsvc.telemetry, feedsvc.store\n"
        "import feedsvc.admin_models\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'flask', 'click', 'apscheduler', 'werkzeug', 'waitress', 'gunicorn'})\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def _undated(opml: str) -> str:
    return re.sub(r"<dateCreated>[^<]*</dateCreated>", "<dateCreated/>", opml)
