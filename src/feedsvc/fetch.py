"""Source -> bytes and headers: the only place feedsvc touches the network or an inbox.

A ``feed`` source is fetched over HTTP(S) by this module and nobody else (the
parser is handed bytes, never a URL), because every byte from outside must pass
the same guards:

* an address policy: the host is resolved once, every address it resolves to
  must be public (or inside an operator's allow list), and the connection goes
  to the checked address itself, so DNS rebinding cannot slip past the check;
  every redirect hop is checked again;
* one total deadline across DNS, connect, headers, body and redirects, enforced
  on every socket read, so a server that drips a byte at a time cannot hold a
  worker;
* a size cap counted after decompression, so a gzip bomb never inflates;
* a conditional GET from the stored validators, so an unchanged feed costs a 304.

A ``files`` source is a folder of wire articles, read by ``read_folder``.
"""

from __future__ import annotations

import http.client
import io
import os
import re
import socket
import ssl
import stat
import threading
import time
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from ipaddress import (
    IPv4Address,
    IPv4Network,
    IPv6Address,
    IPv6Network,
    ip_address,
    ip_network,
)
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

from feedsvc.errors import BlockedAddressError, FetchError, TooLargeError
from feedsvc.model import Document, Fetched, Source, Validators

__all__ = ["AddressPolicy", "Fetcher", "Limits", "check_url", "parse_address", "read_folder"]

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network

DEFAULT_USER_AGENT = "feedsvc/0.1 (+https://github.com/feedsvc)"
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_CHUNK = 64 * 1024
_HOST_SYNTAX = re.compile(r"[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_])?\.?")


@dataclass(frozen=True)
class Limits:
    """How much one fetch may cost: time, bytes and hops."""

    connect_timeout: float = 10.0
    total_timeout: float = 30.0
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5

    def __post_init__(self) -> None:
        if self.connect_timeout <= 0 or self.total_timeout <= 0:
            raise ValueError("timeouts must be positive")
        if self.max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        if self.max_redirects < 0:
            raise ValueError("max_redirects must not be negative")


# -- the address policy ---------------------------------------------------

_THIS_NETWORK = ip_network("0.0.0.0/8")
_CGNAT = ip_network("100.64.0.0/10")
_RFC1918 = (ip_network("10.0.0.0/8"), ip_network("172.16.0.0/12"), ip_network("192.168.0.0/16"))
_NAT64 = ip_network("64:ff9b::/96")
_NAT64_LOCAL = ip_network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ip_network("::/96")
_UNIQUE_LOCAL = ip_network("fc00::/7")


@dataclass(frozen=True)
class AddressPolicy:
    """Which addresses fetches may reach: public ones, plus the operator's allow list.

    Without an allow list a feed URL can never make the service talk to
    itself, the host's loopback services, the private network or a cloud
    metadata endpoint (server-side request forgery).
    """

    allow_networks: tuple[IPNetwork, ...] = ()

    def allows(self, ip: IPAddress | str) -> bool:
        """``ip`` may be in any spelling the OS accepts (see ``parse_address``);
        text that is no address at all is a ValueError, never a silent yes."""
        return self.refusal(ip) is None

    def refusal(self, ip: IPAddress | str) -> str | None:
        """Why ``ip`` is refused (e.g. "loopback"), or None when it is allowed."""
        address = parse_address(ip)
        embedded = _embedded_ipv4(address)
        for candidate in (address, embedded):
            if candidate is not None and any(
                candidate.version == net.version and candidate in net for net in self.allow_networks
            ):
                return None
        return _not_public(address)


def parse_address(value: IPAddress | str) -> IPAddress:
    """Read an address the way the operating system would, legacy spellings included.

    ``127.1``, ``0x7f000001`` and ``2130706433`` all mean 127.0.0.1 to
    ``inet_aton``, so the policy must see them as that, not as host names.
    """
    if isinstance(value, IPv4Address | IPv6Address):
        return value
    text = value.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        return ip_address(text)
    except ValueError:
        pass
    if ":" not in text and re.fullmatch(r"[0-9a-fA-FxX.]+", text):
        try:
            return IPv4Address(socket.inet_aton(text))
        except OSError:
            pass
    raise ValueError(f"not an IP address: {value!r}")


def _embedded_ipv4(address: IPAddress) -> IPv4Address | None:
    """The IPv4 address inside an IPv6 transition form, which is what really gets reached."""
    if isinstance(address, IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _not_public(address: IPAddress) -> str | None:
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        reason = _ipv4_not_public(embedded)
        return None if reason is None else f"{reason}, embedded in {address}"
    if isinstance(address, IPv4Address):
        return _ipv4_not_public(address)
    return _ipv6_not_public(address)


def _ipv4_not_public(address: IPv4Address) -> str | None:
    checks: tuple[tuple[bool, str], ...] = (
        (address in _THIS_NETWORK, "unspecified"),
        (address.is_loopback, "loopback"),
        (address.is_link_local, "link-local"),
        (address.is_multicast, "multicast"),
        (address in _CGNAT, "shared address space (CGNAT)"),
        (any(address in net for net in _RFC1918), "private"),
        (address.is_reserved, "reserved"),
        (not address.is_global, "not globally routable"),
    )
    return next((reason for refused, reason in checks if refused), None)


def _ipv6_not_public(address: IPv6Address) -> str | None:
    checks: tuple[tuple[bool, str], ...] = (
        (address.is_unspecified, "unspecified"),
        (address.is_loopback, "loopback"),
        (address.is_link_local, "link-local"),
        (address.is_site_local, "site-local"),
        (address in _UNIQUE_LOCAL or address in _NAT64_LOCAL, "private"),
        (address.is_multicast, "multicast"),
        (address.is_reserved, "reserved"),
        (not address.is_global, "not globally routable"),
    )
    return next((reason for refused, reason in checks if refused), None)


# -- URLs -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Target:
    """A checked URL, split into what the connection and the request need."""

    url: str
    scheme: str
    host: str
    port: int
    path: str

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == _DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


def check_url(url: str) -> str:
    """Refuse, before any I/O, a URL that feedsvc must never fetch; return it unchanged.

    Every refusal is a BlockedAddressError, so the catalogue can report a bad
    URL with one ``except``.
    """
    _target(url)
    return url


def _target(url: str) -> _Target:
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise BlockedAddressError(f"invalid URL {url!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        shown = scheme or "(none)"
        raise BlockedAddressError(
            f"refused scheme {shown!r} in {url!r}: only http and https are fetched"
        )
    if parts.username is not None or parts.password is not None:
        raise BlockedAddressError(f"invalid URL {url!r}: credentials in URLs are not supported")
    host = _ascii_host(parts.hostname or "", url)
    # Percent-encode what may not go on the wire as-is (spaces, non-ASCII);
    # existing escapes stay, so a URL is never encoded twice.
    path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=~")
    query = quote(parts.query, safe="/?%:@!$&'()*+,;=~")
    return _Target(
        url=urlunsplit((scheme, parts.netloc, path, query, "")),
        scheme=scheme,
        host=host,
        port=port or _DEFAULT_PORTS[scheme],
        path=f"{path}?{query}" if query else path,
    )


def _ascii_host(host: str, url: str) -> str:
    if not host:
        raise BlockedAddressError(f"invalid URL {url!r}: no host")
    if ":" in host:
        try:
            return str(IPv6Address(host))
        except ValueError:
            raise BlockedAddressError(f"invalid URL {url!r}: bad IPv6 address") from None
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise BlockedAddressError(f"invalid URL {url!r}: bad host name") from None
    if not _HOST_SYNTAX.fullmatch(ascii_host):
        raise BlockedAddressError(f"invalid URL {url!r}: bad host name")
    return ascii_host


# -- time -----------------------------------------------------------------------


class _DeadlinePassed(TimeoutError):
    """Raised inside http.client's reads; turned into a FetchError at the edge."""


class _Deadline:
    """The one clock a whole fetch, redirects included, runs against."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        left = self._end - time.monotonic()
        if left <= 0:
            raise _DeadlinePassed()
        return left


class _DeadlineReader(io.RawIOBase):
    """A socket reader that gives each receive only the time the fetch has left.

    A per-operation timeout alone lets a server that sends one byte just
    before each timeout stretch a fetch forever; this cannot be stretched.
    """

    def __init__(self, sock: socket.socket, deadline: _Deadline) -> None:
        super().__init__()
        self._sock = sock
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        self._sock.settimeout(self._deadline.remaining())
        return self._sock.recv_into(buffer)


class _DeadlineSocket:
    """What http.client sees as its socket: sends and reads bounded by the deadline."""

    def __init__(self, sock: socket.socket, deadline: _Deadline) -> None:
        self._sock = sock
        self._deadline = deadline

    def sendall(self, data: bytes) -> None:
        self._sock.settimeout(self._deadline.remaining())
        self._sock.sendall(data)

    def makefile(self, mode: str = "rb", *args: object, **kwargs: object) -> io.BufferedReader:
        return io.BufferedReader(_DeadlineReader(self._sock, self._deadline))

    def close(self) -> None:
        """Not here: http.client closes "its" socket once headers say the connection
        will close, while the body is still to be read; the fetch closes it after."""


# -- bodies -----------------------------------------------------------------------


class _Body:
    """Collects decoded bytes and stops the moment they pass the cap."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._parts: list[bytes] = []
        self._size = 0

    def room(self) -> int:
        return self.cap - self._size

    def add(self, data: bytes) -> None:
        self._size += len(data)
        if self._size > self.cap:
            raise TooLargeError(f"response larger than {self.cap} bytes")
        self._parts.append(data)

    def value(self) -> bytes:
        return b"".join(self._parts)


class _Inflater:
    """Incremental gzip/deflate decoding that never produces more than the cap allows.

    ``max_length`` bounds each step's output, so a bomb costs at most
    cap + 1 bytes of memory before it is refused.
    """

    def __init__(self, encoding: str, body: _Body) -> None:
        self._gzip = encoding in ("gzip", "x-gzip")
        self._body = body
        self._decoder: zlib._Decompress | None = None
        self._members = 0
        self._done = False

    def feed(self, data: bytes) -> None:
        while data and not self._done:
            if self._decoder is None:
                self._decoder = zlib.decompressobj(self._wbits(data))
            try:
                out = self._decoder.decompress(data, self._body.room() + 1)
            except zlib.error as exc:
                if self._members:
                    # Junk after a complete stream: ignored, as browsers do.
                    self._decoder, self._done = None, True
                    return
                raise FetchError(f"corrupt compressed response: {exc}") from None
            self._body.add(out)
            data = self._decoder.unconsumed_tail
            if self._decoder.eof:
                self._members += 1
                data = self._decoder.unused_data if self._gzip else b""
                self._decoder = None

    def finish(self) -> None:
        if self._decoder is not None:
            raise FetchError("truncated compressed response")

    def _wbits(self, data: bytes) -> int:
        if self._gzip:
            return 16 + zlib.MAX_WBITS
        # "deflate" is meant to be zlib-wrapped, but some servers send raw deflate.
        first = data[0]
        header_ok = len(data) < 2 or ((first << 8) | data[1]) % 31 == 0
        return zlib.MAX_WBITS if (first & 0x0F) == 8 and header_ok else -zlib.MAX_WBITS


def _read_body(response: http.client.HTTPResponse, deadline: _Deadline, cap: int) -> bytes:
    announced = response.length
    if announced is not None and announced > cap:
        raise TooLargeError(f"response larger than {cap} bytes (Content-Length {announced})")
    encoding = (response.getheader("content-encoding") or "identity").strip().lower()
    if encoding not in ("identity", "gzip", "x-gzip", "deflate"):
        raise FetchError(f"unsupported Content-Encoding {encoding!r}")
    body = _Body(cap)
    inflater = None if encoding == "identity" else _Inflater(encoding, body)
    received = 0
    while True:
        deadline.remaining()
        chunk = response.read(_CHUNK)
        if not chunk:
            break
        received += len(chunk)
        if inflater is None:
            body.add(chunk)
        else:
            inflater.feed(chunk)
    if announced is not None and received < announced:
        raise FetchError(f"truncated response: {received} of {announced} bytes announced")
    if inflater is not None and received:
        inflater.finish()
    return body.value()


# -- headers ---------------------------------------------------------------------


def _lower_headers(response: http.client.HTTPResponse) -> dict[str, str]:
    """Response headers for the parser; wire-only ones go, as the body is decoded."""
    headers: dict[str, str] = {}
    for name, value in response.getheaders():
        key = name.lower()
        if key in ("content-encoding", "content-length", "transfer-encoding"):
            continue
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


# A server may ask for any delay; a longer one than this means the same to us,
# and larger numbers would overflow timedelta (or int() itself).
MAX_ASKED_DELAY = timedelta(days=365)


def _seconds(digits: str) -> timedelta:
    if len(digits) > 9:
        return MAX_ASKED_DELAY
    return min(timedelta(seconds=int(digits)), MAX_ASKED_DELAY)


def _max_age(cache_control: str | None) -> timedelta | None:
    for directive in (cache_control or "").split(","):
        name, _, value = directive.strip().partition("=")
        if name.strip().lower() == "max-age":
            value = value.strip().strip('"')
            if value.isascii() and value.isdigit():
                return _seconds(value)
    return None


def _retry_after(value: str | None, date: str | None) -> timedelta | None:
    """Retry-After as a delay; an HTTP-date counts from the response's own Date.

    Measuring against the server's clock keeps a skewed local clock out of it.
    """
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return _seconds(value)
    when = _http_date(value)
    if when is None:
        return None
    now = _http_date(date) or datetime.now(UTC)
    return min(max(when - now, timedelta(0)), MAX_ASKED_DELAY)


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _printable(text: str, limit: int = 200) -> str:
    """Text a server chose, fit for a one-line error that is stored and shown:
    no control characters (PostgreSQL refuses NUL), no line breaks, short."""
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _status_text(response: http.client.HTTPResponse) -> str:
    reason = "".join(ch for ch in (response.reason or "") if ch.isprintable()).strip()[:80]
    if not reason:
        try:
            reason = HTTPStatus(response.status).phrase
        except ValueError:
            reason = ""
    return f"HTTP {response.status} {reason}".rstrip()


def _safe_header(value: str | None) -> str | None:
    """A stored validator goes back on the wire only if it is a legal header value."""
    if value is None or any(ch in value for ch in "\r\n\0"):
        return None
    return value


MAX_VALIDATOR_LENGTH = 1024
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f]")


def _validator(response: http.client.HTTPResponse, name: str) -> str | None:
    """An ETag or Last-Modified worth keeping: a legal field value of sane length.

    It is stored and sent back on every fetch, so a hostile server's NUL
    (which PostgreSQL refuses to store), control characters or megabyte of
    junk is dropped: the next fetch is simply unconditional.
    """
    value = response.getheader(name)
    if not value or len(value) > MAX_VALIDATOR_LENGTH or _CONTROL.search(value):
        return None
    return value


# -- the fetcher -------------------------------------------------------------------

_DEFAULT_POLICY = AddressPolicy()
_DEFAULT_LIMITS = Limits()


class Fetcher:
    """Fetches sources under one address policy and one set of limits.

    It holds no per-fetch state, so one instance serves every worker thread.
    """

    def __init__(
        self,
        policy: AddressPolicy = _DEFAULT_POLICY,
        limits: Limits = _DEFAULT_LIMITS,
        user_agent: str = DEFAULT_USER_AGENT,
    ) -> None:
        self.policy = policy
        self.limits = limits
        self.user_agent = user_agent
        self._tls = ssl.create_default_context()

    def fetch(self, source: Source, validators: Validators) -> Fetched:
        if source.kind == "files":
            return read_folder(source, self.limits.max_bytes)
        if source.kind == "feed":
            if not source.url:
                raise FetchError(f"source {source.id} has no url")
            return self._fetch_url(source.id, source.url, validators)
        raise FetchError(f"source {source.id} has unknown kind {source.kind!r}")

    def _fetch_url(self, source_id: str, url: str, validators: Validators) -> Fetched:
        deadline = _Deadline(self.limits.total_timeout)
        target = _target(url)
        seen = {target.url}
        hops = 0
        while True:
            try:
                result = self._exchange(source_id, target, validators, deadline)
            except _DeadlinePassed:
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
        self, source_id: str, target: _Target, validators: Validators, deadline: _Deadline
    ) -> Fetched | str:
        """One request: a Fetched, or the next URL when the answer is a redirect."""
        sock = self._connect(target, deadline)
        connection = http.client.HTTPConnection(target.host, target.port)
        connection.sock = _DeadlineSocket(sock, deadline)
        try:
            self._send(connection, target, validators)
            response = connection.getresponse()
            return self._handle(source_id, target, response, validators, deadline)
        except (FetchError, _DeadlinePassed):
            raise
        except http.client.IncompleteRead as exc:
            raise FetchError(f"truncated response from {target.host}: {exc}") from None
        except (ConnectionError, http.client.HTTPException) as exc:
            detail = _printable(str(exc)) or type(exc).__name__  # may quote the server's bytes
            raise FetchError(f"bad HTTP response from {target.host}: {detail}") from None
        except TimeoutError:
            raise _DeadlinePassed() from None
        except OSError as exc:
            raise FetchError(f"network error with {target.host}: {_os_reason(exc)}") from None
        finally:
            connection.close()
            sock.close()

    def _send(
        self, connection: http.client.HTTPConnection, target: _Target, validators: Validators
    ) -> None:
        connection.putrequest("GET", target.path, skip_host=True, skip_accept_encoding=True)
        headers = {
            "Host": target.host_header,
            "User-Agent": self.user_agent,
            "Accept": ACCEPT,
            "Accept-Encoding": "gzip, deflate",
            "Connection": "close",
            "If-None-Match": _safe_header(validators.etag),
            "If-Modified-Since": _safe_header(validators.last_modified),
        }
        for name, value in headers.items():
            if value is not None:
                connection.putheader(name, value)
        connection.endheaders()

    def _handle(
        self,
        source_id: str,
        target: _Target,
        response: http.client.HTTPResponse,
        validators: Validators,
        deadline: _Deadline,
    ) -> Fetched | str:
        status = response.status
        if status in REDIRECT_STATUSES:
            location = response.getheader("location")
            if not location:
                raise FetchError(f"{_status_text(response)} without a Location")
            try:
                return urljoin(target.url, location.strip())
            except ValueError:  # e.g. "http://[::1": urljoin refuses it, _target never sees it
                raise BlockedAddressError(
                    f"invalid redirect Location {_printable(location)!r}"
                ) from None
        if status == 304:
            return Fetched(
                source_id=source_id,
                not_modified=True,
                status=304,
                validators=Validators(
                    etag=_validator(response, "etag") or validators.etag,
                    last_modified=_validator(response, "last-modified") or validators.last_modified,
                ),
                max_age=_max_age(response.getheader("cache-control")),
            )
        if not 200 <= status < 300:
            retry_after = None
            if status in (429, 503):
                retry_after = _retry_after(
                    response.getheader("retry-after"), response.getheader("date")
                )
            raise FetchError(_status_text(response), status=status, retry_after=retry_after)
        content = _read_body(response, deadline, self.limits.max_bytes)
        if not content:
            raise FetchError("empty response", status=status)
        document = Document(name=target.url, content=content, headers=_lower_headers(response))
        return Fetched(
            source_id=source_id,
            documents=(document,),
            status=status,
            validators=Validators(
                etag=_validator(response, "etag"),
                last_modified=_validator(response, "last-modified"),
            ),
            max_age=_max_age(response.getheader("cache-control")),
        )

    # -- connecting -----------------------------------------------------------

    def _connect(self, target: _Target, deadline: _Deadline) -> socket.socket:
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
        assert failure is not None
        raise failure

    def _resolve(
        self, target: _Target, deadline: _Deadline
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
                infos = _getaddrinfo_within(target.host, target.port, deadline.remaining())
        except socket.gaierror as exc:
            raise FetchError(f"cannot resolve host {target.host}: {_os_reason(exc)}") from None
        resolved: list[tuple[IPAddress, int, tuple[object, ...]]] = []
        for family, _, _, _, sockaddr in infos:
            resolved.append((ip_address(str(sockaddr[0]).split("%")[0]), family, sockaddr))
        if not resolved:
            raise FetchError(f"cannot resolve host {target.host}: no addresses")
        return resolved

    def _open(
        self, family: int, sockaddr: tuple[object, ...], deadline: _Deadline
    ) -> socket.socket:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(min(self.limits.connect_timeout, deadline.remaining()))
            sock.connect(sockaddr)
        except BaseException:
            sock.close()
            raise
        return sock

    def _wrap_tls(self, sock: socket.socket, target: _Target, deadline: _Deadline) -> socket.socket:
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
            raise _DeadlinePassed() from None
        except OSError as exc:
            sock.close()
            detail = _os_reason(exc)
            raise FetchError(f"TLS handshake with {target.host} failed: {detail}") from None
        except BaseException:
            sock.close()
            raise


def _getaddrinfo_within(host: str, port: int, timeout: float) -> list[tuple[Any, ...]]:
    """getaddrinfo has no timeout of its own; a daemon thread gives it the deadline.

    A lookup that outlives the deadline is abandoned, not waited for: the
    thread ends on its own when the resolver gives up.
    """
    outcome: list[object] = []

    def lookup() -> None:
        try:
            outcome.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except OSError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=lookup, name=f"feedsvc-dns-{host}", daemon=True)
    thread.start()
    thread.join(timeout)
    if not outcome:
        raise _DeadlinePassed()
    result = outcome[0]
    if isinstance(result, OSError):
        raise result
    return result  # type: ignore[return-value]


def _connect_error(exc: OSError, target: _Target, address: IPAddress) -> FetchError:
    where = f"{target.host} ({address} port {target.port})"
    if isinstance(exc, _DeadlinePassed):
        return FetchError(f"timed out connecting to {where}")
    if isinstance(exc, ConnectionRefusedError):
        return FetchError(f"connection refused by {where}")
    if isinstance(exc, TimeoutError):
        return FetchError(f"timed out connecting to {where}")
    return FetchError(f"cannot connect to {where}: {_os_reason(exc)}")


def _os_reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


# -- folders ----------------------------------------------------------------------


def read_folder(source: Source, max_bytes: int) -> Fetched:
    """Every wire article (``*.txt``) of a folder, sorted by name, as documents.

    A file that cannot be taken (too large, unreadable, a symlink leaving the
    folder) is a problem of that file only, reported in ``problems``.
    """
    if source.path is None:
        raise FetchError(f"source {source.id} has no path")
    folder = Path(source.path)
    if not folder.is_dir():
        raise FetchError(f"folder not found: {folder}")
    root = folder.resolve()
    documents: list[Document] = []
    problems: list[str] = []
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if entry.name.startswith(".") or not entry.name.lower().endswith(".txt"):
            continue
        outcome = _read_wire_file(root, Path(entry.path), entry.name, max_bytes)
        if isinstance(outcome, Document):
            documents.append(outcome)
        elif outcome is not None:
            problems.append(outcome)
    return Fetched(source_id=source.id, documents=tuple(documents), problems=tuple(problems))


def _read_wire_file(root: Path, path: Path, name: str, max_bytes: int) -> Document | str | None:
    """The file as a Document, a problem message, or None for what is silently not ours."""
    try:
        real = path.resolve(strict=True)
        if real.parent != root:
            return f"{name}: skipped, a link that points outside the folder"
        info = real.stat()
        if not stat.S_ISREG(info.st_mode):
            return None
        if info.st_size > max_bytes:
            return f"{name}: skipped, larger than {max_bytes} bytes"
        with real.open("rb") as handle:
            content = handle.read(max_bytes + 1)
    except FileNotFoundError:
        return None  # removed while we listed the folder: gone, not a problem
    except OSError as exc:
        return f"{name}: skipped, cannot read: {_os_reason(exc)}"
    if len(content) > max_bytes:
        return f"{name}: skipped, larger than {max_bytes} bytes"
    return Document(name=name, content=content, headers={})
