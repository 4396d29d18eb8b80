"""What one source's batch does to the stored copies and stories, decided without the database.

The store reads what the decision needs (``lookups_for`` says what), calls
``plan_batch`` and applies the ``Plan`` in one transaction. Everything here is
a pure function of plain, immutable data, so every rule is tested with
hand-made tables and generated histories, and a rule can change here without
touching SQL.

A **copy** is one source's version of one item, key (source, guid). Its
**identity URL** is its canonical URL, unless that is the source's home page,
a site root (path ``/``, no query), or the URL of another present copy of the
same source (in this batch or stored): a link several items of one source
share names no one article (a podcast's episodes all linking to the show).
A **story** groups copies of different sources sharing an identity URL;
``election`` decides what it shows.

Per item of the batch (the first of each guid; a repeated guid is **skipped**):

- a guid this source never sent: **merged** into the story that claims its
  identity URL, unless that story already holds a copy of this source; else
  **new**: a story of its own, claiming the URL when it has one and it is free;
- sent before, same fingerprint, present: **unchanged** (no write);
- sent before, new fingerprint: **updated** (the copy is rewritten; an undated
  one keeps its first-seen time). A copy never moves to another story; a story
  whose only copy it is follows its identity URL when that one is free;
- sent before but withdrawn (its wire file had been deleted): **returned**.

A guid this source never sent may be one an earlier release stored under
another form (``aliases``: exact guid -> that legacy form, see
``feedsvc.guids``): the stored copy is then **adopted**, as if sent before
under the exact guid (its row takes the exact guid, keeping its id and its
story); when several guids claim one stored copy, ``_match`` says whose it
is, and the others are new. A new copy whose id is already a stored copy's (one adopted under
another guid) gets a suffixed one: ids are given once and found by guid.

With a folder ``listing``, a present copy whose file is listed no more (and is
not in the batch, nor the legacy form of a listed file not stored under its
exact name yet) is **withdrawn**; a listed file not in the batch is left
alone (a folder read may be partial). A stored copy whose URL the batch now
shares with another copy of this source loses its identity URL (and its story
too, when no other copy holds it). Every story touched is settled again
(``election.settle``); the plan says which changed what readers see, and the
desks and topics whose listings that reached, before and after.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from urllib.parse import urlsplit

from feedsvc.model import Article, Touched, new_entry_id
from feedsvc.store.election import (
    Member,
    SourceRank,
    StoredStory,
    StoryState,
    settle,
    touched_by,
)


class Action(StrEnum):
    NEW = "new"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    MERGED = "merged"
    SKIPPED = "skipped"
    RETURNED = "returned"
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True, slots=True)
class KnownCopy:
    """A copy of the source the store holds: its story, the version seen last, its URLs."""

    id: str
    story: str
    fingerprint: str
    url: str | None = None
    identity: str | None = None
    present: bool = True


@dataclass(frozen=True, slots=True)
class Lookups:
    """What ``plan_batch`` needs read beyond the source's known copies.

    ``identities``: the stories claiming these identity URLs. ``story_ids``:
    these stories. Each with every copy it holds.
    """

    identities: frozenset[str]
    story_ids: frozenset[str]


@dataclass(frozen=True, slots=True)
class Decision:
    """What became of one item (or one withdrawn copy) and its story (None if skipped)."""

    guid: str
    action: Action
    story: str | None


@dataclass(frozen=True, slots=True)
class CopyWrite:
    """A copy row to insert, or to rewrite (present again, if it was withdrawn)."""

    article: Article
    story: str
    identity: str | None
    keep_published: bool = False
    """The article is undated: the stored (first-seen) time stays."""


@dataclass(frozen=True, slots=True)
class StoryWrite:
    """A story's row and membership rows after the batch."""

    state: StoryState
    created: bool = False
    identity_changed: bool = False
    listings_changed: bool = False
    """Its membership rows (listings, sort key or live flag) must be written again."""
    visible: bool = True
    """Readers see the change (what it shows, where, whether retracted): the archive
    documents holding the story change with it."""


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything one batch changes, for the store to apply in one transaction."""

    decisions: tuple[Decision, ...]
    """One per item of the batch, in batch order, then one per withdrawn copy."""
    inserts: tuple[CopyWrite, ...] = ()
    rewrites: tuple[CopyWrite, ...] = ()
    withdrawn: tuple[str, ...] = ()
    """Copy ids whose file is gone."""
    renamed: tuple[tuple[str, str], ...] = ()
    """(copy id, exact guid): copies stored under a legacy guid, adopted by this batch."""
    revoked: tuple[str, ...] = ()
    """Copy ids that lose their identity URL (their source now shares it)."""
    stories: tuple[StoryWrite, ...] = ()
    """Stories created or changed, in the order first touched."""
    merged_into: tuple[str, ...] = ()
    changed_ids: tuple[str, ...] = ()
    """Stories whose listed state changed (what they show, their listings, retraction)."""
    touched: Touched = field(default_factory=Touched)
    """Where the changed stories were listed live, before and after."""

    def count(self, action: Action) -> int:
        return sum(1 for decision in self.decisions if decision.action is action)


# -- identity --------------------------------------------------------------------------


def is_site_root(url: str) -> bool:
    """``https://host/`` (or without the slash) and no query: a site, not an article."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.path in ("", "/") and not parts.query


def candidate_identity(url: str | None, homes: Collection[str]) -> str | None:
    """The URL a copy would be identified by across sources, before the sharing rule."""
    if not url or url in homes or is_site_root(url):
        return None
    return url


@dataclass(frozen=True, slots=True)
class _Sighting:
    """The batch read against the known copies: what ``lookups_for`` and the planner share.

    ``firsts``: the first article of each guid, carrying its copy's id (a known
    copy's, or a fresh one). ``matched``: batch guid -> the known guid of its
    copy (itself, or the legacy guid it adopts).
    """

    firsts: dict[str, Article]
    matched: dict[str, str]
    identities: dict[str, str | None]
    rewritten: frozenset[str]
    withdrawn: tuple[str, ...]
    revoked: tuple[str, ...]

    def copy_of(self, guid: str, known: Mapping[str, KnownCopy]) -> KnownCopy | None:
        match = self.matched.get(guid)
        return None if match is None else known[match]


def _match(
    firsts: Mapping[str, Article], known: Mapping[str, KnownCopy], aliases: Mapping[str, str]
) -> dict[str, str]:
    """Each batch guid's known copy: its own, else the legacy one it adopts.

    Several guids of the batch may claim one legacy copy (an earlier release
    stored only the first of them, the others were lost in it): the copy goes
    to the one whose version it holds (same fingerprint), else to the legacy
    guid itself when the batch sends it, else to the first claimant. The
    others are new items.
    """
    matched = {guid: guid for guid in firsts if guid in known}
    claims: dict[str, list[str]] = {}
    for guid in firsts:
        old = aliases.get(guid)
        if guid not in known and old is not None and old != guid and old in known:
            claims.setdefault(old, []).append(guid)
    for old, claimants in claims.items():
        candidates = [old, *claimants] if old in firsts else claimants
        stored = known[old].fingerprint
        heir = next((g for g in candidates if firsts[g].fingerprint == stored), candidates[0])
        if heir != old:
            matched.pop(old, None)
            matched[heir] = old
    return matched


def _fresh_id(wanted: str, taken: set[str]) -> str:
    """``wanted``, or ``wanted-2``, ``-3``…: the first id no copy of the source holds."""
    candidate, number = wanted, 1
    while candidate in taken:
        number += 1
        candidate = f"{wanted}-{number}"
    taken.add(candidate)
    return candidate


def _sight(
    batch: Iterable[Article],
    known: Mapping[str, KnownCopy],
    listing: Collection[str] | None,
    homes: Collection[str],
    aliases: Mapping[str, str],
) -> _Sighting:
    firsts: dict[str, Article] = {}
    for article in batch:
        firsts.setdefault(article.guid, article)
    matched = _match(firsts, known, aliases)
    taken = {copy.id for copy in known.values()}
    for guid, article in firsts.items():
        wanted = known[matched[guid]].id if guid in matched else _fresh_id(article.id, taken)
        if wanted != article.id:
            firsts[guid] = replace(article, id=wanted)
    claimed = set(matched.values())
    listed = None if listing is None else frozenset(listing)  # a folder may hold 100,000
    # a listed file whose copy is not stored under its exact name yet may have
    # one under the legacy form: it stays until the file is read and adopts it
    unread = (
        set()
        if listed is None
        else {old for new, old in aliases.items() if new in listed and new not in known}
    )
    withdrawn = tuple(
        guid
        for guid, copy in known.items()
        if listed is not None
        and copy.present
        and guid not in listed
        and guid not in claimed
        and guid not in unread
    )
    gone = set(withdrawn)
    urls = {
        guid: copy.url
        for guid, copy in known.items()
        if copy.present and guid not in gone and guid not in claimed
    }
    urls.update((guid, article.url) for guid, article in firsts.items())
    counts = Counter(url for url in urls.values() if url)
    shared = {url for url, count in counts.items() if count > 1}
    identities = {
        guid: None if article.url in shared else candidate_identity(article.url, homes)
        for guid, article in firsts.items()
    }
    rewritten = frozenset(
        guid
        for guid, article in firsts.items()
        if guid in matched
        and (
            not known[matched[guid]].present
            or known[matched[guid]].fingerprint != article.fingerprint
        )
    )
    rewritten_known = {matched[guid] for guid in rewritten}
    revoked = tuple(
        guid
        for guid, copy in known.items()
        if copy.identity in shared and guid not in rewritten_known
    )
    return _Sighting(firsts, matched, identities, rewritten, withdrawn, revoked)


def lookups_for(
    batch: Iterable[Article],
    known: Mapping[str, KnownCopy],
    listing: Collection[str] | None = None,
    homes: Collection[str] = (),
    aliases: Mapping[str, str] | None = None,
) -> Lookups:
    """What to read before planning; nothing at all for a batch the store already has."""
    sight = _sight(batch, known, listing, homes, aliases or {})
    identities = {
        identity
        for guid, identity in sight.identities.items()
        if identity is not None and (guid not in sight.matched or guid in sight.rewritten)
    }
    changing = (
        *(sight.matched[guid] for guid in sight.rewritten),
        *sight.withdrawn,
        *sight.revoked,
    )
    return Lookups(frozenset(identities), frozenset(known[guid].story for guid in changing))


# -- the plan ----------------------------------------------------------------------------


def plan_batch(
    source: str,
    batch: Sequence[Article],
    known: Mapping[str, KnownCopy],
    stories: Mapping[str, StoredStory],
    ranks: Mapping[str, SourceRank],
    now: datetime,
    *,
    listing: Collection[str] | None = None,
    homes: Collection[str] = (),
    aliases: Mapping[str, str] | None = None,
) -> Plan:
    """Decide what ``batch`` of ``source`` does, given what the store holds.

    ``known``: this source's guid → copy. ``stories``: at least those of
    ``lookups_for``, with their copies; every identity URL they claim counts.
    ``ranks``: each source's priority and feed site (missing: priority 0, no
    site). ``listing``: for a folder, every file name present now. ``homes``:
    the source's home page URLs, canonical. ``aliases``: exact guid -> the
    legacy guid an earlier release stored it under, where they differ. Raises
    ``LookupError`` when a story the plan needs was not given: the plan would
    be wrong.
    """
    sight = _sight(batch, known, listing, homes, aliases or {})
    planner = _Planner(source, stories, ranks, now)
    for guid in sight.revoked:
        planner.revoke(known[guid])
    seen: set[str] = set()
    for given in batch:
        if given.guid in seen:
            planner.decide(given.guid, Action.SKIPPED, None)
            continue
        seen.add(given.guid)
        article = sight.firsts[given.guid]
        copy = sight.copy_of(article.guid, known)
        if copy is not None and sight.matched[article.guid] != article.guid:
            planner.renamed.append((copy.id, article.guid))
        identity = sight.identities[article.guid]
        if copy is None:
            planner.first_seen(article, identity)
        elif article.guid in sight.rewritten:
            planner.rewrite(article, copy, identity)
        else:
            planner.decide(article.guid, Action.UNCHANGED, copy.story)
    for guid in sight.withdrawn:
        planner.withdraw(guid, known[guid])
    return planner.plan()


class _Planner:
    """The running state of one ``plan_batch``: the copies of every story it touches."""

    def __init__(
        self,
        source: str,
        stories: Mapping[str, StoredStory],
        ranks: Mapping[str, SourceRank],
        now: datetime,
    ) -> None:
        self.source = source
        self.stored = stories
        self.ranks = ranks
        self.now = now
        self.claims = {s.state.identity: key for key, s in stories.items() if s.state.identity}
        self.members: dict[str, dict[str, Member]] = {}
        self.identity: dict[str, str | None] = {}
        self.created: dict[str, StoryState] = {}
        self.rewritten: set[str] = set()
        self.decisions: list[Decision] = []
        self.inserts: list[CopyWrite] = []
        self.rewrites: list[CopyWrite] = []
        self.withdrawn: list[str] = []
        self.renamed: list[tuple[str, str]] = []
        self.revoked: list[str] = []
        self.merged_into: set[str] = set()

    def decide(self, guid: str, action: Action, story: str | None) -> None:
        self.decisions.append(Decision(guid, action, story))

    def _story(self, story: str) -> dict[str, Member]:
        """The working copies of a story (read on first use)."""
        if story not in self.members:
            stored = self.stored.get(story)
            if stored is None:
                raise LookupError(f"plan_batch was not told about story {story!r}")
            self.members[story] = {member.id: member for member in stored.members}
            self.identity[story] = stored.state.identity
        return self.members[story]

    def _member(self, article: Article, identity: str | None, first_seen: datetime) -> Member:
        return Member(
            id=article.id,
            source=self.source,
            desk=article.desk,
            topics=frozenset(article.topics),
            published=article.published,
            updated=article.updated,
            first_seen=first_seen,
            identity=identity,
        )

    def first_seen(self, article: Article, identity: str | None) -> None:
        target = self.claims.get(identity) if identity else None
        if target is not None:
            members = self._story(target)
            if all(member.source != self.source for member in members.values()):
                shown = members[self.stored[target].state.shown]
                self.merged_into.add(shown.source)
                members[article.id] = self._member(article, identity, self.now)
                self.inserts.append(CopyWrite(article, target, identity))
                self.decide(article.guid, Action.MERGED, target)
                return
        own = identity if target is None else None
        self.members[article.id] = {article.id: self._member(article, own, self.now)}
        self.identity[article.id] = own
        if own is not None:
            self.claims[own] = article.id
        self.created[article.id] = StoryState(
            id=article.id,
            identity=own,
            entry_id=new_entry_id(article),
            shown=article.id,
            published=article.published,
            updated=article.updated,
            topics=frozenset(article.topics),
            listings=frozenset(),
        )
        self.inserts.append(CopyWrite(article, article.id, own))
        self.decide(article.guid, Action.NEW, article.id)

    def rewrite(self, article: Article, copy: KnownCopy, identity: str | None) -> None:
        """A changed copy, or one that came back: rewritten where it is."""
        members = self._story(copy.story)
        old = members.get(copy.id)
        if old is None:
            raise LookupError(f"story {copy.story!r} was given without its copy {copy.id!r}")
        identity = self._follow(copy.story, copy.id, identity)
        published = article.published if article.dated else old.published
        members[copy.id] = replace(
            self._member(article, identity, old.first_seen), published=published
        )
        self.rewritten.add(copy.id)
        self.rewrites.append(
            CopyWrite(article, copy.story, identity, keep_published=not article.dated)
        )
        action = Action.UPDATED if copy.present else Action.RETURNED
        self.decide(article.guid, action, copy.story)

    def _follow(self, story: str, copy_id: str, identity: str | None) -> str | None:
        """The identity URL a rewritten copy keeps: its story's, which it may move.

        A story whose only copy this is follows the copy's URL when no other
        story holds it; a story with other copies keeps its own. The copy
        claims the URL only if its story does.
        """
        alone = all(key == copy_id for key in self.members[story])
        current = self.identity[story]
        if alone and identity != current:
            if current is not None and self.claims.get(current) == story:
                del self.claims[current]
            if identity is not None and self.claims.get(identity, story) == story:
                self.claims[identity] = story
                self.identity[story] = identity
            else:
                self.identity[story] = None
        return identity if identity is not None and identity == self.identity[story] else None

    def withdraw(self, guid: str, copy: KnownCopy) -> None:
        members = self._story(copy.story)
        members[copy.id] = replace(members[copy.id], present=False)
        self.withdrawn.append(copy.id)
        self.decide(guid, Action.WITHDRAWN, copy.story)

    def revoke(self, copy: KnownCopy) -> None:
        """The copy's URL is now shared within its source: it names no one article."""
        members = self._story(copy.story)
        lost = copy.identity
        members[copy.id] = replace(members[copy.id], identity=None)
        self.revoked.append(copy.id)
        if self.identity[copy.story] == lost and not any(
            member.identity == lost for member in members.values()
        ):
            self.identity[copy.story] = None
            if lost is not None and self.claims.get(lost) == copy.story:
                del self.claims[lost]

    def plan(self) -> Plan:
        writes: list[StoryWrite] = []
        touched: list[Touched] = []
        changed: list[str] = []
        for story, members in self.members.items():
            created = story in self.created
            before = self.created[story] if created else self.stored[story].state
            after = settle(
                replace(before, identity=self.identity[story]),
                members.values(),
                self.ranks,
                self.now,
                rewritten=self.rewritten,
                created=created,
            )
            if not created and after == before and after.shown not in self.rewritten:
                continue
            identity_changed = not created and after.identity != before.identity
            visible = (
                created
                or after.shown in self.rewritten
                or (replace(after, identity=None) != replace(before, identity=None))
            )
            if visible:
                old_live = frozenset() if created else before.live_listings()
                touched.append(touched_by(old_live | after.live_listings()))
                changed.append(story)
            rows_before = (before.listings, before.published, before.live)
            writes.append(
                StoryWrite(
                    after,
                    created=created,
                    identity_changed=identity_changed,
                    listings_changed=created
                    or (after.listings, after.published, after.live) != rows_before,
                    visible=visible,
                )
            )
        return Plan(
            decisions=tuple(self.decisions),
            inserts=tuple(self.inserts),
            rewrites=tuple(self.rewrites),
            withdrawn=tuple(self.withdrawn),
            renamed=tuple(self.renamed),
            revoked=tuple(self.revoked),
            stories=tuple(writes),
            merged_into=tuple(sorted(self.merged_into)),
            changed_ids=tuple(changed),
            touched=Touched.union(touched),
        )
