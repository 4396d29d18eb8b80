"""``feedsvc sources`` and ``feedsvc opml``: the admin API's operations on sources, for the shell.

Each command is a thin mapping of ``SourceAdmin`` (``feedsvc.sources``), so the
command line accepts and refuses what the API and the admin pages do.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from feedsvc.catalog import format_interval
from feedsvc.cli.env import Environment, fail, field_error, pass_env
from feedsvc.errors import Conflict, ValidationError
from feedsvc.opml import read_opml, write_opml
from feedsvc.refresh import utcnow
from feedsvc.sources import SourceView


@click.group()
def sources() -> None:
    """List, add, pause, resume and remove sources (the file's and the API's)."""


@sources.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@pass_env
def sources_list(env: Environment, as_json: bool) -> None:
    """Every source with its health; catalogue sources are marked 'file'."""
    for view in env.admin.views():
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
        source = env.admin.add(payload)
    except ValidationError as exc:
        field_error(exc)
    click.echo(f"added {source.id}: {source.url} (desk {source.desk}, every {every})")


def _set_paused(name: str, paused: bool, doc: str) -> click.Command:
    """``sources pause`` and ``sources resume``: one operation, told which way."""

    @click.command(name, help=doc)
    @click.argument("source_id")
    @pass_env
    def command(env: Environment, source_id: str) -> None:
        env.admin.set_paused(source_id, paused)
        click.echo(f"{name}d {source_id}")

    return command


sources.add_command(_set_paused("pause", True, "Stop fetching a source until it is resumed."))
sources.add_command(
    _set_paused("resume", False, "Fetch a paused source again (it is due at once).")
)


@sources.command("remove")
@click.argument("source_id")
@pass_env
def sources_remove(env: Environment, source_id: str) -> None:
    """Remove a source added through the API or this command; its copies are withdrawn."""
    result = env.admin.remove(source_id)
    click.echo(f"removed {source_id}: {result.withdrawn} copies withdrawn")


@click.group()
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
    admin = env.admin
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
    data = write_opml(env.admin.all_sources().values(), utcnow())
    if output is None:
        click.echo(data.decode("utf-8"), nl=False)
    else:
        output.write_bytes(data)
        click.echo(f"wrote {output}", err=True)
