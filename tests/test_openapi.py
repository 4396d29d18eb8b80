"""The OpenAPI document: valid OpenAPI 3.1, describes every admin route, and tells the truth.

"Tells the truth" is checked against a run of real requests through the app
(every operation, every documented error code): each response's status must
be documented for its operation and its body must validate against the
schema the document gives for that status.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from admin_support import AUTH, rss
from feedsvc.web.openapi import openapi_document
from servers import LoopbackServer, Reply

BASE = "urn:feedsvc-openapi"
IGNORED_METHODS = {"HEAD", "OPTIONS"}


@pytest.fixture
def feed_server() -> Iterator[LoopbackServer]:
    with LoopbackServer({"/feed.rss": Reply(body=rss("a", "b"), etag='"e1"')}) as server:
        yield server


def test_document_is_valid_openapi() -> None:
    validate(openapi_document())


def test_served_document_is_the_same(admin_client: FlaskClient) -> None:
    response = admin_client.get("/api/v1/openapi.json", headers=AUTH)
    assert response.status_code == 200
    assert response.json == openapi_document()


def test_every_route_is_described_and_nothing_else(admin_app: Flask) -> None:
    served: set[tuple[str, str]] = set()
    for rule in admin_app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        served |= {(path, m.lower()) for m in (rule.methods or ()) if m not in IGNORED_METHODS}
    described = {
        (path, method)
        for path, item in openapi_document()["paths"].items()
        for method in item
        if method != "parameters"
    }
    assert served == described


def _operation(document: dict[str, Any], method: str, path: str) -> tuple[str, dict[str, Any]]:
    for template, item in document["paths"].items():
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path) and method.lower() in item:
            return template, item[method.lower()]
    raise AssertionError(f"{method} {path} is not in the document")


def _pointer(*parts: str) -> str:
    return "/" + "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)


def check_response(document: dict[str, Any], method: str, path: str, response: Any) -> None:
    """The status is documented for the operation and the body fits its schema."""
    template, operation = _operation(document, method, path.split("?")[0])
    status = str(response.status_code)
    assert status in operation["responses"], f"{method} {path}: {status} is not documented"
    declared = operation["responses"][status]
    if "$ref" in declared:
        name = declared["$ref"].rsplit("/", 1)[1]
        declared = document["components"]["responses"][name]
        pointer = _pointer("components", "responses", name, "content", "application/json", "schema")
    else:
        pointer = _pointer(
            "paths",
            template,
            method.lower(),
            "responses",
            status,
            "content",
            "application/json",
            "schema",
        )
    if "content" not in declared:
        assert response.data == b"", f"{method} {path}: {status} has no documented body"
        return
    assert response.mimetype == "application/json"
    registry = Registry().with_resource(BASE, Resource(document, DRAFT202012))
    validator = Draft202012Validator({"$ref": f"{BASE}#{pointer}"}, registry=registry)
    errors = sorted(validator.iter_errors(response.json), key=lambda e: list(e.path))
    assert not errors, f"{method} {path} {status}: " + "; ".join(
        f"{list(e.path)}: {e.message}" for e in errors
    )


def test_real_responses_match_the_document(
    admin_client: FlaskClient, client: FlaskClient, feed_server: LoopbackServer
) -> None:
    document = openapi_document()
    new = {"id": "loop", "url": feed_server.url("/feed.rss"), "desk": "nym", "topics": ["trade"]}
    story = admin_client.application.extensions["feedsvc.store"].list_articles(limit=1)[0].id
    run: list[tuple[str, str, dict[str, Any] | None, int]] = [
        ("GET", "/api/v1/sources", None, 200),
        ("POST", "/api/v1/sources", new, 201),
        ("POST", "/api/v1/sources", new, 409),
        ("POST", "/api/v1/sources", {**new, "id": "other", "desk": "sports"}, 400),
        ("GET", "/api/v1/sources/loop", None, 200),
        ("GET", "/api/v1/sources/nym-wire", None, 200),
        ("GET", "/api/v1/sources/nope", None, 404),
        ("PATCH", "/api/v1/sources/loop", {"title": "Loop"}, 200),
        ("PATCH", "/api/v1/sources/loop", {"every": "never"}, 400),
        ("PATCH", "/api/v1/sources/nym-wire", {"title": "x"}, 409),
        ("PATCH", "/api/v1/sources/nope", {"title": "x"}, 404),
        ("POST", "/api/v1/sources/loop/refresh", None, 202),
        ("POST", "/api/v1/sources/loop/refresh", None, 202),
        ("POST", "/api/v1/sources/nope/refresh", None, 404),
        ("GET", "/api/v1/sources/loop/health", None, 200),
        ("GET", "/api/v1/sources/nope/health", None, 404),
        ("GET", "/api/v1/sources/loop/fetches", None, 200),
        ("GET", "/api/v1/sources/loop/fetches?limit=-1", None, 400),
        ("GET", "/api/v1/sources/nope/fetches", None, 404),
        ("POST", "/api/v1/sources/nym-wire/pause", None, 200),
        ("POST", "/api/v1/sources/nope/pause", None, 404),
        ("POST", "/api/v1/sources/nym-wire/resume", None, 200),
        ("POST", "/api/v1/sources/nope/resume", None, 404),
        ("GET", "/api/v1/articles", None, 200),
        ("GET", "/api/v1/articles?desk=nym&q=story&limit=2&offset=1", None, 200),
        ("GET", "/api/v1/articles?limit=0", None, 400),
        ("POST", f"/api/v1/articles/{story}/retract", {"reason": "Wrong figures"}, 200),
        ("POST", f"/api/v1/articles/{story}/retract", {"reason": 5}, 400),
        ("POST", "/api/v1/articles/nope/retract", None, 404),
        ("GET", "/api/v1/articles?retracted=true", None, 200),
        ("POST", f"/api/v1/articles/{story}/restore", None, 200),
        ("POST", "/api/v1/articles/nope/restore", None, 404),
        ("GET", "/api/v1/openapi.json", None, 200),
        ("DELETE", "/api/v1/sources/nym-wire", None, 409),
        ("DELETE", "/api/v1/sources/loop", None, 204),
        ("DELETE", "/api/v1/sources/loop", None, 404),
    ]
    seen: set[tuple[str, str, int]] = set()
    for method, path, body, expected in run:
        response = admin_client.open(path, method=method, json=body, headers=AUTH)
        assert response.status_code == expected, (method, path, response.json)
        check_response(document, method, path, response)
        seen.add((method, _operation(document, method, path.split("?")[0])[0], expected))
    for method, path, _, _ in run:  # 401 and 403 on every operation
        for other, headers, status in ((admin_client, {}, 401), (client, AUTH, 403)):
            response = other.open(path, method=method, json={}, headers=headers)
            assert response.status_code == status
            check_response(document, method, path, response)
    big = admin_client.post(
        "/api/v1/sources", data=b"{" + b" " * (1024 * 1024) + b"}", headers=AUTH,
        content_type="application/json",
    )  # fmt: skip
    assert big.status_code == 413
    check_response(document, "POST", "/api/v1/sources", big)
    wrong = {"Authorization": "Bearer not-the-admin-token"}
    statuses = [admin_client.get("/api/v1/sources", headers=wrong).status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]
    locked = admin_client.get("/api/v1/sources", headers=wrong)
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) >= 1
    check_response(document, "GET", "/api/v1/sources", locked)
    operations = {
        (m.upper(), p) for p, item in document["paths"].items() for m in item if m != "parameters"
    }
    assert {(m, p) for m, p, _ in seen} == operations  # the run touched every operation
