"""No admin route answers 500, whatever is sent: schemathesis fuzzes the API from its
own OpenAPI document, and hypothesis every form of the admin pages, against the
real app with the admin token set.

Valid and invalid requests alike (positive and negative generation: wrong types,
out-of-range numbers, odd strings in paths, queries and bodies), a bounded
number per operation so the whole run stays well under a minute. Routes added
later (article retract and restore) are in the document, so they are fuzzed too.
SQLite is enough here: what is checked is the web tier's handling of input.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.generation import GenerationMode

from admin_support import AUTH, log_in
from conftest import ADMIN_TOKEN
from feedsvc.catalog import load_catalog
from feedsvc.config import Settings
from feedsvc.fetch import Fetcher
from feedsvc.publish import Publisher
from feedsvc.refresh import Refresher
from feedsvc.store import Store
from feedsvc.web import create_app
from feedsvc.web.openapi import openapi_document

EXAMPLES = 40  # per operation


@pytest.fixture
def fuzzed_app(feeds_dir: Path, tmp_path: Path, now: datetime) -> Iterator[Flask]:
    url = f"sqlite:///{tmp_path / 'fuzz.sqlite3'}"
    store = Store.open(url)
    store.upgrade()
    catalog = load_catalog(feeds_dir)
    store.sync_sources(catalog.sources.values(), now)
    refresher = Refresher(store, Fetcher().fetch, owner="test", clock=lambda: now)
    list(refresher.refresh_all([s for s in catalog.sources.values() if s.enabled], catalog))
    Publisher(store, catalog, base_url=None, feed_size=50).publish(None, now)
    settings = Settings(
        feeds_dir=feeds_dir, database_url=url, allowed_hosts=("localhost",), admin_token=ADMIN_TOKEN
    )
    yield create_app({"TESTING": True, "SETTINGS": settings, "STORE": store})
    store.close()


@pytest.fixture
def api_schema(fuzzed_app: Flask) -> Any:
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", fuzzed_app, headers=AUTH)


OPERATIONS = [
    (method.upper(), path)
    for path, item in openapi_document()["paths"].items()
    for method in item
    if method != "parameters"
]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_no_admin_route_answers_500(
    api_schema: Any, method: str, path: str, mode: GenerationMode
) -> None:
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        derandomize=True,
    )
    def one(case: Any) -> None:
        response = case.call(headers=AUTH)
        assert response.status_code < 500, (
            f"{case.method} {case.formatted_path} {case.query} {case.body!r}: "
            f"{response.status_code} {response.text[:300]}"
        )
        if response.status_code >= 400:  # every refusal says why, as JSON
            assert response.json()["error"], response.text

    one()


# -- the admin pages: every form route, with whatever a browser (or not) sends -----------

PAGE_POSTS = [
    "/admin/login",
    "/admin/sources/new",
    "/admin/sources/{id}/edit",
    "/admin/sources/{id}/pause",
    "/admin/sources/{id}/resume",
    "/admin/sources/{id}/refresh",
    "/admin/sources/{id}/delete",
    "/admin/logout",
]
FIELDS = ["csrf_token", "token", "next", "id", "url", "title", "desk", "every", "timezone",
          "topics", "enabled"]  # fmt: skip
text = st.text(st.characters(codec="utf-8"), max_size=60)


@pytest.mark.parametrize("route", PAGE_POSTS)
def test_no_admin_page_answers_500(fuzzed_app: Flask, route: str) -> None:
    client = fuzzed_app.test_client()
    session = {"csrf": log_in(client)}

    @given(
        source_id=st.sampled_from(["nym-wire", "nope", "a\nb", "%00", "x" * 200]) | text,
        form=st.dictionaries(st.sampled_from(FIELDS), text, max_size=6),
        real_token=st.booleans(),
    )
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    def one(source_id: str, form: dict[str, str], real_token: bool) -> None:
        if real_token:
            form = {**form, "csrf_token": session["csrf"]}
        path = route.replace("{id}", quote(source_id, safe=""))
        response = client.post(path, data=form)
        assert response.status_code < 500, (path, form, response.status_code)
        if client.get("/admin/").status_code != 200:  # logged out: log in for the next one
            session["csrf"] = log_in(client)

    one()
    for target in ("/admin/\n", "/admin/\x00", "//evil", "/admin/" + "é" * 10):
        assert client.get("/admin/login", query_string={"next": target}).status_code < 500
