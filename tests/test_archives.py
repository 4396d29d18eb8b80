"""RFC 5005 archives, walked as a reader walks them (``archive_walker``, written from the
RFC): every stored, unretracted story of a feed exactly once, in Atom, RSS and JSON Feed,
while stories are added, corrected, retracted, restored and backfilled between walks;
sealed pages keep their bytes unless a story in them changed; every document valid. On
SQLite and PostgreSQL, with a small feed and page size so that there are many pages.
"""

from __future__ import annotations

import dataclasses
import random

import atoma
import pytest
from lxml import etree

from archive_support import (
    BASE,
    DESK,
    TOPIC,
    Newsroom,
    holding,
    pages,
    renamed,
    story,
)
from archive_walker import ATOM, FH
from feedsvc.archive import SPLIT_FACTOR
from feedsvc.config import Settings
from feedsvc.model import Validators
from feedsvc.render import entry_id
from feedsvc.store import Store
from test_validators import atom_errors, json_feed_errors, rss_errors

FEED = 5
PAGE = 4
CHECKS = {"atom": atom_errors, "rss": rss_errors, "json": json_feed_errors}


@pytest.fixture
def newsroom(store: Store, settings: Settings) -> Newsroom:
    return Newsroom(store, settings, feed_size=FEED, page_size=PAGE)


def assert_whole(newsroom: Newsroom, feed: str = DESK, fmt: str = "atom") -> None:
    walked = newsroom.walk(feed, fmt)
    assert walked.once() == newsroom.live(feed), (feed, fmt)
    assert len(walked.current.entries) == min(FEED, len(newsroom.live(feed)))
    for document in walked.documents:
        assert CHECKS[fmt](document.body) == [], document.url


@pytest.mark.parametrize("fmt", ["atom", "rss", "json"])
def test_a_walk_back_from_each_feed_finds_every_story_once(newsroom: Newsroom, fmt: str) -> None:
    newsroom.add(story(n, topics=("security",) if n % 3 == 0 else ()) for n in range(60))
    for feed in (DESK, TOPIC, "feeds/all"):
        assert_whole(newsroom, feed, fmt)
    walked = newsroom.walk(DESK, fmt)
    assert len(walked.archives) >= 60 // PAGE - 2  # many pages, each a document
    assert all(len(document.entries) <= PAGE for document in walked.archives)


def test_history_holds_through_additions_corrections_retractions_and_backfill(
    newsroom: Newsroom,
) -> None:
    stories = [story(n) for n in range(52)]
    newsroom.add(stories[:40])
    first = newsroom.walk()
    assert first.once() == newsroom.live()
    sealed = pages(first)
    assert len(sealed) >= 6

    # newer stories: sealed pages do not move, not a byte
    newsroom.add(stories[40:])
    second = newsroom.walk()
    assert second.once() == newsroom.live()
    assert all(pages(second)[url] == body for url, body in sealed.items())
    sealed = pages(second)

    # a correction re-renders the one page that holds the story, and no other
    corrected = renamed(stories[5], "Story 5, corrected")
    page = holding(second, stories[5])
    newsroom.add([corrected])
    third = newsroom.walk()
    assert third.once() == newsroom.live()
    assert pages(third)[page] != sealed[page] and b"Story 5, corrected" in pages(third)[page]
    assert {url for url in sealed if pages(third)[url] != sealed[url]} == {page}
    sealed = pages(third)

    # a retraction: gone from the walk, its page alone re-rendered
    page = holding(third, stories[9])
    newsroom.retract(stories[9])
    fourth = newsroom.walk()
    assert fourth.once() == newsroom.live()
    assert entry_id(stories[9]) not in fourth.entries
    assert {url for url in sealed if pages(fourth).get(url) != sealed[url]} == {page}
    sealed = pages(fourth)

    # backfill: a story older than all, one between two stored ones
    oldest, between = story(100, hours=-3), story(101, hours=20.5)
    newsroom.add([oldest, between])
    fifth = newsroom.walk()
    assert fifth.once() == newsroom.live()
    changed = {url for url in sealed if pages(fifth).get(url) != sealed[url]}
    assert changed == {holding(fifth, oldest), holding(fifth, between)}

    # retractions in the current document: it still shows FEED stories, none twice
    newsroom.retract(*stories[44:52])
    assert_whole(newsroom)
    newsroom.restore(stories[47])
    for fmt in ("atom", "rss", "json"):
        assert_whole(newsroom, DESK, fmt)
        assert_whole(newsroom, "feeds/all", fmt)


def test_backfill_that_overfills_a_page_splits_it(newsroom: Newsroom) -> None:
    newsroom.add(story(n) for n in range(30))
    before = pages(newsroom.walk())
    newsroom.add(story(200 + n, hours=-100 + n / 10) for n in range(3 * SPLIT_FACTOR * PAGE))
    walked = newsroom.walk()
    assert walked.once() == newsroom.live()
    assert max(len(document.entries) for document in walked.archives) <= SPLIT_FACTOR * PAGE
    untouched = {url: body for url, body in pages(walked).items() if url in before}
    assert len(untouched) >= len(before) - 2  # the oldest page and its neighbour changed
    assert sum(before[url] == body for url, body in untouched.items()) >= len(before) - 2


def test_a_feed_with_everything_in_it_says_complete(newsroom: Newsroom) -> None:
    newsroom.add(story(n) for n in range(FEED))
    for fmt in ("atom", "rss"):
        walked = newsroom.walk(DESK, fmt)
        assert walked.current.complete and walked.archives == []
        assert "prev-archive" not in walked.current.links
        assert CHECKS[fmt](walked.current.body) == []
    assert newsroom.walk(DESK, "json").archives == []
    newsroom.add([story(FEED)])  # one more than fits: it waits in the open page
    for fmt in ("atom", "rss", "json"):
        walked = newsroom.walk(DESK, fmt)
        assert not walked.current.complete
        assert [len(document.entries) for document in walked.archives] == [1]
        assert walked.once() == newsroom.live()


def test_fh_elements_sit_in_the_feed_head(newsroom: Newsroom) -> None:
    newsroom.add(story(n) for n in range(20))
    walked = newsroom.walk()
    for document in walked.archives:
        root = etree.fromstring(document.body)
        marks = [i for i, child in enumerate(root) if child.tag == FH + "archive"]
        entries = [i for i, child in enumerate(root) if child.tag == ATOM + "entry"]
        assert len(marks) == 1 and (not entries or marks[0] < entries[0])
        assert document.links["current"] == f"{BASE}{DESK}.atom"
        assert document.links["self"] == document.url


def test_many_pages_stay_whole_through_random_changes(store: Store, settings: Settings) -> None:
    """A few thousand stories with a small page: a hundred pages and more, walked back."""
    newsroom = Newsroom(store, settings, feed_size=FEED, page_size=20)
    rng = random.Random(5005)
    stories = [story(n, hours=n / 4) for n in range(2500)]
    for start in range(0, len(stories), 500):
        newsroom.add(stories[start : start + 500])
    walked = newsroom.walk()
    assert len(walked.archives) >= 2500 // 20 - 1
    assert walked.once() == newsroom.live()
    newsroom.retract(*rng.sample(stories[:-FEED], 30))
    newsroom.add(story(5000 + n, hours=rng.uniform(-50, 600)) for n in range(60))
    newsroom.add(renamed(s, s.title + " (corrected)") for s in rng.sample(stories, 20))
    walked = newsroom.walk()
    assert walked.once() == newsroom.live()


def test_a_story_stored_between_settling_and_rendering_leaves_no_gap(
    store: Store, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process stores a story while a feed is being published: the current
    document and the open page still meet exactly where the document begins."""
    newsroom = Newsroom(store, settings, feed_size=FEED, page_size=PAGE)
    newsroom.add(story(n) for n in range(20))
    settle = store.settle_archive
    late = iter([story(100), story(101)])

    def settle_then_a_writer(*args: object, **kwargs: object) -> object:
        settled = settle(*args, **kwargs)  # type: ignore[arg-type]
        following = next(late, None)
        if following is not None:  # a batch commits right after the archive was settled
            store.save_batch("nym-wire", [following], Validators(), 200, newsroom.now)
        return settled

    reopened: list[str] = []
    open_archive = store.open_archive

    def counted(listing: str, *args: object) -> object:
        reopened.append(listing)
        return open_archive(listing, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "settle_archive", settle_then_a_writer)
    monkeypatch.setattr(store, "open_archive", counted)
    newsroom.add([story(20)])  # publishes all, then desks/nym: a story lands before each
    monkeypatch.undo()
    assert reopened == ["all", "desks/nym"]  # each saw the story settling had not
    for fmt in ("atom", "json"):
        assert_whole(newsroom, DESK, fmt)  # story 101 came in before it was rendered
        walked = newsroom.walk("feeds/all", fmt)  # rendered before story 101 came in
        assert walked.once() == newsroom.live("feeds/all") - {entry_id(story(101))}
    newsroom.publish(None)  # the writer's own publish
    assert_whole(newsroom, "feeds/all")


def test_a_change_in_the_open_page_reaches_its_readers(newsroom: Newsroom) -> None:
    """The open page's URL stays while the feed does not move; a story in it that is
    corrected or retracted still shows at once (its version moves, not its URL)."""
    stories = [story(n) for n in range(FEED + PAGE + 2)]
    newsroom.add(stories)
    walked = newsroom.walk()
    opened = walked.current.links["prev-archive"]
    assert "-" in opened.rsplit("/", 1)[-1]  # the open page, named by where it ends
    inside = [s for s in stories if entry_id(s) in walked.archives[0].entries]
    assert len(inside) >= 2
    newsroom.add([renamed(inside[0], "Corrected in the open page")])
    newsroom.retract(inside[1])
    again = newsroom.walk()
    assert again.current.links["prev-archive"] == opened
    assert b"Corrected in the open page" in again.archives[0].body
    assert entry_id(inside[1]) not in again.entries
    assert again.once() == newsroom.live()


def test_a_story_that_leaves_a_topic_leaves_its_archive(newsroom: Newsroom) -> None:
    stories = [story(n, topics=("security",)) for n in range(30)]
    newsroom.add(stories)
    moved = dataclasses.replace(
        stories[2], topics=(), fingerprint=stories[2].fingerprint[::-1]
    )
    newsroom.add([moved])
    topic = newsroom.walk(TOPIC)
    assert entry_id(moved) not in topic.entries
    assert topic.once() == newsroom.live(TOPIC)
    assert entry_id(moved) in newsroom.walk(DESK).once()


def test_every_archive_document_reads_in_a_strict_parser(newsroom: Newsroom) -> None:
    newsroom.add(story(n) for n in range(30))
    for fmt, parse in (
        ("atom", lambda body: [e.id_ for e in atoma.parse_atom_bytes(body).entries]),
        ("rss", lambda body: [i.guid for i in atoma.parse_rss_bytes(body).items]),
        ("json", lambda body: [i.id_ for i in atoma.parse_json_feed_bytes(body).items]),
    ):
        walked = newsroom.walk(DESK, fmt)
        for document in walked.documents:
            assert parse(document.body) == document.entries, (fmt, document.url)
