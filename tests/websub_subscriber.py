"""A WebSub subscriber for the tests, written from the W3C Recommendation, not from our hub.

https://www.w3.org/TR/websub/ (Recommendation, 23 January 2018):

* §4 discovery: fetch the topic; the ``Link`` headers ``rel="hub"`` and
  ``rel="self"`` name the hub and the topic URL to subscribe to (in their
  absence, the feed's own ``atom:link`` elements or JSON Feed ``hubs``);
* §5.1 a (un)subscription is a POST to the hub, ``application/x-www-form-
  urlencoded`` in UTF-8, with ``hub.callback``, ``hub.mode``, ``hub.topic``
  and optionally ``hub.lease_seconds`` and ``hub.secret``; a hub that takes it
  answers 202;
* §5.3 the hub then GETs the callback with ``hub.mode``, ``hub.topic``,
  ``hub.challenge`` (and ``hub.lease_seconds`` to subscribe); a subscriber
  that wants that (it has such a request pending) answers 2xx with the
  challenge as the whole body, otherwise 404;
* §5.2 a denial is a GET with ``hub.mode=denied``, ``hub.topic`` and
  ``hub.reason``;
* §7 content distribution is a POST to the callback with the topic's body,
  its ``Content-Type`` and ``Link`` headers; the subscriber answers 2xx;
* §7.1.2 with a secret, ``X-Hub-Signature: method=hex`` is recomputed as an
  HMAC of the body with the secret; a missing or wrong signature makes the
  message invalid (ignored).

Everything the hub sends is recorded, so tests assert on what arrived.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import parse_qsl, urlencode, urlsplit

from lxml import etree

__all__ = ["Check", "Notification", "Subscriber", "discover", "parse_links"]

ALGORITHMS = {"sha1", "sha256", "sha384", "sha512"}  # §7.1.1
TIMEOUT = 10.0  # bounds a hang only
_LINK = re.compile(r'<([^>]*)>\s*((?:;\s*[^;,]+)*)')
_REL = re.compile(r';\s*rel\s*=\s*"?([^";]+)"?', re.IGNORECASE)
ATOM_LINK = "{http://www.w3.org/2005/Atom}link"


def parse_links(values: list[str]) -> dict[str, list[str]]:
    """``Link`` header values (RFC 8288) as rel → target URLs."""
    found: dict[str, list[str]] = {}
    for value in values:
        for target, params in _LINK.findall(value):
            rel = _REL.search(params)
            for name in (rel.group(1) if rel else "").split():
                found.setdefault(name.lower(), []).append(target)
    return found


def discover(url: str) -> tuple[list[str], str]:
    """§4: the hubs and the self URL of ``url``: Link headers first, then the document."""
    with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
        links = parse_links(response.headers.get_all("Link") or [])
        body = response.read()
        media = response.headers.get_content_type()
    if links.get("hub") and links.get("self"):
        return links["hub"], links["self"][0]
    if media == "application/feed+json":
        document = json.loads(body)
        hubs = [hub["url"] for hub in document.get("hubs", []) if hub.get("type") == "WebSub"]
        return hubs, document["feed_url"]
    root = etree.fromstring(body)
    elements = list(root.iter(ATOM_LINK))
    hubs = [e.get("href", "") for e in elements if e.get("rel") == "hub"]
    selfs = [e.get("href", "") for e in elements if e.get("rel") == "self"]
    return hubs, selfs[0]


@dataclass(frozen=True)
class Check:
    """A GET the hub made to a callback (verification or denial) and how it was answered."""

    params: dict[str, str]
    status: int


@dataclass(frozen=True)
class Notification:
    """A content distribution as received; ``authentic`` None when no secret was given."""

    body: bytes
    content_type: str
    links: dict[str, list[str]]
    signature: str | None
    authentic: bool | None
    status: int


@dataclass
class Callback:
    """One callback URL's subscription state and behaviour."""

    secret: str | None = None
    echo: bool = True
    statuses: list[int] = field(default_factory=list)
    hang: bool = False
    pending: set[tuple[str, str]] = field(default_factory=set)  # (mode, topic) asked for
    active: dict[str, int] = field(default_factory=dict)  # topic → granted lease
    checks: list[Check] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    posts_started: int = 0


class Subscriber:
    """A subscriber with one HTTP server on loopback and any number of callback URLs."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.callbacks: dict[str, Callback] = {}
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Subscriber:
        self._httpd = ThreadingHTTPServer((self.host, 0), _handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("not started")
        return int(self._httpd.server_address[1])

    def callback(
        self,
        secret: str | None = None,
        *,
        echo: bool = True,
        statuses: tuple[int, ...] = (),
        hang: bool = False,
        query: str = "",
    ) -> str:
        """A new unguessable callback URL (§5.1.1), with how it behaves."""
        name = secrets.token_urlsafe(12)
        with self.lock:
            self.callbacks[name] = Callback(secret, echo, list(statuses), hang)
        return f"http://{self.host}:{self.port}/cb/{name}" + (f"?{query}" if query else "")

    def state(self, callback: str) -> Callback:
        with self.lock:
            return self.callbacks[_name(callback)]

    # -- §5.1 requests to the hub -------------------------------------------------------

    def subscribe(
        self, hub: str, topic: str, callback: str, lease_seconds: int | None = None
    ) -> tuple[int, str]:
        params = {"hub.mode": "subscribe", "hub.topic": topic, "hub.callback": callback}
        if lease_seconds is not None:
            params["hub.lease_seconds"] = str(lease_seconds)
        secret = self.state(callback).secret
        if secret is not None:
            params["hub.secret"] = secret
        self.want(callback, "subscribe", topic)
        return post_form(hub, params)

    def unsubscribe(self, hub: str, topic: str, callback: str) -> tuple[int, str]:
        self.want(callback, "unsubscribe", topic)
        return post_form(
            hub, {"hub.mode": "unsubscribe", "hub.topic": topic, "hub.callback": callback}
        )

    def want(self, callback: str, mode: str, topic: str) -> None:
        with self.lock:
            self.callbacks[_name(callback)].pending.add((mode, topic))

    # -- what arrived -----------------------------------------------------------------

    def checks(self, callback: str) -> list[Check]:
        with self.lock:
            return list(self.callbacks[_name(callback)].checks)

    def notifications(self, callback: str) -> list[Notification]:
        with self.lock:
            return list(self.callbacks[_name(callback)].notifications)

    def all_notifications(self) -> Iterator[Notification]:
        with self.lock:
            for state in self.callbacks.values():
                yield from list(state.notifications)

    # -- §5.2, §5.3, §7 answering the hub ----------------------------------------------

    def on_get(self, name: str, query: str) -> tuple[int, bytes]:
        params = dict(parse_qsl(query, keep_blank_values=True))
        with self.lock:
            state = self.callbacks.get(name)
            if state is None:
                return 404, b""
            mode, topic = params.get("hub.mode", ""), params.get("hub.topic", "")
            if mode == "denied":
                state.pending.discard(("subscribe", topic))
                state.checks.append(Check(params, 200))
                return 200, b""
            if (mode, topic) not in state.pending or "hub.challenge" not in params:
                state.checks.append(Check(params, 404))
                return 404, b""
            state.pending.discard((mode, topic))
            if mode == "subscribe":
                state.active[topic] = int(params["hub.lease_seconds"])
            else:
                state.active.pop(topic, None)
            state.checks.append(Check(params, 200))
            challenge = params["hub.challenge"] if state.echo else "not-the-challenge"
            return 200, challenge.encode()

    def on_post(self, name: str, headers: dict[str, str], body: bytes) -> int:
        with self.lock:
            state = self.callbacks.get(name)
            if state is None:
                return 404
            state.posts_started += 1
            hang = state.hang
        if hang:
            self.stopping.wait(TIMEOUT * 3)
        with self.lock:
            status = state.statuses.pop(0) if state.statuses else 204
            signature = headers.get("x-hub-signature")
            secret = state.secret
            state.notifications.append(
                Notification(
                    body=body,
                    content_type=headers.get("content-type", ""),
                    links=parse_links([headers.get("link", "")]),
                    signature=signature,
                    authentic=None if secret is None else _valid(secret, body, signature),
                    status=status,
                )
            )
            return status


def _valid(secret: str, body: bytes, signature: str | None) -> bool:
    """§7.1.2: recompute the HMAC with the method the hub names; absent means invalid."""
    if not signature or "=" not in signature:
        return False
    method, _, given = signature.partition("=")
    if method not in ALGORITHMS:
        return False
    expected = hmac.new(secret.encode(), body, getattr(hashlib, method)).hexdigest()
    return hmac.compare_digest(expected, given)


def post_form(url: str, params: dict[str, str]) -> tuple[int, str]:
    """§5.1: a form-encoded UTF-8 POST; the hub's status and plain-text answer."""
    data = urlencode(params).encode("utf-8")
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _name(callback: str) -> str:
    return urlsplit(callback).path.rpartition("/")[2]


def _handler(subscriber: Subscriber) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            status, body = subscriber.on_get(parts.path.rpartition("/")[2], parts.query)
            self._reply(status, body)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            headers = {name.lower(): value for name, value in self.headers.items()}
            parts = urlsplit(self.path)
            self._reply(subscriber.on_post(parts.path.rpartition("/")[2], headers, body), b"")

        def _reply(self, status: int, body: bytes) -> None:
            self.close_connection = True
            try:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: tests assert on what was recorded."""

    return Handler
