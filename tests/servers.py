"""A real loopback HTTP server for tests, so no test needs mocks or the network.

``LoopbackServer`` listens on 127.0.0.1 (or ::1) on a free port, in a thread,
and answers each path from a route table: a fixed ``Reply`` or a function of
the recorded request. It can misbehave on purpose (stall, drip bytes, lie
about the length, send raw bytes) because that is what fetchers must survive.
Every request is recorded, so tests assert what was sent as well as what came
back, and how many were being answered at once (``in_flight``, ``peak``).
Stopping it wakes every stalled handler, so pytest never waits on a
leaked thread.

    with LoopbackServer({"/feed": Reply(body=b"<rss/>", etag='"v1"')}) as server:
        fetch(server.url("/feed"))
        assert server.hits("/feed") == 1
"""

from __future__ import annotations

import socket
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from email.utils import formatdate, parsedate_to_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit

__all__ = ["LoopbackServer", "Recorded", "Reply", "closed_port"]


@dataclass(frozen=True)
class Recorded:
    """One request as the server saw it; header names are lower-cased."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]


@dataclass(frozen=True)
class Reply:
    """How to answer one request.

    ``headers`` win over the defaults (``Date``, ``Content-Length``), so a test
    can send a lying ``Content-Length``. With ``etag`` or ``last_modified`` the
    server answers a matching conditional request with 304 by itself.
    ``delay`` stalls before answering; ``hang`` never answers until the server
    stops; ``drip`` sends one byte every ``drip`` seconds (the whole response,
    or only the body with ``drip_headers=False``). ``raw`` is written to the
    socket as-is instead of a built response, for replies no real server sends.
    """

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    chunked: bool = False
    delay: float = 0.0
    hang: bool = False
    drip: float | None = None
    drip_headers: bool = True
    raw: bytes | None = None

    @classmethod
    def redirect(cls, location: str, status: int = 302) -> Reply:
        """A redirect, the reply tests need most after a plain 200."""
        return cls(status=status, headers={"Location": location})


Handler = Callable[[Recorded], Reply]
Route = Reply | Handler


class LoopbackServer:
    """A threaded HTTP/1.1 server on a loopback address, started and stopped by the test."""

    def __init__(self, routes: Mapping[str, Route] | None = None, host: str = "127.0.0.1") -> None:
        self._routes: dict[str, Route] = dict(routes or {})
        self._host = host
        self._lock = threading.Lock()
        self._hits: Counter[str] = Counter()
        self._active: Counter[str] = Counter()
        self._peak: Counter[str] = Counter()
        self._requests: list[Recorded] = []
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle -------------------------------------------------------

    def start(self) -> LoopbackServer:
        self._stopping.clear()
        server_class = _IPv6Server if ":" in self._host else _IPv4Server
        httpd = server_class((self._host, 0), _make_handler(self))
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.01},
            name=f"loopback-server-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Wake stalled handlers first, so shutting down never waits on them."""
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- what tests use ---------------------------------------------------

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the server is not started")
        return int(self._httpd.server_address[1])

    @property
    def origin(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.origin + path

    def route(self, path: str, route: Route) -> None:
        """Add or replace a route while the server runs (e.g. a feed that changes)."""
        with self._lock:
            self._routes[path] = route

    def hits(self, path: str) -> int:
        with self._lock:
            return self._hits[path]

    def in_flight(self, path: str) -> int:
        """Requests to ``path`` received and not yet fully answered."""
        with self._lock:
            return self._active[path]

    def peak(self, path: str) -> int:
        """The most requests to ``path`` ever being answered at the same time."""
        with self._lock:
            return self._peak[path]

    def requests(self, path: str | None = None) -> list[Recorded]:
        with self._lock:
            return [r for r in self._requests if path is None or r.path == path]

    @property
    def stopping(self) -> threading.Event:
        return self._stopping

    # -- used by the handler ----------------------------------------------

    def _enter(self, path: str) -> None:
        with self._lock:
            self._active[path] += 1
            self._peak[path] = max(self._peak[path], self._active[path])

    def _leave(self, path: str) -> None:
        with self._lock:
            self._active[path] -= 1

    def _answer(self, request: Recorded) -> Reply:
        with self._lock:
            self._hits[request.path] += 1
            self._requests.append(request)
            route = self._routes.get(request.path)
        if route is None:
            return Reply(status=404, body=b"no such route\n")
        reply = route if isinstance(route, Reply) else route(request)
        return _conditional(reply, request)


def closed_port() -> int:
    """A loopback port nobody listens on, for connection-refused tests."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _IPv4Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _IPv6Server(_IPv4Server):
    address_family = socket.AF_INET6


def _conditional(reply: Reply, request: Recorded) -> Reply:
    """Answer 304 the way a well-behaved origin does, so tests need not write it."""
    if reply.status != 200:
        return reply
    validators = {}
    if reply.etag is not None:
        validators["ETag"] = reply.etag
    if reply.last_modified is not None:
        validators["Last-Modified"] = reply.last_modified
    if _etag_matches(reply.etag, request.headers.get("if-none-match")) or (
        "if-none-match" not in request.headers
        and _not_modified_since(reply.last_modified, request.headers.get("if-modified-since"))
    ):
        return Reply(status=304, headers={**validators, **reply.headers})
    if not validators:
        return reply
    return replace(reply, headers={**validators, **reply.headers})


def _etag_matches(etag: str | None, header: str | None) -> bool:
    if etag is None or header is None:
        return False
    wanted = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return "*" in wanted or etag.removeprefix("W/") in wanted


def _not_modified_since(last_modified: str | None, header: str | None) -> bool:
    if last_modified is None or header is None:
        return False
    try:
        return parsedate_to_datetime(last_modified) <= parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return False


def _make_handler(server: LoopbackServer) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        owner = server

    return Handler


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    owner: LoopbackServer

    def do_GET(self) -> None:
        self._serve(send_body=True)

    def do_HEAD(self) -> None:
        self._serve(send_body=False)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the tests assert on recorded requests, not on a log."""

    def _serve(self, send_body: bool) -> None:
        path = urlsplit(self.path).path
        self.owner._enter(path)
        try:
            self._answer(send_body)
        finally:
            self.owner._leave(path)

    def _answer(self, send_body: bool) -> None:
        parts = urlsplit(self.path)
        request = Recorded(
            method=self.command,
            path=parts.path,
            query=parts.query,
            headers={name.lower(): value for name, value in self.headers.items()},
        )
        reply = self.owner._answer(request)
        self.close_connection = True
        stopping = self.owner.stopping
        if reply.hang:
            stopping.wait()
            return
        if reply.delay and stopping.wait(reply.delay):
            return
        try:
            if reply.raw is not None:
                self.wfile.write(reply.raw)
                return
            head, body = _serialise(reply, send_body)
            if reply.drip is None:
                self.wfile.write(head + body)
            elif reply.drip_headers:
                self._drip(head + body, reply.drip)
            else:
                self.wfile.write(head)
                self._drip(body, reply.drip)
        except (BrokenPipeError, ConnectionResetError):
            return  # the client gave up, which is often the point of the test

    def _drip(self, data: bytes, interval: float) -> None:
        for index in range(len(data)):
            self.wfile.write(data[index : index + 1])
            if self.owner.stopping.wait(interval):
                return


def _serialise(reply: Reply, send_body: bool) -> tuple[bytes, bytes]:
    try:
        phrase = HTTPStatus(reply.status).phrase
    except ValueError:
        phrase = "Unknown"
    given = {name.lower() for name in reply.headers}
    headers: list[tuple[str, str]] = []
    if "date" not in given:
        headers.append(("Date", formatdate(usegmt=True)))
    headers.append(("Connection", "close"))
    body = reply.body
    if reply.chunked:
        headers.append(("Transfer-Encoding", "chunked"))
        body = _chunk(body)
    elif "content-length" not in given and reply.status not in (204, 304):
        headers.append(("Content-Length", str(len(body))))
    headers.extend(reply.headers.items())
    lines = [f"HTTP/1.1 {reply.status} {phrase}"] + [f"{k}: {v}" for k, v in headers]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    if reply.status == 304 or not send_body:
        body = b""
    return head, body


def _chunk(body: bytes, size: int = 4096) -> bytes:
    pieces = [
        f"{len(body[i : i + size]):x}\r\n".encode() + body[i : i + size] + b"\r\n"
        for i in range(0, len(body), size)
    ]
    return b"".join(pieces) + b"0\r\n\r\n"
