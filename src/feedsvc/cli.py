"""The ``feedsvc`` command: reads the environment once, maps the error tree to exit codes.

Exit codes: 0 done; 1 something the operator must look at (a bad catalogue or
setting, a source that failed, a database that refused); 2 a usage error.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, NoReturn, TypeVar

import click

from feedsvc.catalog import load_catalog
from feedsvc.config import Settings, load_settings
from feedsvc.errors import ConfigError, FeedsvcError
from feedsvc.fetch import AddressPolicy, Fetcher
from feedsvc.ingest import refresh_many
from feedsvc.model import Catalog
from feedsvc.publish import Publisher
from feedsvc.store import Store

F = TypeVar("F", bound=Callable[..., Any])


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def fail(message: str, details: tuple[str, ...] = ()) -> NoReturn:
    click.echo(f"feedsvc: {message}", err=True)
    for line in details:
        click.echo(f"  {line}", err=True)
    sys.exit(1)


class Environment:
    """What one command needs, built on first use so ``--help`` needs no database."""

    @cached_property
    def settings(self) -> Settings:
        return load_settings()

    @cached_property
    def catalog(self) -> Catalog:
        return load_catalog(self.settings.feeds_dir)

    @cached_property
    def store(self) -> Store:
        store = Store.open(self.settings.database_url)
        store.upgrade()
        return store

    @cached_property
    def publisher(self) -> Publisher:
        return Publisher(
            self.store,
            self.catalog,
            base_url=self.settings.base_url,
            feed_size=self.settings.feed_size,
            publish_dir=self.settings.publish_dir,
        )

    @cached_property
    def fetcher(self) -> Fetcher:
        return Fetcher(AddressPolicy(allow_networks=self.settings.allow_networks))


pass_env = click.make_pass_decorator(Environment, ensure=True)


class FeedsvcGroup(click.Group):
    """Turns feedsvc's own errors into one clear message and exit 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            problems = exc.problems if exc.problems != (str(exc),) else ()
            fail(str(exc), problems)
        except FeedsvcError as exc:
            fail(str(exc))


@click.group(cls=FeedsvcGroup)
@click.option("-v", "--verbose", is_flag=True, help="Log every fetch.")
def main(verbose: bool) -> None:
    """feedsvc: ingest sources, publish RSS, Atom and JSON Feed."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    for noisy in ("apscheduler", "alembic"):  # a line per tick or per check is noise
        logging.getLogger(noisy).setLevel(logging.WARNING)


@main.command()
@pass_env
def check(env: Environment) -> None:
    """Validate the catalogue and settings; list every problem."""
    catalog = env.catalog
    click.echo(
        f"ok: {env.settings.feeds_dir}: {len(catalog.desks)} desks, "
        f"{len(catalog.topics)} topics, {len(catalog.sources)} sources"
    )


@main.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@pass_env
def db_upgrade(env: Environment) -> None:
    """Create or migrate the database schema."""
    env.store  # noqa: B018 - opening the store upgrades it
    click.echo("database schema is up to date")


@main.command()
@click.argument("source_ids", nargs=-1)
@pass_env
def ingest(env: Environment, source_ids: tuple[str, ...]) -> None:
    """Fetch, normalise and store now: every enabled source, or the ones named."""
    catalog = env.catalog
    unknown = [s for s in source_ids if s not in catalog.sources]
    if unknown:
        fail(f"unknown source: {', '.join(unknown)} (known: {', '.join(catalog.sources)})")
    chosen = (
        [catalog.sources[s] for s in source_ids]
        if source_ids
        else [s for s in catalog.sources.values() if s.enabled]
    )
    store = env.store
    store.sync_sources(catalog.sources.values(), utcnow())
    results = refresh_many(chosen, catalog, store, env.fetcher.fetch, utcnow)
    for result in results:
        click.echo(result.line())
    touched = frozenset().union(*(result.feeds for result in results))
    published = env.publisher.publish(touched if store.get_state("site") else None, utcnow())
    if published.changed:
        click.echo(f"published: {len(published.changed)} feed files changed")
    if not all(result.ok for result in results):
        sys.exit(1)


@main.command()
@pass_env
def publish(env: Environment) -> None:
    """Render every feed again (only changed bytes are stored or written)."""
    env.store.sync_sources(env.catalog.sources.values(), utcnow())
    result = env.publisher.publish(None, utcnow())
    click.echo(f"published: {len(result.changed)} changed, {result.unchanged} unchanged")


@main.command()
@click.option("--desk", help="Only this desk.")
@click.option("--topic", help="Only this topic.")
@click.option("--source", help="Only this source.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@pass_env
def articles(
    env: Environment,
    desk: str | None,
    topic: str | None,
    source: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """List stored articles, newest first."""
    found = env.store.list_articles(desk=desk, topic=topic, source=source, limit=limit)
    for article in found:
        if as_json:
            click.echo(json.dumps(article.to_json(), ensure_ascii=False))
        else:
            stamp = article.published.strftime("%Y-%m-%d %H:%M")
            topics = ",".join(article.topics) or "-"
            click.echo(f"{stamp}  {article.desk:<10} {topics:<24} {article.title}")


class Stop(Exception):
    """Raised in the main thread by SIGTERM/SIGINT so shutdown runs in ``finally``."""


def _raise_stop(signum: int, _frame: object) -> None:
    raise Stop(signal.Signals(signum).name)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--threads", type=click.IntRange(1, 64), default=8, show_default=True)
@pass_env
def serve(env: Environment, host: str, port: int, threads: int) -> None:
    """Web (waitress, a production WSGI server) and scheduler in one process."""
    from waitress import create_server

    from feedsvc.scheduler import Scheduler
    from feedsvc.web import create_app

    logging.getLogger().setLevel(logging.INFO)
    scheduler = Scheduler(env.settings, env.store)
    app = create_app({"SETTINGS": env.settings, "STORE": env.store})
    server = create_server(app, host=host, port=port, threads=threads)
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    scheduler.start()
    click.echo(f"feedsvc: serving on http://{host}:{server.effective_port}/ (Ctrl-C stops)")
    try:
        server.run()
    except Stop as stop:
        click.echo(f"feedsvc: {stop}: stopping after the running fetches")
    finally:
        server.close()
        scheduler.shutdown()
    click.echo("feedsvc: stopped")


@main.command("scheduler")
@pass_env
def scheduler_command(env: Environment) -> None:
    """The scheduler alone, beside a web tier run as ``gunicorn wsgi:app``."""
    from feedsvc.scheduler import Scheduler

    logging.getLogger().setLevel(logging.INFO)
    scheduler = Scheduler(env.settings, env.store)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    scheduler.start()
    click.echo(f"feedsvc: scheduler {scheduler.owner} running (Ctrl-C stops)")
    try:
        while not stopped.wait(3600):
            pass
    except Stop as stop:
        click.echo(f"feedsvc: {stop}: stopping after the running fetches")
    finally:
        scheduler.shutdown()
    click.echo("feedsvc: scheduler stopped")
