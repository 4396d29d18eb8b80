"""The built-in hub's own rules: leases, ceilings and how long failed calls are retried.

The Recommendation leaves these to each hub (WebSub §5.1, §5.3.1, §7, §8.2);
they are written here once, as plain values and pure functions, so the web
side that takes requests and the scheduler side that makes the calls apply
the same ones.
"""

from __future__ import annotations

from datetime import timedelta

MIN_LEASE = timedelta(minutes=5)
MAX_LEASE = timedelta(days=30)
DEFAULT_LEASE = timedelta(days=10)
"""§8.2: "Hubs SHOULD enforce short lived hub.lease_seconds (10 days is a good default)"."""

MAX_SECRET_BYTES = 199
"""§5.1: hub.secret "MUST be less than 200 bytes in length"."""

MAX_REQUEST_BYTES = 8 * 1024
"""A subscription request is four short parameters; a body larger than this is refused."""

MAX_PARAMETERS = 32
MAX_CHALLENGE_ECHO = 256
"""A verification answer longer than this cannot be our challenge; it is not read further."""

MAX_SUBSCRIPTIONS = 10_000
MAX_SUBSCRIPTIONS_PER_HOST = 200
"""Active subscriptions in total, and per callback host (renewals are always taken)."""

MAX_PENDING = 1_000
MAX_PENDING_PER_HOST = 20
"""Requests waiting for their verification, in total and per callback host: the hub's
own calls to callbacks cannot be multiplied by a flood of requests."""

FIRST_RETRY = timedelta(seconds=20)
MAX_RETRY_WAIT = timedelta(hours=1)
MAX_ATTEMPTS = 12
"""A failed delivery or ping is tried again after 20 s, 40 s, 80 s, … (at most an hour
apart); after 12 attempts (over four hours) it is dropped and logged, and the
next change is tried afresh (§7). A subscriber that failed twice has the
content on the third attempt, a minute after the first."""

CLAIM_LEASE = timedelta(minutes=2)
"""How long a claimed call belongs to the scheduler that claimed it: longer than one
call's deadline, so a dead scheduler's claims are picked up again soon."""


def lease_for(requested: int | None) -> int:
    """The lease the hub grants, in seconds: the request's, kept within the hub's bounds."""
    if requested is None:
        return int(DEFAULT_LEASE.total_seconds())
    low, high = int(MIN_LEASE.total_seconds()), int(MAX_LEASE.total_seconds())
    return max(low, min(requested, high))


def retry_wait(failures: int) -> timedelta | None:
    """How long to wait after the ``failures``-th failed attempt; None: give up."""
    if failures >= MAX_ATTEMPTS:
        return None
    doublings = min(max(failures - 1, 0), 20)
    return min(FIRST_RETRY * (2**doublings), MAX_RETRY_WAIT)
