"""Retraction by an operator, end to end: the command line, the admin API and the admin page.

Each path is followed to what readers get: every published feed (parsed back),
the Atom tombstone (and the Atom still valid against RFC 4287 and RFC 6721),
the static export, the HTML pages, the article lookup, and the way back by
restore. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import feedparser
import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient

from admin_support import AUTH, csrf_of, log_in, rss, run_queued
from feedsvc.cli import main
from feedsvc.config import Settings
from feedsvc.model import Article
from feedsvc.render import entry_id
from feedsvc.store import Store
from servers import LoopbackServer, Reply
from test_stories import tombstones
from test_validators import atom_errors

REASON = "The figures in the second paragraph were wrong"


def entries(body: bytes, fmt: str) -> list[str]:
    """The entry ids a feed carries, in any of the three formats."""
    if fmt == "json":
        return [item["id"] for item in json.loads(body)["items"]]
    return [entry.id for entry in feedparser.parse(body).entries]


def carried(feeds: dict[str, bytes], story: Article) -> set[str]:
    """The feed files (path with format) that carry the story as an entry."""
    return {
        path
        for path, body in feeds.items()
        if path.rsplit(".", 1)[-1] in ("rss", "atom", "json")
        and entry_id(story) in entries(body, path.rsplit(".", 1)[-1])
    }


def listed_in(story: Article) -> set[str]:
    feeds = {"feeds/all", f"feeds/desks/{story.desk}"}
    feeds |= {f"feeds/topics/{topic}" for topic in story.topics}
    return {f"{feed}.{fmt}" for feed in feeds for fmt in ("rss", "atom", "json")}


def exported(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in folder.rglob("*")
        if path.suffix in (".rss", ".atom", ".json")
    }


@pytest.fixture
def cli(runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("FEEDSVC_PUBLISH_DIR", str(tmp_path / "export"))
    monkeypatch.setenv("FEEDSVC_BASE_URL", "https://feeds.example/")
    result = runner.invoke(main, ["ingest"])
    assert result.exit_code == 0, result.output
    return runner


@pytest.fixture
def opened(db_url: str) -> Iterator[Store]:
    store = Store.open(db_url)
    yield store
    store.close()


def invoke(cli: CliRunner, *args: str) -> str:
    result = cli.invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_retract_and_restore_from_the_command_line(
    cli: CliRunner, opened: Store, tmp_path: Path
) -> None:
    export = tmp_path / "export"
    story = opened.list_articles(desk="nym")[0]
    feeds = {feed.path: feed.body for feed in opened.load_feeds()}
    assert carried(feeds, story) == listed_in(story)
    assert carried(exported(export), story) == listed_in(story)

    out = invoke(cli, "articles", "retract", story.id, "--reason", REASON)
    assert out.strip() == f"retracted {story.id}: {story.title}"
    found = opened.article(story.id)
    assert found is not None and found.retracted is not None
    assert (found.retracted.reason, found.retracted.by) == (REASON, "operator")
    feeds = {feed.path: feed.body for feed in opened.load_feeds()}
    assert carried(feeds, story) == set()
    assert carried(exported(export), story) == set()
    for path in listed_in(story):
        if path.endswith(".atom"):
            assert tombstones(feeds[path]) == [(entry_id(story), REASON)], path
            assert tombstones((export / path).read_bytes()) == [(entry_id(story), REASON)]
    for path, body in feeds.items():
        if path.endswith(".atom"):
            assert not atom_errors(body), path
            if path not in listed_in(story):
                assert tombstones(body) == [], path  # only the feeds that carried it

    listed = [json.loads(line) for line in invoke(cli, "articles", "--json").splitlines()]
    assert story.id not in {item["id"] for item in listed}
    assert all(item["retracted"] is None for item in listed)
    (gone,) = [
        json.loads(line) for line in invoke(cli, "articles", "--retracted", "--json").splitlines()
    ]
    assert gone["id"] == story.id and gone["retracted"]["reason"] == REASON
    assert gone["retracted"]["at"].endswith("Z")
    text = invoke(cli, "articles", "--retracted")
    assert story.title in text and REASON in text

    assert invoke(cli, "articles", "restore", story.id).strip() == (
        f"restored {story.id}: {story.title}"
    )
    feeds = {feed.path: feed.body for feed in opened.load_feeds()}
    assert carried(feeds, story) == listed_in(story)
    assert carried(exported(export), story) == listed_in(story)
    assert all(tombstones(body) == [] for path, body in feeds.items() if path.endswith(".atom"))
    assert invoke(cli, "articles", "--retracted") == ""
    restored = opened.article(story.id)
    assert restored is not None and restored.retracted is None


def test_the_command_line_refuses_what_it_cannot_do(cli: CliRunner, opened: Store) -> None:
    unknown = cli.invoke(main, ["articles", "retract", "nope"])
    assert unknown.exit_code == 1 and "no article 'nope'" in unknown.output
    story = opened.list_articles()[0]
    long = cli.invoke(main, ["articles", "retract", story.id, "--reason", "x" * 501])
    assert long.exit_code == 1 and "reason" in long.output and "Traceback" not in long.output
    assert opened.article(story.id).retracted is None  # type: ignore[union-attr]
    twice = invoke(cli, "articles", "restore", story.id)  # restoring a live story is a no-op
    assert twice.startswith("restored")


@pytest.fixture
def api(admin_client: FlaskClient) -> FlaskClient:
    """The admin app, its feed cache looking for a new publish on every request."""
    admin_client.application.extensions["feedsvc.cache"].check_every = 0.0
    return admin_client


@pytest.fixture
def feed_server() -> Iterator[LoopbackServer]:
    with LoopbackServer({"/feed.rss": Reply(body=rss("only"))}) as server:
        yield server


def test_retract_and_restore_through_the_api(api: FlaskClient, published: Store) -> None:
    story = published.list_articles(desk="nym")[0]
    path = f"/api/v1/articles/{story.id}"
    assert api.post(f"{path}/retract").status_code == 401
    for body, field in (
        ({"reason": 5}, "reason"),
        ({"reason": "x" * 501}, "reason"),
        ({"why": "x"}, "why"),
    ):
        refused = api.post(f"{path}/retract", json=body, headers=AUTH)
        assert refused.status_code == 400 and refused.json["field"] == field, refused.json
    not_json = api.post(f"{path}/retract", data=b"{", content_type="application/json", headers=AUTH)
    assert not_json.status_code == 400 and "JSON" in not_json.json["error"]
    assert api.post("/api/v1/articles/nope/retract", headers=AUTH).status_code == 404
    assert api.post("/api/v1/articles/nope/restore", headers=AUTH).status_code == 404
    assert published.article(story.id).retracted is None  # type: ignore[union-attr]

    done = api.post(f"{path}/retract", json={"reason": f"  {REASON}\n"}, headers=AUTH)
    assert done.status_code == 200
    assert done.json["id"] == story.id and done.json["retracted"]["reason"] == REASON
    page = api.get(f"/desks/{story.desk}")
    assert page.status_code == 200 and story.title.encode() not in page.data
    atom = api.get(f"/feeds/desks/{story.desk}.atom")
    assert tombstones(atom.data) == [(entry_id(story), REASON)] and not atom_errors(atom.data)
    listed = api.get("/api/v1/articles?retracted=true", headers=AUTH).json
    assert [a["id"] for a in listed["articles"]] == [story.id] and listed["total"] == 1

    back = api.post(f"{path}/restore", headers=AUTH)
    assert back.status_code == 200 and back.json["retracted"] is None
    assert story.title.encode() in api.get(f"/desks/{story.desk}").data


def test_a_story_whose_source_is_deleted_cannot_be_restored_by_hand(
    api: FlaskClient, admin_settings: Settings, published: Store, feed_server: LoopbackServer
) -> None:
    new = {"id": "loop", "url": feed_server.url("/feed.rss"), "desk": "europe"}
    assert api.post("/api/v1/sources", json=new, headers=AUTH).status_code == 201
    assert api.post("/api/v1/sources/loop/refresh", headers=AUTH).status_code == 202
    run_queued(admin_settings, published)  # the scheduler's next tick fetches it
    (story,) = published.list_articles(source="loop")
    assert story.title.encode() in api.get("/feeds/desks/europe.rss").data
    assert api.delete("/api/v1/sources/loop", headers=AUTH).status_code == 204
    gone = published.article(story.id)
    assert gone is not None and gone.retracted is not None and gone.retracted.by == "withdrawn"
    assert story.title.encode() not in api.get("/feeds/desks/europe.rss").data
    atom = api.get("/feeds/desks/europe.atom").data
    assert tombstones(atom) == [(entry_id(story), None)]
    refused = api.post(f"/api/v1/articles/{story.id}/restore", headers=AUTH)
    assert refused.status_code == 409 and "no copy left" in refused.json["error"]
    # an operator may still take it over: a returning source then does not bring it back
    taken = api.post(f"/api/v1/articles/{story.id}/retract", headers=AUTH)
    assert taken.status_code == 200


def test_retract_and_restore_on_the_admin_page(admin_client: FlaskClient, published: Store) -> None:
    token = log_in(admin_client)
    story = published.list_articles(source="nym-wire")[0]
    source_page = admin_client.get("/admin/sources/nym-wire").data.decode()
    assert f'href="/admin/articles/{story.id}"' in source_page
    page = admin_client.get(f"/admin/articles/{story.id}")
    assert page.status_code == 200 and b'value="retract"' in page.data
    assert b"nym-wire" in page.data  # the sources carrying it
    assert admin_client.get("/admin/articles/nope").status_code == 404
    refused = admin_client.post(f"/admin/articles/{story.id}/retract", data={"reason": "x"})
    assert refused.status_code == 400  # no CSRF token
    done = admin_client.post(
        f"/admin/articles/{story.id}/retract",
        data={"csrf_token": token, "reason": REASON},
        follow_redirects=True,
    )
    assert done.status_code == 200 and b"retracted" in done.data and REASON.encode() in done.data
    assert published.article(story.id).retracted is not None  # type: ignore[union-attr]
    token = csrf_of(done.data)
    back = admin_client.post(
        f"/admin/articles/{story.id}/restore", data={"csrf_token": token}, follow_redirects=True
    )
    assert back.status_code == 200 and b'id="state">published' in back.data
    assert published.article(story.id).retracted is None  # type: ignore[union-attr]
