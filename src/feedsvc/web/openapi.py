"""The OpenAPI 3.1 description of the admin API: the routes here, the shapes from the models.

The operations (paths, methods, status codes) are written next to each other
here; every schema they name, and the query parameters, are generated from the
pydantic models the server validates and answers with
(``feedsvc.admin_models``), so the document cannot describe a shape the server
does not use. ``tests/test_openapi.py`` checks both ways: the document is valid
OpenAPI, every route the app serves under ``/api/v1`` is described (and nothing
else), and the responses of real requests validate against the schemas they
claim.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode, models_json_schema
from pydantic_core import core_schema

from feedsvc.admin_models import (
    ArticlePageJson,
    ArticleQuery,
    ErrorJson,
    FetchListJson,
    FetchQuery,
    NewSource,
    RefreshQueuedJson,
    RetractRequest,
    SourceHealthJson,
    SourceJson,
    SourceListJson,
    SourcePatch,
)
from feedsvc.model import ArticleJson

JSON = "application/json"
REQUESTS: tuple[type[BaseModel], ...] = (NewSource, SourcePatch, RetractRequest)
RESPONSES: tuple[type[BaseModel], ...] = (
    ErrorJson,
    ArticleJson,
    SourceJson,
    SourceListJson,
    SourceHealthJson,
    FetchListJson,
    RefreshQueuedJson,
    ArticlePageJson,
)
ERRORS = {
    400: "The request is invalid; `field` names the part at fault.",
    401: "Missing or wrong bearer token.",
    403: "The admin API is disabled (no FEEDSVC_ADMIN_TOKEN configured).",
    404: "No such source or article.",
    409: "The change clashes with what exists (a taken id, a source managed by the file, "
    "a source whose desk or topic left the catalogue).",
    413: "The request body is larger than 1 MiB.",
    429: "Too many wrong tokens from this address: wait the seconds of Retry-After.",
    503: "The database or the catalogue cannot be read.",
}


def component(model: type[BaseModel]) -> str:
    """A model's name in the document: ``SourceJson`` is the schema ``Source``."""
    return model.__name__.removesuffix("Json")


class _Schemas(GenerateJsonSchema):
    """Pydantic's JSON Schema, trimmed for the document.

    Components are named by ``component``; properties carry their descriptions
    but no generated titles; a default of null is not shown (absent already
    means null, and in a PATCH it means "unchanged").
    """

    def normalize_name(self, name: str) -> str:
        return super().normalize_name(name).removesuffix("Json")

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> dict[str, Any]:
        if self.get_default_value(schema) is None:
            return self.generate_inner(schema["schema"])
        return super().default_schema(schema)


def _schemas() -> dict[str, Any]:
    modes: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        *((model, "validation") for model in REQUESTS),
        *((model, "serialization") for model in RESPONSES),
    ]
    _, found = models_json_schema(
        modes, ref_template="#/components/schemas/{model}", schema_generator=_Schemas
    )
    schemas: dict[str, Any] = found["$defs"]
    for schema in schemas.values():
        schema.pop("title", None)
    return schemas


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{component(model)}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(code): {"$ref": f"#/components/responses/E{code}"} for code in codes}


def _query(model: type[BaseModel]) -> list[dict[str, Any]]:
    """A query model's fields as OpenAPI query parameters."""
    schema = model.model_json_schema(schema_generator=_Schemas)
    required = set(schema.get("required", ()))
    parameters = []
    for name, field in schema["properties"].items():
        description = field.pop("description", "")
        parameters.append(
            {
                "name": name,
                "in": "query",
                "required": name in required,
                "description": description[:1].upper() + description[1:] + ".",
                "schema": field,
            }
        )
    return parameters


def _path_parameter(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string"},
    }


SOURCE_ID = _path_parameter("source_id", "A source id from the catalogue file or the API.")
ARTICLE_ID = _path_parameter("article_id", "A story's id, or the id of any of its copies.")


def _operation(
    summary: str,
    op_id: str,
    responses: dict[str, Any],
    *,
    params: list[dict[str, Any]] | None = None,
    body: type[BaseModel] | None = None,
    body_required: bool = True,
    errors: tuple[int, ...] = (),
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "operationId": op_id,
        "responses": {**responses, **_errors(401, 403, 413, 429, 503, *errors)},
    }
    if params:
        operation["parameters"] = params
    if body is not None:
        operation["requestBody"] = {
            "required": body_required,
            "content": {JSON: {"schema": _ref(body)}},
        }
    return operation


def openapi_document() -> dict[str, Any]:
    """The whole document; a new dict per call, so callers may change their copy."""
    source = _json(_ref(SourceJson), "The source with its health.")
    article = _json(_ref(ArticleJson), "The story as the article JSON, `retracted` set or not.")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "feedsvc admin API",
            "version": "1",
            "description": "Manage sources, read their health, refresh now, search, retract and "
            "restore articles. "
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
                    {"200": _json(_ref(SourceListJson), "Catalogue sources, then API sources.")},
                ),
                "post": _operation(
                    "Add a feed source",
                    "createSource",
                    {"201": {**source, "headers": {"Location": {"schema": {"type": "string"}}}}},
                    body=NewSource,
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
                    body=SourcePatch,
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
                    "Queue a fetch for the scheduler's next tick (paused sources too, once)",
                    "refreshSource",
                    {
                        "202": {
                            **_json(_ref(RefreshQueuedJson), "Queued; look at the health URL."),
                            "headers": {"Location": {"schema": {"type": "string"}}},
                        }
                    },
                    errors=(404, 409),
                ),
            },
            "/api/v1/sources/{source_id}/health": {
                "parameters": [SOURCE_ID],
                "get": _operation(
                    "Read a source's health",
                    "getSourceHealth",
                    {"200": _json(_ref(SourceHealthJson), "Last fetch, errors, next fetch.")},
                    errors=(404,),
                ),
            },
            "/api/v1/sources/{source_id}/fetches": {
                "parameters": [SOURCE_ID],
                "get": _operation(
                    "A source's recent fetches, newest first",
                    "listSourceFetches",
                    {"200": _json(_ref(FetchListJson), "The fetch log.")},
                    params=_query(FetchQuery),
                    errors=(400, 404),
                ),
            },
            "/api/v1/articles": {
                "get": _operation(
                    "Search stored articles, newest first",
                    "listArticles",
                    {"200": _json(_ref(ArticlePageJson), "One page and the total.")},
                    params=_query(ArticleQuery),
                    errors=(400,),
                ),
            },
            "/api/v1/articles/{article_id}/retract": {
                "parameters": [ARTICLE_ID],
                "post": _operation(
                    "Retract a story: out of every feed and page (Atom tombstone, 410) "
                    "until restored",
                    "retractArticle",
                    {"200": article},
                    body=RetractRequest,
                    body_required=False,
                    errors=(400, 404),
                ),
            },
            "/api/v1/articles/{article_id}/restore": {
                "parameters": [ARTICLE_ID],
                "post": _operation(
                    "Restore a story an operator retracted",
                    "restoreArticle",
                    {"200": article},
                    errors=(404, 409),
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
            "responses": {
                f"E{code}": _json(_ref(ErrorJson), text) for code, text in ERRORS.items()
            },
        },
    }
