"""The ``feedsvc`` command: reads the environment once, maps the error tree to exit codes.

Exit codes: 0 done; 1 something the operator must look at (a bad catalogue or
setting, a source that failed, a database that refused); 2 a usage error.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from sqlalchemy.exc import SQLAlchemyError

from feedsvc.catalog import format_interval, load_catalog
from feedsvc.config import MAX_WORKERS, Settings, default_base, listen_host, load_settings
from feedsvc.errors import ConfigError, Conflict, FeedsvcError, ValidationError
from feedsvc.fetch import AddressPolicy, Fetcher
from feedsvc.lifecycle import Lifecycle
from feedsvc.model import Catalog
from feedsvc.opml import read_opml, write_opml
from feedsvc.publish import Publisher, publisher_for
from feedsvc.refresh import Refresher, lease_owner, utcnow
from feedsvc.sources import SourceAdmin, SourceView, with_api_sources
from feedsvc.store import StateKey, Store

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger(__name__)


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

    def merged_catalog(self) -> Catalog:
        """The catalogue with the sources added through the API (or ``sources add``)."""
        return with_api_sources(self.catalog, self.store.api_sources())

    @cached_property
    def publisher(self) -> Publisher:
        return self.publisher_for(self.merged_catalog())

    def publisher_for(self, catalog: Catalog) -> Publisher:
        return publisher_for(self.store, catalog, self.settings)

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
        except SQLAlchemyError as exc:  # e.g. the database server is not answering
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            fail(f"database error: {reason}")


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
    """Fetch, normalise and store now: every enabled source, or the ones named.

    Sources paused by an operator are left out unless named. A source another
    process is fetching right now (a running scheduler) is reported busy and
    left to it; that is not a failure.
    """
    catalog = env.merged_catalog()
    unknown = [s for s in source_ids if s not in catalog.sources]
    if unknown:
        fail(f"unknown source: {', '.join(unknown)} (known: {', '.join(catalog.sources)})")
    paused = {health.id for health in env.store.list_health() if health.paused}
    chosen = (
        [catalog.sources[s] for s in source_ids]
        if source_ids
        else [s for s in catalog.sources.values() if s.enabled and s.id not in paused]
    )
    store = env.store
    touched = store.sync_sources(catalog.sources.values(), utcnow())  # removed ones withdrawn
    refresher = Refresher(
        store, env.fetcher.fetch, owner=lease_owner("cli"), keep=env.settings.keep
    )
    failed = False
    for result in refresher.refresh_all(chosen, catalog):
        click.echo(result.line())
        touched |= result.touched
        failed = failed or result.failed
    published = env.publisher.publish(touched if store.get_state(StateKey.SITE) else None, utcnow())
    if published.changed:
        # stdout stays one line per source (scripts read it); this goes to the log
        log.info("published: %d feed files changed", len(published.changed))
    if published.export_error:
        click.echo(f"feedsvc: {published.export_error}", err=True)
    if failed or published.export_error:
        sys.exit(1)


@main.command()
@pass_env
def publish(env: Environment) -> None:
    """Render every feed again (only changed bytes are stored or written)."""
    result = env.publisher.publish(None, utcnow())
    click.echo(f"published: {len(result.changed)} changed, {result.unchanged} unchanged")
    if result.export_error:
        fail(result.export_error)


@main.group(invoke_without_command=True)
@click.option("--desk", help="Only this desk.")
@click.option("--topic", help="Only this topic.")
@click.option("--source", help="Only this source.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--retracted", is_flag=True, help="Only retracted (withdrawn) stories.")
@click.pass_context
@pass_env
def articles(
    env: Environment,
    ctx: click.Context,
    desk: str | None,
    topic: str | None,
    source: str | None,
    limit: int,
    as_json: bool,
    retracted: bool,
) -> None:
    """List stored articles, newest first; retract or restore one."""
    if ctx.invoked_subcommand is not None:
        return
    found = env.store.list_articles(
        desk=desk, topic=topic, source=source, limit=limit, retracted=retracted
    )
    base = default_base(env.settings)  # a wire story's url is its page there
    for article in found:
        if as_json:
            click.echo(json.dumps(article.to_json(base), ensure_ascii=False))
            continue
        stamp = article.published.strftime("%Y-%m-%d %H:%M")
        topics = ",".join(article.topics) or "-"
        line = f"{stamp}  {article.desk:<10} {topics:<24} {article.title}"
        if article.retracted is not None:
            gone = article.retracted.at.strftime("%Y-%m-%d %H:%M")
            why = article.retracted.reason or article.retracted.by
            line = f"{line}  [{article.id} retracted {gone}: {why}]"
        click.echo(line)


def _lifecycle(env: Environment) -> Lifecycle:
    return Lifecycle(env.store, env.merged_catalog, env.settings, utcnow)


@articles.command("retract")
@click.argument("article_id")
@click.option("--reason", help="Why, for readers (the feeds' tombstones, the 410 page).")
@pass_env
def articles_retract(env: Environment, article_id: str, reason: str | None) -> None:
    """Withdraw a story from every feed and page (Atom tombstones, 410) until restored."""
    try:
        article = _lifecycle(env).retract(article_id, {"reason": reason})
    except ValidationError as exc:
        _field_error(exc)
    click.echo(f"retracted {article.id}: {article.title}")


@articles.command("restore")
@click.argument("article_id")
@pass_env
def articles_restore(env: Environment, article_id: str) -> None:
    """Bring back a story an operator retracted."""
    article = _lifecycle(env).restore(article_id)
    click.echo(f"restored {article.id}: {article.title}")


@main.command()
@pass_env
def purge(env: Environment) -> None:
    """Delete stories older than their source's keep (FEEDSVC_KEEP by default); say what went."""
    click.echo(_lifecycle(env).purge().line())


class Stop(KeyboardInterrupt):
    """Raised in the main thread by SIGTERM/SIGINT, so shutdown runs in order."""


def _raise_stop(signum: int, _frame: object) -> None:
    raise Stop(signal.Signals(signum).name)


@main.command()
@click.option("--host", help="Address to listen on (FEEDSVC_HOST; default 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (FEEDSVC_PORT; default 8000).")
@click.option(
    "--workers",
    type=click.IntRange(1, MAX_WORKERS),
    help="Worker processes (FEEDSVC_WORKERS; default 1).",
)
@click.option(
    "--threads", type=click.IntRange(1, 64), default=min(8, 2 * (os.cpu_count() or 1) + 1),
    show_default=True, help="Request threads per worker (2 per core + 1, at most 8).",
)  # fmt: skip
@pass_env
def serve(
    env: Environment, host: str | None, port: int | None, workers: int | None, threads: int
) -> None:
    """Web (granian worker processes) and the scheduler in one command."""
    from feedsvc.scheduler import Scheduler
    from feedsvc.web import server
    from feedsvc.web.hosts import HostPolicy

    settings = dataclasses.replace(
        env.settings,
        host=env.settings.host if host is None else listen_host(host, "--host"),
        port=port or env.settings.port,
        workers=workers or env.settings.workers,
    )
    logging.getLogger().setLevel(logging.INFO)
    scheduler = Scheduler(settings, env.store)
    started = False

    def start() -> None:  # the port is bound; workers start after this returns
        nonlocal started
        scheduler.start()  # publishes first, so every worker loads the feeds
        started = True
        address = f"[{settings.host}]" if ":" in settings.host else settings.host
        click.echo(
            f"feedsvc: serving on http://{address}:{settings.port}/ with "
            f"{settings.workers} worker(s) (Ctrl-C stops)"
        )
        if settings.base_url is None:
            hosts = ", ".join(settings.allowed_hosts) or "none"
            click.echo(
                f"feedsvc: links use {HostPolicy(settings).default_base} "
                f"(FEEDSVC_ALLOWED_HOSTS: {hosts}); any other Host gets 400"
            )

    try:
        server.serve(settings, threads=threads, on_started=start)
    finally:
        if started:
            click.echo("feedsvc: stopping after the running fetches")
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


# -- sources and OPML (the admin API's operations, for the shell) -------------------


def _admin(env: Environment) -> SourceAdmin:
    return SourceAdmin(env.store, lambda: env.catalog, publisher=env.publisher_for)


def _field_error(exc: ValidationError) -> NoReturn:
    fail(f"{exc.field}: {exc}" if exc.field and not str(exc).startswith(exc.field) else str(exc))


@main.group()
def sources() -> None:
    """List, add, pause, resume and remove sources (the file's and the API's)."""


@sources.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@pass_env
def sources_list(env: Environment, as_json: bool) -> None:
    """Every source with its health; catalogue sources are marked 'file'."""
    for view in _admin(env).views():
        source, health = view.source, view.health
        if as_json:
            click.echo(json.dumps(_source_line_json(view), ensure_ascii=False))
            continue
        where = source.url or (str(source.path) if source.path else "")
        last_ok = health.last_success_at if health else None
        success = last_ok.strftime("%Y-%m-%d %H:%M") if last_ok else "never"
        origin = "file" if source.origin == "catalog" else "api"
        click.echo(
            f"{source.id:<24} {origin:<4} {view.status:<8} {source.desk:<10} "
            f"{format_interval(source.every):>5}  last ok {success:<16}  {where}"
        )
        if view.problem or (health and health.last_error):
            click.echo(f"{'':<24} error: {view.problem or (health.last_error if health else '')}")


def _source_line_json(view: SourceView) -> dict[str, object]:
    source, health = view.source, view.health
    last_ok = health.last_success_at if health else None
    return {
        "id": source.id,
        "origin": source.origin,
        "kind": source.kind,
        "url": source.url,
        "desk": source.desk,
        "topics": list(source.topics),
        "every": format_interval(source.every),
        "enabled": source.enabled,
        "paused": view.paused,
        "status": view.status,
        "last_success_at": last_ok.isoformat() if last_ok else None,
        "consecutive_errors": health.error_count if health else 0,
        "last_error": view.problem or (health.last_error if health else None),
    }


@sources.command("add")
@click.argument("source_id")
@click.option("--url", required=True, help="The feed's http(s) URL.")
@click.option("--desk", required=True, help="A desk id of the catalogue.")
@click.option("--every", default="15m", show_default=True, help="Refresh interval.")
@click.option("--timezone", default="UTC", show_default=True, help="For times without a zone.")
@click.option("--topic", "topics", multiple=True, help="A topic every article gets (repeatable).")
@click.option("--title", help="A title for people.")
@click.option("--disabled", is_flag=True, help="Add it switched off.")
@pass_env
def sources_add(
    env: Environment,
    source_id: str,
    url: str,
    desk: str,
    every: str,
    timezone: str,
    topics: tuple[str, ...],
    title: str | None,
    disabled: bool,
) -> None:
    """Add a feed source (kept in the database, beside feeds/sources.toml)."""
    payload: dict[str, object] = {
        "id": source_id,
        "url": url,
        "desk": desk,
        "every": every,
        "timezone": timezone,
        "topics": list(topics),
        "enabled": not disabled,
    }
    if title:
        payload["title"] = title
    try:
        source = _admin(env).add(payload)
    except ValidationError as exc:
        _field_error(exc)
    click.echo(f"added {source.id}: {source.url} (desk {source.desk}, every {every})")


@sources.command("pause")
@click.argument("source_id")
@pass_env
def sources_pause(env: Environment, source_id: str) -> None:
    """Stop fetching a source until it is resumed."""
    _admin(env).set_paused(source_id, True)
    click.echo(f"paused {source_id}")


@sources.command("resume")
@click.argument("source_id")
@pass_env
def sources_resume(env: Environment, source_id: str) -> None:
    """Fetch a paused source again (it is due at once)."""
    _admin(env).set_paused(source_id, False)
    click.echo(f"resumed {source_id}")


@sources.command("remove")
@click.argument("source_id")
@pass_env
def sources_remove(env: Environment, source_id: str) -> None:
    """Remove a source added through the API or this command; its copies are withdrawn."""
    result = _admin(env).remove(source_id)
    click.echo(f"removed {source_id}: {result.withdrawn} copies withdrawn")


@main.group()
def opml() -> None:
    """Import feed sources from an OPML file, or export them as one."""


@opml.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--desk", "default_desk", help="Desk for outlines whose categories name none.")
@click.option("--every", default="15m", show_default=True, help="Refresh interval for each.")
@click.option("--dry-run", is_flag=True, help="Report what would be added; add nothing.")
@pass_env
def opml_import(
    env: Environment, file: Path, default_desk: str | None, every: str, dry_run: bool
) -> None:
    """Add every feed of an OPML file as a source; report each outline skipped."""
    admin = _admin(env)
    catalog = env.catalog
    if default_desk is not None and default_desk not in catalog.desks:
        fail(f"--desk: unknown desk {default_desk!r} (known: {', '.join(catalog.desks)})")
    plan = read_opml(
        file.read_bytes(),
        catalog,
        admin.all_sources().values(),
        default_desk=default_desk,
        every=every,
    )
    skipped = list(plan.skipped)
    added = 0
    for candidate in plan.candidates:
        if dry_run:
            click.echo(f"would add {candidate.payload['id']}: {candidate.payload['url']}")
            added += 1
            continue
        try:
            source = admin.add(candidate.payload)
        except (ValidationError, Conflict) as exc:
            skipped.append(f"{candidate.where}: {exc}")
            continue
        added += 1
        click.echo(f"added {source.id}: {source.url} (desk {source.desk})")
    for line in skipped:
        click.echo(f"skipped {line}")
    verb = "would add" if dry_run else "added"
    click.echo(f"{verb} {added} sources, skipped {len(skipped)}")


@opml.command("export")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file instead of standard output.",
)
@pass_env
def opml_export(env: Environment, output: Path | None) -> None:
    """Every feed source (the file's and the API's) as OPML 2.0, desk as category."""
    data = write_opml(_admin(env).all_sources().values(), utcnow())
    if output is None:
        click.echo(data.decode("utf-8"), nl=False)
    else:
        output.write_bytes(data)
        click.echo(f"wrote {output}", err=True)
