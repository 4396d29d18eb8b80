"""Helpers for the tests that run sources on a schedule: a feed body, a catalogue entry."""

from __future__ import annotations

from pathlib import Path


def rss(*titles: str) -> bytes:
    """An RSS 2.0 document with one dated item per title (title = guid = link slug)."""
    items = "".join(
        f"<item><title>{t}</title><link>https://news.example/{t}</link><guid>{t}</guid>"
        "<pubDate>Mon, 23 Jun 2025 19:09:00 +0000</pubDate></item>"
        for t in titles
    )
    return (
        f"<?xml version='1.0'?><rss version='2.0'><channel><title>T</title>"
        f"<link>https://news.example/</link><description>d</description>{items}"
        "</channel></rss>"
    ).encode()


def add_source(feeds_dir: Path, source_id: str, url: str, every: str = "1m") -> None:
    """Append a feed source on the nym desk to the catalogue's sources.toml."""
    path = feeds_dir / "sources.toml"
    path.write_text(
        path.read_text() + f'\n[{source_id}]\nkind = "feed"\nurl = "{url}"\n'
        f'desk = "nym"\nevery = "{every}"\n'
    )
