"""The catalogue loader: the shipped sample loads, and every bad edit is named by file and key."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from feedsvc.catalog import load_catalog, parse_interval
from feedsvc.errors import ConfigError


def test_shipped_sample_loads(feeds_dir: Path) -> None:
    catalog = load_catalog(feeds_dir)
    assert set(catalog.desks) == {"nym", "europe"}
    assert {"security", "digital", "ukraine", "trade"} <= set(catalog.topics)
    wire = catalog.sources["nym-wire"]
    assert wire.kind == "files"
    assert wire.path == (feeds_dir / "inbox" / "nym").resolve()
    assert wire.timezone == "Europe/Brussels"
    assert wire.every == timedelta(minutes=1)
    assert catalog.desks["nym"].bylines == ("NYM Desk",)
    assert catalog.desks["nym"].language == "en"
    assert catalog.topics["trade"].language == "en"
    assert catalog.sources["example-world"].enabled is False
    assert catalog.sources["example-world"].topics == ("security",)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("5s", 5), ("5m", 300), ("1h", 3600), ("1.5h", 5400), (" 10m ", 600), ("1s", 1)],
)
def test_parse_interval(text: str, seconds: int) -> None:
    assert parse_interval(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    "text", ["5", "5x", "m", "", "0s", "0.5s", "-5m", "5 minutes", 5, None, "\uff11\uff10s"]
)
def test_parse_interval_refuses(text: object) -> None:
    with pytest.raises(ValueError, match="interval"):
        parse_interval(text)


# (file, text appended to it, expected problem substring). Each row is one bad edit.
BAD_EDITS = [
    (
        "sources.toml",
        '[x1]\nkind = "feed"\nurl = "https://a.example/f"\ndesk = "sports"\n',
        "sources.toml [x1] desk: unknown desk 'sports'",
    ),
    (
        "sources.toml",
        '[x2]\nkind = "feed"\nurl = "https://a.example/f"\ndesk = "nym"\ntopics = ["weather"]\n',
        "sources.toml [x2] topics: unknown topic 'weather'",
    ),
    (
        "sources.toml",
        '[x3]\nkind = "feed"\nurl = "ftp://a.example/f"\ndesk = "nym"\n',
        "sources.toml [x3] url: bad URL 'ftp://a.example/f'",
    ),
    (
        "sources.toml",
        '[x4]\nkind = "feed"\nurl = "file:///etc/passwd"\ndesk = "nym"\n',
        "sources.toml [x4] url: bad URL",
    ),
    (
        "sources.toml",
        '[x5]\nkind = "feed"\nurl = "https://a.example/f"\ndesk = "nym"\nevery = "5x"\n',
        "sources.toml [x5] every: bad interval '5x'",
    ),
    (
        "sources.toml",
        '[x6]\nkind = "feed"\nurl = "https://a.example/f"\ndesk = "nym"\ncolour = "red"\n',
        "sources.toml [x6] colour: unknown key",
    ),
    (
        "sources.toml",
        '[nym-wire]\nkind = "files"\npath = "inbox/nym"\ndesk = "nym"\n',
        "sources.toml [nym-wire]: duplicate id",
    ),
    (
        "sources.toml",
        '[x7]\nkind = "rss"\nurl = "https://a.example/f"\ndesk = "nym"\n',
        "sources.toml [x7] kind: expected 'feed' or 'files'",
    ),
    ("sources.toml", '[x8]\nkind = "feed"\ndesk = "nym"\n', "sources.toml [x8] url: missing"),
    (
        "sources.toml",
        '[x9]\nkind = "files"\npath = "inbox/none"\ndesk = "nym"\n',
        "sources.toml [x9] path: folder not found",
    ),
    (
        "sources.toml",
        '[x10]\nkind = "feed"\nurl = "https://a.example/f"\ndesk = "nym"\n'
        'timezone = "Mars/Olympus"\n',
        "sources.toml [x10] timezone: unknown time zone",
    ),
    (
        "sources.toml",
        '[x11]\nkind = "feed"\nurl = "https://a.example/f"\ndesk = "nym"\nenabled = "yes"\n',
        "sources.toml [x11] enabled: expected true or false",
    ),
    (
        "sources.toml",
        '[Bad_Id]\nkind = "feed"\nurl = "https://a.example/f"\ndesk = "nym"\n',
        "sources.toml [Bad_Id]: bad id",
    ),
    (
        "sources.toml",
        '["x14\\n"]\nkind = "feed"\nurl = "https://a.example/f"\ndesk = "nym"\n',
        "]: bad id",  # an id is matched whole: a trailing newline is not allowed
    ),
    (
        "sources.toml",
        '[x12]\nkind = "feed"\nurl = "https://a.example/f"\n',
        "sources.toml [x12] desk: missing",
    ),
    (
        "sources.toml",
        '[x13]\nkind = "feed"\nurl = "https://a.example:99999/f"\ndesk = "nym"\n',
        "sources.toml [x13] url: bad URL",
    ),
    (
        "sources.toml",
        '[x15]\nkind = "feed"\nurl = "https://a.example/f"\ndesk = "nym"\npriority = "high"\n',
        "sources.toml [x15] priority: expected a whole number from -1000 to 1000",
    ),
    (
        "sources.toml",
        '[x16]\nkind = "feed"\nurl = "https://a.example/f"\ndesk = "nym"\nkeep = "soon"\n',
        "sources.toml [x16] keep: bad duration 'soon'",
    ),
    (
        "sources.toml",
        '[x17]\nkind = "feed"\nurl = "https://a.example/f"\ndesk = "nym"\nmax_items = 0\n',
        "sources.toml [x17] max_items: expected a whole number from 1 to 10000",
    ),
    (
        "sources.toml",
        '[x18]\nkind = "feed"\nurl = "https://a.example/f"\ndesk = "nym"\npriority = true\n',
        "sources.toml [x18] priority: expected a whole number",
    ),
    ("desks.toml", "[sports]\ndescription = 'no title'\n", "desks.toml [sports] title: missing"),
    (
        "desks.toml",
        "[sports]\ntitle = 'Sports'\nbylines = 'Sports Desk'\n",
        "desks.toml [sports] bylines: expected a list",
    ),
    (
        "topics.toml",
        "[weather]\ntitle = 'Weather'\nmatch = [1, 2]\n",
        "topics.toml [weather] match: expected a list",
    ),
    ("topics.toml", "this is not toml\n", "topics.toml: not valid TOML"),
    ("desks.toml", "[sports]\ntitle = 'Sports'\nlanguage = 'English'\n",
     "desks.toml [sports] language: expected a language tag"),
    # tomllib recurses per level: this was a RecursionError traceback from `feedsvc check`
    ("sources.toml", "deep = " + "[" * 5000 + "]" * 5000 + "\n",
     "sources.toml: not valid TOML: arrays or tables nested too deeply"),
    # a key with a line break is shown escaped, so each problem stays one line
    ("sources.toml", '["a\\nb"]\nkind = "feed"\n', 'sources.toml ["a\\nb"]: bad id'),
    ("sources.toml",
     '[x30]\nkind = "feed"\nurl = "https://a.example/f"\ndesk = "nym"\n"colour\\r" = 1\n',
     'sources.toml [x30] "colour\\r": unknown key'),
    # ASCII digits only, as the API's JSON Schema pattern reads them
    ("sources.toml",
     '[x31]\nkind = "feed"\nurl = "https://a.example/f"\ndesk = "nym"\nevery = "\uff11\uff10s"\n',
     "sources.toml [x31] every: bad interval"),
    ("sources.toml",
     '[x32]\nkind = "feed"\nurl = "https://a.example/f"\ndesk = "nym"\nkeep = "\uff19d"\n',
     "sources.toml [x32] keep: bad duration"),
]


@pytest.mark.parametrize(
    ("name", "addition", "expected"),
    BAD_EDITS,
    ids=[row[2].split(":")[0] + " " + row[2].split(": ")[1][:20] for row in BAD_EDITS],
)
def test_bad_edit_is_named(feeds_dir: Path, name: str, addition: str, expected: str) -> None:
    path = feeds_dir / name
    path.write_text(path.read_text() + "\n" + addition)
    with pytest.raises(ConfigError) as caught:
        load_catalog(feeds_dir)
    assert any(expected in problem for problem in caught.value.problems), caught.value.problems
    assert all(str(feeds_dir) in problem for problem in caught.value.problems)
    assert all(problem.isprintable() for problem in caught.value.problems)  # one line each


def test_every_problem_is_reported_at_once(feeds_dir: Path) -> None:
    path = feeds_dir / "sources.toml"
    path.write_text(
        path.read_text()
        + '\n[a1]\nkind = "feed"\nurl = "gopher://x"\ndesk = "nope"\nevery = "soon"\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_catalog(feeds_dir)
    keys = {re.search(r"(\[a1\] \w+):", p).group(1) for p in caught.value.problems}
    assert keys == {"[a1] desk", "[a1] every", "[a1] url"}
    assert "3 problems" in str(caught.value)


def test_missing_file_is_named(feeds_dir: Path) -> None:
    (feeds_dir / "topics.toml").unlink()
    with pytest.raises(ConfigError) as caught:
        load_catalog(feeds_dir)
    assert any("topics.toml: file not found" in p for p in caught.value.problems)


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="catalogue folder not found"):
        load_catalog(tmp_path / "nowhere")


def test_priority_keep_and_max_items(feeds_dir: Path) -> None:
    path = feeds_dir / "sources.toml"
    path.write_text(
        path.read_text()
        + '\n[trusted]\nkind = "feed"\nurl = "https://a.example/f"\ndesk = "nym"\n'
        'priority = 10\nkeep = "90d"\nmax_items = 20\n'
    )
    catalog = load_catalog(feeds_dir)
    trusted = catalog.sources["trusted"]
    assert (trusted.priority, trusted.keep, trusted.max_items) == (10, timedelta(days=90), 20)
    default = catalog.sources["nym-wire"]
    assert (default.priority, default.keep, default.max_items) == (0, None, 500)
