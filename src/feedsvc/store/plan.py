"""What one source's batch does to the stored stories, decided without the database.

The store reads what the decision needs (``lookups_for`` says what), calls
``plan_batch`` and applies the ``Plan`` in one transaction. Everything here is
a pure function of plain, immutable data, so every rule is tested with
hand-made tables and generated batches, and a rule (who owns a story, how a
duplicate merges) can change here without touching SQL.

Today's rules, per item of the batch, first occurrence of a guid only:

- a guid this source sent before, same fingerprint: **unchanged**;
- sent before, new fingerprint, and the story is this item's own: **updated**
  (the stored URL stays when the new one is another story's; an undated item
  keeps its first-seen time);
- sent before, new fingerprint, but the story is another item's (it was
  merged): **unchanged**, only the version seen is remembered;
- first seen, and its URL is a stored story's (or one earlier in the batch):
  **merged** into that story, whose topics gain the item's (also when the
  same batch rewrites that story, whichever comes first);
- first seen otherwise: **new**;
- a guid the batch already had: **skipped** (the first one counts).

Every decision is one ``Decision`` per item, in batch order, so a later rule
(a per-source copy of each item beside the story) can be derived from them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from feedsvc.model import Article, Touched


class Action(StrEnum):
    NEW = "new"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    MERGED = "merged"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class KnownItem:
    """A (source, guid) the store holds: the story it points at, and the version seen last."""

    article_id: str
    fingerprint: str


@dataclass(frozen=True, slots=True)
class StoredStory:
    """Where a stored story is listed now: the feeds a change to it must render again."""

    desk: str
    topics: frozenset[str]


@dataclass(frozen=True, slots=True)
class Lookups:
    """What ``plan_batch`` needs read beyond the source's known items.

    ``urls``: whose story each of these URLs is. ``article_ids``: where these
    stories are listed; the owners found for ``urls`` are needed as well.
    """

    urls: frozenset[str]
    article_ids: frozenset[str]


@dataclass(frozen=True, slots=True)
class Decision:
    """What became of one item of the batch, and the story that holds it (None if skipped)."""

    guid: str
    action: Action
    article_id: str | None


@dataclass(frozen=True, slots=True)
class StoryWrite:
    """One story row to insert or rewrite from an article, with the topics it ends up with."""

    article: Article
    topics: frozenset[str]
    keep_url: bool = False
    """The article has no URL, or another story's: the stored one stays."""
    keep_published: bool = False
    """The article is undated: the stored (first-seen) time stays."""


@dataclass(frozen=True, slots=True)
class ItemLink:
    """One (source, guid) row: the story that holds the item and the version seen last."""

    guid: str
    article_id: str
    fingerprint: str


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything one batch changes, for the store to apply in one transaction."""

    decisions: tuple[Decision, ...]
    """One per item of the batch, in batch order."""
    inserts: tuple[StoryWrite, ...] = ()
    updates: tuple[StoryWrite, ...] = ()
    """Rewrites of this source's own stories; their topics are replaced."""
    new_items: tuple[ItemLink, ...] = ()
    """Items first seen: new ones and merged ones."""
    seen_items: tuple[ItemLink, ...] = ()
    """Known items whose fingerprint moved."""
    topic_unions: tuple[tuple[str, frozenset[str]], ...] = ()
    """Stored stories not rewritten here, and the topics (not yet theirs) they gain."""
    touched: Touched = field(default_factory=Touched)
    """Where the stories changed here were listed, before and after."""

    def count(self, action: Action) -> int:
        return sum(1 for decision in self.decisions if decision.action is action)

    @property
    def changed_ids(self) -> tuple[str, ...]:
        """The stories whose rows change: inserted, rewritten, or gaining topics."""
        ids = [write.article.id for write in (*self.inserts, *self.updates)]
        ids.extend(article_id for article_id, _ in self.topic_unions)
        return tuple(dict.fromkeys(ids))


def lookups_for(batch: Iterable[Article], known: Mapping[str, KnownItem]) -> Lookups:
    """What to read before planning; nothing at all for a batch the store already has."""
    urls: set[str] = set()
    ids: set[str] = set()
    for article in _first_of_each_guid(batch):
        item = known.get(article.guid)
        if item is None:
            if article.url:
                urls.add(article.url)  # whose story is it?
        elif item.fingerprint != article.fingerprint and item.article_id == article.id:
            ids.add(article.id)  # an update: where was it listed?
            if article.url:
                urls.add(article.url)  # may it take this URL?
    return Lookups(frozenset(urls), frozenset(ids))


def plan_batch(
    batch: Sequence[Article],
    known: Mapping[str, KnownItem],
    owners: Mapping[str, str],
    stories: Mapping[str, StoredStory],
) -> Plan:
    """Decide what ``batch`` does, given what the store holds.

    ``known``: this source's guid → item. ``owners``: URL → story id, for the
    ``urls`` of ``lookups_for``. ``stories``: for the ``article_ids`` of
    ``lookups_for`` and for every story in ``owners``. Raises ``LookupError``
    when one of those is missing: the plan would be wrong.
    """
    planner = _Planner(owners, stories)
    guids: set[str] = set()
    for article in batch:
        if article.guid in guids:
            planner.decide(article, Action.SKIPPED, None)
            continue
        guids.add(article.guid)
        item = known.get(article.guid)
        if item is None:
            planner.first_seen(article)
        elif item.fingerprint == article.fingerprint:
            planner.decide(article, Action.UNCHANGED, item.article_id)
        elif item.article_id == article.id:
            planner.update(article)
        else:
            planner.merged_copy_changed(article, item.article_id)
    return planner.plan()


class _Planner:
    """The running state of one ``plan_batch``: which URLs and stories the batch has claimed."""

    def __init__(self, owners: Mapping[str, str], stories: Mapping[str, StoredStory]) -> None:
        self.claims = dict(owners)  # URL -> story, including those the batch takes
        self.stories = stories
        self.decisions: list[Decision] = []
        self.inserts: dict[str, Article] = {}
        self.updates: dict[str, tuple[Article, bool]] = {}  # id -> (article, keep_url)
        self.topics: dict[str, set[str]] = {}  # final topics of stories written here
        self.unions: dict[str, set[str]] = {}  # topics stored stories gain from merges
        self.new: list[ItemLink] = []
        self.seen: list[ItemLink] = []

    def decide(self, article: Article, action: Action, article_id: str | None) -> None:
        self.decisions.append(Decision(article.guid, action, article_id))

    def first_seen(self, article: Article) -> None:
        owner = self.claims.get(article.url) if article.url else None
        if owner is None:
            self.inserts[article.id] = article
            self.topics[article.id] = set(article.topics)
            if article.url:
                self.claims[article.url] = article.id  # a later duplicate in the batch merges
            self.new.append(ItemLink(article.guid, article.id, article.fingerprint))
            self.decide(article, Action.NEW, article.id)
            return
        if owner in self.topics:  # written here anyway: its final topics include these
            self.topics[owner].update(article.topics)
        else:
            held = self._stored(owner).topics | self.unions.get(owner, set())
            missing = set(article.topics) - held
            if missing:
                self.unions.setdefault(owner, set()).update(missing)
        self.new.append(ItemLink(article.guid, owner, article.fingerprint))
        self.decide(article, Action.MERGED, owner)

    def merged_copy_changed(self, article: Article, story: str) -> None:
        """Another item's story holds this one: remember the version, change nothing shown."""
        self.seen.append(ItemLink(article.guid, story, article.fingerprint))
        self.decide(article, Action.UNCHANGED, story)

    def update(self, article: Article) -> None:
        self._stored(article.id)  # where it was listed must be known
        owner = self.claims.get(article.url) if article.url else None
        keep_url = not article.url or owner not in (None, article.id)
        if article.url and not keep_url:
            self.claims[article.url] = article.id
        self.updates[article.id] = (article, keep_url)
        self.topics[article.id] = set(article.topics) | self.unions.pop(article.id, set())
        self.seen.append(ItemLink(article.guid, article.id, article.fingerprint))
        self.decide(article, Action.UPDATED, article.id)

    def plan(self) -> Plan:
        inserts = tuple(
            StoryWrite(article, frozenset(self.topics[story]))
            for story, article in self.inserts.items()
        )
        updates = tuple(
            StoryWrite(
                article,
                frozenset(self.topics[story]),
                keep_url=keep_url,
                keep_published=not article.dated,
            )
            for story, (article, keep_url) in self.updates.items()
        )
        unions = tuple((story, frozenset(added)) for story, added in self.unions.items())
        return Plan(
            decisions=tuple(self.decisions),
            inserts=inserts,
            updates=updates,
            new_items=tuple(self.new),
            seen_items=tuple(self.seen),
            topic_unions=unions,
            touched=Touched.union(self._touched(inserts, updates, unions)),
        )

    def _touched(
        self,
        inserts: tuple[StoryWrite, ...],
        updates: tuple[StoryWrite, ...],
        unions: tuple[tuple[str, frozenset[str]], ...],
    ) -> Iterator[Touched]:
        for write in (*inserts, *updates):
            yield Touched(frozenset({write.article.desk}), write.topics)
        for write in updates:  # where it was listed before the change
            before = self._stored(write.article.id)
            yield Touched(frozenset({before.desk}), before.topics)
        for story, added in unions:
            stored = self._stored(story)
            yield Touched(frozenset({stored.desk}), stored.topics | added)

    def _stored(self, story: str) -> StoredStory:
        found = self.stories.get(story)
        if found is None:
            raise LookupError(f"plan_batch was not told where story {story!r} is listed")
        return found


def _first_of_each_guid(batch: Iterable[Article]) -> Iterator[Article]:
    guids: set[str] = set()
    for article in batch:
        if article.guid not in guids:
            guids.add(article.guid)
            yield article
