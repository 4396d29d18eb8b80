"""Articles: storing a source's batch by its plan, and an operator's retract and restore.

A source's batch is stored in one write transaction together with the fetch
validators that produced it, so a crash either keeps both or neither: the next
run re-fetches instead of trusting an ETag whose articles were never saved.
What the batch does is decided by ``plan.plan_batch`` from what is read first
(``batches``); reading stories as readers see them is ``listings``'.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from feedsvc.errors import Conflict
from feedsvc.model import Article, Retraction, StoreResult, Touched, Validators
from feedsvc.store.batches import result_of, store_batch
from feedsvc.store.copies import story_of_copy
from feedsvc.store.election import StoredStory, settle, touched_by
from feedsvc.store.listings import Listings, find_story
from feedsvc.store.plan import Action, StoryWrite
from feedsvc.store.schedule import record_fetch
from feedsvc.store.sources import FetchRecord
from feedsvc.store.stories import read_stories, source_ranks, write_stories


@dataclass(frozen=True, slots=True)
class StoryChange:
    """A story after an operator's action, and the listings that must be published again."""

    article: Article
    touched: Touched = field(default_factory=Touched)
    changed: bool = False


class ArticleStore(Listings):
    def save_batch(
        self,
        source_id: str,
        batch: Sequence[Article],
        validators: Validators,
        status: int | None,
        now: datetime,
        duration_ms: int = 0,
        content_digest: str | None = None,
        *,
        listing: Collection[str] | None = None,
        homes: Collection[str] = (),
        aliases: Mapping[str, str] | None = None,
    ) -> StoreResult:
        """Store one source's articles and the validators that brought them, all or nothing.

        ``content_digest`` identifies the body (and the rules) these articles
        came from; it is stored with them, so it can never claim a body whose
        articles were not saved. ``listing``: for a folder, every wire file
        present now (a copy whose file is not listed is withdrawn). ``homes``:
        the source's home page URLs, which identify no one article.
        ``aliases``: exact guid -> the legacy guid earlier releases stored it
        under (``feedsvc.guids``), so such a copy is adopted, not duplicated.
        """

        def work(conn: Connection) -> StoreResult:
            plan = store_batch(
                conn, source_id, batch, now, listing=listing, homes=homes, aliases=aliases
            )
            fetch = FetchRecord(
                now,
                "ok",
                status,
                new=plan.count(Action.NEW),
                updated=plan.count(Action.UPDATED) + plan.count(Action.RETURNED),
                duration_ms=duration_ms,
            )
            record_fetch(conn, source_id, fetch, validators, content_digest)
            return result_of(plan)

        try:
            return self.transact(work)
        except IntegrityError:
            # another source's batch claimed one of these URLs between our read and our
            # write (PostgreSQL; SQLite writers queue): read again, and merge into it
            return self.transact(work)

    def retract(self, article_id: str, reason: str | None, now: datetime) -> StoryChange | None:
        """Take a story out of every feed and page, with an optional reason; None if unknown.

        An operator's retraction stays until ``restore``, whatever its sources
        do; retracting a story already withdrawn (no copy left) makes it the
        operator's, and a new reason replaces the old one.
        """

        def work(conn: Connection) -> StoryChange | None:
            stored = _stored(conn, article_id)
            if stored is None:
                return None
            story, before = stored.state.id, stored.state
            was = before.retraction
            at = was.at if was is not None else now
            retraction = Retraction(at, reason if reason else (was.reason if was else None))
            after = replace(before, retraction=retraction)
            if after == before:
                return StoryChange(_found(conn, story))
            write_stories(conn, [StoryWrite(after, listings_changed=before.live)], now)
            return StoryChange(_found(conn, story), touched_by(before.live_listings()), True)

        return self.transact(work)

    def restore(self, article_id: str, now: datetime) -> StoryChange | None:
        """Undo an operator's retraction: the story is listed again as its copies say.

        None if unknown. A story with no copy left (withdrawn) cannot come back
        by hand: ``Conflict``; it returns by itself when a source carries it again.
        """

        def work(conn: Connection) -> StoryChange | None:
            stored = _stored(conn, article_id)
            if stored is None:
                return None
            story, before = stored.state.id, stored.state
            if before.retraction is None:
                return StoryChange(_found(conn, story))
            if not any(member.present for member in stored.members):
                raise Conflict(
                    f"story {story} has no copy left (its wire file or source is gone); "
                    "it comes back by itself when a source carries it again"
                )
            opened = replace(before, retraction=None)
            after = settle(opened, stored.members, source_ranks(conn), now)
            write_stories(conn, [StoryWrite(after, listings_changed=True)], now)
            return StoryChange(_found(conn, story), touched_by(after.live_listings()), True)

        return self.transact(work)


def _stored(conn: Connection, article_id: str) -> StoredStory | None:
    """The story ``article_id`` names (its own id, or one of its copies'), as stored."""
    story = story_of_copy(conn, article_id) or article_id
    return read_stories(conn, [story]).get(story)


def _found(conn: Connection, story: str) -> Article:
    article = find_story(conn, story)
    if article is None:  # read in the same transaction that just wrote it
        raise LookupError(f"story {story} vanished inside its own transaction")
    return article
