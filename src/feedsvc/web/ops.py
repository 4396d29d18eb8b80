"""Liveness and readiness for orchestrators; no authentication, no data.

``/readyz`` says why in its body: the database (unreachable, or its SQLite
file gone), the scheduler's heartbeat, and the catalogue's state (loaded, or
the last refused edit with its problems — still ready, the last good
catalogue serves).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from flask import Blueprint, Flask, Response, current_app
from sqlalchemy.exc import SQLAlchemyError

from feedsvc.catalog_watch import CatalogState
from feedsvc.errors import StoreError
from feedsvc.store import StateKey, Store
from feedsvc.web.admin_common import catalog_state

log = logging.getLogger(__name__)

bp = Blueprint("ops", __name__)
HEARTBEAT_MAX_AGE = timedelta(seconds=60)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.register_error_handler(SQLAlchemyError, database_unavailable)
    app.register_error_handler(StoreError, database_unavailable)


def database_unavailable(exc: Exception) -> Response:
    """A page that needs the database while it is away: 503 and a reason, not a 500."""
    log.warning("database unavailable: %s", exc)
    return Response(
        "database unavailable; if it is new, run `feedsvc db upgrade`\n",
        status=503,
        mimetype="text/plain",
        headers={"Retry-After": "30"},
    )


@bp.get("/healthz")
def healthz() -> Response:
    return Response("ok\n", mimetype="text/plain")


@bp.get("/readyz")
def readyz() -> Response:
    """Ready: the database answers and, once a scheduler has run, its heartbeat is recent.

    A deployment that never ran a scheduler has no heartbeat and is judged on
    the database alone; one whose scheduler stopped beating is not ready.
    """
    store: Store = current_app.extensions["feedsvc.store"]
    catalog = _catalog_lines(catalog_state())
    gone = store.file_problem()
    if gone:
        return _plain(503, gone, *catalog)
    if not store.ping():
        return _plain(503, "database unreachable", *catalog)
    problem = _heartbeat_problem(store.get_state(StateKey.HEARTBEAT), datetime.now(UTC))
    if problem:
        return _plain(503, problem, *catalog)
    return _plain(200, "ready", *catalog)


def _plain(status: int, *lines: str) -> Response:
    return Response("".join(line + "\n" for line in lines), status=status, mimetype="text/plain")


def _catalog_lines(state: CatalogState) -> list[str]:
    """The catalogue's state, one line each: a refused edit does not make the service
    unready (the last good catalogue serves), but it is said where a probe looks. Its
    problems name files on the server, so they are for the admin pages, not this
    unauthenticated answer."""
    if state.status == "unreadable":
        lines = ["catalogue: unreadable (none loaded yet)"]
    else:
        loaded = state.loaded_at.isoformat() if state.loaded_at else "?"
        lines = [f"catalogue: {state.status}, {state.sources} sources, loaded at {loaded}"]
    if state.rejected is not None:
        count = len(state.rejected.problems)
        lines.append(
            f"catalogue edit rejected at {state.rejected.at.isoformat()}: {count} "
            f"problem{'s' if count != 1 else ''} (listed on /admin/ and in the log)"
            + ("; the last good catalogue serves" if state.generation else "")
        )
    return lines


def _heartbeat_problem(beat: str | None, now: datetime) -> str | None:
    if beat is None:
        return None
    try:
        moment = datetime.fromisoformat(beat)
    except ValueError:
        return f"scheduler heartbeat unreadable: {beat!r}"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    age = now - moment
    if age > HEARTBEAT_MAX_AGE:
        return (
            f"scheduler heartbeat is {int(age.total_seconds())}s old "
            f"(limit {int(HEARTBEAT_MAX_AGE.total_seconds())}s): is the scheduler running?"
        )
    return None
