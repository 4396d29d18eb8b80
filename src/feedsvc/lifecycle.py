"""A story's lifecycle as operators drive it: retract, restore, purge; each change published.

The command line (``feedsvc articles retract|restore``, ``feedsvc purge``), the
admin API, the admin pages and the scheduler's daily purge all call this, so
they cannot disagree. A retraction leaves every feed at once (the Atom feeds
that carried it gain its tombstone) and every page (``/articles/<id>`` answers
410); a restore brings it back. The purge publishes every feed afterwards, so
tombstones older than ``tombstone.KEEP_DAYS`` leave the feeds with it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from feedsvc.admin_models import RetractRequest, checked
from feedsvc.config import Settings
from feedsvc.errors import NotFound
from feedsvc.model import Article, Catalog, Touched
from feedsvc.publish import Publisher, publisher_for
from feedsvc.store import PurgeResult, Store, StoryChange
from feedsvc.tombstone import KEEP_DAYS

log = logging.getLogger(__name__)


class Lifecycle:
    """Retract, restore and purge stories, and publish what that changed.

    ``catalog`` gives the current catalogue with the API's sources (their
    ``keep`` is read at each purge); the settings give the default retention
    (``FEEDSVC_KEEP``), the feed size and how to publish.
    """

    def __init__(
        self,
        store: Store,
        catalog: Callable[[], Catalog],
        settings: Settings,
        clock: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.settings = settings
        self.clock = clock

    def publisher(self, catalog: Catalog) -> Publisher:
        return publisher_for(self.store, catalog, self.settings)

    def retract(self, article_id: str, payload: object = None) -> Article:
        """Take a story out of every feed and page; ``payload`` is ``{"reason": …}`` or None."""
        request = checked(RetractRequest, payload if payload is not None else {})
        change = self.store.retract(article_id, request.reason, self.clock())
        article = self._published(article_id, change)
        log.info("story=%s retracted by an operator: %s", article.id, request.reason or "-")
        return article

    def restore(self, article_id: str) -> Article:
        """Undo an operator's retraction (Conflict when no source carries the story any more)."""
        article = self._published(article_id, self.store.restore(article_id, self.clock()))
        log.info("story=%s restored by an operator", article.id)
        return article

    def purge(self) -> PurgeResult:
        """Delete the stories past their keep, then publish every feed (expired tombstones go)."""
        catalog = self.catalog()
        keeps = {source.id: source.keep for source in catalog.sources.values()}
        now = self.clock()
        settings = self.settings
        result = self.store.purge(now, keeps, settings.keep, settings.feed_size, KEEP_DAYS)
        self.publisher(catalog).publish(None, now)
        log.info("purge: %s", result.line())
        return result

    def _published(self, article_id: str, change: StoryChange | None) -> Article:
        if change is None:
            raise NotFound(f"no article {article_id!r}")
        if change.touched:
            self._publish(change.touched)
        return change.article

    def _publish(self, touched: Touched) -> None:
        self.publisher(self.catalog()).publish(touched, self.clock())
