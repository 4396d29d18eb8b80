"""A small newsroom for the archive tests: stories stored through the store, published
with a small feed and page size, and read back over the web tier as a reader would."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from archive_walker import Walk, walk
from feedsvc.catalog import load_catalog
from feedsvc.config import Settings
from feedsvc.model import Article, Touched, Validators
from feedsvc.normalise import article_id
from feedsvc.publish import Publisher, PublishResult
from feedsvc.render import entry_id
from feedsvc.store import Store
from feedsvc.web import create_app

SOURCE = "nym-wire"  # a wire folder of the sample catalogue: desk nym
DESK = "feeds/desks/nym"
TOPIC = "feeds/topics/security"
T0 = datetime(2024, 1, 1, tzinfo=UTC)
BASE = "http://localhost/"


def story(
    n: int, hours: float | None = None, *, topics: Sequence[str] = (), title: str = ""
) -> Article:
    """Story ``n``, published ``hours`` (default ``n``) after T0."""
    guid = f"story-{n}"
    published = T0 + timedelta(hours=n if hours is None else hours)
    title = title or f"Story {n}"
    return Article(
        id=article_id(SOURCE, guid),
        source=SOURCE,
        guid=guid,
        url=f"https://news.example/{n}",
        title=title,
        summary=f"About {title}",
        content_html=f"<p>{title}</p>",
        author=None,
        desk="nym",
        topics=tuple(topics),
        published=published,
        updated=published,
        language=None,
        fingerprint=_digest(guid, title, *topics, published.isoformat()),
    )


class Newsroom:
    """The service as a reader meets it: stories stored and published, the web app in front."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        feed_size: int,
        page_size: int,
        folder: Path | None = None,
    ) -> None:
        self.store = store
        self.catalog = load_catalog(settings.feeds_dir)
        self.now = datetime(2025, 1, 1, tzinfo=UTC)
        store.sync_sources(self.catalog.sources.values(), self.now)
        self.publisher = Publisher(
            store,
            self.catalog,
            base_url=None,
            feed_size=feed_size,
            archive_size=page_size,
            publish_dir=folder,
        )
        self.publisher.publish(None, self.tick())
        self.app: Flask = create_app({"TESTING": True, "SETTINGS": settings, "STORE": store})
        self.app.extensions["feedsvc.cache"].check_every = 0.0  # see each publish at once
        self.client: FlaskClient = self.app.test_client()

    def tick(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now

    def add(self, articles: Iterable[Article]) -> PublishResult:
        """Store a batch (new stories, or new versions of stored ones) and publish it."""
        result = self.store.save_batch(SOURCE, list(articles), Validators(), 200, self.tick())
        return self.publish(result.touched)

    def retract(self, *articles: Article) -> PublishResult:
        touched = Touched()
        for article in articles:
            change = self.store.retract(article.id, "wrong", self.tick())
            assert change is not None
            touched = touched | change.touched
        return self.publish(touched)

    def restore(self, article: Article) -> PublishResult:
        change = self.store.restore(article.id, self.tick())
        assert change is not None
        return self.publish(change.touched)

    def publish(self, touched: Touched | None) -> PublishResult:
        return self.publisher.publish(touched, self.tick())

    def fetch(self, url: str) -> tuple[int, dict[str, str], bytes]:
        assert url.startswith(BASE), url
        response = self.client.get("/" + url.removeprefix(BASE))
        return response.status_code, dict(response.headers), response.data

    def walk(self, feed: str = DESK, fmt: str = "atom") -> Walk:
        return walk(self.fetch, f"{BASE}{feed}.{fmt}", fmt)

    def live(self, feed: str = DESK) -> set[str]:
        """The entry ids of every stored, unretracted story of a feed: what a walk must find."""
        listing = feed.removeprefix("feeds/")
        return {entry_id(a) for a in self.store.list_range(listing, None, limit=1_000_000)}


def pages(walked: Walk) -> dict[str, bytes]:
    """The sealed pages of a walk (their URLs end in a bare number), by URL."""
    return {
        document.url: document.body
        for document in walked.archives
        if document.url.rsplit("/", 1)[-1].split(".")[0].isdigit()
    }


def holding(walked: Walk, article: Article) -> str:
    """The URL of the document of a walk that holds ``article``."""
    wanted = entry_id(article)
    found = [d.url for d in walked.documents if wanted in d.entries]
    assert len(found) == 1, found
    return found[0]


def renamed(article: Article, title: str) -> Article:
    """The same story corrected: a new title, hence a new fingerprint."""
    return dataclasses.replace(
        article, title=title, summary=f"About {title}", fingerprint=_digest(article.guid, title)
    )


def _digest(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()
