"""Pages and search that do not grow with the archive (issue 12 §4): 10,000 vs 1,000,000.

What it shows
    The median time of the requests a reader makes — a feed, ``/``, a desk page,
    a topic page, an older desk page (``?before=``), a story page, a search —
    and of a one-story publish (store the story, publish what it touched), at
    two archive sizes, and each figure at the large size as a ratio to the same
    figure at the small one. The goal: every ratio at most 1.5.

How it runs
    For each size, a PostgreSQL database of its own (``feedsvc_scale``, created
    and dropped here) is migrated (``Store.upgrade``), given a catalogue of 1,000
    feed sources over 5 desks and 8 topics (``sync_sources``), and filled in
    bulk: story, copy and membership rows are written with PostgreSQL ``COPY``
    into the store's own tables, exactly the rows ``save_batch`` would write
    for a new story of one source (one copy, shown; listed in ``all``, its
    desk and one or two topics), one story every 30 s back from "now", so a
    larger archive is a longer history. The normal path stores about 2,500
    stories/s, too slow for a million. Then everything is published once
    (``Publisher.publish(None)``, which also seals the RFC 5005 archive).

    Requests go through the Flask test client of ``create_app`` (the WSGI
    stack, the feed cache, the page memo), ``--requests`` of each, both sizes
    loaded side by side (``feedsvc_scale_<n>``) and measured in turns, a fifth
    of each figure's requests at a time, so a busy shared machine weighs on
    both sizes alike. A feed,
    ``/`` and the desk's and topic's first pages are published bytes; story
    pages are asked for by ``--requests`` different ids and the older page and
    the searches with the page memo emptied before each request, so those
    figures are the cost of a render from the database, not of a lookup. The
    rare search finds the 20 newest stories, at both sizes (their titles carry
    a word no other has); the common one finds one story in 200, so 50 at
    10,000 and 5,000 at a million. Publishes are timed ``--publishes`` times.

Run: ``.venv/bin/python bench/scale.py [--database URL] [--small N] [--large N]``
(default: ``postgresql+psycopg://postgres@127.0.0.1:5432/`` or
``FEEDSVC_SCALE_DATABASE_URL``; 10,000 and 1,000,000 stories).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from flask.testing import FlaskClient
from sqlalchemy.engine import URL, make_url

from feedsvc.catalog import load_catalog
from feedsvc.config import Settings
from feedsvc.model import Article, Catalog, Validators
from feedsvc.normalise import article_id
from feedsvc.publish import Publisher
from feedsvc.store import Store
from feedsvc.web import create_app
from feedsvc.web.pages import MEMO

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/"
DATABASE = "feedsvc_scale"
SOURCES = 1000
DESKS = [f"desk{n}" for n in range(5)]
TOPICS = [f"topic{n}" for n in range(8)]
WORDS = [f"word{n:03d}" for n in range(200)]
RARE = "zeppelin"
RARE_COUNT = 20
EVERY = timedelta(seconds=30)
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def catalogue(folder: Path) -> Catalog:
    desks = "".join(f'[{d}]\ntitle = "Desk {d}"\nbylines = ["{d} Desk"]\n\n' for d in DESKS)
    topics = "".join(f'[{t}]\ntitle = "Topic {t}"\nmatch = ["{t}"]\n\n' for t in TOPICS)
    sources = "".join(
        f'[src{n:04d}]\nkind = "feed"\nurl = "https://src{n:04d}.example/feed.xml"\n'
        f'desk = "{DESKS[n % len(DESKS)]}"\nevery = "15m"\n\n'
        for n in range(SOURCES)
    )
    for name, body in (("desks", desks), ("topics", topics), ("sources", sources)):
        (folder / f"{name}.toml").write_text(body)
    return load_catalog(folder)


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def bulk_load(admin_url: str, count: int) -> None:
    """``count`` stories as ``save_batch`` would store them, written with COPY."""
    with psycopg.connect(admin_url) as conn, conn.cursor() as cur:
        with (
            cur.copy(
                "COPY stories (id, identity_url, entry_id, shown, published, updated, topics,"
                " created_at) FROM STDIN"
            ) as stories,
        ):
            for row in _stories(count):
                stories.write_row(row["story"])
        with cur.copy(
            "COPY copies (id, source, guid, story_id, url, identity_url, title, summary,"
            " content_html, author, desk, topics, language, published, updated, dated,"
            " fingerprint, enclosures, first_seen) FROM STDIN"
        ) as copies:
            for row in _stories(count):
                copies.write_row(row["copy"])
        with cur.copy(
            "COPY memberships (listing, story_id, published, live) FROM STDIN"
        ) as members:
            for row in _stories(count):
                for listing in row["listings"]:
                    members.write_row((listing, row["story"][0], row["story"][4], True))
        conn.commit()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE stories, copies, memberships")


def _stories(count: int) -> Any:
    for n in range(count):
        source = f"src{n % SOURCES:04d}"
        desk = DESKS[(n % SOURCES) % len(DESKS)]
        topics = sorted({TOPICS[n % len(TOPICS)], TOPICS[(n // 7) % len(TOPICS)]})
        url = f"https://{source}.example/{n}"
        guid = url
        ident = article_id(source, guid)
        published = _naive(NOW - EVERY * n)  # n = 0 is the newest
        words = f"{WORDS[n % len(WORDS)]} {WORDS[(n * 7 + 3) % len(WORDS)]}"
        title = f"Story {n}: {words}" + (f" {RARE}" if n < RARE_COUNT else "")
        topic_json = "[" + ",".join(f'"{t}"' for t in topics) + "]"
        yield {
            "story": (ident, url, url, ident, published, published, topic_json, published),
            "copy": (
                ident,
                source,
                guid,
                ident,
                url,
                url,
                title,
                f"About {words} and more.",
                f"<p>About {words} and more.</p>",
                None,
                desk,
                topic_json,
                "en",
                published,
                published,
                True,
                hashlib.sha1(title.encode()).hexdigest(),
                "[]",
                published,
            ),
            "listings": ["all", f"desks/{desk}", *(f"topics/{t}" for t in topics)],
        }


@dataclass
class Archive:
    """One size's database, app and publisher, ready to be measured."""

    count: int
    database: str
    app: Any
    client: FlaskClient
    store: Store
    publisher: Publisher
    runs: dict[str, Callable[[], None]] = field(default_factory=dict)
    laps: dict[str, list[float]] = field(default_factory=dict)


def _plain(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def prepare(url: str, count: int, folder: Path, catalog: Catalog, requests: int) -> Archive:
    """A database of ``count`` stories, published once, and what each figure runs."""
    base = make_url(url)
    database = f"{DATABASE}_{count}"
    target = base.set(database=database)
    with psycopg.connect(_plain(base.set(database="postgres")), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {database}")
    store = Store.open(target.render_as_string(hide_password=False))
    store.upgrade()
    store.sync_sources(catalog.sources.values(), NOW)
    started = time.monotonic()
    bulk_load(_plain(target), count)
    loaded = time.monotonic() - started
    started = time.monotonic()
    publisher = Publisher(store, catalog, base_url=None, feed_size=50)
    publisher.publish(None, NOW)
    print(
        f"  {count:,} stories: loaded in {loaded:.0f} s, "
        f"first publish in {time.monotonic() - started:.0f} s",
        flush=True,
    )
    settings = Settings(
        feeds_dir=folder,
        database_url=target.render_as_string(hide_password=False),
        allowed_hosts=("localhost",),
    )
    app = create_app({"TESTING": True, "SETTINGS": settings, "STORE": store})
    archive = Archive(count, database, app, app.test_client(), store, publisher)
    archive.runs = request_runs(archive, requests)
    archive.runs["one-story publish"] = publish_run(archive)
    return archive


def request_runs(archive: Archive, requests: int) -> dict[str, Callable[[], None]]:
    app, client, count = archive.app, archive.client, archive.count

    def get(path: str, fresh: bool = False) -> Callable[[], None]:
        def run() -> None:
            if fresh:  # the cost of a render from the database, not of a lookup
                app.extensions[MEMO]._pages.clear()
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code)

        return run

    older = client.get(f"/desks/{DESKS[0]}").get_data(as_text=True)
    cursor = older.split("?before=", 1)[1].split('"', 1)[0]
    spread = max(1, count // (requests * 4))
    ids = itertools.cycle(
        [
            article_id(f"src{n % SOURCES:04d}", f"https://src{n % SOURCES:04d}.example/{n}")
            for n in range(0, count, spread)
        ]
    )

    def story() -> None:  # a different story each time, from all over the archive
        response = client.get(f"/articles/{next(ids)}")
        assert response.status_code == 200

    for path in ("/feeds/all.atom", "/", f"/desks/{DESKS[0]}", f"/topics/{TOPICS[0]}"):
        client.get(path)  # the first look loads the cache
    return {
        "feed /feeds/all.atom": get("/feeds/all.atom"),
        "/": get("/"),
        "desk page": get(f"/desks/{DESKS[0]}"),
        "topic page": get(f"/topics/{TOPICS[0]}"),
        "older desk page (?before=)": get(f"/desks/{DESKS[0]}?before={cursor}", fresh=True),
        "article page": story,
        f"search, rare ({RARE})": get(f"/search?q={RARE}", fresh=True),
        f"search, common ({WORDS[5]})": get(f"/search?q={WORDS[5]}", fresh=True),
    }


def publish_run(archive: Archive) -> Callable[[], None]:
    numbers = itertools.count()

    def run() -> None:
        n = next(numbers)
        now = NOW + timedelta(minutes=n + 1)
        source = f"src{n % SOURCES:04d}"
        article = Article(
            id=article_id(source, f"https://{source}.example/new/{n}"),
            source=source,
            guid=f"https://{source}.example/new/{n}",
            url=f"https://{source}.example/new/{n}",
            title=f"A new story {n}",
            summary="Something happened.",
            content_html="<p>Something happened.</p>",
            author=None,
            desk=DESKS[n % len(DESKS)],
            topics=(TOPICS[n % len(TOPICS)],),
            published=now,
            updated=now,
            language="en",
            fingerprint=f"new-{n}",
        )
        result = archive.store.save_batch(source, [article], Validators(), 200, now)
        archive.publisher.publish(result.touched, now)

    return run


def measure(archives: list[Archive], requests: int, publishes: int) -> None:
    """Each figure at every size in turn, a few at a time: the machine's other work
    (a shared box) falls on both sizes alike instead of on whichever ran then."""
    rounds = 5
    for name in archives[0].runs:
        times = publishes if name == "one-story publish" else requests
        for _ in range(rounds):
            for archive in archives:
                run = archive.runs[name]
                for _ in range(max(1, times // rounds)):
                    started = time.perf_counter()
                    run()
                    archive.laps.setdefault(name, []).append((time.perf_counter() - started) * 1000)


def drop(url: str, database: str) -> None:
    with psycopg.connect(_plain(make_url(url).set(database="postgres")), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--database", default=os.environ.get("FEEDSVC_SCALE_DATABASE_URL", DEFAULT_URL)
    )
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--publishes", type=int, default=20)
    parser.add_argument("--keep", action="store_true", help="keep the databases (EXPLAIN)")
    args = parser.parse_args()
    archives: list[Archive] = []
    try:
        with tempfile.TemporaryDirectory() as folder:
            catalog = catalogue(Path(folder))
            for size in (args.small, args.large):
                print(f"loading {size:,} stories", flush=True)
                archives.append(prepare(args.database, size, Path(folder), catalog, args.requests))
            measure(archives, args.requests, args.publishes)
            for archive in archives:
                archive.store.close()
    finally:
        for archive in archives:
            if args.keep:
                print(f"kept {archive.database}: drop it when done")
            else:
                drop(args.database, archive.database)
    small, large = archives
    print(f"\n{'median ms':32} {args.small:>10,} {args.large:>10,} {'ratio':>7}")
    worst = 0.0
    for name in small.laps:
        before, after = statistics.median(small.laps[name]), statistics.median(large.laps[name])
        ratio = after / before
        worst = max(worst, ratio)
        print(f"{name:32} {before:10.2f} {after:10.2f} {ratio:7.2f}")
    print(f"worst ratio {worst:.2f} (goal: at most 1.5)")


if __name__ == "__main__":
    main()
