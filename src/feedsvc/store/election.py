"""What a story shows and where it is listed, given its copies: pure, no database.

A story holds one copy per source that carries it. Which copy it shows is an
election, run again whenever its copies change (one is added, rewritten,
withdrawn or comes back), so the batch planner, a source's removal and an
operator's restore all settle a story the same way, here:

- the copy of the source with the highest ``priority``;
- on a tie, the copy of a source whose feed is on the story URL's own site
  (same host, a leading ``www.`` ignored): the publisher's own feed;
- then the copy seen first, then the smallest copy id (so the result never
  depends on the order rows were read).

A later or lower-ranked copy therefore never changes what a story says. The
story is listed in ``all``, in the desk of every present copy and in every
topic of one (topics shown are their union). With no copy left it is
retracted as ``withdrawn`` (lifted when a copy comes back); an operator's
retraction stays until restored. A retracted story keeps the listings it had,
not live, so publishing knows which Atom feeds carry its tombstone.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from urllib.parse import urlsplit

from feedsvc.model import Retraction, Touched

ALL = "all"
"""The listing of every live story: the combined feed."""
DESKS = "desks/"
TOPICS = "topics/"


def desk_listing(desk: str) -> str:
    return DESKS + desk


def topic_listing(topic: str) -> str:
    return TOPICS + topic


def listing_for(desk: str | None = None, topic: str | None = None) -> str:
    """The one listing a desk or a topic filter names; ``all`` for neither."""
    if desk is not None:
        return desk_listing(desk)
    if topic is not None:
        return topic_listing(topic)
    return ALL


def touched_by(listings: Iterable[str]) -> Touched:
    """The desks and topics of these listings (``all`` goes with any of them)."""
    desks: set[str] = set()
    topics: set[str] = set()
    for listing in listings:
        if listing.startswith(DESKS):
            desks.add(listing.removeprefix(DESKS))
        elif listing.startswith(TOPICS):
            topics.add(listing.removeprefix(TOPICS))
    return Touched(frozenset(desks), frozenset(topics))


def site_host(url: str | None) -> str | None:
    """The host a URL is on, lower case, without a leading ``www.``; None without one."""
    if not url:
        return None
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return host.removeprefix("www.") if host else None


@dataclass(frozen=True, slots=True)
class SourceRank:
    """What the election needs of a source: its priority and the site its feed is on."""

    priority: int = 0
    host: str | None = None


@dataclass(frozen=True, slots=True)
class Member:
    """One copy of a story, as the election and the listings need it."""

    id: str
    source: str
    desk: str
    topics: frozenset[str]
    published: datetime
    updated: datetime
    first_seen: datetime
    identity: str | None
    present: bool = True


@dataclass(frozen=True, slots=True)
class StoryState:
    """A story as its row and membership rows hold it."""

    id: str
    identity: str | None
    entry_id: str
    shown: str
    published: datetime
    updated: datetime
    topics: frozenset[str]
    listings: frozenset[str]
    retraction: Retraction | None = None

    @property
    def live(self) -> bool:
        return self.retraction is None

    def live_listings(self) -> frozenset[str]:
        return self.listings if self.live else frozenset()


@dataclass(frozen=True, slots=True)
class StoredStory:
    """A stored story and every copy it holds, present or withdrawn."""

    state: StoryState
    members: tuple[Member, ...]


def elect(
    members: Collection[Member], identity: str | None, ranks: Mapping[str, SourceRank]
) -> Member:
    """The copy a story shows among ``members`` (not empty); see the module's rules."""
    host = site_host(identity)

    def rank(member: Member) -> tuple[int, bool, datetime, str]:
        source = ranks.get(member.source, SourceRank())
        own_site = host is not None and source.host == host
        return (-source.priority, not own_site, member.first_seen, member.id)

    return min(members, key=rank)


def settle(
    before: StoryState,
    members: Collection[Member],
    ranks: Mapping[str, SourceRank],
    now: datetime,
    *,
    rewritten: Collection[str] = (),
    created: bool = False,
) -> StoryState:
    """The story once its copies are ``members``: shown copy, topics, listings, retraction.

    ``rewritten``: copies whose content changed now. When what the story shows
    changes (another copy, or the same one rewritten) its ``updated`` moves
    forward, to the copy's own time or else to ``now``, so every reader sees
    a change; a new story (``created``) simply takes its copy's times.
    """
    present = [member for member in members if member.present]
    if not present:
        retraction = before.retraction or Retraction(now, None, "withdrawn")
        return replace(before, retraction=retraction)
    keep = before.retraction if before.retraction and before.retraction.by == "operator" else None
    chosen = elect(present, before.identity, ranks)
    topics = frozenset().union(*(member.topics for member in present))
    listings = before.listings
    if keep is None:
        listings = frozenset(
            {ALL}
            | {desk_listing(member.desk) for member in present}
            | {topic_listing(topic) for topic in topics}
        )
    updated = chosen.updated
    if not created and (chosen.id != before.shown or chosen.id in rewritten):
        updated = chosen.updated if chosen.updated > before.updated else max(now, before.updated)
    elif not created:
        updated = max(chosen.updated, before.updated)
    return replace(
        before,
        shown=chosen.id,
        published=chosen.published,
        updated=updated,
        topics=topics,
        listings=listings,
        retraction=keep,
    )
