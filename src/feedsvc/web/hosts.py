"""Trusted links: which ``Host`` a request may name, and the base URL its links get.

The links inside a feed or a page never come from an unchecked request header.
With ``FEEDSVC_BASE_URL`` set, it is the only base. Without it, links use the
address the server was started on (``Settings.host``/``port``: ``feedsvc serve``
passes its own; an app built by ``wsgi.py`` under another server reads
``FEEDSVC_HOST``/``FEEDSVC_PORT``, by default ``127.0.0.1:8000``) and the hosts
named in ``FEEDSVC_ALLOWED_HOSTS``, each for its own requests. Any other
``Host`` gets a fixed 400 before anything is looked up or rendered, so the
number of link variants a worker keeps is bounded by that short list (as
Django's ``ALLOWED_HOSTS``).

Liveness, readiness and metrics answer whatever the ``Host``: probes and
scrapers reach a worker by its IP address, and those answers carry no links.

The same outermost layer refuses a request whose path or query holds a NUL
character (``%00``) with a fixed 400: no id, feed path or search text of ours
can hold one, and PostgreSQL refuses it in any text it is asked to compare,
which would otherwise surface as "database unavailable".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from feedsvc.config import Settings, default_base, served_hosts

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

BASE_KEY = "feedsvc.base_url"  # the checked base URL, put in the WSGI environ
SCHEMES = ("http", "https")
EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
BAD_HOST_BODY = b"unknown Host: this server answers only for its own address\n"
NUL_BODY = b"bad request: the path or query holds a NUL character (%00)\n"
NUL_JSON = b'{"error":"bad request: the path or query holds a NUL character (%00)"}'
PLAIN = "text/plain; charset=utf-8"
REFUSAL_HEADERS = [
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
]


class HostPolicy:
    """The base URL for a request's ``Host``, or None when that host is not ours."""

    def __init__(self, settings: Settings) -> None:
        own = served_hosts(settings.host, settings.port)
        self.fixed = settings.base_url
        self.default_base = default_base(settings)
        names = (*own, *settings.allowed_hosts)
        # Every answer is one of these strings: a feed has at most this many variants.
        self._bases = {
            (scheme, name): f"{scheme}://{name}/" for scheme in SCHEMES for name in names
        }
        self._default = {scheme: f"{scheme}://{own[0]}/" for scheme in SCHEMES}
        # With a fixed base the Host is only checked when the operator lists hosts.
        self._accepted: frozenset[str] | None = None
        if settings.base_url is not None and settings.allowed_hosts:
            netloc = urlsplit(settings.base_url).netloc.lower()
            self._accepted = frozenset((netloc, *settings.allowed_hosts))

    @property
    def bases(self) -> frozenset[str]:
        """Every base URL this policy can answer with."""
        return frozenset({self.fixed} if self.fixed else self._bases.values())

    def base_for(self, environ: dict[str, Any]) -> str | None:
        host: str | None = environ.get("HTTP_HOST")
        if self.fixed is not None:
            if self._accepted is None or host is None or host.lower() in self._accepted:
                return self.fixed
            return None
        scheme = environ.get("wsgi.url_scheme", "http")
        if host is None:  # HTTP/1.0 without a Host: the server's own address
            return self._default.get(scheme)
        return self._bases.get((scheme, host)) or self._bases.get((scheme, host.lower()))


class TrustedHosts:
    """Outermost WSGI layer: a request naming a host that is not ours, or holding a NUL in
    its path or query, stops here with 400."""

    def __init__(self, app: WSGIApp, policy: HostPolicy) -> None:
        self.app = app
        self.policy = policy

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if _holds_nul(environ):
            if environ.get("PATH_INFO", "").startswith("/api/"):  # the API answers JSON
                return _refuse(start_response, NUL_JSON, "application/json")
            return _refuse(start_response, NUL_BODY)
        base = self.policy.base_for(environ)
        if base is None:
            if environ.get("PATH_INFO") not in EXEMPT_PATHS:
                return _refuse(start_response, BAD_HOST_BODY)
            base = self.policy.default_base
        environ[BASE_KEY] = base
        return self.app(environ, start_response)


def _holds_nul(environ: dict[str, Any]) -> bool:
    """A NUL in the decoded path, or written as ``%00`` (or raw) in the query string."""
    query: str = environ.get("QUERY_STRING", "")
    return "\x00" in environ.get("PATH_INFO", "") or "\x00" in query or "%00" in query


def _refuse(start_response: StartResponse, body: bytes, media_type: str = PLAIN) -> list[bytes]:
    length = str(len(body))
    headers = [("Content-Type", media_type), ("Content-Length", length), *REFUSAL_HEADERS]
    start_response("400 Bad Request", headers)
    return [body]


def link_base(environ: dict[str, Any]) -> str:
    """The checked base URL of this request (set by ``TrustedHosts``)."""
    base: str = environ[BASE_KEY]
    return base
