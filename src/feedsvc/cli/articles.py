"""``feedsvc articles`` (list, retract, restore) and ``feedsvc purge``: stories as stored."""

from __future__ import annotations

import json

import click

from feedsvc.cli.env import Environment, field_error, pass_env
from feedsvc.config import default_base
from feedsvc.errors import ValidationError

MAX_LIMIT = 1_000_000
"""Far past any archive worth printing, and within every database's integer (a bigger
number was an OverflowError from the SQLite driver, with a traceback)."""


@click.group(invoke_without_command=True)
@click.option("--desk", help="Only this desk.")
@click.option("--topic", help="Only this topic.")
@click.option("--source", help="Only this source.")
@click.option(
    "--limit", type=click.IntRange(min=1, max=MAX_LIMIT), default=50, show_default=True
)
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


@articles.command("retract")
@click.argument("article_id")
@click.option("--reason", help="Why, for readers (the feeds' tombstones, the 410 page).")
@pass_env
def articles_retract(env: Environment, article_id: str, reason: str | None) -> None:
    """Withdraw a story from every feed and page (Atom tombstones, 410) until restored."""
    try:
        article = env.lifecycle.retract(article_id, {"reason": reason})
    except ValidationError as exc:
        field_error(exc)
    click.echo(f"retracted {article.id}: {article.title}")


@articles.command("restore")
@click.argument("article_id")
@pass_env
def articles_restore(env: Environment, article_id: str) -> None:
    """Bring back a story an operator retracted."""
    article = env.lifecycle.restore(article_id)
    click.echo(f"restored {article.id}: {article.title}")


@click.command()
@pass_env
def purge(env: Environment) -> None:
    """Delete stories older than their source's keep (FEEDSVC_KEEP by default); say what went."""
    click.echo(env.lifecycle.purge().line())
