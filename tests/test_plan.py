"""The batch planner and the election alone: plain data in, a plan out, no database.

Table-driven cases pin each rule; hypothesis then runs generated histories of
batches from three sources (one of them a folder whose files come and go)
through the planner and a small in-memory model of the tables, and checks what
must hold whatever the batch: the plan never breaks a constraint the real
tables have (one story per identity URL, one copy per source in a story, every
copy in a story), every story shows the copy the election picks, it says
exactly which stories changed and which desks and topics that reached, and
storing the same batch again changes nothing.
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import feedsvc.store.election as election_module
import feedsvc.store.plan as plan_module
from feedsvc.model import Article, Retraction, Touched
from feedsvc.store.election import (
    Member,
    StoredStory,
    StoryState,
    elect,
    settle,
    site_host,
    touched_by,
)
from feedsvc.store.plan import (
    Action,
    KnownCopy,
    Lookups,
    candidate_identity,
    lookups_for,
    plan_batch,
)
from plan_model import HOMES, RANKS, T0, Run, Tables, art, articles, histories

NOW = T0 + timedelta(days=1)
NEW, UPDATED, UNCHANGED, MERGED, SKIPPED, RETURNED, WITHDRAWN = (
    Action.NEW,
    Action.UPDATED,
    Action.UNCHANGED,
    Action.MERGED,
    Action.SKIPPED,
    Action.RETURNED,
    Action.WITHDRAWN,
)


def member(
    copy: str,
    desk: str = "world",
    topics: tuple[str, ...] = (),
    identity: str | None = None,
    present: bool = True,
    seen: datetime = T0,
) -> Member:
    source = copy.split(":")[0]
    return Member(copy, source, desk, frozenset(topics), T0, T0, seen, identity, present)


def stored(
    story: str,
    *members: Member,
    identity: str | None = None,
    shown: str | None = None,
    retraction: Retraction | None = None,
) -> StoredStory:
    """A stored story, settled as the store would have left it."""
    first = StoryState(story, identity, f"urn:{story}", story, T0, T0, frozenset(), frozenset())
    state = settle(first, members, RANKS, T0, created=True)
    if shown is not None:
        state = dataclasses.replace(state, shown=shown)
    if retraction is not None:
        state = dataclasses.replace(state, retraction=retraction)
    return StoredStory(state, members)


def touched(desks: str = "", topics: str = "") -> Touched:
    return Touched(frozenset(desks.split()), frozenset(topics.split()))


# -- table-driven: one rule each ---------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    batch: Sequence[Article]
    expected: Sequence[tuple[Action, str | None]]
    touched: Touched = field(default_factory=Touched)
    known: Mapping[str, KnownCopy] = field(default_factory=dict)
    stories: Mapping[str, StoredStory] = field(default_factory=dict)
    listing: Collection[str] | None = None
    homes: Collection[str] = ()
    source: str = "a"


X1 = "https://x/1"
CLAIMED = {"b:g9": stored("b:g9", member("b:g9", topics=("security",), identity=X1), identity=X1)}
CASES = [
    Case(
        "a first-seen item is a new story",
        [art("g1", X1, topics=("security",))],
        [(NEW, "a:g1")],
        touched("nym", "security"),
    ),
    Case(
        "a known item with the same fingerprint costs nothing",
        [art("g1", X1)],
        [(UNCHANGED, "a:g1")],
        known={"g1": KnownCopy("a:g1", "a:g1", "f1", X1, X1)},
    ),
    Case(
        "a changed own story is updated, listed where it was and where it is now",
        [art("g1", X1, fp="f2", desk="europe", topics=("trade",))],
        [(UPDATED, "a:g1")],
        touched("nym europe", "security trade"),
        known={"g1": KnownCopy("a:g1", "a:g1", "f1", X1, X1)},
        stories={"a:g1": stored("a:g1", member("a:g1", "nym", ("security",), X1), identity=X1)},
    ),
    Case(
        "a changed copy that its story does not show changes nothing shown",
        [art("g1", X1, fp="f2", desk="world")],
        [(UPDATED, "b:g9")],
        known={"g1": KnownCopy("a:g1", "b:g9", "f1", X1, X1)},
        stories={
            "b:g9": stored(
                "b:g9",
                member("b:g9", identity=X1),
                member("a:g1", identity=X1, seen=T0 + timedelta(hours=1)),
                identity=X1,
            )
        },
    ),
    Case(
        "a first-seen item whose URL a story of another source claims merges into it",
        [art("g1", X1, topics=("ukraine",))],
        [(MERGED, "b:g9")],
        touched("world nym", "security ukraine"),
        stories=CLAIMED,
    ),
    Case(
        "a merge that brings no new desk or topic changes no listing",
        [art("g1", X1, desk="world", topics=("security",))],
        [(MERGED, "b:g9")],
        stories=CLAIMED,
    ),
    Case(
        "the same URL twice in one batch: two stories, neither claims it",
        [art("g1", X1, topics=("a",)), art("g2", X1, topics=("b",))],
        [(NEW, "a:g1"), (NEW, "a:g2")],
        touched("nym", "a b"),
    ),
    Case(
        "a URL the source shares never merges with a story claiming it",
        [art("g1", X1), art("g2", X1)],
        [(NEW, "a:g1"), (NEW, "a:g2")],
        touched("nym"),
        stories=CLAIMED,
    ),
    Case(
        "the source's home page identifies no story",
        [art("g1", "https://a.example/show")],
        [(NEW, "a:g1")],
        touched("nym"),
        stories={"b:g9": stored("b:g9", member("b:g9"), identity="https://a.example/show")},
        homes={"https://a.example/show"},
    ),
    Case(
        "a site root identifies no story",
        [art("g1", "https://x/")],
        [(NEW, "a:g1")],
        touched("nym"),
        stories={"b:g9": stored("b:g9", member("b:g9"), identity="https://x/")},
    ),
    Case(
        "a story already holding a copy of the source is not joined",
        [art("g2", X1)],
        [(NEW, "a:g2")],
        touched("nym"),
        stories={
            "b:g9": stored(
                "b:g9", member("b:g9", identity=X1), member("a:g1", present=False), identity=X1
            )
        },
    ),
    Case(
        "a guid repeated in the batch: the first counts",
        [art("g1", X1), art("g1", "https://x/2", fp="f2")],
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
        "a file listed no more is withdrawn, and its story with it",
        [],
        [(WITHDRAWN, "a:f1")],
        touched("nym"),
        known={"f1": KnownCopy("a:f1", "a:f1", "f1")},
        stories={"a:f1": stored("a:f1", member("a:f1", "nym"))},
        listing=(),
    ),
    Case(
        "a listed file the batch did not bring is left alone",
        [],
        [],
        known={"f1": KnownCopy("a:f1", "a:f1", "f1")},
        listing=("f1",),
    ),
    Case(
        "a withdrawn copy of a shared story: the other copy is shown",
        [],
        [(WITHDRAWN, "a:g1")],
        touched("nym world"),
        known={"g1": KnownCopy("a:g1", "a:g1", "f1", X1, X1)},
        stories={
            "a:g1": stored(
                "a:g1",
                member("a:g1", "nym", identity=X1),
                member("b:g9", "world", identity=X1, seen=T0 + timedelta(hours=1)),
                identity=X1,
            )
        },
        listing=(),
    ),
    Case(
        "a file that comes back brings its story back",
        [art("f1")],
        [(RETURNED, "a:f1")],
        touched("nym"),
        known={"f1": KnownCopy("a:f1", "a:f1", "f1", present=False)},
        stories={
            "a:f1": stored(
                "a:f1",
                member("a:f1", "nym", present=False),
                retraction=Retraction(T0, None, "withdrawn"),
            )
        },
        listing=("f1",),
    ),
    Case(
        "an operator's retraction stays when the file comes back",
        [art("f1")],
        [(RETURNED, "a:f1")],
        known={"f1": KnownCopy("a:f1", "a:f1", "f1", present=False)},
        stories={
            "a:f1": stored(
                "a:f1",
                member("a:f1", "nym", present=False),
                retraction=Retraction(T0, "libel", "operator"),
            )
        },
        listing=("f1",),
    ),
    Case(
        "a copy of a higher-priority source takes the story over, later or not",
        [art("g1", X1, desk="europe", source="trusted")],
        [(MERGED, "b:g9")],
        touched("world europe", "security"),
        stories=CLAIMED,
        source="trusted",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_each_rule(case: Case) -> None:
    plan = plan_batch(
        case.source,
        case.batch,
        case.known,
        case.stories,
        RANKS,
        NOW,
        listing=case.listing,
        homes=case.homes,
    )
    assert [(d.action, d.story) for d in plan.decisions] == list(case.expected)
    assert plan.touched == case.touched
    assert plan.changed_ids or not plan.touched  # a retracted story may change unlisted


# -- exact guids: copies stored under a legacy guid are adopted (feedsvc.guids) ----------

LEGACY = {"a b": KnownCopy("a:a b", "a:a b", "f1")}
LEGACY_STORY = {"a:a b": stored("a:a b", member("a:a b", "nym"))}


@dataclass(frozen=True)
class AdoptionCase:
    name: str
    batch: Sequence[Article]
    expected: Sequence[tuple[Action, str | None]]
    renamed: Sequence[tuple[str, str]]
    ids: Sequence[str]
    """The copy id each first-seen or adopted item ends up with, in batch order."""
    known: Mapping[str, KnownCopy] = field(default_factory=lambda: LEGACY)
    listing: Collection[str] | None = None
    aliases: Mapping[str, str] | None = None
    """The listed files' aliases (the batch's are worked out from its guids)."""


ADOPTIONS = [
    AdoptionCase(
        "the exact guid adopts the copy stored under its legacy form: same id, no new story",
        [art("a  b")],
        [(UNCHANGED, "a:a b")],
        [("a:a b", "a  b")],
        ["a:a b"],
    ),
    AdoptionCase(
        "an adopted copy that changed is updated where it is",
        [art("a  b", fp="f2")],
        [(UPDATED, "a:a b")],
        [("a:a b", "a  b")],
        ["a:a b"],
    ),
    AdoptionCase(
        "the legacy guid itself sent again keeps its copy; the other guid is a new item",
        [art("a  b"), art("a b")],
        [(NEW, "a:a  b"), (UNCHANGED, "a:a b")],
        [],
        ["a:a  b", "a:a b"],
    ),
    AdoptionCase(
        "the copy goes to the guid whose version it holds, even over the legacy guid itself",
        [art("a b", fp="f2"), art("a  b")],
        [(NEW, "a:a b-2"), (UNCHANGED, "a:a b")],
        [("a:a b", "a  b")],
        ["a:a b-2", "a:a b"],
    ),
    AdoptionCase(
        "two exact guids of one legacy form: the first adopts, the second is new, none lost",
        [art("a  b"), art("a   b")],
        [(UNCHANGED, "a:a b"), (NEW, "a:a   b")],
        [("a:a b", "a  b")],
        ["a:a b", "a:a   b"],
    ),
    AdoptionCase(
        "a new item whose id an adopted copy holds gets another id",
        [art("a b")],
        [(NEW, "a:a b-2")],
        [],
        ["a:a b-2"],
        known={"a  b": KnownCopy("a:a b", "a:a b", "f1")},
    ),
    AdoptionCase(
        "a wire file read under its exact name adopts its copy and is not withdrawn",
        [art("a  b")],
        [(UNCHANGED, "a:a b")],
        [("a:a b", "a  b")],
        ["a:a b"],
        listing={"a  b"},
    ),
    AdoptionCase(
        "a listed file not read yet leaves its legacy copy alone",
        [],
        [],
        [],
        [],
        listing={"a  b"},
        aliases={"a  b": "a b"},
    ),
    AdoptionCase(
        "a file whose twin is stored under its exact name is deleted: its copy goes",
        [],
        [(WITHDRAWN, "a:a b")],
        [],
        [],
        known={**LEGACY, "a  b": KnownCopy("a:a  b", "a:a  b", "f1")},
        listing={"a  b"},
        aliases={"a  b": "a b"},
    ),
]


@pytest.mark.parametrize("case", ADOPTIONS, ids=[case.name for case in ADOPTIONS])
def test_adopting_copies_stored_under_a_legacy_guid(case: AdoptionCase) -> None:
    aliases = {a.guid: " ".join(a.guid.split()) for a in case.batch if "  " in a.guid}
    aliases.update(case.aliases or {})
    plan = plan_batch(
        "a", case.batch, case.known, LEGACY_STORY, RANKS, NOW, listing=case.listing, aliases=aliases
    )
    assert [(d.action, d.story) for d in plan.decisions] == list(case.expected)
    assert list(plan.renamed) == list(case.renamed)
    written = {w.article.guid: w.article.id for w in (*plan.inserts, *plan.rewrites)}
    ids = [written.get(a.guid, case.known.get(a.guid, LEGACY["a b"]).id) for a in case.batch]
    assert ids == list(case.ids)


def test_election_order() -> None:
    low_early = member("a:1", seen=T0)
    trusted_late = member("trusted:1", seen=T0 + timedelta(days=1))
    own_site_late = member("x:1", seen=T0 + timedelta(hours=2))
    aggregator_early = member("b:1", seen=T0 + timedelta(hours=1))
    url = "https://www.x/story"
    assert elect([low_early, trusted_late, own_site_late], url, RANKS) == trusted_late
    assert elect([low_early, own_site_late, aggregator_early], url, RANKS) == own_site_late
    assert elect([aggregator_early, low_early], url, RANKS) == low_early
    twins = [member("b:2", seen=T0), member("a:2", seen=T0)]
    assert elect(twins, url, RANKS).id == "a:2"  # a full tie: the copy id decides
    assert site_host("https://WWW.Example.org/a") == "example.org"
    assert site_host(None) is None


def test_a_story_with_no_copy_left_is_withdrawn_and_keeps_its_listings() -> None:
    story = stored("a:1", member("a:1", "nym", ("security",)))
    gone = settle(story.state, [member("a:1", present=False)], RANKS, NOW)
    assert gone.retraction == Retraction(NOW, None, "withdrawn")
    assert gone.listings == story.state.listings and not gone.live_listings()
    back = settle(gone, [member("a:1", "nym", ("security",))], RANKS, NOW)
    assert back.retraction is None and back.listings == story.state.listings


def test_what_a_story_shows_moves_forward_in_time() -> None:
    story = stored("a:1", member("a:1"))
    rewritten = settle(story.state, [member("a:1")], RANKS, NOW, rewritten={"a:1"})
    assert rewritten.updated == NOW  # same copy, new content, no newer date of its own
    untouched = settle(story.state, [member("a:1")], RANKS, NOW)
    assert untouched == story.state


def test_identity_rules() -> None:
    assert candidate_identity("https://x/a?id=1", ()) == "https://x/a?id=1"
    assert candidate_identity("https://x/?id=1", ()) == "https://x/?id=1"
    assert candidate_identity("https://x", ()) is None
    assert candidate_identity("https://x/show", {"https://x/show"}) is None
    assert candidate_identity(None, ()) is None
    assert touched_by(["all", "desks/nym", "topics/t"]) == touched("nym", "t")


def test_a_podcast_whose_episodes_all_link_to_the_show_keeps_every_episode() -> None:
    """131 episodes with their own guids and one shared link: 131 stories, none merged."""
    episodes = [art(f"ep-{n}", "https://podcast.example/show") for n in range(131)]
    for homes in ({"https://podcast.example/show"}, set()):
        plan = plan_batch("a", episodes, {}, {}, RANKS, NOW, homes=homes)
        assert plan.count(NEW) == 131 and plan.count(MERGED) == 0
        assert {w.state.identity for w in plan.stories} == {None}


def test_a_url_a_source_starts_sharing_is_let_go_by_its_stored_story() -> None:
    known = {"g1": KnownCopy("a:g1", "a:g1", "f1", X1, X1)}
    stories = {"a:g1": stored("a:g1", member("a:g1", identity=X1), identity=X1)}
    plan = plan_batch("a", [art("g2", X1)], known, stories, RANKS, NOW)
    assert plan.revoked == ("a:g1",)
    released = {w.state.id: w for w in plan.stories}["a:g1"]
    assert released.identity_changed and released.state.identity is None
    assert "a:g1" not in plan.changed_ids  # what readers see did not change


def test_the_squatting_case_the_trusted_copy_wins_in_both_desks() -> None:
    low = art("g1", X1, desk="gossip", topics=("security",), source="b")
    first = plan_batch("b", [low], {}, {}, RANKS, T0)
    (created,) = first.stories
    assert created.state.shown == "b:g1" and created.state.identity == X1
    trusted = art("t1", X1, desk="world", source="trusted")
    story = StoredStory(created.state, (member("b:g1", "gossip", ("security",), X1),))
    second = plan_batch("trusted", [trusted], {}, {"b:g1": story}, RANKS, NOW)
    assert [(d.action, d.story) for d in second.decisions] == [(MERGED, "b:g1")]
    assert second.merged_into == ("b",)
    (taken,) = second.stories
    assert taken.state.shown == "trusted:t1"
    assert taken.state.listings == {"all", "desks/gossip", "desks/world", "topics/security"}
    assert second.touched == touched("gossip world", "security")


def test_what_to_read_first() -> None:
    known = {
        "same": KnownCopy("a:same", "a:same", "f1", "https://x/same", "https://x/same"),
        "own": KnownCopy("a:own", "a:own", "f1"),
        "gone": KnownCopy("a:gone", "s:gone", "f1"),
        "kept": KnownCopy("a:kept", "s:kept", "f1"),
    }
    batch = [
        art("same", "https://x/same"),
        art("own", "https://x/own", fp="f2"),
        art("new", "https://x/new"),
        art("new", "https://x/repeated"),
        art("bare"),
    ]
    assert lookups_for(batch, known, listing={"same", "own", "kept"}) == Lookups(
        frozenset({"https://x/own", "https://x/new"}), frozenset({"a:own", "s:gone"})
    )
    assert lookups_for(batch[:1], known) == Lookups(frozenset(), frozenset())


def test_a_story_the_store_did_not_describe_is_an_error_not_a_wrong_plan() -> None:
    known = {"g1": KnownCopy("a:g1", "b:g9", "f1")}
    with pytest.raises(LookupError, match="b:g9"):
        plan_batch("a", [art("g1", fp="f2")], known, {}, RANKS, NOW)


@pytest.mark.parametrize("module", [plan_module, election_module])
def test_the_planner_imports_nothing_but_the_standard_library_and_the_model(
    module: object,
) -> None:
    tree = ast.parse(Path(getattr(module, "__file__", "")).read_text(encoding="utf-8"))
    imported = {
        (node.module or "") if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    allowed = {
        "__future__",
        "collections",
        "collections.abc",
        "dataclasses",
        "datetime",
        "enum",
        "urllib.parse",
        "feedsvc.model",
        "feedsvc.store.election",
    }
    assert imported <= allowed


# -- generated: what holds for any history -----------------------------------------------


@settings(max_examples=400, deadline=None)
@given(histories())
def test_any_history_keeps_the_tables_valid_and_reports_exactly_what_changed(
    history: list[Run],
) -> None:
    tables = Tables()
    for step, (source, batch, listing, aliases) in enumerate(history):
        now = T0 + timedelta(hours=step)
        before = tables.visible()
        live_before = {s: state.live_listings() for s, state in tables.stories.items()}
        present_before = {c.id for c in tables.copies.values() if c.present}
        known_before = tables.known(source)
        plan = tables.read_and_plan(source, batch, now, listing, aliases)
        tables.apply(plan, now)
        tables.check()
        after = tables.visible()
        if listing is not None:
            # a listed file's copy is never withdrawn, nor the legacy copy of one not
            # adopted yet; any other copy of the folder is withdrawn
            unread = {aliases[n] for n in listing if n in aliases and n not in known_before}
            for copy in tables.copies.values():
                if copy.source == source and copy.id in present_before:
                    kept = copy.guid in listing or copy.guid in unread
                    assert copy.present is (kept or copy.guid in {a.guid for a in batch}), copy

        items = [d for d in plan.decisions if d.action is not WITHDRAWN]
        assert [d.guid for d in items] == [a.guid for a in batch]
        repeated = [a.guid in {b.guid for b in batch[:i]} for i, a in enumerate(batch)]
        assert [d.action is SKIPPED for d in items] == repeated
        changed = {s for s in after if before.get(s) != after[s]}
        assert set(plan.changed_ids) == changed
        listed = [
            live_before.get(s, frozenset()) | tables.stories[s].live_listings() for s in changed
        ]
        assert plan.touched == touched_by(frozenset().union(*listed))
        assert plan.count(NEW) == len(set(after) - set(before))

        again = tables.read_and_plan(source, batch, now, listing, aliases)  # nothing to do
        assert {d.action for d in again.decisions} <= {UNCHANGED, SKIPPED}
        assert not (again.inserts or again.rewrites or again.withdrawn or again.revoked)
        assert not again.renamed
        assert not again.stories and not again.touched


@settings(max_examples=200, deadline=None)
@given(histories(), st.lists(articles("a"), max_size=6))
def test_the_plan_depends_on_its_inputs_only_and_leaves_them_alone(
    history: list[Run], batch: list[Article]
) -> None:
    tables = Tables()
    for step, (source, earlier, listing, aliases) in enumerate(history):
        tables.apply(
            tables.read_and_plan(source, earlier, T0, listing, aliases), T0 + timedelta(hours=step)
        )
    known = tables.known("a")
    everything = tables.stored(list(tables.stories))
    inputs = (list(batch), dict(known), dict(everything))
    first = plan_batch("a", batch, known, everything, RANKS, NOW, homes=HOMES["a"])
    assert plan_batch("a", batch, known, everything, RANKS, NOW, homes=HOMES["a"]) == first
    assert (batch, known, everything) == inputs
    assert first == tables.read_and_plan("a", batch, NOW, None)  # reading more changes nothing
