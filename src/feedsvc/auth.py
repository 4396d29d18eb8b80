"""Admin authentication policy: who is guessing, how long they wait, what a session is.

Pure rules, no web code; the store keeps the state (``store.admin``) and the
web tier applies them (``web.admin_auth``). One place for each number:

- **Throttling.** Failed authentications (a wrong bearer token, a wrong
  token in the login form) are counted per client address, in the database,
  so every worker process of ``feedsvc serve`` (granian runs several) and
  every web server behind one PostgreSQL meets the same count; a per-process
  memory store (Flask-Limiter's default) would give a guesser one allowance
  per worker and forget it at each restart. After ``FREE_FAILURES`` the
  address is locked out for a time that doubles with each further failure,
  up to ``MAX_LOCKOUT``; the count is forgotten ``FORGET_AFTER`` the last
  failure. While an address is locked out its attempts are refused (429 and
  ``Retry-After``) *before* the token is looked at: answering a right token
  then would tell a guesser which guess was right. A request with a right
  token from any address that is not locked out is never delayed.
- **Addresses.** IPv4 addresses count one by one; IPv6 addresses by their
  /64, the block one subscriber usually holds, so stepping through a
  subnet's addresses does not reset the count.
- **Sessions.** The admin cookie carries a random secret; the database keeps
  only its hash (``session_key``) with the session's CSRF token and the id of
  the admin token it was opened with (``token_id``), so a copied cookie is
  dead once the row is gone (logout) or the token changed.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from datetime import timedelta

FREE_FAILURES = 5
"""Wrong tokens an address may send before it waits: enough for typing mistakes."""
FIRST_LOCKOUT = timedelta(seconds=1)
MAX_LOCKOUT = timedelta(minutes=15)
FORGET_AFTER = timedelta(hours=1)
"""A failure count is kept this long after the last failure; longer than the longest
lockout, so a patient guesser keeps waiting the longest time."""
SESSION_LIFETIME = timedelta(hours=12)


def lockout(failures: int) -> timedelta | None:
    """How long an address waits after its ``failures``-th failure in a row (None: not at all).

    1 s after the sixth, then 2 s, 4 s, … up to 15 minutes: a person who
    mistyped barely notices, a guesser gets a few attempts an hour.
    """
    beyond = failures - FREE_FAILURES
    if beyond <= 0:
        return None
    if beyond > 20:  # 2**20 s is far past the cap; no need to build the number
        return MAX_LOCKOUT
    return min(FIRST_LOCKOUT * 2 ** (beyond - 1), MAX_LOCKOUT)


def client_key(address: str | None) -> str:
    """The throttled unit for a client address: the address, or its /64 for IPv6."""
    if not address:
        return "unknown"
    try:
        parsed = ipaddress.ip_address(address.strip().strip("[]").split("%", 1)[0])
    except ValueError:
        return "unknown"
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)


def token_id(token: str) -> str:
    """A name for the admin token that does not reveal it: sessions opened with another
    token (before a change of ``FEEDSVC_ADMIN_TOKEN``) no longer match."""
    return hmac.new(token.encode(), b"feedsvc admin token id v1", hashlib.sha256).hexdigest()


def session_key(secret: str) -> str:
    """The row key for a session cookie's secret; the secret itself is never stored."""
    return hashlib.sha256(secret.encode()).hexdigest()
