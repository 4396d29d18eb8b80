"""Settings from the environment, validated once at start-up.

Only the entry points (command line, WSGI factory) read the environment; the
core receives a ``Settings`` value, so nothing deep inside reads global state.
A bad value raises ConfigError with one line naming the variable.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from feedsvc.errors import ConfigError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_DATABASE_URL = "sqlite:///var/feedsvc.sqlite3"
DEFAULT_FEED_SIZE = 50
MAX_FEED_SIZE = 1000


@dataclass(frozen=True, slots=True)
class Settings:
    feeds_dir: Path = Path("feeds")
    database_url: str = DEFAULT_DATABASE_URL
    base_url: str | None = None
    admin_token: str | None = None
    allow_networks: tuple[Network, ...] = ()
    publish_dir: Path | None = None
    feed_size: int = DEFAULT_FEED_SIZE


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every ``FEEDSVC_*`` variable; empty counts as unset."""
    env = os.environ if env is None else env

    def get(name: str) -> str | None:
        value = env.get(name, "").strip()
        return value or None

    feeds_dir = Path(get("FEEDSVC_FEEDS_DIR") or "feeds")
    return Settings(
        feeds_dir=feeds_dir,
        database_url=_database_url(get("FEEDSVC_DATABASE_URL") or DEFAULT_DATABASE_URL),
        base_url=_base_url(get("FEEDSVC_BASE_URL")),
        admin_token=get("FEEDSVC_ADMIN_TOKEN"),
        allow_networks=_networks(get("FEEDSVC_ALLOW_NETWORKS")),
        publish_dir=Path(p) if (p := get("FEEDSVC_PUBLISH_DIR")) else None,
        feed_size=_feed_size(get("FEEDSVC_FEED_SIZE")),
    )


def _database_url(value: str) -> str:
    scheme = value.split(":", 1)[0]
    if scheme not in {"sqlite", "postgresql", "postgresql+psycopg"} or "://" not in value:
        raise ConfigError(
            "FEEDSVC_DATABASE_URL: expected sqlite:///PATH or postgresql+psycopg://…, "
            f"got {value!r}"
        )
    if scheme == "postgresql":
        # psycopg 3 is the only driver installed; plain postgresql:// would pick psycopg2.
        value = "postgresql+psycopg" + value[len("postgresql") :]
    return value


def _base_url(value: str | None) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ConfigError(f"FEEDSVC_BASE_URL: expected an absolute http(s) URL, got {value!r}")
    return value if value.endswith("/") else value + "/"


def _networks(value: str | None) -> tuple[Network, ...]:
    if value is None:
        return ()
    networks = []
    for part in value.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ConfigError(
                f"FEEDSVC_ALLOW_NETWORKS: {part!r} is not a CIDR such as 127.0.0.0/8"
            ) from None
    return tuple(networks)


def _feed_size(value: str | None) -> int:
    if value is None:
        return DEFAULT_FEED_SIZE
    try:
        size = int(value)
    except ValueError:
        size = 0
    if not 1 <= size <= MAX_FEED_SIZE:
        raise ConfigError(
            f"FEEDSVC_FEED_SIZE: expected a whole number from 1 to {MAX_FEED_SIZE}, got {value!r}"
        )
    return size
