"""The HTTP(S) client: one fetch of a feed URL, redirects included, under every guard.

The order of a fetch: the URL is checked (``feedsvc.urls.http_url``, the same
check the catalogue and the admin API make); the host is resolved once within
the deadline; every address is checked against the address policy; the
connection goes to a checked address itself, so DNS rebinding cannot slip past
the check; one request is sent, conditional on the stored validators; the
answer is a Fetched, an error, or a redirect, whose target goes through all of
it again.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from ipaddress import ip_address
from urllib.parse import urljoin

from feedsvc.errors import BlockedAddressError, FetchError, InvalidUrlError
from feedsvc.fetch.body import read_body
from feedsvc.fetch.deadline import Deadline, DeadlinePassed, DeadlineSocket, getaddrinfo_within
from feedsvc.fetch.folder import BUDGET, read_folder
from feedsvc.fetch.headers import (
    header_value,
    lower_headers,
    max_age,
    retry_after,
    status_text,
    validator,
)
from feedsvc.fetch.policy import AddressPolicy, IPAddress, parse_address
from feedsvc.model import Document, Fetched, Source, Validators
from feedsvc.text import error_line, one_line, os_reason
from feedsvc.urls import HttpUrl, http_url

__all__ = ["ACCEPT", "DEFAULT_USER_AGENT", "Answer", "Fetcher", "Limits", "check_url"]

DEFAULT_USER_AGENT = "feedsvc/0.1 (+https://github.com/feedsvc)"
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True, slots=True)
class Answer:
    """What a WebSub callback or hub answered to ``Fetcher.call``."""

    status: int
    body: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass(frozen=True)
class Limits:
    """How much one fetch may cost: time, bytes and hops.

    ``max_bytes`` caps one body: a feed document, or one wire file of a
    folder; ``folder_budget`` caps all the wire files one read of a folder takes.
    """

    connect_timeout: float = 10.0
    total_timeout: float = 30.0
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5
    folder_budget: int = BUDGET

    def __post_init__(self) -> None:
        if self.connect_timeout <= 0 or self.total_timeout <= 0:
            raise ValueError("timeouts must be positive")
        if self.max_bytes <= 0 or self.folder_budget <= 0:
            raise ValueError("max_bytes and folder_budget must be positive")
        if self.max_redirects < 0:
            raise ValueError("max_redirects must not be negative")


def check_url(url: str) -> str:
    """Refuse, before any I/O, a URL that feedsvc must never fetch; return it unchanged.

    Every refusal is a BlockedAddressError, so a fetch reports it like any
    other refusal; its message is ``http_url``'s, which names what is wrong,
    and its cause the InvalidUrlError (what tells it from a refused address).
    """
    _target(url)
    return url


def _target(url: str) -> HttpUrl:
    try:
        return http_url(url)
    except InvalidUrlError as exc:
        raise BlockedAddressError(str(exc)) from exc


_DEFAULT_POLICY = AddressPolicy()
_DEFAULT_LIMITS = Limits()


class Fetcher:
    """Fetches sources under one address policy and one set of limits.

    It holds no per-fetch state, so one instance serves every worker thread.
    ``wall_clock`` is what a wire file's modification time is compared with
    (the quiet period of a file still being written): the real time, not the
    scheduler's, since the file system writes real times.
    """

    def __init__(
        self,
        policy: AddressPolicy = _DEFAULT_POLICY,
        limits: Limits = _DEFAULT_LIMITS,
        user_agent: str = DEFAULT_USER_AGENT,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.policy = policy
        self.limits = limits
        self.user_agent = user_agent
        self.wall_clock = wall_clock
        self._tls = ssl.create_default_context()

    def fetch(self, source: Source, validators: Validators) -> Fetched:
        """Fetch a feed (conditional on the validators) or read a folder's changed files."""
        if source.kind == "files":
            return read_folder(
                source,
                self.limits.max_bytes,
                now=self.wall_clock(),
                known=validators.files,
                budget=self.limits.folder_budget,
            )
        if source.kind == "feed":
            if not source.url:
                raise FetchError(f"source {source.id} has no url")
            return self._fetch_url(source.id, source.url, validators)
        raise FetchError(f"source {source.id} has unknown kind {source.kind!r}")

    def _fetch_url(self, source_id: str, url: str, validators: Validators) -> Fetched:
        deadline = Deadline(self.limits.total_timeout)
        target = _target(url)
        seen = {target.url}
        hops = 0
        while True:
            try:
                result = self._exchange(source_id, target, validators, deadline)
            except DeadlinePassed:
                raise FetchError(
                    f"timed out after {self.limits.total_timeout:g} s fetching {target.url}"
                ) from None
            if isinstance(result, Fetched):
                return result
            target = _target(result)
            if target.url in seen:
                raise FetchError(f"redirect loop at {target.url}")
            hops += 1
            if hops > self.limits.max_redirects:
                raise FetchError(f"too many redirects (more than {self.limits.max_redirects})")
            seen.add(target.url)

    def _exchange(
        self, source_id: str, target: HttpUrl, validators: Validators, deadline: Deadline
    ) -> Fetched | str:
        """One request: a Fetched, or the next URL when the answer is a redirect."""
        with self._connection(target, deadline) as connection:
            self._send(connection, target, validators)
            response = connection.getresponse()
            return self._handle(source_id, target, response, validators, deadline)

    def call(
        self,
        method: str,
        url: str,
        *,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        read: int = 0,
    ) -> Answer:
        """One request to a WebSub callback or hub, under every guard a fetch has.

        The same URL check, address policy (on every address the host resolves
        to), deadline and size cap as a fetch, through the same connection
        code. A redirect is answered as it came, never followed: WebSub counts
        it as a failure (§5.3.1, §7). Up to ``read`` bytes of a 2xx body are
        read (TooLargeError past that); other bodies are never read.
        """
        deadline = Deadline(self.limits.total_timeout)
        target = _target(url)
        try:
            with self._connection(target, deadline) as connection:
                connection.putrequest(
                    method, target.target, skip_host=True, skip_accept_encoding=True
                )
                sent = {"Host": target.host_header, "User-Agent": self.user_agent}
                sent.update(headers or {})
                sent["Connection"] = "close"
                if body or method not in ("GET", "HEAD"):
                    sent["Content-Length"] = str(len(body))
                for name, value in sent.items():
                    connection.putheader(name, value)
                connection.endheaders(body or None)
                response = connection.getresponse()
                content = b""
                if read > 0 and 200 <= response.status < 300:
                    content = read_body(response, deadline, read)
                return Answer(response.status, content)
        except DeadlinePassed:
            raise FetchError(
                f"timed out after {self.limits.total_timeout:g} s calling {target.url}"
            ) from None

    @contextmanager
    def _connection(
        self, target: HttpUrl, deadline: Deadline
    ) -> Iterator[http.client.HTTPConnection]:
        """A connection to a checked address of ``target``, every read and write under
        ``deadline``, errors in our words; closed, socket and all, when done."""
        sock = self._connect(target, deadline)
        connection = http.client.HTTPConnection(target.host, target.port)
        connection.sock = DeadlineSocket(sock, deadline)
        try:
            with _http_errors(target):
                yield connection
        finally:
            connection.close()
            sock.close()

    def _send(
        self, connection: http.client.HTTPConnection, target: HttpUrl, validators: Validators
    ) -> None:
        connection.putrequest("GET", target.target, skip_host=True, skip_accept_encoding=True)
        headers = {
            "Host": target.host_header,
            "User-Agent": self.user_agent,
            "Accept": ACCEPT,
            "Accept-Encoding": "gzip, deflate",
            "Connection": "close",
            "If-None-Match": header_value(validators.etag),
            "If-Modified-Since": header_value(validators.last_modified),
        }
        for name, value in headers.items():
            if value is not None:
                connection.putheader(name, value)
        connection.endheaders()

    def _handle(
        self,
        source_id: str,
        target: HttpUrl,
        response: http.client.HTTPResponse,
        validators: Validators,
        deadline: Deadline,
    ) -> Fetched | str:
        status = response.status
        if status in REDIRECT_STATUSES:
            location = response.getheader("location")
            if not location:
                raise FetchError(f"{status_text(response)} without a Location")
            try:
                return urljoin(target.url, location.strip())
            except ValueError:  # e.g. "http://[::1": urljoin refuses it, http_url never sees it
                raise BlockedAddressError(
                    f"invalid redirect Location {one_line(location)!r}"
                ) from None
        if status == 304:
            return Fetched(
                source_id=source_id,
                not_modified=True,
                status=304,
                validators=Validators(
                    etag=validator(response, "etag") or validators.etag,
                    last_modified=validator(response, "last-modified") or validators.last_modified,
                ),
                max_age=max_age(response.getheader("cache-control")),
            )
        if not 200 <= status < 300:
            delay = None
            if status in (429, 503):
                delay = retry_after(response.getheader("retry-after"), response.getheader("date"))
            raise FetchError(status_text(response), status=status, retry_after=delay)
        content = read_body(response, deadline, self.limits.max_bytes)
        if not content:
            raise FetchError("empty response", status=status)
        document = Document(name=target.url, content=content, headers=lower_headers(response))
        return Fetched(
            source_id=source_id,
            documents=(document,),
            status=status,
            validators=Validators(
                etag=validator(response, "etag"),
                last_modified=validator(response, "last-modified"),
            ),
            max_age=max_age(response.getheader("cache-control")),
        )

    # -- connecting -----------------------------------------------------------

    def _connect(self, target: HttpUrl, deadline: Deadline) -> socket.socket:
        """Resolve once, check every address, then connect to a checked one."""
        addresses = self._resolve(target, deadline)
        for address, _, _ in addresses:
            reason = self.policy.refusal(address)
            if reason is not None:
                raise BlockedAddressError(
                    f"refused address {address} for host {target.host} "
                    f"({reason}; allow it with FEEDSVC_ALLOW_NETWORKS)"
                )
        failure: FetchError | None = None
        for address, family, sockaddr in addresses:
            try:
                sock = self._open(family, sockaddr, deadline)
            except OSError as exc:
                failure = _connect_error(exc, target, address)
                continue
            if target.scheme == "https":
                return self._wrap_tls(sock, target, deadline)
            return sock
        raise failure or FetchError(f"cannot connect to {target.host}: no address to try")

    def _resolve(
        self, target: HttpUrl, deadline: Deadline
    ) -> list[tuple[IPAddress, int, tuple[object, ...]]]:
        try:
            numeric: IPAddress | None = parse_address(target.host)
        except ValueError:
            numeric = None
        try:
            if numeric is not None:
                infos = socket.getaddrinfo(
                    str(numeric), target.port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST
                )
            else:
                infos = getaddrinfo_within(target.host, target.port, deadline.remaining())
        except socket.gaierror as exc:
            raise FetchError(f"cannot resolve host {target.host}: {os_reason(exc)}") from None
        resolved: list[tuple[IPAddress, int, tuple[object, ...]]] = []
        for family, _, _, _, sockaddr in infos:
            resolved.append((ip_address(str(sockaddr[0]).split("%")[0]), family, sockaddr))
        if not resolved:
            raise FetchError(f"cannot resolve host {target.host}: no addresses")
        return resolved

    def _open(
        self, family: int, sockaddr: tuple[object, ...], deadline: Deadline
    ) -> socket.socket:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(min(self.limits.connect_timeout, deadline.remaining()))
            sock.connect(sockaddr)
        except BaseException:
            sock.close()
            raise
        return sock

    def _wrap_tls(self, sock: socket.socket, target: HttpUrl, deadline: Deadline) -> socket.socket:
        try:
            sock.settimeout(deadline.remaining())
            return self._tls.wrap_socket(sock, server_hostname=target.host)
        except ssl.SSLCertVerificationError as exc:
            sock.close()
            detail = exc.verify_message or exc.reason
            raise FetchError(f"TLS certificate of {target.host} not accepted: {detail}") from None
        except ssl.SSLError as exc:
            sock.close()
            detail = exc.reason or str(exc)
            raise FetchError(f"TLS handshake with {target.host} failed: {detail}") from None
        except TimeoutError:
            sock.close()
            raise DeadlinePassed() from None
        except OSError as exc:
            sock.close()
            detail = os_reason(exc)
            raise FetchError(f"TLS handshake with {target.host} failed: {detail}") from None
        except BaseException:
            sock.close()
            raise


@contextmanager
def _http_errors(target: HttpUrl) -> Iterator[None]:
    """What goes wrong during one HTTP exchange, as a FetchError that names the host."""
    try:
        yield
    except (FetchError, DeadlinePassed):
        raise
    except http.client.IncompleteRead as exc:
        raise FetchError(f"truncated response from {target.host}: {exc}") from None
    except (ConnectionError, http.client.HTTPException) as exc:
        detail = error_line(exc)  # may quote the server's bytes
        raise FetchError(f"bad HTTP response from {target.host}: {detail}") from None
    except TimeoutError:
        raise DeadlinePassed() from None
    except OSError as exc:
        raise FetchError(f"network error with {target.host}: {os_reason(exc)}") from None


def _connect_error(exc: OSError, target: HttpUrl, address: IPAddress) -> FetchError:
    where = f"{target.host} ({address} port {target.port})"
    if isinstance(exc, DeadlinePassed):
        return FetchError(f"timed out connecting to {where}")
    if isinstance(exc, ConnectionRefusedError):
        return FetchError(f"connection refused by {where}")
    if isinstance(exc, TimeoutError):
        return FetchError(f"timed out connecting to {where}")
    return FetchError(f"cannot connect to {where}: {os_reason(exc)}")
