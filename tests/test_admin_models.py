"""The admin shapes: one check behind the API, the pages and the command line, and the
document's schemas refusing what the server refuses."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from markupsafe import escape

from admin_support import AUTH, log_in
from conftest import SAMPLE_FEEDS
from feedsvc.admin_models import NewSource, checked
from feedsvc.catalog import load_catalog
from feedsvc.cli import main
from feedsvc.errors import ValidationError
from feedsvc.sources import validate_new
from feedsvc.web.openapi import openapi_document

CATALOG = load_catalog(SAMPLE_FEEDS)
GOOD = {"id": "door", "url": "https://n.example/rss", "desk": "nym"}

# (field, bad value): each refused the same way through every door (the form strips
# what it is given, so the newline is inside the id here)
BAD = [
    ("id", "a\nb"),
    ("id", "Door"),
    ("url", "ftp://n.example/rss"),
    ("desk", "sports"),
    ("every", "soon"),
    ("timezone", "Mars/Olympus"),
]


def _cli_args(payload: dict[str, str]) -> list[str]:
    args = ["sources", "add", payload["id"], "--url", payload["url"], "--desk", payload["desk"]]
    for name in ("every", "timezone"):
        if name in payload:
            args += [f"--{name}", payload[name]]
    return args


@pytest.mark.parametrize(("field", "value"), BAD)
def test_one_check_behind_the_api_the_pages_and_the_command_line(
    admin_client: FlaskClient, runner: CliRunner, field: str, value: str
) -> None:
    payload = {**GOOD, field: value}
    api = admin_client.post("/api/v1/sources", json=payload, headers=AUTH)
    assert api.status_code == 400 and api.json["field"] == field
    message = api.json["error"]

    token = log_in(admin_client)
    form = {"csrf_token": token, "every": "15m", "timezone": "UTC", **payload}
    page = admin_client.post("/admin/sources/new", data=form)
    assert page.status_code == 400
    assert str(escape(message)) in page.get_data(as_text=True)

    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    result = runner.invoke(main, _cli_args(payload))
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output

    listed = admin_client.get("/api/v1/sources", headers=AUTH).json["sources"]
    assert all(s["origin"] == "catalog" for s in listed)  # no door let it in


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
FIELDS = st.sampled_from([*NewSource.model_fields, "colour", "a\nb"])


@settings(max_examples=300, deadline=None)
@given(
    changes=st.dictionaries(FIELDS, JSON_VALUES | st.sampled_from(["nym", "trade", "5m", ""])),
    dropped=st.sets(st.sampled_from(list(GOOD))),
)
def test_any_payload_is_a_source_or_one_named_refusal(
    changes: dict[str, Any], dropped: set[str]
) -> None:
    payload = {k: v for k, v in {**GOOD, **changes}.items() if k not in dropped}
    try:
        source = validate_new(payload, CATALOG)
    except ValidationError as exc:
        message = str(exc)
        assert message and len(message) < 1000
        assert "\n" not in message and "\r" not in message, message
        assert exc.field in {*payload, *NewSource.model_fields, None}, (exc.field, payload)
        return
    assert source.origin == "api" and source.kind == "feed"
    assert source.desk in CATALOG.desks and set(source.topics) <= set(CATALOG.topics)


def _schema_accepts(name: str, instance: object) -> bool:
    document = openapi_document()
    schema = {**document["components"]["schemas"][name], "$defs": {}}
    return Draft202012Validator(schema).is_valid(instance)


@pytest.mark.parametrize(
    "source_id", ["a", "a-1", "9x", "a\n", "Door", "-a", "a_b", "", "x" * 100, "x" * 101]
)
def test_the_documented_id_is_the_checked_id(source_id: str) -> None:
    """The document's pattern (ECMA, anchored) and the server agree, newline included."""
    payload = {**GOOD, "id": source_id}
    try:
        checked(NewSource, payload)
        served = True
    except ValidationError:
        served = False
    assert _schema_accepts("NewSource", payload) == served
    assert served == (source_id in {"a", "a-1", "9x", "x" * 100})


def test_error_bodies_name_the_field_only_when_there_is_one(admin_client: FlaskClient) -> None:
    no_field = admin_client.post(
        "/api/v1/sources", data=b"[]", headers={**AUTH, "Content-Type": "application/json"}
    )
    with_field = admin_client.post("/api/v1/sources", json={**GOOD, "x": 1}, headers=AUTH)
    assert json.loads(no_field.data) == {"error": "expected a JSON object"}
    assert set(json.loads(with_field.data)) == {"error", "field"}
