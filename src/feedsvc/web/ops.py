"""Liveness and readiness for orchestrators; no authentication, no data."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, current_app

from feedsvc.store import Store

bp = Blueprint("ops", __name__)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


@bp.get("/healthz")
def healthz() -> Response:
    return Response("ok\n", mimetype="text/plain")


@bp.get("/readyz")
def readyz() -> Response:
    store: Store = current_app.extensions["feedsvc.store"]
    if not store.ping():
        return Response("database unreachable\n", status=503, mimetype="text/plain")
    return Response("ready\n", mimetype="text/plain")
