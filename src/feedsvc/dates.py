"""Dates: reading the ones sources write, and writing ours. The one home for both.

Reading. Feeds write RFC 822 (RSS), ISO 8601 / W3CDTF (Atom and RSS
extensions) and C's asctime; wire articles write dates the way newsrooms
print them ("21:09, 23 June 2025"). ``parse_date`` reads the first kind,
``parse_wire_date`` the second, on shared parts (month names, ISO 8601,
numeric offsets). Both are pure and have no clock. A time written without a
zone comes back naive, because only the normaliser knows the source's zone
(``to_utc``); a date that cannot be read, or is not plausible, is None rather
than an error: one bad date must not cost an item.

The plausible window, the same for every reader: **from 1970-01-01 to one day
after now**.

* Not before 1970: no item feedsvc carries was published before the Unix
  epoch, and the earlier dates feeds really contain are placeholders and
  defaults (0001-01-01, 1900-01-01, a zero timestamp written in a zone west
  of Greenwich, which reads as 31 December 1969). They mean "no date".
* Not after now plus a day: a date in the future would pin an item to the
  top of every feed. The day of slack lets through a source whose clock or
  zone is wrong by some hours, which is common and harmless.

The readers have no clock, so they apply the part of the window that needs
none: the years 1970 to ``LAST_YEAR``, which drops placeholders such as 9999
at once (for decades to come, any year past ``LAST_YEAR`` fails the clock
part anyway). The normaliser, which is given ``now``, applies the whole
window with ``plausible``.

HTTP dates (``Retry-After``, ``Date``) are read by ``parse_http_date``; the
window does not apply to them, as they are no item's date.

Durations the operator writes (a retention such as ``90d``) are read by
``parse_duration``, for the catalogue, the admin API and ``FEEDSVC_KEEP`` alike.

Writing. ``format_utc`` writes the one format of our own output (article
JSON, JSON Feed, the admin API): RFC 3339 in UTC, to the second, with "Z".
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from feedsvc.errors import ConfigError

__all__ = [
    "FIRST_YEAR",
    "FUTURE_SLACK",
    "LAST_YEAR",
    "format_utc",
    "parse_date",
    "parse_duration",
    "parse_http_date",
    "parse_wire_date",
    "plausible",
    "to_utc",
    "utc",
    "zone",
]

FIRST_YEAR = 1970
LAST_YEAR = 2100
FUTURE_SLACK = timedelta(days=1)

DURATION_PATTERN = re.compile(r"^\s*([0-9]{1,6})\s*([hdw])\s*$")
"""A whole number and h (hours), d (days) or w (weeks): ``"90d"``."""
_DURATION_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
MAX_DURATION = timedelta(days=365 * 100)


def parse_duration(text: object) -> timedelta:
    """``"90d"`` → 90 days; ValueError, in words an operator reads, for anything else.

    Whole hours at least, a century at most: a retention shorter than an hour
    would purge what was just fetched, and a longer one means "keep everything".
    """
    match = DURATION_PATTERN.match(text) if isinstance(text, str) else None
    if not match:
        raise ValueError(
            f"bad duration {text!r}: expected a whole number and h, d or w, e.g. '90d'"
        )
    duration = int(match.group(1)) * _DURATION_UNITS[match.group(2)]
    if not timedelta(hours=1) <= duration <= MAX_DURATION:
        raise ValueError(f"bad duration {text!r}: from 1h to {MAX_DURATION.days}d")
    return duration


def format_duration(duration: timedelta) -> str:
    """The inverse of ``parse_duration``: 90 days → ``"90d"``."""
    for unit, size in (("w", _DURATION_UNITS["w"]), ("d", _DURATION_UNITS["d"])):
        if duration % size == timedelta(0):
            return f"{duration // size}{unit}"
    return f"{duration // _DURATION_UNITS['h']}h"


# --------------------------------------------------------------------------- the window


def plausible(moment: datetime | None, now: datetime) -> datetime | None:
    """``moment`` (aware) if it lies in the window, else None: "no date".

    A source cannot pin an item to the top with a date in the future; treating
    it as undated (rather than as ``now``) keeps its first-seen time stable
    across re-fetches instead of moving it on every run.
    """
    if moment is None or moment.year < FIRST_YEAR or moment > now + FUTURE_SLACK:
        return None
    return moment


def _in_years(moment: datetime | None, *, as_utc: bool = False) -> datetime | None:
    """The clock-free part of the window: the year, in UTC when the time has a zone.

    The moment comes back as written, or with ``as_utc`` converted to UTC
    when it has a zone; None outside the years or past what UTC can hold.
    """
    if moment is None:
        return None
    in_utc = moment
    if moment.utcoffset() is not None:
        try:
            in_utc = moment.astimezone(UTC)
        except OverflowError:
            return None
    if not FIRST_YEAR <= in_utc.year <= LAST_YEAR:
        return None
    return in_utc if as_utc else moment


# --------------------------------------------------------------------------- zones and UTC


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; ConfigError (a ValueError) when there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"unknown time zone {name!r}") from exc


def utc(moment: datetime) -> datetime:
    """``moment`` in UTC to the second, a naive one read as UTC.

    Every format then states exactly the same instant. OverflowError when
    the instant has no UTC reading (year 1 minus an offset).
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0)


def to_utc(moment: datetime | None, timezone: str) -> datetime | None:
    """An aware UTC time to the second; a naive one is read in the source's ``timezone``.

    A DST-ambiguous or skipped wall time takes ``fold=0`` (the earlier
    reading). A time that cannot be represented in UTC is None, not an error.
    """
    if moment is None:
        return None
    if moment.tzinfo is None or moment.utcoffset() is None:
        moment = moment.replace(tzinfo=zone(timezone), fold=0)
    try:
        return utc(moment)
    except (OverflowError, ValueError):
        return None


def format_utc(moment: datetime) -> str:
    """``2025-06-23T19:09:00Z``: RFC 3339 in UTC, to the second; a naive time is UTC."""
    return utc(moment).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


# --------------------------------------------------------------------------- shared parts

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}

# ISO 8601 / W3CDTF: a date, optionally a time, optionally a zone.
_ISO_SHAPE = re.compile(r"^\d{4}-?\d{2}(?:-?\d{2})?(?:[T ]\d{2}(?::?\d{2}){0,2}(?:[.,]\d+)?)?")
_ISO_PARTS = re.compile(
    r"^(\d{4})-?(\d{2})(?:-?(\d{2}))?(?:[T ](\d{2})(?::?(\d{2}))?(?::?(\d{2}))?)?"
)
_ISO_SPACED_ZONE = re.compile(r"\s+(?=(?:[+-]\d{2}:?\d{2}|Z)$)")
_ISO_YEAR_MONTH = re.compile(r"^\d{4}-\d{2}$")


class _Unreadable(Exception):
    """The string is not in a shape this reader knows; another reader may know it."""


def _parse_iso(text: str) -> datetime | None:
    """ISO 8601 as written (naive or with its offset); None for an impossible date or time."""
    if not _ISO_SHAPE.match(text):
        raise _Unreadable(text)
    text = _ISO_SPACED_ZONE.sub("", text)
    if _ISO_YEAR_MONTH.match(text):
        text += "-01"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    parts = _ISO_PARTS.match(text)
    if parts is None:  # _ISO_SHAPE matched, so _ISO_PARTS does too; kept for the type
        raise _Unreadable(text)
    year, month, day, hour, minute, second = parts.groups()
    try:
        datetime(int(year), int(month), int(day or 1))
    except ValueError:
        return None  # an impossible date (31 February, year 0): no reading can save it
    if int(hour or 0) > 24 or int(minute or 0) > 59 or int(second or 0) > 60:
        return None  # feedparser would roll 25:61 over into the next day
    raise _Unreadable(text)  # a real time in a form fromisoformat does not know (24:00)


def _offset(sign: str, hours: str, minutes: str | None) -> timezone | None:
    """A numeric offset such as "+02:00"; None when it is a day or more, which no zone is."""
    offset = timedelta(hours=int(hours), minutes=int(minutes or 0))
    if offset >= timedelta(hours=24):
        return None
    return timezone(-offset if sign == "-" else offset)


# --------------------------------------------------------------------------- feed dates

_ZONE = r"(?P<zone>[A-Za-z]{1,5}(?:\s*[+-]\d{1,2}(?::?\d{2})?)?|[+-]\d{2}:?\d{2})"
_TIME = r"(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.\d+)?)?"
# RFC 822 as feeds really write it: optional day name, 2- or 4-digit year,
# optional time and seconds, a numeric offset, a zone name or no zone at all.
_RFC822 = re.compile(
    r"^(?:[A-Za-z]{2,9}\.?,?\s*)?"
    r"(?P<day>\d{1,2})[\s-]+(?P<month>[A-Za-z]{3,9})\.?[\s,-]+(?P<year>\d{4}|\d{2})"
    rf"(?:[\s,T]+{_TIME})?(?:\s*{_ZONE})?\s*$"
)
# C's asctime() and date(1): "Mon Jun 23 21:09:00 2025", "Mon Jun 23 21:09:00 CEST 2025".
_ASCTIME = re.compile(
    rf"^[A-Za-z]{{3}}\s+(?P<month>[A-Za-z]{{3}})\s+(?P<day>\d{{1,2}})\s+{_TIME}"
    rf"(?:\s+{_ZONE})?\s+(?P<year>\d{{4}})$"
)
# RFC 822's names plus the abbreviations European and Asian feeds actually
# write. Ambiguous ones (IST: India or Ireland?) are left out on purpose.
_ZONE_HOURS = {
    "UT": 0, "UTC": 0, "GMT": 0, "Z": 0, "WET": 0,
    "BST": 1, "CET": 1, "MET": 1, "WEST": 1,
    "CEST": 2, "MEST": 2, "EET": 2, "EEST": 3, "MSK": 3,
    "JST": 9, "KST": 9, "AEST": 10, "AEDT": 11, "NZST": 12, "NZDT": 13,
    "AST": -4, "ADT": -3, "EST": -5, "EDT": -4, "CST": -6, "CDT": -5,
    "MST": -7, "MDT": -6, "PST": -8, "PDT": -7, "AKST": -9, "AKDT": -8, "HST": -10,
}  # fmt: skip
_NUMERIC_ZONE = re.compile(r"^([+-])(\d{1,2}):?(\d{2})?$")


def _named_zone(name: str) -> timezone | None:
    """The zone written after a time; None if impossible, _Unreadable if unknown."""
    name = name.upper().replace(" ", "")
    letters = name.rstrip("+-:0123456789")
    numeric = name[len(letters) :]
    if not numeric:
        if letters not in _ZONE_HOURS:
            raise _Unreadable(name)
        return timezone(timedelta(hours=_ZONE_HOURS[letters]))
    found = _NUMERIC_ZONE.match(numeric)
    if found is None or letters not in {"", "UT", "UTC", "GMT"}:
        raise _Unreadable(name)
    return _offset(*found.groups())


def _parse_rfc822(pattern: re.Pattern[str], text: str) -> datetime | None:
    """RFC 822 or asctime, whose fields are named alike; "-0000" counts as UTC."""
    found = pattern.match(text)
    if found is None or found["month"].lower() not in _MONTHS:
        raise _Unreadable(text)
    year = int(found["year"])
    if len(found["year"]) == 2:
        year += 1900 if year >= 70 else 2000
    try:
        moment = datetime(
            year,
            _MONTHS[found["month"].lower()],
            int(found["day"]),
            int(found["hour"] or 0),
            int(found["minute"] or 0),
            int(found["second"] or 0),
        )
    except ValueError:
        return None
    if not (found["zone"] and found["hour"]):
        return moment
    offset = _named_zone(found["zone"])
    return moment.replace(tzinfo=offset) if offset else None


def _read_feed_date(text: str) -> datetime | None:
    for pattern in (_RFC822, _ASCTIME):
        try:
            return _parse_rfc822(pattern, text)
        except _Unreadable:
            continue
    raise _Unreadable(text)


def parse_date(raw: str | None, parsed: time.struct_time | None = None) -> datetime | None:
    """A feed's date string as a datetime: naive when it names no zone, else in UTC.

    feedparser's own ``*_parsed`` value reads a zone-less time as UTC, but a
    zone-less time means the source's zone, which only the normaliser knows;
    so ISO 8601, RFC 822 and asctime are read here, and feedparser's value
    (``parsed``, UTC) is the fallback for the exotic formats it knows.
    """
    text = " ".join((raw or "").split())
    if text:
        for reader in (_parse_iso, _read_feed_date):
            try:
                return _in_years(reader(text), as_utc=True)
            except _Unreadable:
                continue
    if parsed is None:
        return None
    try:
        return _in_years(datetime(*parsed[:6], tzinfo=UTC), as_utc=True)
    except (ValueError, TypeError, OverflowError):
        return None


# --------------------------------------------------------------------------- HTTP dates


def parse_http_date(value: str | None) -> datetime | None:
    """An HTTP-date, aware (GMT when it names no zone); None when it cannot be read.

    RFC 9110's three forms (IMF-fixdate, RFC 850, asctime) are RFC 822 and
    asctime as feeds write them, so the feed reader reads them, without the
    window: a server may well name a date far ahead, and the caller caps it.
    """
    text = " ".join((value or "").split())
    try:
        when = _read_feed_date(text) if text else None
    except _Unreadable:
        return None
    if when is None or when.utcoffset() is not None:
        return when
    return when.replace(tzinfo=UTC)


# --------------------------------------------------------------------------- wire dates

_DAY_MONTH_YEAR = re.compile(
    r"(?<!\d)(?P<day>\d{1,2})(?:st|nd|rd|th)?\s+(?P<month>[A-Za-z]+)\.?,?\s+(?P<year>\d{4})(?!\d)"
)
_MONTH_DAY_YEAR = re.compile(
    r"(?<![A-Za-z])(?P<month>[A-Za-z]+)\.?\s+(?P<day>\d{1,2})(?:st|nd|rd|th)?,?\s+"
    r"(?P<year>\d{4})(?!\d)"
)
_NUMERIC_DATE = re.compile(r"(?<!\d)(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})(?!\d)")
_CLOCK = re.compile(
    r"(?<![\d:])(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2}))?"
    r"(?:\s*(?P<half>[ap])\.?m\.?(?![A-Za-z]))?",
    re.IGNORECASE,
)
# Newsrooms write UTC, GMT, Z or an offset; a zone name is refused (CEST in a
# wire file has been seen to mean either of two offsets).
_WIRE_ZONE = re.compile(
    r"(?:(?<![A-Za-z])(?P<name>UTC|GMT|Z))?\s*"
    r"(?:(?P<sign>[+-])(?P<hours>\d{1,2})(?::?(?P<minutes>\d{2}))?)?\s*$",
    re.IGNORECASE,
)
_WEEKDAY = re.compile(
    r"(?<![A-Za-z])(?:mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)"
    r"(?:day|nesday|rsday|urday)?\.?(?![A-Za-z])",
    re.IGNORECASE,
)
_FILLER = re.compile(r"[\s,|@–—-]+|(?<![A-Za-z])(?:at|on)(?![A-Za-z])", re.IGNORECASE)


def parse_wire_date(value: str) -> datetime | None:
    """The date of a Published/Updated line, or None when it cannot be read.

    Naive without a zone (the source's timezone applies later), aware with
    an explicit offset, 'Z', 'UTC' or 'GMT' (kept as written). None rather
    than an error: a bad date costs the article its date, not its place in
    the feed.
    """
    value = " ".join(value.split())
    if not value:
        return None
    try:
        return _in_years(_parse_iso(value))
    except _Unreadable:
        pass
    try:
        return _in_years(_parse_written(value))
    except ValueError:
        return None


def _parse_written(value: str) -> datetime | None:
    """Dates as newsrooms write them: '21:09, 23 June 2025', 'June 23, 2025 9:09 pm'.

    ValueError when the text is not such a date.
    """
    found = _WIRE_ZONE.search(value)
    if found is None:  # every part of the pattern is optional: it matches at the end
        raise ValueError(f"no end in {value!r}")
    if found["sign"]:
        offset: timezone | None = _offset(found["sign"], found["hours"], found["minutes"])
        if offset is None:
            raise ValueError(f"offset {found.group().strip()!r} is a day or more")
    else:
        offset = UTC if found["name"] else None
    rest = value[: found.start()]
    day, rest = _take_date(rest)
    clock = _CLOCK.search(rest)
    hour, minute, second = _clock(clock) if clock else (0, 0, 0)
    if clock:
        rest = rest[: clock.start()] + " " + rest[clock.end() :]
    if _FILLER.sub("", _WEEKDAY.sub("", rest)):
        raise ValueError(f"unexpected text in date {value!r}")
    return datetime(*day, hour, minute, second, tzinfo=offset)


def _take_date(text: str) -> tuple[tuple[int, int, int], str]:
    """Find the calendar date in ``text``; return it and the text around it."""
    for pattern in (_DAY_MONTH_YEAR, _MONTH_DAY_YEAR, _NUMERIC_DATE):
        for match in pattern.finditer(text):
            month = match["month"]
            number = int(month) if month.isdigit() else _MONTHS.get(month.lower())
            if number is None:
                continue
            day = (int(match["year"]), number, int(match["day"]))
            return day, text[: match.start()] + " " + text[match.end() :]
    raise ValueError(f"no date in {text!r}")


def _clock(match: re.Match[str]) -> tuple[int, int, int]:
    hour, minute = int(match["hour"]), int(match["minute"])
    half = (match["half"] or "").lower()
    if half:
        if not 1 <= hour <= 12:
            raise ValueError(f"hour {hour} with am/pm")
        hour = hour % 12 + (12 if half == "p" else 0)
    return hour, minute, int(match["second"] or 0)
