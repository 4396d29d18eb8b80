"""The ``feedsvc`` command: reads the environment once, maps the error tree to exit codes.

Exit codes: 0 done; 1 something the operator must look at (a bad catalogue or
setting, a source that failed, a database that refused); 2 a usage error.

The commands live by what they work on: ``pipeline`` (ingest, publish),
``articles`` (articles, purge), ``sources`` (sources, opml) and ``serve``
(serve, scheduler); ``env`` is what they all share.
"""

from __future__ import annotations

import logging
from typing import Any

import click
from sqlalchemy.exc import SQLAlchemyError

from feedsvc.cli.articles import articles, purge
from feedsvc.cli.env import Environment, fail, pass_env
from feedsvc.cli.pipeline import ingest, publish
from feedsvc.cli.serve import scheduler_command, serve
from feedsvc.cli.sources import opml, sources
from feedsvc.errors import ConfigError, FeedsvcError
from feedsvc.store.engine import short_error

__all__ = ["main"]


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
            fail(f"database error: {short_error(exc)}")


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


for command in (ingest, publish, articles, purge, sources, opml, serve, scheduler_command):
    main.add_command(command)
