"""When to fetch a source again: its interval, stretched by errors and by the origin's wishes.

Pure, so the schedule is tested as a table of cases; ``feedsvc.refresh``
applies it after every fetch, whoever asked for the fetch.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from feedsvc.model import Source, SourceResult

MAX_BACKOFF = timedelta(days=1)
MAX_POLITE_WAIT = timedelta(days=1)
JITTER = 0.1


def next_fetch_at(source: Source, result: SourceResult, now: datetime, jitter: float) -> datetime:
    """When to fetch again: the interval, never sooner than the source allows.

    ``jitter`` in [0, 1] adds up to 10% so sources that share an interval do
    not all fire at once; it only ever lengthens the wait. After errors the wait doubles per
    consecutive error up to a day; ``Retry-After`` and ``Cache-Control:
    max-age`` are honoured (up to a day), whichever is later.
    """
    wait = source.every
    if not result.ok:
        doublings = min(max(result.consecutive_errors - 1, 0), 20)
        wait = min(source.every * (2**doublings), MAX_BACKOFF)
    polite = result.retry_after if not result.ok else result.max_age
    if polite is not None:
        wait = max(wait, min(polite, MAX_POLITE_WAIT))
    spread = wait * (JITTER * max(0.0, min(1.0, jitter)))
    return now + max(wait + spread, timedelta(seconds=1))
