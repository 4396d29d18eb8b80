"""A response body: read within the deadline, decompressed, and capped after decompression.

The cap counts decoded bytes, and decoding never produces more than the cap
allows, so a gzip bomb costs at most cap + 1 bytes of memory before it is
refused.
"""

from __future__ import annotations

import http.client
import zlib

from feedsvc.errors import FetchError, TooLargeError
from feedsvc.fetch.deadline import Deadline
from feedsvc.text import one_line

__all__ = ["read_body"]

_CHUNK = 64 * 1024
_ENCODINGS = ("identity", "gzip", "x-gzip", "deflate")


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


def read_body(response: http.client.HTTPResponse, deadline: Deadline, cap: int) -> bytes:
    """The decoded body; TooLargeError past ``cap``, FetchError when it is truncated or corrupt."""
    announced = response.length
    if announced is not None and announced > cap:
        raise TooLargeError(f"response larger than {cap} bytes (Content-Length {announced})")
    encoding = (response.getheader("content-encoding") or "identity").strip().lower()
    if encoding not in _ENCODINGS:
        raise FetchError(f"unsupported Content-Encoding {one_line(encoding, 40)!r}")
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

