"""Load the operator's catalogue (``feeds/``) and cross-check it.

The catalogue is three TOML files: desks, topics and sources. Loading collects
*every* problem, each naming its file and key, before failing, so an operator
fixes a bad edit in one pass instead of one error per run. The result is an
immutable ``Catalog``; callers keep the last good one when a reload fails.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from feedsvc.dates import parse_duration, zone
from feedsvc.errors import ConfigError
from feedsvc.model import Catalog, Desk, Source, Topic
from feedsvc.urls import http_url

ID_REGEX = "[a-z0-9][a-z0-9-]*"
"""An id of a desk, topic or source; always matched whole, so ``"a\\n"`` is not one."""
ID_PATTERN = re.compile(ID_REGEX)
INTERVAL_PATTERN = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([smh])\s*$")
"""ASCII digits: Python's ``\\d`` also takes "１０s", which the JSON Schema's (ECMA) does not."""
UNITS = {"s": 1, "m": 60, "h": 3600}
DEFAULT_EVERY = "15m"
MIN_EVERY = timedelta(seconds=1)
MAX_EVERY = timedelta(days=7)
"""The range of a refresh interval: past a week a source is as good as off (pause it),
and the bound keeps every schedule sum (now + interval, doubled by errors) a real time."""
FILES = ("desks.toml", "topics.toml", "sources.toml")
T = TypeVar("T")

DESK_KEYS = {"title", "description", "bylines", "language"}
TOPIC_KEYS = {"title", "description", "match", "categories", "language"}
LANGUAGE_PATTERN = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")
SOURCE_KEYS = {
    "kind", "url", "path", "desk", "timezone", "every", "topics", "enabled", "title",
    "priority", "keep", "max_items",
}  # fmt: skip
MIN_PRIORITY, MAX_PRIORITY = -1000, 1000
MAX_ITEMS = 10_000
"""The most items one fetch may store (``max_items``): past it, the rest waits or is dropped."""
DEFAULT_MAX_ITEMS = 500


def parse_interval(text: object) -> timedelta:
    """``"5m"`` → 5 minutes. A number and s, m or h, from 1s to 7 days (168h).

    The one check of an interval: the catalogue, the admin API, the admin
    pages and the command line all come here, so none accepts what another
    refuses. The bounds are checked on the number before any ``timedelta``
    is made, so a huge number is a refusal, never an OverflowError.
    """
    match = INTERVAL_PATTERN.match(text) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"bad interval {_shown(text)}: expected a number and s, m or h, e.g. '5m'")
    seconds = float(match.group(1)) * UNITS[match.group(2)]
    if seconds < MIN_EVERY.total_seconds():
        raise ValueError(f"bad interval {_shown(text)}: at least 1s")
    if seconds > MAX_EVERY.total_seconds():
        raise ValueError(f"bad interval {_shown(text)}: at most 7 days (168h)")
    return timedelta(seconds=seconds)


def _shown(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def format_interval(every: timedelta) -> str:
    """The inverse of ``parse_interval``: 900 s → ``"15m"``."""
    seconds = every.total_seconds()
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s" if seconds == int(seconds) else f"{seconds:g}s"


def check_feed_url(url: object) -> str:
    """The URL as written (spaces around it stripped) if the fetcher will fetch it.

    The check is the fetcher's own (``urls.http_url``), so the catalogue and
    the admin API cannot accept a URL every fetch would then refuse. Where
    the host resolves to is checked at fetch time, by the address policy.
    """
    return http_url(url).written


def check_whole(value: object, low: int, high: int) -> int:
    """An integer (not a boolean, not a float) from ``low`` to ``high``."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"expected a whole number from {low} to {high}, got {value!r}")
    return value


def check_timezone(name: object) -> str:
    if not isinstance(name, str):
        raise ValueError("expected a time zone name such as 'Europe/Brussels'")
    zone(name)
    return name


@dataclass
class _Problems:
    """Collects findings while loading; the only mutable thing here, local to one load."""

    items: list[str] = field(default_factory=list)

    def add(self, where: str, message: str) -> None:
        self.items.append(f"{where}: {message}")


def load_catalog(root: Path) -> Catalog:
    """Read ``root/{desks,topics,sources}.toml``; raise ConfigError listing every problem."""
    root = Path(root)
    problems = _Problems()
    if not root.is_dir():
        raise ConfigError(f"{root}: catalogue folder not found (set FEEDSVC_FEEDS_DIR)")
    tables = {name: _read_toml(root / name, problems) for name in FILES}
    desks = _build(tables["desks.toml"], root / "desks.toml", DESK_KEYS, _desk, problems)
    topics = _build(tables["topics.toml"], root / "topics.toml", TOPIC_KEYS, _topic, problems)

    def source(key: str, table: dict[str, Any], where: str, problems: _Problems) -> Source | None:
        return _source(key, table, where, problems, root, desks, topics)

    sources = _build(tables["sources.toml"], root / "sources.toml", SOURCE_KEYS, source, problems)
    if problems.items:
        count = len(problems.items)
        raise ConfigError(
            f"{count} problem{'s' if count > 1 else ''} in the catalogue", tuple(problems.items)
        )
    return Catalog(root=root, desks=desks, topics=topics, sources=sources)


def _read_toml(path: Path, problems: _Problems) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        problems.add(str(path), "file not found")
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        problems.add(str(path), f"cannot read: {exc}")
        return {}
    _duplicate_tables(text, path, problems)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        if "Cannot declare" not in str(exc):  # duplicates are already reported by name
            problems.add(str(path), f"not valid TOML: {exc}")
        return {}
    except RecursionError:  # tomllib recurses once per level of nested arrays or tables
        problems.add(str(path), "not valid TOML: arrays or tables nested too deeply to read")
        return {}


def _key(key: str) -> str:
    """A key as a problem line shows it: as written, or quoted with escapes when it holds
    anything but printable characters, so a key such as ``"a\\n"`` keeps the line one line."""
    return key if key.isprintable() and key.strip() == key and key else json.dumps(key)


def _duplicate_tables(text: str, path: Path, problems: _Problems) -> None:
    """tomllib stops at the first duplicate with a terse message; name each one."""
    seen: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        match = re.match(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(?:#.*)?$", line)
        if not match:
            continue
        key = match.group(1).strip("\"'")
        if key in seen:
            problems.add(f"{path} [{key}]", f"duplicate id (line {seen[key]} and line {number})")
        else:
            seen[key] = number


Builder = Callable[[str, dict[str, Any], str, _Problems], Any]


def _build(
    data: dict[str, Any], path: Path, allowed: set[str], builder: Builder, problems: _Problems
) -> dict[str, Any]:
    built: dict[str, Any] = {}
    for key, table in data.items():
        where = f"{path} [{_key(key)}]"
        if not ID_PATTERN.fullmatch(key):
            problems.add(where, "bad id: use lower-case letters, digits and '-'")
            continue
        if not isinstance(table, dict):
            problems.add(where, "expected a table")
            continue
        for unknown in sorted(set(table) - allowed):
            known = ", ".join(sorted(allowed))
            problems.add(f"{where} {_key(unknown)}", f"unknown key (known: {known})")
        record = builder(key, table, where, problems)
        if record is not None:
            built[key] = record
    return built


def _text(
    table: Mapping[str, Any],
    key: str,
    where: str,
    problems: _Problems,
    *,
    required: bool = False,
    default: str = "",
) -> str:
    value = table.get(key)
    if value is None:
        if required:
            problems.add(f"{where} {key}", "missing")
        return default
    if not isinstance(value, str) or (required and not value.strip()):
        problems.add(f"{where} {key}", "expected a non-empty string")
        return default
    return value.strip()


def _strings(
    table: Mapping[str, Any], key: str, where: str, problems: _Problems
) -> tuple[str, ...]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        problems.add(f"{where} {key}", "expected a list of non-empty strings")
        return ()
    return tuple(v.strip() for v in value)


def _checked(
    table: Mapping[str, Any],
    key: str,
    check: Callable[[Any], T],
    default: T,
    where: str,
    problems: _Problems,
) -> T:
    """``check`` of the key's value, ``default`` when absent; a refusal (ValueError) is a
    problem naming the key, and ``default`` stands in so the rest is still checked."""
    if key not in table:
        return default
    try:
        return check(table[key])
    except ValueError as exc:
        problems.add(f"{where} {key}", str(exc))
        return default


def _language(table: Mapping[str, Any], where: str, problems: _Problems) -> str | None:
    """The feed's language (RSS ``language``, ``xml:lang``, JSON Feed ``language``)."""
    value = _text(table, "language", where, problems)
    if value and not LANGUAGE_PATTERN.match(value):
        problems.add(
            f"{where} language", f"expected a language tag such as 'en' or 'en-GB', got {value!r}"
        )
        return None
    return value or None


def _desk(key: str, table: dict[str, Any], where: str, problems: _Problems) -> Desk:
    return Desk(
        id=key,
        title=_text(table, "title", where, problems, required=True),
        description=_text(table, "description", where, problems),
        bylines=_strings(table, "bylines", where, problems),
        language=_language(table, where, problems),
    )


def _topic(key: str, table: dict[str, Any], where: str, problems: _Problems) -> Topic:
    return Topic(
        id=key,
        title=_text(table, "title", where, problems, required=True),
        description=_text(table, "description", where, problems),
        match=_strings(table, "match", where, problems),
        categories=_strings(table, "categories", where, problems),
        language=_language(table, where, problems),
    )


def _source(
    key: str,
    table: dict[str, Any],
    where: str,
    problems: _Problems,
    root: Path,
    desks: Mapping[str, Desk],
    topics: Mapping[str, Topic],
) -> Source | None:
    before = len(problems.items)
    kind = table.get("kind")
    if kind not in ("feed", "files"):
        problems.add(f"{where} kind", f"expected 'feed' or 'files', got {kind!r}")
    desk = _text(table, "desk", where, problems, required=True)
    if desk and desk not in desks:
        problems.add(f"{where} desk", f"unknown desk {desk!r} (not in desks.toml)")
    source_topics = _strings(table, "topics", where, problems)
    for topic in source_topics:
        if topic not in topics:
            problems.add(f"{where} topics", f"unknown topic {topic!r} (not in topics.toml)")
    every = _checked(table, "every", parse_interval, parse_interval(DEFAULT_EVERY), where, problems)
    timezone = _checked(table, "timezone", check_timezone, "UTC", where, problems)
    enabled = table.get("enabled", True)
    if not isinstance(enabled, bool):
        problems.add(f"{where} enabled", "expected true or false")
    url: str | None = None
    path: Path | None = None
    if kind == "feed":
        if "path" in table:
            problems.add(f"{where} path", "only for kind = 'files'")
        try:
            url = check_feed_url(table.get("url"))
        except ValueError as exc:
            problems.add(f"{where} url", str(exc) if "url" in table else "missing")
    elif kind == "files":
        if "url" in table:
            problems.add(f"{where} url", "only for kind = 'feed'")
        raw = _text(table, "path", where, problems, required=True)
        if raw:
            path = (root / raw).resolve()
            if not path.is_dir():
                problems.add(f"{where} path", f"folder not found: {path}")
    title = _text(table, "title", where, problems) or None
    priorities = partial(check_whole, low=MIN_PRIORITY, high=MAX_PRIORITY)
    priority = _checked(table, "priority", priorities, 0, where, problems)
    counts = partial(check_whole, low=1, high=MAX_ITEMS)
    max_items = _checked(table, "max_items", counts, DEFAULT_MAX_ITEMS, where, problems)
    keep = _checked(table, "keep", parse_duration, None, where, problems)
    if len(problems.items) > before:
        return None
    return Source(
        id=key,
        kind="feed" if kind == "feed" else "files",
        desk=desk,
        every=every,
        url=url,
        path=path,
        timezone=timezone,
        topics=source_topics,
        enabled=enabled,
        title=title,
        priority=priority,
        keep=keep,
        max_items=max_items,
    )
