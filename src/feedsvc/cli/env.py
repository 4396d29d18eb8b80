"""What every command shares: the environment read once, and how a command fails."""

from __future__ import annotations

import sys
from functools import cached_property
from typing import NoReturn

import click

from feedsvc.catalog import load_catalog
from feedsvc.config import Settings, load_settings
from feedsvc.errors import ValidationError
from feedsvc.fetch import AddressPolicy, Fetcher
from feedsvc.lifecycle import Lifecycle
from feedsvc.model import Catalog
from feedsvc.publish import Publisher, publisher_for
from feedsvc.refresh import utcnow
from feedsvc.sources import SourceAdmin, with_api_sources
from feedsvc.store import Store


def fail(message: str, details: tuple[str, ...] = ()) -> NoReturn:
    """Say what went wrong on stderr and exit 1: the operator must look at it."""
    click.echo(f"feedsvc: {message}", err=True)
    for line in details:
        click.echo(f"  {line}", err=True)
    sys.exit(1)


def field_error(exc: ValidationError) -> NoReturn:
    """A refused payload, its field named once."""
    fail(f"{exc.field}: {exc}" if exc.field and not str(exc).startswith(exc.field) else str(exc))


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

    @cached_property
    def admin(self) -> SourceAdmin:
        """The admin API's operations on sources, for ``sources`` and ``opml``."""
        return SourceAdmin(self.store, lambda: self.catalog, publisher=self.publisher_for)

    @cached_property
    def lifecycle(self) -> Lifecycle:
        """Retract, restore and purge, each change published."""
        return Lifecycle(self.store, self.merged_catalog, self.settings, utcnow)


pass_env = click.make_pass_decorator(Environment, ensure=True)
