"""The embedded server of ``feedsvc serve``: granian worker processes, the scheduler once.

Why granian: a Rust HTTP server whose WSGI workers answer a published feed
for a fraction of gunicorn's CPU (``bench/serve.py``), and which closes a
connection that has not sent its headers within ``HEADER_READ_TIMEOUT_MS``
without holding a Python thread for it, so hundreds of slowloris sockets
neither block other clients nor stay open.

How the processes fit: this (the parent) process binds the port, runs the
scheduler (one per ``feedsvc serve``: it publishes before any worker starts,
then ticks) and supervises the workers. Each worker is a fresh interpreter
(multiprocessing "spawn": forking a process whose scheduler threads and
database connections are live is unsafe) that builds its own app from the same
``Settings`` with ``worker_app``; ``create_app`` loads the published feeds and
never starts a scheduler. SIGTERM or SIGINT stop the workers gracefully
(in-flight requests are answered), then the caller stops the scheduler.
"""

from __future__ import annotations

import multiprocessing
import socket
from collections.abc import Callable
from functools import partial
from typing import Any

from granian.constants import HTTPModes, Interfaces
from granian.http import HTTP1Settings
from granian.log import LogLevels
from granian.server import MPServer

from feedsvc.config import Settings
from feedsvc.errors import ConfigError
from feedsvc.text import os_reason

HEADER_READ_TIMEOUT_MS = 10_000  # a client gets this long to send its request headers
WORKER_KILL_TIMEOUT = 30  # seconds a worker may take to finish its requests on shutdown
BACKLOG = 2048
TARGET = "feedsvc.wsgi:app"  # what a worker serves: the same app as the production command


def worker_app(settings: Settings) -> Callable[..., Any]:
    """Runs in each worker process: its own store and app, never a scheduler."""
    from feedsvc.web import create_app

    return create_app({"SETTINGS": settings})


def check_port(host: str, port: int) -> None:
    """Fail with one clear line when the address is taken, before anything starts.

    granian's listeners use SO_REUSEPORT, which would let a second server
    share a port silently; a plain bind refuses when anyone listens there.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port}: {os_reason(exc)}") from None


def serve(settings: Settings, *, threads: int, on_started: Callable[[], None]) -> None:
    """Serve until SIGTERM/SIGINT; ``on_started`` runs once the port is bound, before workers.

    Returns after every worker has stopped; raises SystemExit(1) when workers
    kept crashing.
    """
    check_port(settings.host, settings.port)
    # granian starts its workers with the default start method; make it "spawn".
    multiprocessing.set_start_method("spawn", force=True)
    server = MPServer(
        TARGET,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.WSGI,
        workers=settings.workers,
        blocking_threads=threads,
        http=HTTPModes.http1,
        http1_settings=HTTP1Settings(header_read_timeout=HEADER_READ_TIMEOUT_MS),
        backlog=BACKLOG,
        respawn_failed_workers=True,
        workers_kill_timeout=WORKER_KILL_TIMEOUT,
        log_level=LogLevels.warning,
    )
    server.on_startup(on_started)
    server.serve(target_loader=partial(worker_app, settings), wrap_loader=False)
