"""One total deadline for a fetch: DNS, connect, TLS, request, headers, body, redirects.

A per-operation timeout alone lets a server that sends one byte just before
each timeout stretch a fetch forever, and getaddrinfo has no timeout at all;
everything here runs against the one clock a fetch starts.
"""

from __future__ import annotations

import io
import socket
import threading
import time
from typing import Any

__all__ = ["Deadline", "DeadlinePassed", "DeadlineSocket", "getaddrinfo_within"]


class DeadlinePassed(TimeoutError):
    """Raised inside http.client's reads; turned into a FetchError at the edge."""


class Deadline:
    """The one clock a whole fetch, redirects included, runs against."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        left = self._end - time.monotonic()
        if left <= 0:
            raise DeadlinePassed()
        return left


class _DeadlineReader(io.RawIOBase):
    """A socket reader that gives each receive only the time the fetch has left.

    A per-operation timeout alone lets a server that sends one byte just
    before each timeout stretch a fetch forever; this cannot be stretched.
    """

    def __init__(self, sock: socket.socket, deadline: Deadline) -> None:
        super().__init__()
        self._sock = sock
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        self._sock.settimeout(self._deadline.remaining())
        return self._sock.recv_into(buffer)


class DeadlineSocket:
    """What http.client sees as its socket: sends and reads bounded by the deadline."""

    def __init__(self, sock: socket.socket, deadline: Deadline) -> None:
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



def getaddrinfo_within(host: str, port: int, timeout: float) -> list[tuple[Any, ...]]:
    """getaddrinfo has no timeout of its own; a daemon thread gives it the deadline.

    A lookup that outlives the deadline is abandoned, not waited for: the
    thread ends on its own when the resolver gives up.
    """
    outcome: list[list[tuple[Any, ...]] | OSError] = []

    def lookup() -> None:
        try:
            outcome.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except OSError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=lookup, name=f"feedsvc-dns-{host}", daemon=True)
    thread.start()
    thread.join(timeout)
    if not outcome:
        raise DeadlinePassed()
    result = outcome[0]
    if isinstance(result, OSError):
        raise result
    return result

