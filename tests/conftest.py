"""Shared fixtures: a real database per test (SQLite file, and PostgreSQL when
``FEEDSVC_TEST_POSTGRES_URL`` is set), a copy of the shipped catalogue, a clock."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

from feedsvc.catalog import load_catalog
from feedsvc.config import Settings
from feedsvc.fetch import Fetcher
from feedsvc.publish import Publisher
from feedsvc.refresh import Refresher
from feedsvc.store import Store
from feedsvc.web import create_app

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_FEEDS = ROOT / "feeds"
POSTGRES_URL = os.environ.get("FEEDSVC_TEST_POSTGRES_URL", "").strip()
NOW = datetime(2025, 7, 1, 12, 0, tzinfo=UTC)


def postgres_schema_url(base_url: str, schema: str) -> str:
    """A URL whose connections use their own schema, so tests never see each other's rows."""
    separator = "&" if "?" in base_url else "?"
    return f"{base_url}{separator}options=-csearch_path%3D{schema}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL schema for one test, dropped afterwards."""
    if not POSTGRES_URL:
        pytest.skip("FEEDSVC_TEST_POSTGRES_URL is not set")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield postgres_schema_url(POSTGRES_URL, schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every store test runs on a real SQLite file and on the real PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'feedsvc.sqlite3'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    store = Store.open(db_url)
    store.upgrade()
    yield store
    store.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    store = Store.open(f"sqlite:///{tmp_path / 'feedsvc.sqlite3'}")
    store.upgrade()
    yield store
    store.close()


@pytest.fixture
def feeds_dir(tmp_path: Path) -> Path:
    """A private copy of the shipped sample catalogue, safe to edit."""
    target = tmp_path / "feeds"
    shutil.copytree(SAMPLE_FEEDS, target)
    return target


@pytest.fixture
def now() -> datetime:
    return NOW


@pytest.fixture
def settings(feeds_dir: Path, db_url: str) -> Settings:
    # the Flask test client sends ``Host: localhost``: a host the operator named
    return Settings(feeds_dir=feeds_dir, database_url=db_url, allowed_hosts=("localhost",))


@pytest.fixture
def published(store: Store, settings: Settings, now: datetime) -> Store:
    """The sample catalogue ingested and published: what a fresh `make run` shows."""
    catalog = load_catalog(settings.feeds_dir)
    store.sync_sources(catalog.sources.values(), now)
    fetcher = Fetcher()
    enabled = [s for s in catalog.sources.values() if s.enabled]
    refresher = Refresher(store, fetcher.fetch, owner="test", clock=lambda: now)
    list(refresher.refresh_all(enabled, catalog))
    Publisher(store, catalog, base_url=None, feed_size=settings.feed_size).publish(None, now)
    return store


@pytest.fixture
def app(settings: Settings, published: Store) -> Flask:
    return create_app({"TESTING": True, "SETTINGS": settings, "STORE": published})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(feeds_dir: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """The `feedsvc` command with the environment a operator would set."""
    monkeypatch.setenv("FEEDSVC_FEEDS_DIR", str(feeds_dir))
    monkeypatch.setenv("FEEDSVC_DATABASE_URL", db_url)
    for name in (
        "FEEDSVC_BASE_URL",
        "FEEDSVC_PUBLISH_DIR",
        "FEEDSVC_ALLOW_NETWORKS",
        "FEEDSVC_FEED_SIZE",
        "FEEDSVC_ARCHIVE_SIZE",
        "FEEDSVC_ADMIN_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


# -- admin (tests/test_admin_*.py, test_openapi.py, test_metrics.py) ---------------

ADMIN_TOKEN = "test-admin-token"


@pytest.fixture
def admin_settings(settings: Settings) -> Settings:
    """The admin token set, and fetches allowed to reach loopback test servers."""
    return dataclasses.replace(
        settings, admin_token=ADMIN_TOKEN, allow_networks=(ipaddress.ip_network("127.0.0.0/8"),)
    )


@pytest.fixture
def admin_app(admin_settings: Settings, published: Store) -> Flask:
    return create_app({"TESTING": True, "SETTINGS": admin_settings, "STORE": published})


@pytest.fixture
def admin_client(admin_app: Flask) -> FlaskClient:
    return admin_app.test_client()
