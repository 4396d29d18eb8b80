"""Liveness and readiness for orchestrators; no authentication, no data."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from flask import Blueprint, Flask, Response, current_app
from sqlalchemy.exc import SQLAlchemyError

from feedsvc.errors import StoreError
from feedsvc.store import StateKey, Store

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
    if not store.ping():
        return Response("database unreachable\n", status=503, mimetype="text/plain")
    problem = _heartbeat_problem(store.get_state(StateKey.HEARTBEAT), datetime.now(UTC))
    if problem:
        return Response(problem + "\n", status=503, mimetype="text/plain")
    return Response("ready\n", mimetype="text/plain")


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
