"""Keyset cursors and search text (``feedsvc.cursor``): pure, no database."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from feedsvc.cursor import (
    CURSOR_LIMIT,
    SEARCH_LIMIT,
    BadCursor,
    decode_cursor,
    encode_cursor,
    search_terms,
    search_text,
)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "key",
    [
        (datetime(2025, 6, 23, 19, 9, tzinfo=UTC), "0a1b2c3d4e5f60718293a4b5"),
        (datetime(2025, 6, 23, 19, 9, 0, 999_999, tzinfo=UTC), "id-1"),
        (datetime(1970, 1, 1, tzinfo=UTC), "x"),
        (datetime(1900, 2, 28, 23, 59, 59, 1, tzinfo=UTC), "a" * 64),
    ],
)
def test_a_cursor_names_its_key_exactly_and_is_url_safe(key: tuple[datetime, str]) -> None:
    cursor = encode_cursor(key)
    assert decode_cursor(cursor) == key
    assert all(c.isalnum() or c in "-_" for c in cursor)


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "x" * (CURSOR_LIMIT + 1),
        "not a cursor",
        "%%%%",
        "\x00",
        "é",
        _b64(b"2.1700000000000000.abc"),  # another version
        _b64(b"1.soon.abc"),
        _b64(b"1.1700000000000000."),  # no id
        _b64(b"1.1700000000000000.a b"),  # an id no story has
        _b64(b"1.99999999999999999999999.abc"),  # past any date
        _b64(b"1.1700000000000000." + b"a" * 65),
        _b64(b"\xff\xfe"),
        _b64(b"1.1700000000000000"),
    ],
)
def test_anything_else_is_a_bad_cursor_with_a_reason(cursor: str) -> None:
    with pytest.raises(BadCursor) as raised:
        decode_cursor(cursor)
    assert str(raised.value) and "\n" not in str(raised.value)


@pytest.mark.parametrize(
    ("raw", "text", "terms"),
    [
        (None, "", []),
        ("", "", []),
        ("   \x00\t ", "", []),
        ("Security  pact", "Security pact", ["Security", "pact"]),
        (
            '"NATO" AND (arms OR -control*)',
            '"NATO" AND (arms OR -control*)',
            ["NATO", "AND", "arms", "OR", "control"],
        ),
        ("a\x00b", "ab", ["ab"]),
        ("x" * 10_000, "x" * SEARCH_LIMIT, ["x" * SEARCH_LIMIT]),
        ("Zürich café", "Zürich café", ["Zürich", "café"]),
        (" ".join(["w"] * 100), " ".join(["w"] * 100), ["w"] * 16),
    ],
)
def test_search_text_is_capped_cleaned_and_split_into_words(
    raw: str | None, text: str, terms: list[str]
) -> None:
    assert search_text(raw) == text
    assert search_terms(text) == terms
