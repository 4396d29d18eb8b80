"""Ingest throughput: the whole feedsvc pipeline against feedparser alone, in one run.

What it shows
    How many feed entries per second feedsvc ingests end to end (HTTP fetch over
    loopback with the real ``Fetcher`` and address policy, feedparser, the
    normaliser with its HTML sanitiser, topic matching and fingerprints, and the
    SQLite write of every article) compared with how many entries per second
    ``feedparser.parse(bytes)`` with its default options reads from the very same
    documents. feedparser is the floor every feed reader pays; the ratio says how
    much feedsvc adds on top of it.

How it runs
    100 deterministic RSS 2.0 documents of 100 items (~1 KB each: title, link with
    tracking parameters, guid, pubDate, a little HTML in the description, one or
    two categories) are served by ``tests/servers.py``'s ``LoopbackServer`` in a
    child process (so serving them costs the pipeline no GIL time), with an ETag
    and Last-Modified. A catalogue of 100 ``feed`` sources is written to a temp
    folder and loaded with ``load_catalog``. Each round times feedparser on the
    100 documents, then ``fetch_and_store`` for every source into a fresh SQLite
    file (schema creation and ``sync_sources`` are not timed). The best round of
    each is reported. Rounds alternate so a noisy neighbour hurts both sides.

How to read it
    ``entries/s`` for both, then ``ratio pipeline/feedparser``: 1.0 would mean the
    pipeline costs nothing beyond feedparser; the goal is >= 0.7. The same ratio
    from ``time.process_time`` follows: the benchmark's own CPU, which other
    programs on the machine disturb less than the wall clock (the origin server
    runs in another process, so it is not counted). The ratio is a
    figure to watch, not an assertion: nothing fails when it is missed. The lines
    under "information" time a second ingest of the unchanged sources, once as the
    304s a polite origin answers and once as identical 200 bodies (stored
    validators ignored), which costs parse + normalise + fingerprint compare but no
    article write; and one ``Publisher.publish`` of every feed.

    ``--profile`` adds a cProfile of one pipeline round (top functions by own and
    by cumulative time).

Run: ``.venv/bin/python bench/ingest.py [--rounds N] [--profile]``
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import multiprocessing
import multiprocessing.connection
import os
import platform
import pstats
import random
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from ipaddress import ip_network
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

import feedparser  # noqa: E402
import sqlalchemy  # noqa: E402

from feedsvc.catalog import load_catalog  # noqa: E402
from feedsvc.fetch import AddressPolicy, Fetcher, Limits  # noqa: E402
from feedsvc.model import Catalog, Fetched, Source, SourceResult, Validators  # noqa: E402
from feedsvc.publish import Publisher  # noqa: E402
from feedsvc.refresh import fetch_and_store  # noqa: E402
from feedsvc.store import Store  # noqa: E402

FEEDS = 100
ITEMS = 100
GOAL = 0.7
SEED = 20250623
NOW = datetime(2025, 7, 1, 12, 0, tzinfo=UTC)
SERVER_LIFETIME = 300.0  # the feed server exits by itself after this many seconds
RSS_MEDIA_TYPE = "application/rss+xml; charset=utf-8"
LOOPBACK = AddressPolicy(allow_networks=(ip_network("127.0.0.0/8"),))
LIMITS = Limits(connect_timeout=5.0, total_timeout=10.0)

DESKS = {
    "world": ("World Desk", "News from around the world"),
    "business": ("Business Desk", "Markets, companies and the economy"),
    "tech": ("Technology Desk", "Technology, science and the internet"),
    "europe": ("Europe Desk", "European Union affairs"),
}
TOPICS = {
    "security": (["security", "defence", "defense", "NATO", "military"], ["Defence", "Security"]),
    "digital": (["digital", "data protection", "artificial intelligence", "AI"], ["Technology"]),
    "trade": (["trade", "tariff", "tariffs", "exports", "imports"], ["Trade", "Economy"]),
    "climate": (["climate", "emissions", "renewable", "energy"], ["Climate", "Energy"]),
}
CATEGORIES = [
    "Politics", "Economy", "Technology", "Defence", "Climate", "Health", "Culture",
    "Sport", "Science", "Trade", "Energy", "Europe",
]  # fmt: skip
SUBJECTS = [
    "Ministers", "The European Commission", "Regulators", "Lawmakers", "Central bankers",
    "Negotiators", "Researchers", "City officials", "Trade unions", "Energy companies",
    "NATO allies", "Health authorities",
]  # fmt: skip
VERBS = [
    "agree on", "push back against", "unveil", "delay", "debate", "approve", "reject",
    "review", "sign", "question", "back", "weigh",
]  # fmt: skip
OBJECTS = [
    "new tariffs on steel imports", "a data protection overhaul", "a defence spending plan",
    "renewable energy targets", "rules for artificial intelligence", "a trade agreement",
    "a security pact", "emissions limits for shipping", "digital services taxes",
    "a budget for military aid", "export controls on chips", "climate finance pledges",
]  # fmt: skip
FILLER = [
    "Officials said the talks would continue next week.",
    "The proposal still needs the approval of national parliaments.",
    "Critics argue the measure goes too far, while supporters say it is overdue.",
    "Markets reacted calmly to the announcement on Tuesday.",
    "The decision follows months of negotiations behind closed doors.",
    "Several member states have asked for more time to assess the impact.",
    "Analysts expect the debate to intensify before the summer break.",
    "A spokesperson declined to comment on the timetable.",
]  # fmt: skip


# --------------------------------------------------------------------------- the corpus


def _slug(text: str) -> str:
    return "-".join("".join(ch if ch.isalnum() else " " for ch in text.lower()).split())


def make_item(rng: random.Random, feed: int, number: int, moment: datetime) -> str:
    """One ~1 KB RSS item, as a newsroom CMS writes it."""
    title = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}"
    slug = _slug(title)[:60]
    link = (
        f"https://news{feed:03d}.example/{moment:%Y/%m/%d}/{slug}-{feed}-{number}"
        f"?utm_source=rss&utm_medium=feed&ref=home"
    )
    sentences = rng.sample(FILLER, 4)
    paragraph = " ".join(sentences[:2])
    quote_text = sentences[2]
    description = (
        f"<p>{escape(title)}, officials confirmed on {moment:%A}. {escape(paragraph)}</p>"
        f'<p>"{escape(quote_text)}" said <em>a senior official</em>. '
        f'Read <a href="https://news{feed:03d}.example/topics/{slug[:20]}">more on this story</a>'
        f' or see <a href="/related/{number}">related coverage</a>.</p>'
        f"<p>{escape(sentences[3])}</p>"
    )
    categories = rng.sample(CATEGORIES, rng.choice((1, 2)))
    # Zones vary the way real feeds do: GMT, a numeric offset, a named US zone.
    zone = rng.choice(("GMT", "+0000", "+0200", "-0500"))
    stamp = format_datetime(moment, usegmt=True)
    if zone != "GMT":
        offset = {"+0000": 0, "+0200": 2, "-0500": -5}[zone]
        local = moment.astimezone(UTC) + timedelta(hours=offset)
        stamp = local.strftime("%a, %d %b %Y %H:%M:%S ") + zone
    lines = [
        "<item>",
        f"<title>{escape(title)}</title>",
        f"<link>{escape(link)}</link>",
        f'<guid isPermaLink="false">tag:news{feed:03d}.example,2025:story-{number}</guid>',
        f"<pubDate>{stamp}</pubDate>",
        f"<dc:creator>Reporter {rng.randint(1, 40)}</dc:creator>",
        *(f"<category>{category}</category>" for category in categories),
        f"<description>{escape(description)}</description>",
        "</item>",
    ]
    return "".join(lines)


def make_document(feed: int, items: int = ITEMS) -> bytes:
    """RSS 2.0 feed number ``feed``: the same bytes on every run and machine."""
    rng = random.Random(SEED * 1000 + feed)
    start = datetime(2025, 6, 30, 23, 0, tzinfo=UTC)
    body = "".join(
        make_item(rng, feed, number, start - timedelta(minutes=7 * number + feed))
        for number in range(items)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f"<channel><title>News {feed:03d}</title>"
        f"<link>https://news{feed:03d}.example/</link>"
        f"<description>Latest stories from outlet {feed:03d}</description>"
        "<language>en-gb</language>"
        f"<lastBuildDate>{format_datetime(start, usegmt=True)}</lastBuildDate>"
        f"{body}</channel></rss>"
    ).encode()


def make_documents(feeds: int = FEEDS, items: int = ITEMS) -> list[bytes]:
    return [make_document(feed, items) for feed in range(feeds)]


def feed_path(feed: int) -> str:
    return f"/feeds/{feed:03d}.xml"


# --------------------------------------------------------------------------- the origin


def _serve(documents: list[bytes], report: multiprocessing.connection.Connection) -> None:
    """Child process: serve every document with validators until told to stop or timed out."""
    from servers import LoopbackServer, Reply

    last_modified = format_datetime(datetime(2025, 6, 30, 23, 0, tzinfo=UTC), usegmt=True)
    routes = {
        feed_path(number): Reply(
            body=document,
            etag=f'"doc-{number}-v1"',
            last_modified=last_modified,
            headers={"Content-Type": RSS_MEDIA_TYPE},
        )
        for number, document in enumerate(documents)
    }
    with LoopbackServer(routes) as server:
        report.send(server.origin)
        report.poll(SERVER_LIFETIME)  # any message, or the parent's exit, ends it


class FeedOrigin:
    """The documents on a loopback server in a child process; ``stop`` ends it."""

    def __init__(self, documents: list[bytes]) -> None:
        context = multiprocessing.get_context("spawn")
        self._parent, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(documents, child), daemon=True)
        self._process.start()
        if not self._parent.poll(30):
            self.stop()
            raise RuntimeError("the loopback feed server did not start")
        self.origin: str = self._parent.recv()

    def stop(self) -> None:
        with contextlib.suppress(OSError):  # BrokenPipeError: the server already left
            self._parent.send("stop")
        self._process.join(5)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(5)


# --------------------------------------------------------------------------- the catalogue


def write_catalog(folder: Path, origin: str, feeds: int = FEEDS) -> Catalog:
    desks = "".join(
        f'[{key}]\ntitle = "{title}"\ndescription = "{text}"\n\n'
        for key, (title, text) in DESKS.items()
    )
    topics = "".join(
        f'[{key}]\ntitle = "{key.title()}"\nmatch = {words!r}\ncategories = {cats!r}\n\n'
        for key, (words, cats) in TOPICS.items()
    ).replace("'", '"')
    desk_ids = list(DESKS)
    sources = "".join(
        f'[news-{feed:03d}]\nkind = "feed"\nurl = "{origin}{feed_path(feed)}"\n'
        f'desk = "{desk_ids[feed % len(desk_ids)]}"\nevery = "15m"\n\n'
        for feed in range(feeds)
    )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "desks.toml").write_text(desks, encoding="utf-8")
    (folder / "topics.toml").write_text(topics, encoding="utf-8")
    (folder / "sources.toml").write_text(sources, encoding="utf-8")
    return load_catalog(folder)


# --------------------------------------------------------------------------- timing

FetchFunction = Callable[[Source, Validators], Fetched]


@dataclass(frozen=True)
class Round:
    seconds: float  # wall clock, time.perf_counter
    cpu: float  # this process's CPU, time.process_time (the origin runs in another one)
    entries: int
    results: tuple[SourceResult, ...] = ()

    @property
    def rate(self) -> float:
        return self.entries / self.seconds


def time_feedparser(documents: Sequence[bytes]) -> Round:
    started, cpu = time.perf_counter(), time.process_time()
    entries = 0
    for document in documents:
        entries += len(feedparser.parse(document).entries)
    return Round(time.perf_counter() - started, time.process_time() - cpu, entries)


def fresh_store(folder: Path, catalog: Catalog, name: str) -> Store:
    store = Store.open(f"sqlite:///{folder / name}")
    store.upgrade()
    store.sync_sources(catalog.sources.values(), NOW)
    return store


def time_pipeline(
    sources: Sequence[Source], catalog: Catalog, store: Store, fetch: FetchFunction, now: datetime
) -> Round:
    started, cpu = time.perf_counter(), time.process_time()
    results = tuple(fetch_and_store(source, catalog, store, fetch, now) for source in sources)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    entries = sum(r.new + r.updated + r.unchanged + r.merged for r in results)
    return Round(seconds, cpu, entries, results)


def check(results: Sequence[SourceResult], label: str) -> None:
    """A benchmark of a pipeline that failed is no benchmark: say so loudly."""
    failed = [r for r in results if not r.ok]
    if failed:
        print(f"WARNING: {label}: {len(failed)} sources failed, e.g. {failed[0].line()}")


def profile_round(
    sources: Sequence[Source], catalog: Catalog, store: Store, fetch: FetchFunction
) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    for source in sources:
        fetch_and_store(source, catalog, store, fetch, NOW)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(40)
    return out.getvalue()


def environment() -> str:
    return (
        f"python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.system()} {platform.machine()}, cpus {os.cpu_count()}, "
        f"feedparser {feedparser.__version__}, SQLAlchemy {sqlalchemy.__version__}, "
        f"SQLite {sqlite3.sqlite_version}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds of each (default 3)")
    parser.add_argument("--profile", action="store_true", help="also cProfile one pipeline round")
    args = parser.parse_args(argv)
    rounds = max(1, min(args.rounds, 10))

    # A SIGTERM (e.g. from ``timeout``) unwinds like Ctrl-C, so the feed server is stopped.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(143))
    print("feedsvc ingest benchmark")
    print(f"environment: {environment()}")
    documents = make_documents()
    size = sum(len(d) for d in documents)
    print(
        f"corpus: {len(documents)} RSS 2.0 documents x {ITEMS} items, {size / 1e6:.1f} MB, "
        f"{size / (len(documents) * ITEMS):.0f} bytes/item"
    )
    origin = FeedOrigin(documents)
    try:
        with tempfile.TemporaryDirectory(prefix="feedsvc-bench-") as temp:
            folder = Path(temp)
            catalog = write_catalog(folder / "feeds", origin.origin)
            sources = list(catalog.sources.values())
            fetcher = Fetcher(LOOPBACK, LIMITS)
            time_feedparser(documents[:5])  # warm imports and caches on both sides
            warm = fresh_store(folder, catalog, "warm.sqlite3")
            time_pipeline(sources[:5], catalog, warm, fetcher.fetch, NOW)
            warm.close()

            baseline: list[Round] = []
            pipeline: list[Round] = []
            store: Store | None = None
            for number in range(rounds):
                baseline.append(time_feedparser(documents))
                if store is not None:
                    store.close()
                store = fresh_store(folder, catalog, f"round-{number}.sqlite3")
                measured = time_pipeline(sources, catalog, store, fetcher.fetch, NOW)
                check(measured.results, f"pipeline round {number + 1}")
                pipeline.append(measured)
                print(
                    f"  round {number + 1}: feedparser {baseline[-1].seconds:6.3f} s, "
                    f"pipeline {measured.seconds:6.3f} s"
                )
            assert store is not None

            best_base = min(baseline, key=lambda r: r.seconds)
            best_pipe = min(pipeline, key=lambda r: r.seconds)
            ratio = best_pipe.rate / best_base.rate
            median_ratio = statistics.median(p.rate for p in pipeline) / statistics.median(
                b.rate for b in baseline
            )
            print()
            print(f"best of {rounds} rounds (median in brackets)")
            print(
                f"  feedparser.parse(bytes), defaults : {best_base.rate:8.0f} entries/s "
                f"({statistics.median(b.rate for b in baseline):.0f})  "
                f"[{best_base.entries} entries in {best_base.seconds:.3f} s]"
            )
            print(
                f"  feedsvc pipeline, end to end      : {best_pipe.rate:8.0f} entries/s "
                f"({statistics.median(p.rate for p in pipeline):.0f})  "
                f"[{best_pipe.entries} entries in {best_pipe.seconds:.3f} s]"
            )
            verdict = "met" if ratio >= GOAL else "MISSED"
            print(
                f"  ratio pipeline/feedparser         : {ratio:8.2f}   "
                f"(median {median_ratio:.2f}; goal >= {GOAL}: {verdict})"
            )
            cpu_ratio = min(b.cpu for b in baseline) / min(p.cpu for p in pipeline)
            print(
                f"  same ratio from CPU time          : {cpu_ratio:8.2f}   "
                "(process_time; steadier when other work shares the cores)"
            )

            print()
            print("information (same database as the last round, sources unchanged)")
            again = time_pipeline(sources, catalog, store, fetcher.fetch, NOW + timedelta(hours=1))
            check(again.results, "second round")
            not_modified = sum(r.not_modified for r in again.results)
            print(
                f"  second ingest, conditional GET    : {again.seconds:8.3f} s "
                f"({not_modified}/{len(sources)} answered 304)"
            )

            def unconditional(source: Source, _validators: Validators) -> Fetched:
                return fetcher.fetch(source, Validators())

            same = time_pipeline(sources, catalog, store, unconditional, NOW + timedelta(hours=2))
            check(same.results, "identical-content round")
            written = sum(r.new + r.updated for r in same.results)
            print(
                f"  second ingest, identical 200 body : {same.seconds:8.3f} s "
                f"({same.rate:.0f} entries/s, {written} articles written)"
            )
            publisher = Publisher(store, catalog, base_url="http://127.0.0.1:8000/", feed_size=50)
            started = time.perf_counter()
            published = publisher.publish(None, NOW)
            print(
                f"  publish every feed (all formats)  : {time.perf_counter() - started:8.3f} s "
                f"({len(published.changed)} feeds rendered)"
            )

            if args.profile:
                store.close()
                store = fresh_store(folder, catalog, "profile.sqlite3")
                print()
                print("cProfile of one pipeline round (fresh database)")
                print(profile_round(sources, catalog, store, fetcher.fetch))
            store.close()
    finally:
        origin.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
