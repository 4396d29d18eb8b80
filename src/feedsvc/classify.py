"""Which desk and topics an article belongs to, and its language tag.

Part of normalisation (``feedsvc.normalise`` applies these): pure functions
of an item's byline, text and categories and of the catalogue's desks and
topics. Topic patterns are compiled once per topic, since topics are few and
articles many.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache

from feedsvc.model import Desk, Topic

__all__ = [
    "MAX_CATEGORIES",
    "MAX_CATEGORY_LENGTH",
    "MAX_LANGUAGE_LENGTH",
    "desk_for",
    "kept_categories",
    "match_topics",
    "normalise_language",
]

MAX_CATEGORIES = 100
"""Categories (tags, keywords, subjects) read of one item or feed; the rest are ignored.
Real items carry a few dozen at most; the parsers stop reading past this, because
feedparser's cost grows with the square of one item's categories (``feedsvc.parse``)."""
MAX_CATEGORY_LENGTH = 200
"""Characters of one category; a longer one names no topic and is ignored."""

# RFC 5646's longest tag worth supporting, and the width of the stored column.
MAX_LANGUAGE_LENGTH = 35


def kept_categories(values: Iterable[str]) -> tuple[str, ...]:
    """Categories as written, each once ("Politics" and "politics" are one), within the
    ceilings: at most ``MAX_CATEGORIES``, none longer than ``MAX_CATEGORY_LENGTH``."""
    seen: dict[str, str] = {}
    for value in values:
        text = value.strip()
        if text and len(text) <= MAX_CATEGORY_LENGTH:
            seen.setdefault(text.casefold(), text)
            if len(seen) == MAX_CATEGORIES:
                break
    return tuple(seen.values())


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _byline_key(text: str) -> str:
    return _collapse(text).casefold()


def desk_for(byline: str | None, desks: Mapping[str, Desk], default: str) -> str:
    """The desk a wire byline names; ties go to the smallest desk id, for determinism."""
    if not byline:
        return default
    key = _byline_key(byline)
    if not key:
        return default
    for desk_id in sorted(desks):
        if any(_byline_key(line) == key for line in desks[desk_id].bylines):
            return desk_id
    return default


@lru_cache(maxsize=256)
def _topic_pattern(topic: Topic) -> re.Pattern[str] | None:
    """One alternation per topic, compiled once: topics are few, articles many.

    Word boundaries are look-arounds rather than ``\\b`` so phrases that start
    or end with punctuation ("C++") still work; "NATO's" matches NATO but
    "nations" does not match "nation".
    """
    phrases = [
        r"\s+".join(re.escape(word) for word in phrase.split())
        for phrase in topic.match
        if phrase.strip()
    ]
    if not phrases:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(phrases) + r")(?!\w)", re.IGNORECASE)


def _category_key(text: str) -> str:
    return _collapse(text).casefold()


def match_topics(
    text: str,
    categories: Iterable[str],
    topics: Mapping[str, Topic],
    fixed: Iterable[str],
) -> tuple[str, ...]:
    """The topics an article belongs to, sorted; ids unknown to ``topics`` are ignored."""
    given = {_category_key(c) for c in categories} - {""}
    found = {topic_id for topic_id in fixed if topic_id in topics}
    lowered: str | None = None
    for topic_id, topic in topics.items():
        if topic_id in found:
            continue
        if given & {_category_key(c) for c in topic.categories}:
            found.add(topic_id)
            continue
        pattern = _topic_pattern(topic)
        if pattern is None:
            continue
        needles = _topic_needles(topic)
        if needles is not None:
            lowered = lowered if lowered is not None else text.lower()
            if not any(needle in lowered for needle in needles):
                continue  # no phrase's first word occurs at all: skip the regex
        if pattern.search(text):
            found.add(topic_id)
    return tuple(sorted(found))


@lru_cache(maxsize=256)
def _topic_needles(topic: Topic) -> tuple[str, ...] | None:
    """Lower-case first words of the topic's phrases, a cheap pre-check before the regex.

    Only for ASCII phrases, where ``str.lower`` agrees with the regex's
    case-insensitive matching; otherwise None and the regex always runs.
    """
    words = [phrase.split()[0].lower() for phrase in topic.match if phrase.strip()]
    if not words or not all(word.isascii() for word in words):
        return None
    return tuple(words)


# --------------------------------------------------------------------------- language

_LANGUAGE = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]{1,8})*")


def normalise_language(language: str | None) -> str | None:
    """A lower-case BCP-47-like tag ("en-US" -> "en-us", "en_GB" -> "en-gb"), else None."""
    if not language:
        return None
    tag = language.strip().lower().replace("_", "-")
    if len(tag) > MAX_LANGUAGE_LENGTH:
        return None
    return tag if _LANGUAGE.fullmatch(tag) else None
