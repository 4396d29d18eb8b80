"""Pages that do not grow with the archive: keyset paging, full-text search, published pages.

Real parts: the sample catalogue ingested into a real SQLite file (and
PostgreSQL when ``FEEDSVC_TEST_POSTGRES_URL`` is set), stories stored with
``save_batch`` and published with ``Publisher``, requests through the app.
That a page request runs no story query is shown by counting the SQL
statements the real engine runs (a SQLAlchemy event listener).
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event

from conftest import ADMIN_TOKEN
from feedsvc.catalog import load_catalog
from feedsvc.config import Settings
from feedsvc.model import Article, Validators
from feedsvc.publish import Publisher
from feedsvc.store import Store
from feedsvc.store.listings import LARGEST_WINDOW, search_windows

SOURCE = "example-world"  # a feed source of the sample catalogue, desk nym
OLDER = re.compile(r'href="([^"]*before=[^"]+)"[^>]*id="older"')
STORY_LINK = re.compile(r'href="/articles/([0-9a-zA-Z_-]+)"')
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def _article(n: int, when: datetime, title: str | None = None) -> Article:
    url = f"https://world.example/paging/{n}"
    return Article(
        id=f"paging{n:06d}",
        source=SOURCE,
        guid=url,
        url=url,
        title=title or f"Paging story {n}",
        summary=f"Summary of paging story {n}.",
        content_html=f"<p>Body {n}</p>",
        author=None,
        desk="nym",
        topics=("security",),
        published=when,
        updated=when,
        language="en",
        fingerprint=f"f{n}",
    )


class Newsroom:
    """Stores stories as a fetch does and publishes what they touched, as the pipeline does."""

    def __init__(self, store: Store, settings: Settings, app: Flask, now: datetime):
        self.store = store
        self.publisher = Publisher(
            store, load_catalog(settings.feeds_dir), base_url=None, feed_size=50
        )
        self.now = now
        self.kept: list[Article] = []
        app.extensions["feedsvc.cache"].check_every = 0.0  # see each publish at once

    def add(self, articles: list[Article]) -> None:
        self.kept += articles
        self.now += timedelta(seconds=1)
        result = self.store.save_batch(SOURCE, self.kept, Validators(), 200, self.now)
        self.publisher.publish(result.touched, self.now)

    def retract(self, story: str) -> None:
        change = self.store.retract(story, "wrong", self.now)
        assert change is not None
        self.publisher.publish(change.touched, self.now)


@pytest.fixture
def newsroom(published: Store, settings: Settings, app: Flask, now: datetime) -> Newsroom:
    return Newsroom(published, settings, app, now)


def _walk(client: FlaskClient, first: str, between: Any = None) -> list[list[str]]:
    """Every page from ``first`` through its "older" links: the story ids of each."""
    pages, url = [], first
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.get_data(as_text=True)
        html = response.get_data(as_text=True)
        pages.append(STORY_LINK.findall(html))
        found = OLDER.search(html)
        url = found.group(1).replace("&amp;", "&") if found else ""
        if url.startswith("?"):
            url = first.split("?")[0] + url
        if between is not None:
            between(len(pages))
    return pages


@pytest.mark.parametrize("page", ["/desks/nym", "/topics/security"])
def test_older_pages_walk_every_story_once_while_stories_arrive(
    client: FlaskClient, newsroom: Newsroom, now: datetime, page: str
) -> None:
    newsroom.add([_article(n, now - timedelta(hours=n)) for n in range(75)])
    before = {a.id for a in newsroom.store.list_articles(topic="security", limit=None)}
    if page == "/desks/nym":
        before = {a.id for a in newsroom.store.list_articles(desk="nym", limit=None)}

    def arrive(turn: int) -> None:  # newer stories, and one older than anything shown yet
        newsroom.add(
            [
                _article(1000 + turn, now + timedelta(minutes=turn)),
                _article(2000 + turn, now - timedelta(days=30 + turn)),
            ]
        )

    pages = _walk(client, page, arrive)
    seen = [story for shown in pages for story in shown]
    assert len(pages) >= 3
    assert len(seen) == len(set(seen))  # nothing twice
    assert before <= set(seen)  # nothing there at the start is missed
    assert all(len(shown) <= 30 for shown in pages)


def _statements(store: Store) -> Any:
    @contextmanager
    def counting() -> Iterator[list[str]]:
        seen: list[str] = []

        def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            seen.append(statement)

        event.listen(store.engine, "before_cursor_execute", record)
        try:
            yield seen
        finally:
            event.remove(store.engine, "before_cursor_execute", record)

    return counting()


def test_published_pages_and_a_story_page_seen_again_run_no_story_query(
    client: FlaskClient, newsroom: Newsroom, now: datetime
) -> None:
    newsroom.add([_article(n, now - timedelta(hours=n)) for n in range(40)])
    client.get("/articles/paging000003")  # kept for this publish generation
    cursor = OLDER.search(client.get("/desks/nym").get_data(as_text=True))
    assert cursor is not None
    client.get(cursor.group(1))
    with _statements(newsroom.store) as seen:
        for path in (
            "/",
            "/desks/nym",
            "/topics/security",
            "/articles/paging000003",
            cursor.group(1),
        ):
            response = client.get(path)
            assert response.status_code == 200, path
            assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
    touching = [s for s in seen if re.search(r"\b(stories|copies|memberships)\b", s)]
    assert touching == []
    newest = client.get("/").get_data(as_text=True)
    assert "Paging story 0" in newest  # the publish put the new stories on the index


def test_a_published_page_answers_304_to_its_etag(client: FlaskClient) -> None:
    first = client.get("/desks/nym")
    assert first.headers["ETag"]
    again = client.get("/desks/nym", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304


@pytest.mark.parametrize(
    "path",
    [
        "/desks/nym?before=nonsense",
        "/topics/security?before=",
        "/desks/nym?before=" + "A" * 500,
        "/search?q=pact&before=%01%FF",  # (a NUL is refused earlier, for every URL: test_hosts)
        "/desks/nym?before=MS4xNzAwMDAwMDAwMDAwMDAwLmEgYg",  # a well-formed key, no story id
    ],
)
def test_a_bad_cursor_is_a_400_with_a_reason(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 400
    assert response.get_data(as_text=True).startswith("bad before= cursor: ")
    assert response.mimetype == "text/plain"


def test_search_finds_by_words_newest_first_and_never_a_retracted_story(
    client: FlaskClient, newsroom: Newsroom, now: datetime
) -> None:
    newsroom.add(
        [
            _article(1, now - timedelta(hours=1), "Zeppelin lands in Brussels"),
            _article(2, now - timedelta(hours=2), "Second zeppelin sighted"),
            _article(3, now - timedelta(hours=3), "Nothing about airships"),
        ]
    )
    found = STORY_LINK.findall(client.get("/search?q=ZEPPELIN").get_data(as_text=True))
    assert found == ["paging000001", "paging000002"]
    both = STORY_LINK.findall(client.get("/search?q=zeppelin+brussels").get_data(as_text=True))
    assert both == ["paging000001"]
    newsroom.retract("paging000001")
    found = STORY_LINK.findall(client.get("/search?q=zeppelin").get_data(as_text=True))
    assert found == ["paging000002"]
    page = client.get("/search")
    assert page.status_code == 200 and 'name="q"' in page.get_data(as_text=True)
    assert "Nothing found" not in page.get_data(as_text=True)
    assert 'rel="alternate"' in page.get_data(as_text=True)
    assert page.headers["Content-Security-Policy"].startswith("default-src 'none'")


@pytest.mark.parametrize(
    "q",
    [
        "",
        " ",
        "x" * 10_240,
        '"',
        "'",
        '"unbalanced',
        "a\x01b",
        "\x1b[31m",
        "AND OR NOT",
        "NEAR(a b)",
        "title:pact",
        "*",
        "-pact",
        "(((",
        "a & b | !c <-> d",
        "🙂",
        "%_\\",
    ],
)
def test_hostile_search_text_is_answered_not_crashed(client: FlaskClient, q: str) -> None:
    response = client.get("/search", query_string={"q": q})
    assert response.status_code == 200
    assert "Search" in response.get_data(as_text=True)


def test_a_nul_in_the_search_text_is_refused_before_any_query(client: FlaskClient) -> None:
    """PostgreSQL refuses NUL in text: the web tier's outermost check answers first."""
    for q in ("a\x00b", "\x00"):
        response = client.get("/search", query_string={"q": q})
        assert response.status_code == 400
        assert "NUL" in response.get_data(as_text=True)


def test_the_api_pages_by_cursor_through_every_story(
    admin_app: Flask, newsroom: Newsroom, now: datetime
) -> None:
    newsroom.add([_article(n, now - timedelta(hours=n)) for n in range(23)])
    client = admin_app.test_client()
    expected = [a.id for a in newsroom.store.list_articles(limit=None)]
    walked: list[str] = []
    url = "/api/v1/articles?limit=7"
    while url:
        body = client.get(url, headers=AUTH).get_json()
        walked += [a["id"] for a in body["articles"]]
        url = f"/api/v1/articles?limit=7&before={body['next']}" if body["next"] else ""
    assert walked == expected
    offset = client.get("/api/v1/articles?limit=7&offset=7", headers=AUTH).get_json()
    assert [a["id"] for a in offset["articles"]] == expected[7:14]
    bad = client.get("/api/v1/articles?before=nonsense", headers=AUTH)
    assert bad.status_code == 400 and "cursor" in bad.get_json()["error"]
    found = client.get("/api/v1/articles?q=paging+story+5", headers=AUTH).get_json()
    assert [a["id"] for a in found["articles"]] == ["paging000005"]


_T = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("sampled", "span", "limit", "expected"),
    [
        # fewer matches than a sample: sort them all, no windows
        (255, timedelta(days=1), 30, (None,)),
        (0, timedelta(0), 30, (None,)),
        # a full sample over 256 h: one match an hour, twice a page back is 60 h
        (256, timedelta(hours=256), 30, (timedelta(hours=60), timedelta(hours=240))),
        # dense matches: never less than the smallest window
        (256, timedelta(minutes=1), 30, (timedelta(hours=6), timedelta(hours=24))),
        # sparse matches: the guess is capped, then everything
        (256, timedelta(days=100_000), 30, ()),
    ],
)
def test_search_windows_follow_the_density_of_a_sample(
    sampled: int, span: timedelta, limit: int, expected: tuple[timedelta | None, ...]
) -> None:
    windows = search_windows(sampled, _T - span, _T, limit)
    if expected == (None,):
        assert windows == (None,)
        return
    assert windows[: len(expected)] == expected
    assert windows[-2:] == (LARGEST_WINDOW, None)  # a wrong guess ends in "everything"
    grown = [w for w in windows if w is not None]
    assert grown == sorted(grown) and all(w <= LARGEST_WINDOW for w in grown)


def test_a_common_word_walked_by_cursor_finds_every_match_once_across_the_windows(
    admin_app: Flask, newsroom: Newsroom, now: datetime
) -> None:
    """More matches than one sample, in bursts and across long gaps, so the windows'
    guesses are both too small and too large: the walk still finds each match once."""
    rng = random.Random(12)
    when, stories = now, []
    for n in range(700):
        when -= timedelta(minutes=rng.choice([1, 1, 5, 60, 60 * 24 * 90]))
        title = f"Common story {n}" if n % 7 else f"Other story {n}"
        stories.append(_article(n, when, title))
    newsroom.add(stories)
    client = admin_app.test_client()
    expected = [
        a.id for a in newsroom.store.list_articles(limit=None) if a.title.startswith("Common")
    ]
    assert len(expected) == 600
    walked: list[str] = []
    url = "/api/v1/articles?q=common&limit=40"
    while url:
        body = client.get(url, headers=AUTH).get_json()
        walked += [a["id"] for a in body["articles"]]
        url = f"/api/v1/articles?q=common&limit=40&before={body['next']}" if body["next"] else ""
    assert walked == expected
