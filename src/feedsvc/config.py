"""Settings from the environment, validated once at start-up.

Only the entry points (command line, WSGI factory) read the environment; the
core receives a ``Settings`` value, so nothing deep inside reads global state.
A bad value raises ConfigError with one line naming the variable.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from feedsvc.archive import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from feedsvc.dates import parse_duration
from feedsvc.errors import ConfigError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_DATABASE_URL = "sqlite:///var/feedsvc.sqlite3"
DEFAULT_FEED_SIZE = 50
MAX_FEED_SIZE = 1000
DEFAULT_HOST = "127.0.0.1"
LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
UNSPECIFIED = frozenset({"0.0.0.0", "::"})
DEFAULT_PORT = 8000
MAX_WORKERS = 64
MIN_ADMIN_TOKEN = 16
"""Characters of ``FEEDSVC_ADMIN_TOKEN`` at least: with guessing throttled per address, a
token this long from any real alphabet is out of reach; a short one is not."""
MAX_ALLOWED_HOSTS = 20  # a short list, so the links served stay a handful of variants
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST_NAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*$")


@dataclass(frozen=True, slots=True)
class Settings:
    feeds_dir: Path = Path("feeds")
    database_url: str = DEFAULT_DATABASE_URL
    base_url: str | None = None
    admin_token: str | None = None
    allow_networks: tuple[Network, ...] = ()
    publish_dir: Path | None = None
    feed_size: int = DEFAULT_FEED_SIZE
    allowed_hosts: tuple[str, ...] = ()  # ``Host`` values as written: ``name`` or ``name:port``
    host: str = DEFAULT_HOST  # the address the server was started on: links use it
    port: int = DEFAULT_PORT
    workers: int = 1
    websub_hub: str | None = None  # an external WebSub hub; None: the built-in one at /websub
    keep: timedelta | None = None
    """``FEEDSVC_KEEP``: how long stories of a source with no ``keep`` of its own are kept."""
    archive_size: int = DEFAULT_PAGE_SIZE
    """``FEEDSVC_ARCHIVE_SIZE``: stories per sealed RFC 5005 archive page."""


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
        admin_token=_admin_token(get("FEEDSVC_ADMIN_TOKEN")),
        allow_networks=_networks(get("FEEDSVC_ALLOW_NETWORKS")),
        publish_dir=Path(p) if (p := get("FEEDSVC_PUBLISH_DIR")) else None,
        feed_size=_feed_size(get("FEEDSVC_FEED_SIZE")),
        allowed_hosts=_allowed_hosts(get("FEEDSVC_ALLOWED_HOSTS")),
        host=listen_host(get("FEEDSVC_HOST")),
        port=_whole("FEEDSVC_PORT", get("FEEDSVC_PORT"), DEFAULT_PORT, 1, 65535),
        workers=_whole("FEEDSVC_WORKERS", get("FEEDSVC_WORKERS"), 1, 1, MAX_WORKERS),
        websub_hub=_websub_hub(get("FEEDSVC_WEBSUB_HUB")),
        keep=_keep(get("FEEDSVC_KEEP")),
        archive_size=_whole(
            "FEEDSVC_ARCHIVE_SIZE", get("FEEDSVC_ARCHIVE_SIZE"), DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE
        ),
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
    # every link is this plus a path, and it goes into Link headers: nothing may follow
    # the path, and no space or control character may break a header or a document
    if parts.query or parts.fragment or "?" in value or "#" in value or "@" in parts.netloc:
        raise ConfigError(
            f"FEEDSVC_BASE_URL: expected scheme, host and path only (no query, fragment "
            f"or user), got {value!r}"
        )
    if not (value.isascii() and value.isprintable()) or " " in value:
        raise ConfigError(
            f"FEEDSVC_BASE_URL: expected printable ASCII without spaces, got {value!r}"
        )
    return value if value.endswith("/") else value + "/"


def _admin_token(value: str | None) -> str | None:
    """At least 16 characters, all printable ASCII: the token travels in an
    ``Authorization`` header, which servers read as Latin-1, so a token with an "é"
    (sent as UTF-8) could never match; refused at start-up instead of a 401 for the
    right token, then a lockout."""
    make = "(make one with: python3 -c 'import secrets; print(secrets.token_urlsafe(24))')"
    if value is None:
        return None
    if len(value) < MIN_ADMIN_TOKEN:
        raise ConfigError(
            f"FEEDSVC_ADMIN_TOKEN: at least {MIN_ADMIN_TOKEN} characters, got {len(value)} {make}"
        )
    if not (value.isascii() and value.isprintable()):
        raise ConfigError(
            f"FEEDSVC_ADMIN_TOKEN: only printable ASCII (it is sent in an HTTP header) {make}"
        )
    return value


def _websub_hub(value: str | None) -> str | None:
    """An external hub's URL: feeds advertise it and publishing pings it."""
    if value is None:
        return None
    parts = urlsplit(value)
    printable = value.isascii() and value.isprintable() and " " not in value  # a Link header
    absolute = parts.scheme in {"http", "https"} and parts.hostname and not parts.fragment
    if not (absolute and printable):
        raise ConfigError(
            "FEEDSVC_WEBSUB_HUB: expected an absolute http(s) URL of a WebSub hub such as "
            f"https://hub.example.org/, got {value!r}"
        )
    return value


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


def _keep(value: str | None) -> timedelta | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise ConfigError(f"FEEDSVC_KEEP: {exc} (unset: keep everything)") from None


def _feed_size(value: str | None) -> int:
    return _whole("FEEDSVC_FEED_SIZE", value, DEFAULT_FEED_SIZE, 1, MAX_FEED_SIZE)


def _whole(name: str, value: str | None, default: int, low: int, high: int) -> int:
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        number = low - 1
    if not low <= number <= high:
        raise ConfigError(f"{name}: expected a whole number from {low} to {high}, got {value!r}")
    return number


def host_value(value: str) -> str | None:
    """``value`` as a ``Host`` header would carry it (lower case), or None if it is not one.

    A host name or IPv4 address, or an IPv6 address in brackets, and an
    optional port: what a client sends, so a request matches it exactly.
    """
    value = value.strip().lower()
    if value.startswith("["):
        host, bracket, rest = value[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            return None
        colon, port = rest[:1], rest[1:]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return None
    else:
        host, colon, port = value.partition(":")
        if not _HOST_NAME.match(host):
            return None
    if colon and not (port.isdigit() and port[0] != "0" and int(port) <= 65535):
        return None
    return value


def _allowed_hosts(value: str | None) -> tuple[str, ...]:
    if value is None:
        return ()
    hosts: list[str] = []
    for part in value.split(","):
        if not part.strip():
            continue
        host = host_value(part)
        if host is None:
            raise ConfigError(
                f"FEEDSVC_ALLOWED_HOSTS: {part.strip()!r} is not a host such as "
                "feeds.example.org or feeds.example.org:8080 (no schemes, paths or wildcards)"
            )
        if host not in hosts:
            hosts.append(host)
    if len(hosts) > MAX_ALLOWED_HOSTS:
        raise ConfigError(
            f"FEEDSVC_ALLOWED_HOSTS: at most {MAX_ALLOWED_HOSTS} hosts, got {len(hosts)}; "
            "set FEEDSVC_BASE_URL instead"
        )
    return tuple(hosts)


def listen_host(value: str | None, where: str = "FEEDSVC_HOST") -> str:
    """The address to listen on: an IP address or a host name, without a port."""
    if value is None:
        return DEFAULT_HOST
    bare = value.strip("[]")
    try:
        return str(ipaddress.ip_address(bare))
    except ValueError:
        pass
    if not _HOST_NAME.match(value.lower()):
        raise ConfigError(
            f"{where}: expected an address to listen on such as 127.0.0.1 or 0.0.0.0, got {value!r}"
        )
    return value.lower()


def served_hosts(host: str, port: int) -> tuple[str, ...]:
    """The ``Host`` values that name the address the server was started on.

    A loopback or unspecified address (``0.0.0.0``, ``::``) is reached as
    ``127.0.0.1``, ``localhost`` or ``[::1]``; the first value is the one
    links use when the request names none. Port 80 may also be left out, as
    clients do.
    """
    if host in UNSPECIFIED or host in {"127.0.0.1", "::1", "localhost"}:
        names: tuple[str, ...] = LOOPBACK
    else:
        names = (f"[{host}]" if ":" in host else host,)
    values = tuple(f"{name}:{port}" for name in names)
    return values + names if port == 80 else values


def default_base(settings: Settings) -> str:
    """The base of links a request does not choose: ``FEEDSVC_BASE_URL``, else the address
    served. The web tier answers requests naming no host with it, and an external
    WebSub hub is pinged with feed URLs on it."""
    return settings.base_url or f"http://{served_hosts(settings.host, settings.port)[0]}/"
