"""What a response's headers tell the fetch: validators, how long to wait, what to keep.

Every value here was chosen by a server, so none is trusted as it is: a delay
has a ceiling, a validator that would be unsafe to store or send back is
dropped, and a status reason is cut to one printable line.
"""

from __future__ import annotations

import http.client
import re
from datetime import UTC, datetime, timedelta
from http import HTTPStatus

from feedsvc.dates import parse_http_date
from feedsvc.text import one_line

__all__ = [
    "MAX_ASKED_DELAY",
    "MAX_VALIDATOR_LENGTH",
    "header_value",
    "lower_headers",
    "max_age",
    "retry_after",
    "status_text",
    "validator",
]

# A server may ask for any delay; a longer one than this means the same to us,
# and larger numbers would overflow timedelta (or int() itself).
MAX_ASKED_DELAY = timedelta(days=365)
MAX_VALIDATOR_LENGTH = 1024
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f]")
_REASON_LENGTH = 80
# Headers that describe the bytes on the wire, not the decoded body the parser gets.
_WIRE_ONLY = frozenset({"content-encoding", "content-length", "transfer-encoding"})


def lower_headers(response: http.client.HTTPResponse) -> dict[str, str]:
    """Response headers for the parser, names lower-cased and repeats joined."""
    headers: dict[str, str] = {}
    for name, value in response.getheaders():
        key = name.lower()
        if key in _WIRE_ONLY:
            continue
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


def _seconds(digits: str) -> timedelta:
    if len(digits) > 9:
        return MAX_ASKED_DELAY
    return min(timedelta(seconds=int(digits)), MAX_ASKED_DELAY)


def max_age(cache_control: str | None) -> timedelta | None:
    """Cache-Control's max-age, which the scheduler honours as the shortest interval."""
    for directive in (cache_control or "").split(","):
        name, _, value = directive.strip().partition("=")
        if name.strip().lower() == "max-age":
            value = value.strip().strip('"')
            if value.isascii() and value.isdigit():
                return _seconds(value)
    return None


def retry_after(value: str | None, date: str | None) -> timedelta | None:
    """Retry-After as a delay; an HTTP-date counts from the response's own Date.

    Measuring against the server's clock keeps a skewed local clock out of it.
    """
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return _seconds(value)
    when = parse_http_date(value)
    if when is None:
        return None
    now = parse_http_date(date) or datetime.now(UTC)
    return min(max(when - now, timedelta(0)), MAX_ASKED_DELAY)


def status_text(response: http.client.HTTPResponse) -> str:
    """"HTTP 503 Service Unavailable": the server's reason if it gave a printable one."""
    reason = one_line(response.reason or "", _REASON_LENGTH)
    if not reason:
        try:
            reason = HTTPStatus(response.status).phrase
        except ValueError:
            reason = ""
    return f"HTTP {response.status} {reason}".rstrip()


def header_value(value: str | None) -> str | None:
    """A validator worth keeping and sending back: a legal field value of sane length.

    It is stored and sent on every fetch, so a hostile server's NUL (which
    PostgreSQL refuses to store), control characters or megabyte of junk is
    dropped: the next fetch is simply unconditional.
    """
    if not value or len(value) > MAX_VALIDATOR_LENGTH or _CONTROL.search(value):
        return None
    return value


def validator(response: http.client.HTTPResponse, name: str) -> str | None:
    """The response's ETag or Last-Modified (``name``), if it is worth keeping."""
    return header_value(response.getheader(name))
