"""The service for the WebSub tests: the real app on real HTTP, a scheduler on a hand clock.

``site()`` serves ``create_app`` with werkzeug's threaded server on a free
127.0.0.1 port (the links and topics are on that address), and builds a
``Scheduler`` on the same database whose clock the test moves by hand, so
leases and retries are tested without sleeping. Loopback is allowed only for
127.0.0.1 (``FEEDSVC_ALLOW_NETWORKS``), so another loopback address such as
127.0.0.2 stands for an address the policy refuses.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from werkzeug.serving import make_server

from feedsvc.config import Settings
from feedsvc.scheduler import Scheduler
from feedsvc.store import Store
from feedsvc.web import create_app
from inbox_support import settle

ALLOWED = (ipaddress.ip_network("127.0.0.1/32"),)


class Clock:
    """A clock the test moves by hand (``RealClock`` reads the time instead)."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class RealClock(Clock):
    def __init__(self) -> None:
        super().__init__(datetime.now(UTC))

    def __call__(self) -> datetime:
        return datetime.now(UTC)


class _Late:
    """The WSGI app, given once the server's port (which its settings name) is known."""

    app: Callable[..., Iterable[bytes]] | None = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if self.app is None:
            raise RuntimeError("app not ready")
        return self.app(environ, start_response)


@dataclass
class Site:
    settings: Settings
    store: Store
    scheduler: Scheduler
    clock: Clock
    base: str

    @property
    def hub(self) -> str:
        return self.base + "websub"

    def feed(self, path: str) -> str:
        return self.base + path

    def add_story(self, name: str, title: str, body: str = "A short note on the weather.") -> None:
        """A new wire story on the nym desk (no topic words), due at the next refresh."""
        path = self.settings.feeds_dir / "inbox" / "nym" / f"{name}.txt"
        path.write_text(f"{title}\n\nNYM Desk\n\nPublished : 10:00, 1 July 2025\n\n{body}\n")
        settle(path)  # finished: the reader leaves files still being written for later

    def refresh(self) -> None:
        """Let a minute pass and run one scheduler round: fetch, publish, hub calls."""
        self.clock.advance(minutes=1)
        self.scheduler.run_once()

    def feed_bytes(self) -> dict[str, bytes]:
        return {feed.path: feed.body for feed in self.store.load_feeds()}


@contextmanager
def site(
    settings: Settings, store: Store, now: datetime, clock: Clock | None = None, **changes: Any
) -> Iterator[Site]:
    """The service on 127.0.0.1, published, with a scheduler whose clock the test moves
    (or ``clock``, e.g. the real one, for a scheduler left ticking on its own)."""
    late = _Late()
    server = make_server("127.0.0.1", 0, late, threaded=True)
    port = server.server_port
    changes.setdefault("allowed_hosts", (*settings.allowed_hosts, f"127.0.0.1:{port}"))
    settings = dataclasses.replace(
        settings, host="127.0.0.1", port=port, allow_networks=ALLOWED, **changes
    )
    clock = clock or Clock(now)
    scheduler = Scheduler(settings, store, clock=clock, rng=lambda: 0.0)
    scheduler.start_up()
    scheduler.run_once()  # the sample's first refresh, so later ones bring only what a test adds
    scheduler.hub_worker.run_due()  # and what those publishes owe a hub, so none is left due
    late.app = create_app({"TESTING": True, "SETTINGS": settings, "STORE": store})
    late.app.extensions["feedsvc.cache"].check_every = 0.0  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield Site(settings, store, scheduler, clock, f"http://127.0.0.1:{port}/")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        scheduler.shutdown()
