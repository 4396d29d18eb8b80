"""The cost of an item with a huge number of categories, with and without the ceiling.

What it shows
    feedparser looks for each new category in the list of those it already
    has, so one item's categories cost the square of their number. feedsvc
    bounds that list (``parse._bounded_add_tag``, ``classify.MAX_CATEGORIES``).
    This times ``feedsvc.parse.parse_feed`` on one item with N categories
    against two references measured in the same run: the same document with
    feedparser's own unbounded method put back, and a document of the same
    shape whose N elements are not categories (what any element costs).

How it runs
    For N in 5,000, 10,000 and 50,000 (``--sizes``): an RSS 2.0 document with
    one item holding N ``<category>`` elements, then the same with one
    ``<itunes:keywords>`` list of N words. The unbounded reference is skipped
    past ``--unbounded-max`` (default 10,000): 50,000 would take minutes.

How to read it
    Seconds per parse, and each against the plain-elements reference: with
    the ceiling the ratio stays near 1 whatever N; unbounded it grows with N.

Run: ``.venv/bin/python bench/categories.py [--sizes 5000,10000,50000]``
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import feedparser.mixin

from feedsvc import parse
from feedsvc.model import Document

ITUNES = "http://www.itunes.com/dtds/podcast-1.0.dtd"


def document(body: str) -> Document:
    content = (
        f"<?xml version='1.0'?><rss version='2.0' xmlns:itunes='{ITUNES}'><channel>"
        "<title>t</title><link>https://bench.example/</link><description>d</description>"
        f"<item><title>x</title><link>https://bench.example/1</link>{body}</item>"
        "</channel></rss>"
    ).encode()
    return Document(name="https://bench.example/feed", content=content, headers={})


def timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def unbounded(doc: Document) -> float:
    mixin = feedparser.mixin._FeedParserMixin
    mixin._add_tag = parse._feedparser_add_tag
    try:
        return timed(lambda: parse.parse_feed(doc))
    finally:
        mixin._add_tag = parse._bounded_add_tag


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    options.add_argument("--sizes", default="5000,10000,50000")
    options.add_argument("--unbounded-max", type=int, default=10_000)
    args = options.parse_args()
    print(f"{'case':<18}{'N':>8}{'bytes':>10}{'ceiling':>10}{'unbounded':>11}{'plain':>9}")
    for n in (int(size) for size in args.sizes.split(",")):
        plain = document("".join(f"<x{i % 7}>c{i}</x{i % 7}>" for i in range(n)))
        reference = timed(lambda: parse.parse_feed(plain))  # noqa: B023
        cases = {
            "<category>": "".join(f"<category>c{i}</category>" for i in range(n)),
            "itunes:keywords": "<itunes:keywords>"
            + ",".join(f"k{i}" for i in range(n))
            + "</itunes:keywords>",
        }
        for name, body in cases.items():
            doc = document(body)
            bounded = timed(lambda: parse.parse_feed(doc))  # noqa: B023
            free = f"{unbounded(doc):9.2f}s" if n <= args.unbounded_max else f"{'-':>10}"
            print(
                f"{name:<18}{n:>8}{len(doc.content):>10}{bounded:>9.2f}s{free:>11}"
                f"{reference:>8.2f}s  ceiling/plain {bounded / reference:4.1f}"
            )


if __name__ == "__main__":
    main()
