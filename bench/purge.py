"""Retention at scale: a purge of a million stories, and a feed read beside them.

What it shows
    How long ``Store.purge`` takes to delete most of N stories (their copies
    and membership rows) and give the space back (``VACUUM ANALYZE`` on
    PostgreSQL, the incremental vacuum on SQLite), and that reading a feed's
    newest 50 stays an index walk whatever N is (the query plan is printed).

How it runs
    N stories are stored through the store, as ingest stores them: ``save_batch``
    for each of N / 5000 sources, one batch of 5000 articles each (one source's
    fetch; each source its own desk of eight and one of four topics). Their
    times spread evenly over two years before "now". Every source keeps 30
    days, so about 96 % of the stories are past their keep; the newest 50 of
    each listing are still in a current feed and stay. The load is timed
    apart from the purge. Then: one feed read (timed, with its plan), the purge
    (timed, with what it printed), the same feed read again.

Run: ``.venv/bin/python bench/purge.py [--stories N] [--database URL]``
(default: 1,000,000 stories, the PostgreSQL of ``FEEDSVC_TEST_POSTGRES_URL`` in
a schema of its own that is dropped afterwards; ``--database sqlite:///path``
for SQLite).
"""

from __future__ import annotations

import argparse
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, select, text

from feedsvc.model import Article, Source, Validators
from feedsvc.normalise import article_id
from feedsvc.store import Store
from feedsvc.store.listings import _columns, _live, _newest_first

PER_SOURCE = 5000
DESKS = [f"desk{n}" for n in range(8)]
TOPICS = [f"topic{n}" for n in range(4)]
NOW = datetime(2026, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=730)
KEEP = timedelta(days=30)


@contextmanager
def database(url: str | None) -> Iterator[str]:
    """The URL to use; a PostgreSQL URL gets a fresh schema, dropped afterwards."""
    url = url or os.environ.get("FEEDSVC_TEST_POSTGRES_URL", "")
    if not url:
        raise SystemExit("give --database or set FEEDSVC_TEST_POSTGRES_URL")
    if url.startswith("sqlite"):
        yield url
        return
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in url else "?"
    try:
        yield f"{url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def source(n: int) -> Source:
    return Source(
        id=f"src-{n}",
        kind="feed",
        desk=DESKS[n % len(DESKS)],
        every=timedelta(minutes=15),
        url=f"https://site{n}.example/feed",
        keep=KEEP,
    )


def batch(n: int, first: int, total: int) -> list[Article]:
    """5000 distinct articles of source ``n``: own URLs, times spread over the span."""
    articles = []
    for k in range(PER_SOURCE):
        index = first + k
        published = NOW - SPAN * (1 - index / total)
        guid = f"https://site{n}.example/story/{k}"
        articles.append(
            Article(
                id=article_id(f"src-{n}", guid),
                source=f"src-{n}",
                guid=guid,
                url=guid,
                title=f"Story {index} of source {n}",
                summary="A short summary of the story, as feeds give one.",
                content_html="<p>" + "Some words of the story. " * 12 + "</p>",
                author=None,
                desk=DESKS[n % len(DESKS)],
                topics=(TOPICS[index % len(TOPICS)],),
                published=published,
                updated=published,
                language="en",
                fingerprint=f"{index:064x}",
            )
        )
    return articles


def read_feed(store: Store) -> tuple[float, str]:
    """The newest 50 of one desk, timed, and the database's plan for it."""
    query = _newest_first(_live(select(*_columns()), "desk0", None, None), False).limit(50)
    started = time.perf_counter()
    found = store.list_articles(desk="desk0", limit=50)
    took = time.perf_counter() - started
    assert len(found) == 50
    sql = str(query.compile(store.engine, compile_kwargs={"literal_binds": True}))
    explain = "EXPLAIN QUERY PLAN " if store.is_sqlite else "EXPLAIN "
    with store.engine.connect() as conn:
        plan = [str(row[-1]) for row in conn.execute(text(explain + sql))]
    return took, "\n    ".join(plan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stories", type=int, default=1_000_000)
    parser.add_argument("--database")
    args = parser.parse_args()
    sources = max(1, args.stories // PER_SOURCE)
    total = sources * PER_SOURCE
    with database(args.database) as url:
        store = Store.open(url)
        store.upgrade()
        store.sync_sources([source(n) for n in range(sources)], NOW - SPAN)
        started = time.perf_counter()
        for n in range(sources):
            store.save_batch(f"src-{n}", batch(n, n * PER_SOURCE, total), Validators(), 200, NOW)
            if (n + 1) % 20 == 0:
                rate = (n + 1) * PER_SOURCE / (time.perf_counter() - started)
                print(f"  loaded {(n + 1) * PER_SOURCE:>9,} stories ({rate:,.0f}/s)", flush=True)
        load = time.perf_counter() - started
        print(f"backend: {store.engine.dialect.name}; stories: {total:,}")
        print(f"load through save_batch: {load:.1f} s ({total / load:,.0f} stories/s)")
        took, plan = read_feed(store)
        print(f"newest 50 of a desk: {took * 1000:.1f} ms; plan:\n    {plan}")
        keeps = {f"src-{n}": KEEP for n in range(sources)}
        vacuum: list[float] = []
        free_space = store.free_space

        def timed_free_space() -> None:
            begun = time.perf_counter()
            free_space()
            vacuum.append(time.perf_counter() - begun)

        store.free_space = timed_free_space  # type: ignore[method-assign]
        started = time.perf_counter()
        result = store.purge(NOW, keeps, None, feed_size=50)
        purge = time.perf_counter() - started
        print(f"purge: {purge:.1f} s in all, of which {sum(vacuum):.1f} s freeing space")
        print(f"  {result.line()}")
        left = store.count_articles()
        took, plan = read_feed(store)
        print(
            f"left: {left:,} stories; newest 50 of a desk: {took * 1000:.1f} ms; plan:\n    {plan}"
        )
        store.close()


if __name__ == "__main__":
    main()
