"""An in-memory model of the story tables for the planner's generated tests (test_plan.py).

``Tables`` holds ``stories`` and ``copies`` as the store does and applies a
``Plan`` in the order ``store.batches`` writes, failing where the database
would (a duplicate id, an identity URL claimed twice, a copy of no story);
``check`` asserts what must hold between them whatever happened. The
strategies generate histories of batches from three sources, one of them a
folder whose files come and go.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

from feedsvc.model import Article
from feedsvc.store.election import Member, SourceRank, StoredStory, StoryState, elect
from feedsvc.store.plan import KnownCopy, Plan, lookups_for, plan_batch

T0 = datetime(2025, 6, 23, 19, 9, tzinfo=UTC)
RANKS = {
    "a": SourceRank(0, "a.example"),
    "b": SourceRank(0, "b.example"),
    "trusted": SourceRank(10, "trusted.example"),
    "x": SourceRank(0, "x"),
}


def art(
    guid: str,
    url: str | None = None,
    fp: str = "f1",
    desk: str = "nym",
    topics: tuple[str, ...] = (),
    source: str = "a",
    dated: bool = True,
    published: datetime = T0,
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
        published=published,
        updated=published,
        language=None,
        dated=dated,
        fingerprint=fp,
    )


@dataclass
class CopyRow:
    """One ``copies`` row of the model: what the planner and the election read of it."""

    id: str
    source: str
    guid: str
    story: str
    fingerprint: str
    url: str | None
    identity: str | None
    desk: str
    topics: frozenset[str]
    published: datetime
    updated: datetime
    first_seen: datetime
    present: bool = True

    def member(self) -> Member:
        return Member(
            self.id,
            self.source,
            self.desk,
            self.topics,
            self.published,
            self.updated,
            self.first_seen,
            self.identity,
            self.present,
        )


@dataclass
class Tables:
    """The ``stories``, ``copies`` and ``memberships`` tables, with their constraints."""

    stories: dict[str, StoryState] = field(default_factory=dict)
    copies: dict[str, CopyRow] = field(default_factory=dict)

    def known(self, source: str) -> dict[str, KnownCopy]:
        return {
            row.guid: KnownCopy(
                row.id, row.story, row.fingerprint, row.url, row.identity, row.present
            )
            for row in self.copies.values()
            if row.source == source
        }

    def stored(self, ids: Collection[str]) -> dict[str, StoredStory]:
        return {
            story: StoredStory(
                self.stories[story],
                tuple(row.member() for row in self.copies.values() if row.story == story),
            )
            for story in ids
        }

    def read_and_plan(
        self,
        source: str,
        batch: Sequence[Article],
        now: datetime,
        listing: set[str] | None,
        aliases: Mapping[str, str] | None = None,
    ) -> Plan:
        """What ``store.batches`` reads for the planner, read from the model."""
        known = self.known(source)
        needs = lookups_for(batch, known, listing, HOMES[source], aliases)
        claimed = {s for s, state in self.stories.items() if state.identity in needs.identities}
        return plan_batch(
            source,
            batch,
            known,
            self.stored(needs.story_ids | claimed),
            RANKS,
            now,
            listing=listing,
            homes=HOMES[source],
            aliases=aliases,
        )

    def apply(self, plan: Plan, now: datetime) -> None:
        """In the order ``store.batches`` writes, failing where the database would."""
        for write in plan.stories:
            if write.identity_changed:
                self.stories[write.state.id] = dataclasses.replace(
                    self.stories[write.state.id], identity=None
                )
        for write in plan.stories:
            if write.created:
                assert write.state.id not in self.stories, "duplicate story id"
            else:
                assert write.state.id in self.stories, "update of a story that is not there"
            identity = write.state.identity
            holders = {s for s, st in self.stories.items() if identity and st.identity == identity}
            assert holders <= {write.state.id}, f"{identity} is already {holders}'s"
            self.stories[write.state.id] = write.state
        for copy_id, guid in plan.renamed:
            row = self.copies[copy_id]
            assert guid not in self.known(row.source), "a guid renamed onto another copy's"
            row.guid = guid
        for insert in plan.inserts:
            article = insert.article
            assert article.id not in self.copies, "duplicate copy id"
            assert insert.story in self.stories, "copy of no story"
            self.copies[article.id] = CopyRow(
                article.id,
                article.source,
                article.guid,
                insert.story,
                article.fingerprint,
                article.url,
                insert.identity,
                article.desk,
                frozenset(article.topics),
                article.published,
                article.updated,
                now,
            )
        for rewrite in plan.rewrites:
            row = self.copies[rewrite.article.id]
            article = rewrite.article
            assert row.story == rewrite.story, "a copy moved"
            row.fingerprint, row.url, row.identity = (
                article.fingerprint,
                article.url,
                rewrite.identity,
            )
            row.desk, row.topics, row.updated = (
                article.desk,
                frozenset(article.topics),
                article.updated,
            )
            row.present = True
            if not rewrite.keep_published:
                row.published = article.published
        for copy in plan.withdrawn:
            self.copies[copy].present = False
        for copy in plan.revoked:
            self.copies[copy].identity = None

    def check(self) -> None:
        """What holds between the tables whatever happened."""
        seen: set[tuple[str, str]] = set()
        guids = [(row.source, row.guid) for row in self.copies.values()]
        assert len(set(guids)) == len(guids), "two copies of one source share a guid"
        for row in self.copies.values():
            assert (row.story, row.source) not in seen, "two copies of one source in a story"
            seen.add((row.story, row.source))
            assert row.identity in (None, self.stories[row.story].identity)
        for story, state in self.stories.items():
            members = [row.member() for row in self.copies.values() if row.story == story]
            assert state.shown in {m.id for m in members}
            present = [m for m in members if m.present]
            if present and state.live:
                assert state.shown == elect(present, state.identity, RANKS).id
                desks = {f"desks/{m.desk}" for m in present}
                assert desks <= state.listings
            if not present:
                assert state.retraction is not None

    def visible(self) -> dict[str, tuple[object, ...]]:
        """What readers see of each story (its identity URL is not part of it)."""
        result = {}
        for story, state in self.stories.items():
            shown = self.copies[state.shown]
            result[story] = (dataclasses.replace(state, identity=None), shown.fingerprint)
        return result


HOMES: dict[str, frozenset[str]] = {
    "a": frozenset({"https://x/home"}),
    "trusted": frozenset(),
    "files": frozenset(),
}
_URLS = (None, "https://x/1", "https://x/2", "https://x/home", "https://x/")


GUIDS = ("g1", "g2", "g3", "g 4", "g  4", "g   4")
"""Exact guids; the last three share one legacy form (``legacy``)."""


def legacy(guid: str) -> str:
    """The model's legacy reading of a guid (as ``guids.legacy_guid``: spaces collapsed)."""
    return " ".join(guid.split())


def aliases_of(guids: Iterable[str]) -> dict[str, str]:
    return {guid: legacy(guid) for guid in guids if legacy(guid) != guid}


def as_legacy(article: Article) -> Article:
    """The article as a release before exact guids normalised it."""
    guid = legacy(article.guid)
    return dataclasses.replace(article, guid=guid, id=f"{article.source}:{guid}")


@st.composite
def articles(draw: st.DrawFn, source: str) -> Article:
    url = None if source == "files" else draw(st.sampled_from(_URLS))
    return art(
        guid=draw(st.sampled_from(GUIDS)),
        url=url,
        fp=draw(st.sampled_from(("f1", "f2", "f3"))),
        desk=draw(st.sampled_from(("nym", "europe"))),
        topics=tuple(draw(st.sets(st.sampled_from(("t1", "t2", "t3")), max_size=2))),
        source=source,
        dated=draw(st.booleans()),
        published=T0 + timedelta(hours=draw(st.integers(0, 3))),
    )


Run = tuple[str, list[Article], set[str] | None, dict[str, str]]


@st.composite
def histories(draw: st.DrawFn) -> list[Run]:
    """A few batches, each from one of three sources, in the order they arrive.

    ``files`` is a folder: each run lists the files present, a superset of
    those read (a partial read), so its copies are withdrawn and come back.
    The runs before ``upgrade`` are those of a release that stored guids in
    their legacy form; those after it send exact guids with their aliases,
    the listed files' too (as ``extract.aliases_of``).
    """
    runs: list[Run] = []
    count = draw(st.integers(min_value=1, max_value=6))
    upgrade = draw(st.integers(min_value=0, max_value=count))
    for number in range(count):
        source = draw(st.sampled_from(tuple(HOMES)))
        batch = draw(st.lists(articles(source), max_size=5))
        names: set[str] | None = None
        if source == "files":
            extra = draw(st.sets(st.sampled_from(GUIDS), max_size=3))
            names = {a.guid for a in batch} | extra
        if number < upgrade:
            batch = [as_legacy(article) for article in batch]
            listing = None if names is None else {legacy(name) for name in names}
            runs.append((source, batch, listing, {}))
        else:
            aliases = aliases_of([*(a.guid for a in batch), *(names or ())])
            runs.append((source, batch, names, aliases))
    return runs
