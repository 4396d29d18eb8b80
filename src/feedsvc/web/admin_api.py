"""The admin API under ``/api/v1/``: sources, their health, refresh now, articles, OpenAPI.

Every route needs ``Authorization: Bearer <FEEDSVC_ADMIN_TOKEN>``. With no
token configured the whole API answers 403 (admin is off); a missing or wrong
token is 401, and an address that keeps sending wrong tokens is locked out
for a growing time (429 with ``Retry-After``; ``web.admin_auth``). Errors are
JSON ``{"error": "…", "field": "…"}`` (``field`` when one part of the request
is at fault) with 400, 401, 403, 404 or 409, 413 for a body over 1 MiB, 429,
and 503 when the database or the catalogue cannot be read. The logic lives in
``feedsvc.sources.SourceAdmin``; this module only maps HTTP to it, and
``openapi.py`` describes exactly these routes (a test holds the two together).
"""

from __future__ import annotations

import codecs
import json

from flask import Blueprint, Flask, Response, jsonify, request, url_for
from pydantic import BaseModel
from pydantic_core import from_json
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from feedsvc.admin_models import (
    MAX_SHOWN,
    ArticlePageJson,
    ArticleQuery,
    ErrorJson,
    FetchListJson,
    FetchQuery,
    RefreshQueuedJson,
    SourceHealthJson,
    SourceJson,
    SourceListJson,
    query,
)
from feedsvc.cursor import decode_cursor, encode_cursor
from feedsvc.errors import ConfigError, Conflict, NotFound, StoreError, ValidationError
from feedsvc.model import ArticleJson
from feedsvc.web import admin_auth as auth
from feedsvc.web import admin_common as common
from feedsvc.web.hosts import link_base
from feedsvc.web.openapi import openapi_document

PREFIX = "/api/v1"

bp = Blueprint("admin_api", __name__, url_prefix=PREFIX)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.register_error_handler(HTTPException, _http_error)


def answer(body: BaseModel, status: int = 200) -> Response:
    return Response(body.model_dump_json(), status=status, mimetype="application/json")


def error(status: int, message: str, field: str | None = None) -> Response:
    response = answer(ErrorJson(error=message, field=field), status)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="feedsvc admin"'
    return response


def _http_error(exc: HTTPException) -> Response | HTTPException:
    """Unknown paths and methods under /api/ answer JSON too; elsewhere Flask's default."""
    if not request.path.startswith("/api/"):
        return exc
    if exc.code == 405:
        response = error(405, f"method {request.method} not allowed here")
        response.headers["Allow"] = ", ".join(exc.valid_methods or ())  # type: ignore[attr-defined]
        return response
    if exc.code == 404:
        return error(404, f"no such API route: {request.path}")
    return error(exc.code or 500, exc.description or exc.name)


@bp.before_request
def _authenticate() -> Response | None:
    """403 with admin off; 413 for a body too large (unread); 401 for no or a wrong token;
    429 while the client's address is locked out for guessing (before its token is looked at)."""
    token = common.settings().admin_token
    if not token:
        return error(403, "the admin API is disabled: set FEEDSVC_ADMIN_TOKEN to enable it")
    if common.body_too_large():
        return error(413, f"request body larger than {common.MAX_BODY} bytes")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return error(401, "missing bearer token: send Authorization: Bearer <token>")
    wait = auth.locked_out()
    if wait is None:
        if common.token_matches(given.strip(), token):
            auth.succeeded()
            return None
        wait = auth.failed("API bearer token")
        if wait is None:
            return error(401, "wrong bearer token")
    response = error(429, f"too many wrong tokens from your address: try again in {wait} s")
    response.headers["Retry-After"] = str(wait)
    return response


@bp.errorhandler(ValidationError)
def _invalid(exc: ValidationError) -> Response:
    return error(400, str(exc), exc.field)


@bp.errorhandler(NotFound)
def _not_found(exc: NotFound) -> Response:
    return error(404, str(exc))


@bp.errorhandler(Conflict)
def _conflict(exc: Conflict) -> Response:
    return error(409, str(exc), exc.field)


@bp.errorhandler(StoreError)
def _store_down(exc: StoreError) -> Response:
    return error(503, f"database unavailable: {exc}")


@bp.errorhandler(ConfigError)
def _catalog_broken(exc: ConfigError) -> Response:
    return error(503, f"the catalogue cannot be read: {exc}")


def _body() -> object:
    """The JSON body; anything else is a 400 naming what was expected.

    Parsed by pydantic's JSON reader, which refuses nesting deeper than a few
    hundred levels with an error instead of Python's RecursionError, and
    refuses NaN and Infinity; the size was checked before reading
    (``admin_common.MAX_BODY``).
    """
    if not request.is_json:
        raise ValidationError("expected a JSON object body (Content-Type: application/json)")
    data = request.get_data(cache=False)  # stops at MAX_CONTENT_LENGTH
    if request.content_length is None and len(data) >= common.MAX_BODY:  # chunked, cut short
        raise RequestEntityTooLarge(f"request body larger than {common.MAX_BODY} bytes")
    # RFC 8259 §8.1: a parser MAY ignore a byte order mark (some Windows tools send one);
    # refused, it read "expected value at line 1 column 1" for a body that looks right
    data = data.removeprefix(codecs.BOM_UTF8)
    try:
        body = from_json(data, allow_inf_nan=False)
    except ValueError as exc:
        raise ValidationError(f"expected a JSON object body: {exc}") from None
    _no_repeated_keys(data)
    return body


def _no_repeated_keys(data: bytes) -> None:
    """A key given twice is a 400: ``{"id": "a", "id": "b"}`` must not mean whichever came last.

    Read again with the standard library only to see the pairs (pydantic's reader keeps
    the last); the body is valid JSON within pydantic's nesting limit by now.
    """

    def pairs(items: list[tuple[str, object]]) -> dict[str, object]:
        seen: set[str] = set()
        for key, _ in items:
            if key in seen:
                shown = key[:MAX_SHOWN]
                raise ValidationError(f"expected a JSON object body: key {shown!r} is given twice")
            seen.add(key)
        return dict(items)

    try:
        json.loads(data, object_pairs_hook=pairs)
    except ValidationError:
        raise
    except (ValueError, RecursionError) as exc:  # e.g. an integer of over 4,300 digits
        raise ValidationError(f"expected a JSON object body: {exc}") from None


def _source(source_id: str) -> Response:
    return answer(SourceJson.of(common.service().view(source_id)))


# -- sources ---------------------------------------------------------------------


@bp.get("/sources")
def list_sources() -> Response:
    return answer(SourceListJson(sources=[SourceJson.of(v) for v in common.service().views()]))


@bp.post("/sources")
def create_source() -> Response:
    source = common.service().add(_body())
    response = _source(source.id)
    response.status_code = 201
    response.headers["Location"] = url_for(".get_source", source_id=source.id)
    return response


@bp.get("/sources/<source_id>")
def get_source(source_id: str) -> Response:
    return _source(source_id)


@bp.patch("/sources/<source_id>")
def update_source(source_id: str) -> Response:
    common.service().edit(source_id, _body())
    return _source(source_id)


@bp.delete("/sources/<source_id>")
def delete_source(source_id: str) -> Response:
    common.service().remove(source_id)
    return Response(status=204)


@bp.post("/sources/<source_id>/pause")
def pause_source(source_id: str) -> Response:
    common.service().set_paused(source_id, True)
    return _source(source_id)


@bp.post("/sources/<source_id>/resume")
def resume_source(source_id: str) -> Response:
    common.service().set_paused(source_id, False)
    return _source(source_id)


@bp.post("/sources/<source_id>/refresh")
def refresh_source(source_id: str) -> Response:
    """Queued, never run here: a slow source must not hold a web thread (202 and where to look)."""
    requested = common.service().request_refresh(source_id)
    health = url_for(".source_health", source_id=source_id)
    body = RefreshQueuedJson(
        source=source_id,
        requested_at=requested,
        health=health,
        message="queued: the scheduler fetches it at its next tick (about a second)",
    )
    response = answer(body, 202)
    response.headers["Location"] = health
    return response


@bp.get("/sources/<source_id>/health")
def source_health(source_id: str) -> Response:
    return answer(SourceHealthJson.of_view(common.service().view(source_id)))


@bp.get("/sources/<source_id>/fetches")
def source_fetches(source_id: str) -> Response:
    asked = query(FetchQuery, request.args)
    return answer(FetchListJson.of(common.service().fetches(source_id, asked.limit)))


# -- articles --------------------------------------------------------------------


@bp.get("/articles")
def list_articles() -> Response:
    asked = query(ArticleQuery, request.args)
    found, total = common.service().store.search_articles(
        desk=asked.desk,
        topic=asked.topic,
        source=asked.source,
        text=asked.q,
        limit=asked.limit + 1,  # one more: is there a next page
        offset=asked.offset,
        retracted=asked.retracted,
        before=decode_cursor(asked.before) if asked.before is not None else None,
    )
    shown = found[: asked.limit]
    last = shown[-1] if len(found) > asked.limit else None
    page = ArticlePageJson(
        articles=[ArticleJson.of(article, link_base(request.environ)) for article in shown],
        total=total or 0,
        limit=asked.limit,
        offset=asked.offset,
        next=encode_cursor((last.published, last.id)) if last is not None else None,
    )
    return answer(page)


def _optional_body() -> object:
    """The JSON body, or nothing at all (an empty object); anything else is a 400."""
    if not request.get_data():
        return {}
    return _body()


@bp.post("/articles/<article_id>/retract")
def retract_article(article_id: str) -> Response:
    article = common.lifecycle().retract(article_id, _optional_body())
    return answer(ArticleJson.model_validate(article))


@bp.post("/articles/<article_id>/restore")
def restore_article(article_id: str) -> Response:
    return answer(ArticleJson.model_validate(common.lifecycle().restore(article_id)))


# -- the document ----------------------------------------------------------------


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(openapi_document())
