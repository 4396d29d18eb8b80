"""``feedsvc ingest`` and ``feedsvc publish``: the pipeline run once, on demand.

``ingest`` refreshes through ``feedsvc.refresh`` like the scheduler, leases
and all, so it can run beside a scheduler without fetching a source twice.
"""

from __future__ import annotations

import logging
import sys

import click

from feedsvc.cli.env import Environment, fail, pass_env
from feedsvc.refresh import Refresher, lease_owner, utcnow
from feedsvc.store import StateKey

log = logging.getLogger(__name__)


@click.command()
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


@click.command()
@pass_env
def publish(env: Environment) -> None:
    """Render every feed again (only changed bytes are stored or written)."""
    result = env.publisher.publish(None, utcnow())
    click.echo(f"published: {len(result.changed)} changed, {result.unchanged} unchanged")
    if result.export_error:
        fail(result.export_error)
