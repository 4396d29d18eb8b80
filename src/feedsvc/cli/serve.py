"""``feedsvc serve`` (web and scheduler) and ``feedsvc scheduler`` (the scheduler alone).

The web tier and the scheduler are imported when a command starts them, so the
other commands load neither.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import threading

import click

from feedsvc.cli.env import Environment, pass_env
from feedsvc.config import MAX_WORKERS, listen_host


class Stop(KeyboardInterrupt):
    """Raised in the main thread by SIGTERM/SIGINT, so shutdown runs in order."""


def _raise_stop(signum: int, _frame: object) -> None:
    raise Stop(signal.Signals(signum).name)


@click.command()
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


@click.command("scheduler")
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
