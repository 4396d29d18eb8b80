"""Guids: exact, storable, injective, and what earlier releases stored (``feedsvc.guids``)."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feedsvc.guids import (
    ESCAPE,
    HASHED_PREFIX,
    MAX_GUID_BYTES,
    exact_guid,
    guid_aliases,
    legacy_guid,
    storable,
)

# (name, raw guid, exact form, legacy form)
ROWS = [
    ("plain", "tag:x,2025:1", "tag:x,2025:1", "tag:x,2025:1"),
    ("inner spaces kept", "a  b", "a  b", "a b"),
    ("surrounding spaces kept", " a ", " a ", "a"),
    ("entity kept as written", "x&amp;y", "x&amp;y", "x&amp;y"),
    ("control escaped", "a\x01b", f"a{ESCAPE}0001b", "ab"),
    ("line break escaped", "a\r\nb", f"a{ESCAPE}000d{ESCAPE}000ab", "a b"),
    ("C1 escaped", "a\x9b2J", f"a{ESCAPE}009b2J", "a2J"),
    ("NUL escaped", "a\x00b", f"a{ESCAPE}0000b", "ab"),
    ("the escape itself escaped", f"a{ESCAPE}0000b", f"a{ESCAPE}241b0000b", f"a{ESCAPE}0000b"),
    ("lone surrogate escaped", "caf\udce9.txt", f"caf{ESCAPE}dce9.txt", "caf.txt"),
    ("blank is no guid", " \t ", None, None),
    ("controls only is no guid", "\x01\x02", None, None),
    ("empty is no guid", "", None, None),
]


@pytest.mark.parametrize(
    ("raw", "exact", "legacy"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS]
)
def test_forms(raw: str, exact: str | None, legacy: str | None) -> None:
    assert exact_guid(raw) == exact
    assert legacy_guid(raw) == legacy
    if exact is not None:
        exact.encode("utf-8")  # storable: encodes, and holds no control character
        assert exact.isprintable()


COLLIDING = [
    ("a  b", "a b"),
    ("x&amp;y", "x&y"),
    ("a\x01", "a"),
    ("a ", "a"),
    ("a\x00", f"a{ESCAPE}0000"),
    ("\udce9", f"{ESCAPE}dce9"),
]


@pytest.mark.parametrize(("one", "two"), COLLIDING, ids=[repr(pair) for pair in COLLIDING])
def test_distinct_guids_stay_distinct(one: str, two: str) -> None:
    assert exact_guid(one) != exact_guid(two)


@given(st.text(min_size=1), st.text(min_size=1))
def test_escaping_is_injective_and_storable(one: str, two: str) -> None:
    assert (storable(one) == storable(two)) is (one == two)
    assert not any(unicodedata.category(ch) in ("Cc", "Cs") for ch in storable(one))
    storable(one).encode("utf-8")


def test_long_guids_are_hashed_the_same_way_as_before_when_they_are_clean() -> None:
    long = "x" * (MAX_GUID_BYTES + 1)
    assert exact_guid(long) == legacy_guid(long)
    assert (exact_guid(long) or "").startswith(HASHED_PREFIX)
    assert exact_guid(long + "  y") != exact_guid(long + " y")


def test_aliases_name_only_guids_whose_forms_differ() -> None:
    assert guid_aliases(["a", "a  b", None, " ", "x\x00"]) == {
        "a  b": "a b",
        f"x{ESCAPE}0000": "x",
    }


def test_a_guid_an_earlier_release_was_handed_escaped_is_its_alias() -> None:
    """feedparser's loose parser (a malformed feed) handed ids over XML-escaped."""
    pair = ("https://e.x/?a=1&b=2", "https://e.x/?a=1&amp;b=2")
    assert guid_aliases([pair]) == {pair[0]: pair[1]}
    assert guid_aliases([("same", None)]) == {}
