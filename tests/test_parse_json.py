"""Tests of feedsvc.parse_json: JSON Feed as untrusted input.

The well-formed cases are in the parse corpus (tests/feeds/jsonfeed*.jsonfeed);
here are the hostile ones: deep nesting, huge numbers, wrong types, missing
or absurd item lists, bad encodings, and arbitrary JSON in every field. The
rule for each: a clear ParseError for the document, or problems for items,
never another exception.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedsvc.errors import ParseError
from feedsvc.model import Document, Enclosure, ParsedFeed
from feedsvc.parse import parse_feed
from feedsvc.parse_json import MAX_DEPTH, MAX_ITEMS, MAX_PROBLEMS, _depth, parse_json_feed

NAME = "https://j.example/feed.json"
V11 = "https://jsonfeed.org/version/1.1"


def _feed(**fields: Any) -> bytes:
    return json.dumps({"version": V11, "title": "J", **fields}).encode()


def _raw(members: str) -> str:
    """A JSON Feed written by hand (for what json.dumps cannot write), members after version."""
    return '{"version": "' + V11 + '", ' + members + "}"


def _parse(body: bytes | str) -> ParsedFeed:
    data = body.encode() if isinstance(body, str) else body
    return parse_feed(Document(NAME, data, {"content-type": "application/feed+json"}))


# --------------------------------------------------------------------------- documents


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[1, 2, 3]", "a JSON document, but not a JSON Feed"),
        ('{"title": "no version", "items": []}', "not a JSON Feed"),
        ('{"version": "https://example.org/v1", "items": []}', "not a JSON Feed"),
        ('{"version": 1.1, "items": []}', "not a JSON Feed"),
        ('{"version": "https://jsonfeed.org/version/1.1", "items": [', "invalid JSON"),
        ('{"version": "https://jsonfeed.org/version/1.1", "title": NaN}', "invalid JSON"),
        ('{"version": "https://jsonfeed.org/version/1.1", "x": Infinity}', "invalid JSON"),
        ('{"version": "https://jsonfeed.org/version/1.1"} trailing', "invalid JSON"),
        ("{'version': 'single quotes'}", "invalid JSON"),
    ],
)
def test_documents_that_are_not_json_feeds(body: str, message: str) -> None:
    with pytest.raises(ParseError, match=message) as caught:
        _parse(body)
    assert str(caught.value).startswith("not a feed: ")


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 1000, 100_000])
def test_deep_nesting_is_refused_before_json_recurses(depth: int) -> None:
    body = _raw('"items": [{"id": "1", "_x": ' + "[" * depth + "]" * depth + "}]")
    with pytest.raises(ParseError, match=f"nested deeper than {MAX_DEPTH} levels"):
        _parse(body)


def test_deep_nesting_in_objects_and_unclosed_is_refused_too() -> None:
    with pytest.raises(ParseError, match="nested deeper"):
        _parse(_raw('"a": ' + '{"a": ' * 50_000))


def test_brackets_inside_strings_do_not_count() -> None:
    text = "[" * 500 + '\\"{{{' + "]" * 3
    parsed = _parse(_feed(items=[{"id": "1", "title": text, "content_text": "]]]]]"}]))
    assert parsed.items[0].title == text


def test_nesting_just_under_the_limit_is_read() -> None:
    inner: Any = "deep"
    for _ in range(MAX_DEPTH - 4):  # feed, items, item, _ext: four levels already
        inner = [inner]
    parsed = _parse(_feed(items=[{"id": "1", "title": "ok", "_ext": inner}]))
    assert [i.title for i in parsed.items] == ["ok"]


@pytest.mark.parametrize(
    "number",
    ["9" * 5000, "-" + "9" * 5000, "1e999", "-1e999", "1" + "0" * 400 + ".5"],
)
def test_huge_numbers_are_values_of_the_wrong_type(number: str) -> None:
    attachment = (
        '{"url": "https://j.example/a.mp3", "mime_type": "audio/mpeg", '
        f'"size_in_bytes": {number}, "duration_in_seconds": {number}}}'
    )
    body = _raw(f'"items": [{{"id": {number}, "title": "t", "attachments": [{attachment}]}}]')
    parsed = _parse(body)
    (item,) = parsed.items
    assert item.enclosures == (Enclosure("https://j.example/a.mp3", "audio/mpeg", None, None),)
    assert item.guid is None


def test_a_huge_integer_id_is_a_problem_not_a_crash() -> None:
    parsed = _parse(_raw('"items": [{"id": ' + "7" * 5000 + ', "title": "t"}]'))
    assert parsed.items[0].guid is None
    assert any("too long to read" in p for p in parsed.problems)


@pytest.mark.parametrize(
    ("items", "problem"),
    [
        (None, "'items' is null, not an array"),
        ({"id": "1"}, "'items' is an object, not an array"),
        ("items", "'items' is a string, not an array"),
        (7, "'items' is a number, not an array"),
    ],
)
def test_items_that_are_not_a_list(items: object, problem: str) -> None:
    parsed = _parse(_feed(items=items))
    assert parsed.items == ()
    assert any(problem in p for p in parsed.problems), parsed.problems


def test_missing_items_is_a_problem() -> None:
    parsed = _parse(_feed())
    assert parsed.items == ()
    assert parsed.title == "J"
    assert parsed.problems == ("'items' is null, not an array; no items read",)


def test_too_many_items_are_cut_with_one_problem() -> None:
    items = [{"id": str(n), "title": "t"} for n in range(MAX_ITEMS + 5)]
    parsed = _parse(_feed(items=items))
    assert len(parsed.items) == MAX_ITEMS
    assert f"5 items past the first {MAX_ITEMS} ignored" in parsed.problems


def test_problems_are_bounded() -> None:
    parsed = _parse(_feed(items=[None] * 500))
    assert parsed.items == ()
    assert len(parsed.problems) == MAX_PROBLEMS + 1
    assert parsed.problems[-1] == f"and {500 - MAX_PROBLEMS} more item problems"


def test_hundreds_of_attachments_are_bounded_at_read() -> None:
    attachments = [
        {"url": f"https://j.example/{n}.mp3", "mime_type": "audio/mpeg"} for n in range(5000)
    ]
    parsed = _parse(_feed(items=[{"id": "1", "title": "t", "attachments": attachments}]))
    assert len(parsed.items[0].enclosures) == 100


# (name, the item's fields, what is read, the item's problems)
GAP_ROWS: list[tuple[str, dict[str, Any], dict[str, Any], list[str]]] = [
    (
        "an unreadable published date, with a readable modified one",
        {"date_published": "yesterday", "date_modified": "2025-06-23T19:09:00Z"},
        {"published": None, "updated": datetime(2025, 6, 23, 19, 9, tzinfo=UTC)},
        ["item 1: 'date_published' not understood ('yesterday'): ignored"],
    ),
    (
        "no readable date at all",
        {"date_published": "soon", "date_modified": "31/31/2025"},
        {"published": None, "updated": None},
        [
            "item 1: 'date_published' not understood ('soon'): dated when first seen",
            "item 1: 'date_modified' not understood ('31/31/2025'): dated when first seen",
        ],
    ),
    (
        "a readable date is no problem",
        {"date_published": "2025-06-23T19:09:00+02:00"},
        {"published": datetime(2025, 6, 23, 17, 9, tzinfo=UTC)},
        [],
    ),
    (
        "an id is kept exactly, spaces and all",
        {"id": " a  b "},
        {"guid": " a  b "},
        [],
    ),
    (
        "thousands of authors: the first 20 are read",
        {"authors": [{"name": f"Person {n}"} for n in range(5000)]},
        {"author": ", ".join(f"Person {n}" for n in range(20))},
        ["item 1: 4980 authors past the first 20 ignored"],
    ),
    (
        "a name of a megabyte is no name",
        {"authors": [{"name": "x" * 1_000_000}, {"name": "Ann"}]},
        {"author": "Ann"},
        [],
    ),
    (
        "thousands of tags: the first hundred are kept",
        {"tags": [f"tag {n}" for n in range(5000)]},
        {"categories": tuple(f"tag {n}" for n in range(100))},
        [],
    ),
]


@pytest.mark.parametrize(
    ("fields", "read", "problems"), [r[1:] for r in GAP_ROWS], ids=[r[0] for r in GAP_ROWS]
)
def test_json_feed_fields_against_the_spec(
    fields: dict[str, Any], read: dict[str, Any], problems: list[str]
) -> None:
    parsed = _parse(_feed(items=[{"id": "1", "title": "t", **fields}]))
    (item,) = parsed.items
    assert {name: getattr(item, name) for name in read} == read
    assert list(parsed.problems) == problems


def _reference_depth(text: str) -> int:
    """The nesting depth the obvious way, one character at a time (too slow for a guard)."""
    deepest = depth = 0
    in_string = escaped = False
    for character in text:
        if in_string:
            if escaped:
                escaped = False
            elif character == "\\":
                escaped = True
            elif character == '"':
                in_string = False
        elif character == '"':
            in_string = True
        elif character in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif character in "]}":
            depth -= 1
    return deepest


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.none() | st.integers() | st.text(alphabet='[]{}"\\ab,:', max_size=8),
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(st.text(alphabet='[]{}"\\a', max_size=4), children, max_size=3)
        ),
        max_leaves=40,
    )
)
def test_the_depth_guard_is_exact_for_json(value: object) -> None:
    """Brackets, quotes and backslashes inside strings never count."""
    text = json.dumps(value)
    assert _depth(text) == _reference_depth(text)


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.text(alphabet='[]{}"\\a', max_size=4),
        lambda children: st.lists(children, max_size=3),
        max_leaves=30,
    ),
    st.data(),
    st.text(alphabet='[]{}"\\a,', max_size=20),
)
def test_the_depth_guard_never_underestimates_what_json_would_read(
    value: object, data: st.DataObject, junk: str
) -> None:
    """JSON recurses only through a valid prefix; whatever follows, its depth is counted."""
    text = json.dumps(value)
    cut = data.draw(st.integers(0, len(text)))
    assert _depth(text[:cut] + junk) >= _reference_depth(text[:cut])


# --------------------------------------------------------------------------- encodings


@pytest.mark.parametrize("codec", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-32"])
def test_json_in_any_unicode_encoding(codec: str) -> None:
    body = json.dumps({"version": V11, "title": "Zölle 東京", "items": [{"id": "1"}]})
    parsed = _parse(body.encode(codec))
    assert parsed.title == "Zölle 東京"
    assert [i.guid for i in parsed.items] == ["1"]


def test_invalid_utf8_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="not valid UTF-8"):
        _parse(b'{"version": "https://jsonfeed.org/version/1.1", "title": "\xff\xfe\xfd"}')


def test_a_lone_surrogate_escape_does_not_crash() -> None:
    parsed = _parse(_raw('"items": [{"id": "\\ud800", "title": "s"}]'))
    assert len(parsed.items) == 1


def test_json_is_never_guarded_as_xml() -> None:
    """An article about XML attacks in a JSON Feed is just text."""
    title = '<!DOCTYPE x [<!ENTITY a "b">]>'
    parsed = _parse(_feed(items=[{"id": "1", "title": title, "content_text": "&a;"}]))
    assert parsed.items[0].title == title


def test_parse_json_feed_is_what_parse_feed_dispatches_to() -> None:
    body = _feed(items=[{"id": "1", "title": "t"}])
    assert parse_json_feed(Document(NAME, body)) == parse_feed(Document(NAME, body))
    assert parse_feed(Document(NAME, b"  \n" + body)).items[0].guid == "1"


# --------------------------------------------------------------------------- anything at all

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
ITEM_KEYS = [
    "id", "url", "external_url", "title", "content_html", "content_text", "summary", "image",
    "banner_image", "date_published", "date_modified", "authors", "author", "tags",
    "language", "attachments",
]  # fmt: skip
ATTACHMENT = st.fixed_dictionaries(
    {},
    optional={
        "url": JSON_VALUES,
        "mime_type": JSON_VALUES,
        "size_in_bytes": JSON_VALUES,
        "duration_in_seconds": JSON_VALUES,
    },
)
ITEM = st.fixed_dictionaries(
    {},
    optional={key: JSON_VALUES for key in ITEM_KEYS}
    | {"attachments": st.lists(ATTACHMENT | JSON_VALUES, max_size=3)},
)


@settings(max_examples=300, deadline=None)
@given(
    items=st.lists(ITEM | JSON_VALUES, max_size=5) | JSON_VALUES,
    feed=st.fixed_dictionaries(
        {}, optional={k: JSON_VALUES for k in ("title", "home_page_url", "language", "authors")}
    ),
)
def test_any_json_in_any_field_is_items_or_problems(items: object, feed: dict[str, Any]) -> None:
    parsed = _parse(json.dumps({"version": V11, **feed, "items": items}))
    for item in parsed.items:
        assert item.guid is None or isinstance(item.guid, str)
        assert isinstance(item.title, str)
        for enclosure in item.enclosures:
            assert isinstance(enclosure.url, str)
            assert enclosure.length is None or isinstance(enclosure.length, int)
            assert enclosure.duration is None or isinstance(enclosure.duration, int)
    assert all(isinstance(p, str) for p in parsed.problems)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_text_starting_like_json_is_a_feed_or_a_parse_error(tail: str) -> None:
    try:
        _parse("{" + tail)
    except ParseError as error:
        assert str(error).startswith("not a feed")
