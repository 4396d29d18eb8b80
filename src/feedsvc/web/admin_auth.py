"""Who may use the admin side: bearer tokens, sessions kept on the server, throttled guessing.

The rules are ``feedsvc.auth``'s and the state is the store's, so every
worker process agrees on both. Here they meet the request:

- ``locked_out`` / ``failed`` / ``succeeded`` throttle failed authentications
  per client address (``request.remote_addr``; behind a proxy that is the
  proxy's address, so run the admin side where clients reach it directly).
  A locked-out address gets 429 with ``Retry-After`` before its token is
  looked at; a right token from anywhere else is never slowed.
- ``open_session`` / ``session_csrf`` / ``end_session``: the signed cookie
  holds only a random secret; the database row it names holds the CSRF token
  and the admin token's id. Logging out deletes the row, and a token change
  makes every row stale, so every copy of a cookie dies with its session,
  POST actions included. Before login the cookie carries a CSRF token of its
  own for the login form (nothing a stranger could use: the form still needs
  the admin token).
"""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from flask import current_app, g, request, session

from feedsvc.auth import SESSION_LIFETIME, client_key, session_key, token_id
from feedsvc.store import Store

log = logging.getLogger(__name__)

SECRET = "sid"  # the cookie's key for the session secret
CLOCK = "CLOCK"  # app.config: a callable giving aware UTC now (tests pass a fixed one)


def now() -> datetime:
    clock: Callable[[], datetime] | None = current_app.config.get(CLOCK)
    return clock() if clock is not None else datetime.now(UTC)


def _store() -> Store:
    return current_app.extensions["feedsvc.store"]


def client() -> str:
    return client_key(request.remote_addr)


def _seconds(wait: timedelta) -> int:
    return max(1, math.ceil(wait.total_seconds()))


# -- throttling ----------------------------------------------------------------------


def locked_out() -> int | None:
    """Seconds this client must still wait before it may try a token; None when it may."""
    state = _store().auth_state(client(), now())
    g.auth_failures = state.failures
    return _seconds(state.blocked_for) if state.blocked_for else None


def failed(where: str) -> int | None:
    """Count a wrong token; the seconds of the lockout it starts, if it starts one."""
    address = client()
    wait = _store().auth_failed(address, now())
    log.warning(
        "admin authentication failed (%s) from %s%s",
        where,
        address,
        f"; locked out for {_seconds(wait)} s" if wait else "",
    )
    return _seconds(wait) if wait else None


def succeeded() -> None:
    """A right token: forget this address's failures (a write only when there were some)."""
    if g.get("auth_failures"):
        _store().auth_succeeded(client())


# -- sessions ------------------------------------------------------------------------


def open_session(token: str) -> None:
    """A new session for a right token (a new cookie secret, so no fixation)."""
    secret = secrets.token_urlsafe(32)
    _store().open_session(
        session_key(secret), secrets.token_urlsafe(32), token_id(token), now(), SESSION_LIFETIME
    )
    session.clear()
    session.permanent = True
    session[SECRET] = secret
    g.pop("admin_csrf", None)


def session_csrf() -> str | None:
    """The CSRF token of this request's live session, or None when it has none.

    Looked up once per request: the row must exist, be unexpired and belong
    to the current admin token.
    """
    if "admin_csrf" in g:
        return g.admin_csrf
    secret = session.get(SECRET)
    token = current_app.config["SETTINGS"].admin_token
    found = None
    if isinstance(secret, str) and token:
        found = _store().session_csrf(session_key(secret), token_id(token), now())
    g.admin_csrf = found
    return found


def end_session() -> None:
    secret = session.get(SECRET)
    if isinstance(secret, str):
        _store().end_session(session_key(secret))
    session.clear()
    g.admin_csrf = None
