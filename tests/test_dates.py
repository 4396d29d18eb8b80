"""dates.py: one plausible window for every reader, one formatter for everything we write."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feedsvc.dates import (
    FIRST_YEAR,
    FUTURE_SLACK,
    LAST_YEAR,
    format_utc,
    parse_date,
    parse_http_date,
    parse_wire_date,
    plausible,
    utc,
)

NOW = datetime(2025, 7, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("year", "readable"),
    [(1, False), (1900, False), (FIRST_YEAR - 1, False), (FIRST_YEAR, True), (2025, True),
     (LAST_YEAR, True), (LAST_YEAR + 1, False), (9999, False)],
)  # fmt: skip
def test_every_reader_keeps_the_same_years(year: int, readable: bool) -> None:
    """A feed's RFC 822, a feed's ISO 8601 and a wire line agree on which years are dates."""
    written = {
        parse_date(f"Wed, 15 Jun {year:04d} 12:00:00 GMT"),
        parse_date(f"{year:04d}-06-15T12:00:00Z"),
        parse_wire_date(f"12:00, 15 June {year:04d} UTC"),
        parse_wire_date(f"{year:04d}-06-15T12:00:00Z"),
    }
    expected = datetime(year, 6, 15, 12, 0, tzinfo=UTC) if readable else None
    assert written == {expected}


def test_feedparser_fallback_keeps_the_same_years() -> None:
    inside = datetime(2025, 6, 15, tzinfo=UTC)
    assert parse_date("15.06.2025 exotic", inside.timetuple()) == inside
    assert parse_date("15.06.1950 exotic", datetime(1950, 6, 15).timetuple()) is None


def test_the_year_of_a_zoned_time_is_its_year_in_utc() -> None:
    """31 December 1969 west of Greenwich is 1970 in UTC, and the reverse."""
    assert parse_date("1969-12-31T23:00:00-02:00") == datetime(1970, 1, 1, 1, tzinfo=UTC)
    assert parse_date("1970-01-01T01:00:00+02:00") is None
    assert parse_wire_date("1970-01-01T01:00:00+02:00") is None


def test_wire_dates_keep_their_offset_and_feed_dates_are_utc() -> None:
    wire = parse_wire_date("2025-06-23T21:09:00+02:00")
    assert wire is not None and wire.utcoffset() == timedelta(hours=2)
    assert parse_date("2025-06-23T21:09:00+02:00") == datetime(2025, 6, 23, 19, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    ("moment", "kept"),
    [
        (datetime(FIRST_YEAR, 1, 1, tzinfo=UTC), True),
        (datetime(FIRST_YEAR - 1, 12, 31, 23, 59, 59, tzinfo=UTC), False),
        (NOW + FUTURE_SLACK, True),
        (NOW + FUTURE_SLACK + timedelta(seconds=1), False),
        (None, False),
    ],
)
def test_plausible_is_the_window_with_the_clock(moment: datetime | None, kept: bool) -> None:
    assert plausible(moment, NOW) == (moment if kept else None)


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2025, 6, 23, 19, 9, 5, tzinfo=UTC), "2025-06-23T19:09:05Z"),
        (datetime(2025, 6, 23, 19, 9, 5, 999999, tzinfo=UTC), "2025-06-23T19:09:05Z"),
        (datetime(2025, 6, 23, 21, 9, tzinfo=timezone(timedelta(hours=2))), "2025-06-23T19:09:00Z"),
        (datetime(2025, 6, 23, 19, 9), "2025-06-23T19:09:00Z"),
        (datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC), "0999-01-02T03:04:05Z"),
    ],
)
def test_format_utc(moment: datetime, text: str) -> None:
    assert format_utc(moment) == text


@given(st.datetimes(min_value=datetime(1000, 1, 2), max_value=datetime(9999, 12, 30)))
def test_format_utc_reads_back_as_the_same_second(moment: datetime) -> None:
    text = format_utc(moment)
    assert datetime.fromisoformat(text) == utc(moment)
    assert parse_date(text) in (None, utc(moment))  # the reader may drop it: its window


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Sun, 06 Nov 1994 08:49:37 GMT", datetime(1994, 11, 6, 8, 49, 37, tzinfo=UTC)),
        ("Sunday, 06-Nov-94 08:49:37 GMT", datetime(1994, 11, 6, 8, 49, 37, tzinfo=UTC)),
        ("Sun Nov  6 08:49:37 1994", datetime(1994, 11, 6, 8, 49, 37, tzinfo=UTC)),
        ("Fri, 31 Dec 9999 23:59:59 GMT", datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)),
        ("Sun, 06 Nov 1994 08:49:37 +0100", datetime(1994, 11, 6, 7, 49, 37, tzinfo=UTC)),
        ("Sun, 31 Feb 1994 08:49:37 GMT", None),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_http_dates_have_no_window(value: str | None, expected: datetime | None) -> None:
    """A server may name any date; the fetcher caps the delay, the reader does not drop it."""
    assert parse_http_date(value) == expected
