"""The batch planner alone: plain data in, a plan out, no database.

Table-driven cases pin each rule; hypothesis then runs generated histories
of batches from two sources through the planner and a small in-memory model
of the tables, and checks what must hold whatever the batch: the plan never
breaks a constraint the real tables have (one story per URL, one row per
item and topic), it says exactly which desks and topics changed, and storing
the same batch again changes nothing.
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import feedsvc.store.plan as plan_module
from feedsvc.model import Article, Touched
from feedsvc.store.plan import (
    Action,
    KnownItem,
    Lookups,
    Plan,
    StoredStory,
    lookups_for,
    plan_batch,
)

T0 = datetime(2025, 6, 23, 19, 9, tzinfo=UTC)
NEW, UPDATED, UNCHANGED, MERGED, SKIPPED = (
    Action.NEW,
    Action.UPDATED,
    Action.UNCHANGED,
    Action.MERGED,
    Action.SKIPPED,
)


def art(
    guid: str,
    url: str | None = None,
    fp: str = "f1",
    desk: str = "nym",
    topics: tuple[str, ...] = (),
    source: str = "a",
    dated: bool = True,
) -> Article:
    """An article of ``source``; its id follows from (source, guid) as normalise's does."""
    return Article(
        id=f"{source}:{guid}",
        source=source,
        guid=guid,
        url=url,
        title=f"title {guid} {fp}",
        summary="",
        content_html="",
        author=None,
        desk=desk,
        topics=topics,
        published=T0,
        updated=T0,
        language=None,
        dated=dated,
        fingerprint=fp,
    )


def story(desk: str = "nym", *topics: str) -> StoredStory:
    return StoredStory(desk, frozenset(topics))


def touched(desks: str = "", topics: str = "") -> Touched:
    return Touched(frozenset(desks.split()), frozenset(topics.split()))


# -- table-driven: one rule each ---------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    batch: Sequence[Article]
    expected: Sequence[tuple[Action, str | None]]
    touched: Touched = field(default_factory=Touched)
    known: Mapping[str, KnownItem] = field(default_factory=dict)
    owners: Mapping[str, str] = field(default_factory=dict)
    stories: Mapping[str, StoredStory] = field(default_factory=dict)


CASES = [
    Case(
        "a first-seen item is a new story",
        [art("g1", "https://x/1", topics=("security",))],
        [(NEW, "a:g1")],
        touched("nym", "security"),
    ),
    Case(
        "a known item with the same fingerprint costs nothing",
        [art("g1", "https://x/1")],
        [(UNCHANGED, "a:g1")],
        known={"g1": KnownItem("a:g1", "f1")},
    ),
    Case(
        "a changed own story is updated, listed where it was and where it is now",
        [art("g1", "https://x/1", fp="f2", desk="europe", topics=("trade",))],
        [(UPDATED, "a:g1")],
        touched("nym europe", "security trade"),
        known={"g1": KnownItem("a:g1", "f1")},
        owners={"https://x/1": "a:g1"},
        stories={"a:g1": story("nym", "security")},
    ),
    Case(
        "a changed copy of a story another source holds changes nothing shown",
        [art("g1", "https://x/1", fp="f2")],
        [(UNCHANGED, "b:g9")],
        known={"g1": KnownItem("b:g9", "f1")},
    ),
    Case(
        "a first-seen item whose URL is a stored story merges and adds its topics",
        [art("g1", "https://x/1", topics=("ukraine",))],
        [(MERGED, "b:g9")],
        touched("world", "security ukraine"),
        owners={"https://x/1": "b:g9"},
        stories={"b:g9": story("world", "security")},
    ),
    Case(
        "a merge that brings no new topic changes no listing",
        [art("g1", "https://x/1", topics=("security",))],
        [(MERGED, "b:g9")],
        owners={"https://x/1": "b:g9"},
        stories={"b:g9": story("world", "security")},
    ),
    Case(
        "the same URL twice in one batch: the second merges into the first",
        [art("g1", "https://x/1", topics=("a",)), art("g2", "https://x/1", topics=("b",))],
        [(NEW, "a:g1"), (MERGED, "a:g1")],
        touched("nym", "a b"),
    ),
    Case(
        "a guid repeated in the batch: the first counts",
        [art("g1", "https://x/1"), art("g1", "https://x/2", fp="f2")],
        [(NEW, "a:g1"), (SKIPPED, None)],
        touched("nym"),
    ),
    Case(
        "items without a URL never merge",
        [art("g1"), art("g2")],
        [(NEW, "a:g1"), (NEW, "a:g2")],
        touched("nym"),
    ),
    Case(
        "a merge into an own story updated later in the batch joins its topics",
        [art("g2", "https://x/1", topics=("b",)), art("g1", "https://x/1", fp="f2")],
        [(MERGED, "a:g1"), (UPDATED, "a:g1")],
        touched("nym", "a b"),
        known={"g1": KnownItem("a:g1", "f1")},
        owners={"https://x/1": "a:g1"},
        stories={"a:g1": story("nym", "a")},
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_each_rule(case: Case) -> None:
    plan = plan_batch(case.batch, case.known, case.owners, case.stories)
    assert [(d.action, d.article_id) for d in plan.decisions] == list(case.expected)
    assert [d.guid for d in plan.decisions] == [a.guid for a in case.batch]
    assert plan.touched == case.touched
    assert bool(plan.touched) == bool(plan.changed_ids)


def test_a_new_url_that_is_another_story_keeps_the_stored_one() -> None:
    batch = [art("g1", "https://x/taken", fp="f2"), art("g2", fp="f2")]
    plan = plan_batch(
        batch,
        {"g1": KnownItem("a:g1", "f1"), "g2": KnownItem("a:g2", "f1")},
        {"https://x/taken": "b:g9"},
        {"a:g1": story(), "a:g2": story()},
    )
    assert [(w.article.id, w.keep_url) for w in plan.updates] == [("a:g1", True), ("a:g2", True)]


def test_an_update_and_a_new_item_wanting_one_url_never_both_get_it() -> None:
    known = {"g1": KnownItem("a:g1", "f1")}
    stories = {"a:g1": story()}
    update_first = plan_batch(
        [art("g1", "https://x/new", fp="f2"), art("g2", "https://x/new")], known, {}, stories
    )
    assert [d.action for d in update_first.decisions] == [UPDATED, MERGED]
    assert update_first.updates[0].keep_url is False
    new_first = plan_batch(
        [art("g2", "https://x/new"), art("g1", "https://x/new", fp="f2")], known, {}, stories
    )
    assert [d.action for d in new_first.decisions] == [NEW, UPDATED]
    assert new_first.updates[0].keep_url is True


def test_an_undated_update_keeps_the_first_seen_time() -> None:
    known = {"g1": KnownItem("a:g1", "f1"), "g2": KnownItem("a:g2", "f1")}
    plan = plan_batch(
        [art("g1", fp="f2", dated=False), art("g2", fp="f2")],
        known,
        {},
        {"a:g1": story(), "a:g2": story()},
    )
    assert [w.keep_published for w in plan.updates] == [True, False]


def test_rows_to_write() -> None:
    known = {"g1": KnownItem("a:g1", "f1"), "g3": KnownItem("b:g9", "f1")}
    batch = [
        art("g1", "https://x/1", fp="f2", topics=("t1",)),
        art("g2", "https://x/2", topics=("t2",)),
        art("g3", fp="f3"),
        art("g4", "https://x/9", topics=("t9",)),
    ]
    plan = plan_batch(
        batch,
        known,
        {"https://x/1": "a:g1", "https://x/9": "b:g9"},
        {"a:g1": story("nym", "t1"), "b:g9": story("world", "t0")},
    )
    assert [w.article.id for w in plan.inserts] == ["a:g2"]
    assert [w.article.id for w in plan.updates] == ["a:g1"]
    assert [(i.guid, i.article_id, i.fingerprint) for i in plan.new_items] == [
        ("g2", "a:g2", "f1"),
        ("g4", "b:g9", "f1"),
    ]
    assert [(i.guid, i.article_id, i.fingerprint) for i in plan.seen_items] == [
        ("g1", "a:g1", "f2"),
        ("g3", "b:g9", "f3"),
    ]
    assert plan.topic_unions == (("b:g9", frozenset({"t9"})),)
    assert plan.changed_ids == ("a:g2", "a:g1", "b:g9")
    assert (plan.count(NEW), plan.count(UPDATED), plan.count(UNCHANGED)) == (1, 1, 1)
    assert plan.count(MERGED) == 1 and plan.count(SKIPPED) == 0


def test_what_to_read_first() -> None:
    known = {
        "same": KnownItem("a:same", "f1"),
        "own": KnownItem("a:own", "f1"),
        "copy": KnownItem("b:g9", "f1"),
    }
    batch = [
        art("same", "https://x/same"),
        art("own", "https://x/own", fp="f2"),
        art("copy", "https://x/copy", fp="f2"),
        art("new", "https://x/new"),
        art("new", "https://x/repeated"),
        art("bare"),
    ]
    assert lookups_for(batch, known) == Lookups(
        frozenset({"https://x/own", "https://x/new"}), frozenset({"a:own"})
    )
    assert lookups_for(batch[:1], known) == Lookups(frozenset(), frozenset())


def test_a_story_the_store_did_not_describe_is_an_error_not_a_wrong_plan() -> None:
    with pytest.raises(LookupError, match="b:g9"):
        plan_batch([art("g1", "https://x/1")], {}, {"https://x/1": "b:g9"}, {})


def test_the_planner_imports_nothing_but_the_standard_library_and_the_model() -> None:
    tree = ast.parse(Path(plan_module.__file__).read_text(encoding="utf-8"))
    imported = {
        (node.module or "") if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    allowed = {"__future__", "collections.abc", "dataclasses", "enum", "feedsvc.model"}
    assert imported <= allowed


# -- generated: what holds for any batch ---------------------------------------------------


@dataclass
class Row:
    """One ``articles`` row of the model, with its topics."""

    url: str | None
    desk: str
    topics: frozenset[str]
    fingerprint: str
    published: datetime


@dataclass
class Tables:
    """The ``articles``, ``article_topics`` and ``items`` tables, with their constraints."""

    stories: dict[str, Row] = field(default_factory=dict)
    items: dict[tuple[str, str], KnownItem] = field(default_factory=dict)

    def read_and_plan(self, source: str, batch: Sequence[Article]) -> Plan:
        """What ``store.articles`` reads for the planner, read from the model."""
        known = {guid: item for (src, guid), item in self.items.items() if src == source}
        needs = lookups_for(batch, known)
        owners = {
            row.url: story
            for story, row in self.stories.items()
            if row.url is not None and row.url in needs.urls
        }
        wanted = needs.article_ids | set(owners.values())
        stories = {s: StoredStory(self.stories[s].desk, self.stories[s].topics) for s in wanted}
        return plan_batch(batch, known, owners, stories)

    def apply(self, source: str, plan: Plan) -> None:
        """In the order ``store.articles`` writes, failing where the database would."""
        for write in plan.inserts:
            assert write.article.id not in self.stories, "duplicate article id"
            self._claim(write.article.url, write.article.id)
            self.stories[write.article.id] = Row(
                write.article.url,
                write.article.desk,
                write.topics,
                write.article.fingerprint,
                write.article.published,
            )
        for write in plan.updates:
            row = self.stories[write.article.id]
            if not write.keep_url:
                self._claim(write.article.url, write.article.id)
                row.url = write.article.url
            if not write.keep_published:
                row.published = write.article.published
            row.desk, row.topics = write.article.desk, write.topics
            row.fingerprint = write.article.fingerprint
        for story_id, added in plan.topic_unions:
            row = self.stories[story_id]
            assert not added & row.topics, "duplicate topic row"
            row.topics |= added
        for link in plan.new_items:
            assert (source, link.guid) not in self.items, "duplicate item row"
            assert link.article_id in self.stories, "item points nowhere"
            self.items[(source, link.guid)] = KnownItem(link.article_id, link.fingerprint)
        for link in plan.seen_items:
            assert self.items[(source, link.guid)].article_id == link.article_id
            self.items[(source, link.guid)] = KnownItem(link.article_id, link.fingerprint)

    def _claim(self, url: str | None, story_id: str) -> None:
        if url is None:
            return
        holders = {s for s, row in self.stories.items() if row.url == url} - {story_id}
        assert not holders, f"{url} is already {holders}'s"

    def snapshot(self) -> dict[str, Row]:
        return {story: dataclasses.replace(row) for story, row in self.stories.items()}


_SOURCES = ("a", "b")
_URLS = (None, "https://x/1", "https://x/2", "https://x/3")


@st.composite
def articles(draw: st.DrawFn, source: str) -> Article:
    return art(
        guid=draw(st.sampled_from(("g1", "g2", "g3", "g4"))),
        url=draw(st.sampled_from(_URLS)),
        fp=draw(st.sampled_from(("f1", "f2", "f3"))),
        desk=draw(st.sampled_from(("nym", "europe"))),
        topics=tuple(draw(st.sets(st.sampled_from(("t1", "t2", "t3")), max_size=2))),
        source=source,
        dated=draw(st.booleans()),
    )


@st.composite
def histories(draw: st.DrawFn) -> list[tuple[str, list[Article]]]:
    """A few batches, each from one of two sources, in the order they arrive."""
    runs = []
    for _ in range(draw(st.integers(min_value=1, max_value=5))):
        source = draw(st.sampled_from(_SOURCES))
        runs.append((source, draw(st.lists(articles(source), max_size=6))))
    return runs


def _listing(row: Row) -> Touched:
    return Touched(frozenset({row.desk}), row.topics)


@settings(max_examples=400, deadline=None)
@given(histories())
def test_any_history_keeps_the_tables_valid_and_reports_exactly_what_changed(
    history: list[tuple[str, list[Article]]],
) -> None:
    tables = Tables()
    for source, batch in history:
        before = tables.snapshot()
        plan = tables.read_and_plan(source, batch)
        tables.apply(source, plan)
        after = tables.snapshot()

        assert [d.guid for d in plan.decisions] == [a.guid for a in batch]
        repeated = [a.guid in {b.guid for b in batch[:i]} for i, a in enumerate(batch)]
        assert [d.action is SKIPPED for d in plan.decisions] == repeated
        assert sum(plan.count(action) for action in Action) == len(batch)
        changed = {s for s in after if before.get(s) != after[s]}
        assert set(plan.changed_ids) == changed
        listed = [_listing(row) for s in changed for row in (before.get(s), after[s]) if row]
        assert plan.touched == Touched.union(listed)
        assert plan.count(NEW) == len(set(after) - set(before))

        again = tables.read_and_plan(source, batch)  # the same batch once more: nothing to do
        assert {d.action for d in again.decisions} <= {UNCHANGED, SKIPPED}
        assert not (again.inserts or again.updates or again.new_items or again.topic_unions)
        assert not again.seen_items and not again.touched


@settings(max_examples=200, deadline=None)
@given(histories(), st.lists(articles("a"), max_size=6))
def test_the_plan_depends_on_its_inputs_only_and_leaves_them_alone(
    history: list[tuple[str, list[Article]]], batch: list[Article]
) -> None:
    tables = Tables()
    for source, earlier in history:
        tables.apply(source, tables.read_and_plan(source, earlier))
    known = {guid: item for (src, guid), item in tables.items.items() if src == "a"}
    owners = {row.url: s for s, row in tables.stories.items() if row.url is not None}
    stories = {s: StoredStory(row.desk, row.topics) for s, row in tables.stories.items()}
    inputs = (list(batch), dict(known), dict(owners), dict(stories))
    first = plan_batch(batch, known, owners, stories)
    assert plan_batch(batch, known, owners, stories) == first
    assert (batch, known, owners, stories) == inputs
    assert first == tables.read_and_plan("a", batch)  # reading more than needed changes nothing
