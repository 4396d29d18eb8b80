"""The OpenAPI 3.1 description of the admin API, built in Python next to the routes.

Kept as data in code (not a hand-edited JSON file) so the schemas share the
constants the server uses, and so ``tests/test_openapi.py`` can check both
ways: the document is valid OpenAPI, every route the app serves under
``/api/v1`` is described (and nothing else), and the responses of real
requests validate against the response schemas they claim.
"""

from __future__ import annotations

from typing import Any

from feedsvc.sources import CREATE_FIELDS, EDIT_FIELDS, MAX_TITLE, MAX_URL

JSON = "application/json"
TIME = {"type": ["string", "null"], "format": "date-time"}
ERRORS = {
    400: "The request is invalid; `field` names the part at fault.",
    401: "Missing or wrong bearer token.",
    403: "The admin API is disabled (no FEEDSVC_ADMIN_TOKEN configured).",
    404: "No such source.",
    409: "The change clashes with what exists (a taken id, a source managed by the file, "
    "a refresh already running).",
    503: "The database or the catalogue cannot be read.",
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(code): {"$ref": f"#/components/responses/E{code}"} for code in codes}


SOURCE_ID = {
    "name": "source_id",
    "in": "path",
    "required": True,
    "description": "A source id from the catalogue file or the API.",
    "schema": {"type": "string"},
}


def _operation(
    summary: str,
    op_id: str,
    responses: dict[str, Any],
    *,
    params: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
    errors: tuple[int, ...] = (),
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "operationId": op_id,
        "responses": {**responses, **_errors(401, 403, 503, *errors)},
    }
    if params:
        operation["parameters"] = params
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {JSON: {"schema": body}}}
    return operation


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


def _schemas() -> dict[str, Any]:
    source_fields: dict[str, Any] = {
        "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]*$", "maxLength": 100},
        "kind": {"type": "string", "enum": ["feed"], "default": "feed"},
        "url": {
            "type": "string",
            "format": "uri",
            "maxLength": MAX_URL,
            "description": "An absolute http or https URL.",
        },
        "desk": {"type": "string", "description": "A desk id of the catalogue."},
        "every": {
            "type": "string",
            "pattern": "^\\s*\\d+(\\.\\d+)?\\s*[smh]\\s*$",
            "default": "15m",
            "description": "Refresh interval: a number and s, m or h.",
        },
        "timezone": {
            "type": "string",
            "default": "UTC",
            "description": "For times written without a zone.",
        },
        "topics": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Topic ids every article of this source gets.",
        },
        "enabled": {"type": "boolean", "default": True},
        "title": {"type": ["string", "null"], "maxLength": MAX_TITLE},
    }
    assert set(source_fields) == set(CREATE_FIELDS)
    return {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {"type": "string", "description": "What went wrong, for a person."},
                "field": {"type": "string", "description": "The request field at fault."},
            },
        },
        "NewSource": {
            "type": "object",
            "required": ["id", "url", "desk"],
            "additionalProperties": False,
            "properties": source_fields,
        },
        "SourcePatch": {
            "type": "object",
            "additionalProperties": False,
            "minProperties": 0,
            "properties": {name: source_fields[name] for name in EDIT_FIELDS},
        },
        "Health": {
            "type": "object",
            "required": [
                "last_fetch_at",
                "last_success_at",
                "last_status",
                "consecutive_errors",
                "last_error",
                "next_fetch_at",
                "article_count",
            ],
            "properties": {
                "last_fetch_at": TIME,
                "last_success_at": TIME,
                "last_status": {
                    "type": ["integer", "null"],
                    "description": "HTTP status of the last fetch (304 included).",
                },
                "consecutive_errors": {"type": "integer", "minimum": 0},
                "last_error": {"type": ["string", "null"]},
                "next_fetch_at": TIME,
                "article_count": {"type": "integer", "minimum": 0},
            },
        },
        "SourceHealth": {
            "allOf": [
                _ref("Health"),
                {
                    "type": "object",
                    "required": ["id", "status"],
                    "properties": {"id": {"type": "string"}, "status": _ref("Status")},
                },
            ]
        },
        "Status": {"type": "string", "enum": ["ok", "error", "pending", "paused", "disabled"]},
        "Source": {
            "type": "object",
            "required": [
                "id",
                "origin",
                "managed_by",
                "editable",
                "kind",
                "url",
                "path",
                "title",
                "desk",
                "topics",
                "every",
                "every_seconds",
                "timezone",
                "enabled",
                "paused",
                "status",
                "problem",
                "health",
            ],
            "properties": {
                "id": {"type": "string"},
                "origin": {"type": "string", "enum": ["catalog", "api"]},
                "managed_by": {
                    "type": "string",
                    "enum": ["feeds/sources.toml", "api"],
                    "description": "Catalogue sources may be paused, resumed "
                    "and refreshed here, not edited or deleted.",
                },
                "editable": {"type": "boolean"},
                "kind": {"type": "string", "enum": ["feed", "files"]},
                "url": {"type": ["string", "null"]},
                "path": {"type": ["string", "null"]},
                "title": {"type": ["string", "null"]},
                "desk": {"type": "string"},
                "topics": {"type": "array", "items": {"type": "string"}},
                "every": {"type": "string"},
                "every_seconds": {"type": "number"},
                "timezone": {"type": "string"},
                "enabled": {"type": "boolean"},
                "paused": {"type": "boolean"},
                "status": _ref("Status"),
                "problem": {"type": ["string", "null"]},
                "health": _ref("Health"),
            },
        },
        "SourceList": {
            "type": "object",
            "required": ["sources"],
            "properties": {"sources": {"type": "array", "items": _ref("Source")}},
        },
        "Fetch": {
            "type": "object",
            "required": ["at", "outcome", "status", "new", "updated", "duration_ms", "error"],
            "properties": {
                "at": {"type": "string", "format": "date-time"},
                "outcome": {"type": "string", "enum": ["ok", "not_modified", "error"]},
                "status": {"type": ["integer", "null"]},
                "new": {"type": "integer"},
                "updated": {"type": "integer"},
                "duration_ms": {"type": "integer"},
                "error": {"type": ["string", "null"]},
            },
        },
        "FetchList": {
            "type": "object",
            "required": ["fetches"],
            "properties": {"fetches": {"type": "array", "items": _ref("Fetch")}},
        },
        "RefreshResult": {
            "type": "object",
            "required": [
                "source",
                "ok",
                "not_modified",
                "status",
                "new",
                "updated",
                "unchanged",
                "merged",
                "error",
                "problems",
                "summary",
            ],
            "properties": {
                "source": {"type": "string"},
                "ok": {"type": "boolean"},
                "not_modified": {"type": "boolean"},
                "status": {"type": ["integer", "null"]},
                "new": {"type": "integer"},
                "updated": {"type": "integer"},
                "unchanged": {"type": "integer"},
                "merged": {"type": "integer"},
                "error": {"type": ["string", "null"]},
                "problems": {"type": "array", "items": {"type": "string"}},
                "summary": {"type": "string", "description": "The line `feedsvc ingest` prints."},
            },
        },
        "Refresh": {
            "type": "object",
            "required": ["result", "source"],
            "properties": {"result": _ref("RefreshResult"), "source": _ref("Source")},
        },
        "Article": {
            "type": "object",
            "description": "The contract's article model, as `feedsvc articles --json` prints.",
            "required": [
                "id",
                "source",
                "guid",
                "url",
                "title",
                "summary",
                "content_html",
                "author",
                "desk",
                "topics",
                "published",
                "updated",
                "language",
            ],
            "additionalProperties": False,
            "properties": {
                "id": {"type": "string"},
                "source": {"type": "string"},
                "guid": {"type": "string"},
                "url": {"type": ["string", "null"]},
                "title": {"type": "string"},
                "summary": {"type": "string"},
                "content_html": {"type": "string"},
                "author": {"type": ["string", "null"]},
                "desk": {"type": "string"},
                "topics": {"type": "array", "items": {"type": "string"}},
                "published": {"type": "string", "format": "date-time"},
                "updated": {"type": "string", "format": "date-time"},
                "language": {"type": ["string", "null"]},
            },
        },
        "ArticlePage": {
            "type": "object",
            "required": ["articles", "total", "limit", "offset"],
            "properties": {
                "articles": {"type": "array", "items": _ref("Article")},
                "total": {"type": "integer", "minimum": 0},
                "limit": {"type": "integer"},
                "offset": {"type": "integer"},
            },
        },
    }


def openapi_document() -> dict[str, Any]:
    """The whole document; a new dict per call, so callers may change their copy."""
    source = _json(_ref("Source"), "The source with its health.")
    paging = [
        _query(
            "limit", "Page size.", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}
        ),
        _query("offset", "Items to skip.", {"type": "integer", "minimum": 0, "default": 0}),
    ]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "feedsvc admin API",
            "version": "1",
            "description": "Manage sources, read their health, refresh now, search articles. "
            "Sources from feeds/sources.toml are managed by that file: they can be paused, "
            "resumed and refreshed here, not edited or deleted.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/sources": {
                "get": _operation(
                    "List every source with its health",
                    "listSources",
                    {"200": _json(_ref("SourceList"), "Catalogue sources, then API sources.")},
                ),
                "post": _operation(
                    "Add a feed source",
                    "createSource",
                    {"201": {**source, "headers": {"Location": {"schema": {"type": "string"}}}}},
                    body=_ref("NewSource"),
                    errors=(400, 409),
                ),
            },
            "/api/v1/sources/{source_id}": {
                "parameters": [SOURCE_ID],
                "get": _operation("Read one source", "getSource", {"200": source}, errors=(404,)),
                "patch": _operation(
                    "Change an API source (only the fields given)",
                    "updateSource",
                    {"200": source},
                    body=_ref("SourcePatch"),
                    errors=(400, 404, 409),
                ),
                "delete": _operation(
                    "Remove an API source (its articles stay)",
                    "deleteSource",
                    {"204": {"description": "Removed."}},
                    errors=(404, 409),
                ),
            },
            "/api/v1/sources/{source_id}/pause": {
                "parameters": [SOURCE_ID],
                "post": _operation("Pause a source", "pauseSource", {"200": source}, errors=(404,)),
            },
            "/api/v1/sources/{source_id}/resume": {
                "parameters": [SOURCE_ID],
                "post": _operation(
                    "Resume a paused source (due at once)",
                    "resumeSource",
                    {"200": source},
                    errors=(404,),
                ),
            },
            "/api/v1/sources/{source_id}/refresh": {
                "parameters": [SOURCE_ID],
                "post": _operation(
                    "Fetch the source now and publish what changed",
                    "refreshSource",
                    {"200": _json(_ref("Refresh"), "The refresh's result and the source.")},
                    errors=(404, 409),
                ),
            },
            "/api/v1/sources/{source_id}/health": {
                "parameters": [SOURCE_ID],
                "get": _operation(
                    "Read a source's health",
                    "getSourceHealth",
                    {"200": _json(_ref("SourceHealth"), "Last fetch, errors, next fetch.")},
                    errors=(404,),
                ),
            },
            "/api/v1/sources/{source_id}/fetches": {
                "parameters": [SOURCE_ID],
                "get": _operation(
                    "A source's recent fetches, newest first",
                    "listSourceFetches",
                    {"200": _json(_ref("FetchList"), "The fetch log.")},
                    params=[paging[0]],
                    errors=(400, 404),
                ),
            },
            "/api/v1/articles": {
                "get": _operation(
                    "Search stored articles, newest first",
                    "listArticles",
                    {"200": _json(_ref("ArticlePage"), "One page and the total.")},
                    params=[
                        _query("desk", "Only this desk.", {"type": "string"}),
                        _query("topic", "Only this topic.", {"type": "string"}),
                        _query("source", "Only this source.", {"type": "string"}),
                        _query(
                            "q",
                            "Text in the title or summary, case-insensitive.",
                            {"type": "string", "maxLength": 200},
                        ),
                        *paging,
                    ],
                    errors=(400,),
                ),
            },
            "/api/v1/openapi.json": {
                "get": _operation(
                    "This document",
                    "getOpenApi",
                    {"200": _json({"type": "object"}, "The OpenAPI document.")},
                ),
            },
        },
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The value of FEEDSVC_ADMIN_TOKEN.",
                }
            },
            "schemas": _schemas(),
            "responses": {f"E{code}": _json(_ref("Error"), text) for code, text in ERRORS.items()},
        },
    }
