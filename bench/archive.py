"""RFC 5005 archives at size: what a one-story publish and an archive page cost.

What it shows
    That sealing and linking at publish time do not grow with the archive,
    and that an archive page is a handful of index walks plus a render: for a
    small and a large archive in one run, the median time of a one-story
    publish, of an archive page rendered cold (first request for that
    version) and served warm (this worker's copy), and the ratio large/small.

How it runs
    N stories of one desk (and a topic for a third of them) are stored through
    ``save_batch``, 5000 per source as a fetch stores them, dated an hour
    apart, and published once with the default feed and page size (the first
    publish seals every page; timed apart). Then 15 one-story publishes, and
    15 sealed pages spread over the archive requested through the web tier
    (Flask's test client: no network in the figures), twice each.

Run: ``.venv/bin/python bench/archive.py [--small N] [--large N] [--database URL]``
(default: 10,000 and 200,000 stories, the PostgreSQL of
``FEEDSVC_TEST_POSTGRES_URL`` in schemas of their own, dropped afterwards;
``--database sqlite:///path`` for SQLite, a file per size beside it).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))  # the RFC 5005 reader of the tests

from purge import database  # noqa: E402 - bench/ is not a package

from archive_walker import walk  # noqa: E402
from feedsvc.catalog import load_catalog  # noqa: E402
from feedsvc.config import Settings  # noqa: E402
from feedsvc.model import Article, Source, Validators  # noqa: E402
from feedsvc.normalise import article_id  # noqa: E402
from feedsvc.publish import Publisher  # noqa: E402
from feedsvc.store import Store  # noqa: E402
from feedsvc.web import create_app  # noqa: E402

PER_SOURCE = 5000
T0 = datetime(2000, 1, 1, tzinfo=UTC)
ROUNDS = 15


def article(source: str, index: int) -> Article:
    guid = f"https://{source}.example/story/{index}"
    published = T0 + timedelta(hours=index)
    return Article(
        id=article_id(source, guid),
        source=source,
        guid=guid,
        url=guid,
        title=f"Story {index}",
        summary="A short summary of the story, as feeds give one.",
        content_html="<p>" + "Some words of the story. " * 12 + "</p>",
        author=None,
        desk="nym",
        topics=("security",) if index % 3 == 0 else (),
        published=published,
        updated=published,
        language="en",
        fingerprint=f"{index:064x}",
    )


def median_ms(runs: list[float]) -> float:
    return statistics.median(runs) * 1000


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def measure(url: str, stories: int) -> dict[str, float]:
    store = Store.open(url)
    store.upgrade()
    catalog = load_catalog(ROOT / "feeds")
    sources = max(1, stories // PER_SOURCE)
    ids = [f"bench-{n}" for n in range(sources)]
    registered = [
        Source(
            id=i, kind="feed", desk="nym", every=timedelta(minutes=1), url=f"https://{i}.example/"
        )
        for i in ids
    ]
    store.sync_sources([*catalog.sources.values(), *registered], T0)
    now = T0 + timedelta(hours=stories + 10)
    started = time.perf_counter()
    for n, source in enumerate(ids):
        batch = [article(source, i) for i in range(n, stories, sources)]
        store.save_batch(source, batch, Validators(), 200, now)
    figures = {"load s": time.perf_counter() - started}
    publisher = Publisher(store, catalog, base_url=None, feed_size=50)
    figures["first publish s"] = timed(lambda: publisher.publish(None, now))

    publishes = []
    for n in range(ROUNDS):
        now += timedelta(minutes=1)
        fresh = article(ids[0], stories + n)
        result = store.save_batch(ids[0], [fresh], Validators(), 200, now)
        publishes.append(timed(lambda: publisher.publish(result.touched, now)))  # noqa: B023
    figures["one-story publish ms"] = median_ms(publishes)

    settings = Settings(feeds_dir=ROOT / "feeds", database_url=url, allowed_hosts=("localhost",))
    client = create_app({"TESTING": True, "SETTINGS": settings, "STORE": store}).test_client()

    def fetch(target: str) -> tuple[int, dict[str, str], bytes]:
        response = client.get("/" + target.removeprefix("http://localhost/"))
        return response.status_code, dict(response.headers), response.data

    numbers = store.archive_numbers("desks/nym")
    chosen = numbers[:: max(1, len(numbers) // ROUNDS)][:ROUNDS]
    cold, warm = [], []
    for number in chosen:
        path = f"/feeds/archive/desks/nym/{number}.atom"
        cold.append(timed(lambda: client.get(path)))  # noqa: B023
        warm.append(timed(lambda: client.get(path)))  # noqa: B023
    figures["page cold ms"] = median_ms(cold)
    figures["page warm ms"] = median_ms(warm)
    figures["pages"] = len(numbers)
    if stories <= 20_000:  # a whole walk back, as a reader reconstructs the feed
        walked = walk(fetch, "http://localhost/feeds/desks/nym.atom", "atom")
        assert len(walked.once()) == stories + ROUNDS
        figures["walk s"] = timed(
            lambda: walk(fetch, "http://localhost/feeds/desks/nym.atom", "atom")
        )
    store.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=200_000)
    parser.add_argument("--database")
    args = parser.parse_args()
    results = {}
    for label, size in (("small", args.small), ("large", args.large)):
        url = args.database
        if url and url.startswith("sqlite"):
            url = f"{url}.{size}"
            Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
        with database(url) as ready:
            results[label] = measure(ready, size)
        print(
            f"{label} ({size:,} stories): "
            + ", ".join(f"{name} {value:,.1f}" for name, value in results[label].items()),
            flush=True,
        )
    for name in ("one-story publish ms", "page cold ms", "page warm ms"):
        ratio = results["large"][name] / results["small"][name]
        print(
            f"{name}: {results['small'][name]:.1f} -> {results['large'][name]:.1f} "
            f"(ratio {ratio:.2f})"
        )


if __name__ == "__main__":
    main()
