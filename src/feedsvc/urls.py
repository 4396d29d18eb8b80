"""URLs: the one check of a URL feedsvc will fetch, and the canonical form of a link.

Two policies live here, on the same rules for hosts, ports and escaping:

* ``http_url`` decides whether feedsvc will fetch a URL. The catalogue
  loader (``feedsvc check``), the admin API and the fetcher all ask it, so a
  URL an operator can save is a URL the fetcher will try, and the reverse. It
  is strict, because the URL is the operator's own and a mistake should be
  named at once: a user name or password, a control character, a bad host or
  port is refused with a message that says which. Which *addresses* a host
  may resolve to is a different question, asked at connect time by the
  fetcher's address policy (``feedsvc.fetch.policy``).
* ``canonical_url`` and ``content_url`` read links that sources wrote. They
  are lenient, because a stranger's link is dropped, never an error: what
  cannot be made an absolute http(s) URL is None.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from ipaddress import IPv6Address
from urllib.parse import quote, unquote_plus, urljoin, urlsplit

from feedsvc.errors import InvalidUrlError

__all__ = [
    "DEFAULT_PORTS",
    "MAX_URL_LENGTH",
    "STORY_PAGES",
    "TRACKING_PARAMS",
    "HttpUrl",
    "canonical_url",
    "content_url",
    "http_url",
    "is_http",
    "join",
    "resolved_base",
    "story_page_url",
]

MAX_URL_LENGTH = 2048
"""The longest URL kept or fetched: what browsers and servers reliably handle."""

DEFAULT_PORTS = {"http": 80, "https": 443}

# Query parameters that only tell the publisher where a click came from. Compared
# lower-cased; any ``utm_*`` parameter is a tracker too.
TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "mc_cid",
        "mc_eid",
        "yclid",
        "_hsenc",
        "_hsmi",
        "igshid",
        "mkt_tok",
        "oly_anon_id",
        "oly_enc_id",
        "vero_id",
        "wt_mc",
        "wt_mc_id",
        "wt.mc_id",
        "ref_src",
        "s_cid",
        "ncid",
        "cmpid",
        "__s",
    }
)

# One DNS label (RFC 1123), plus "_", which real hosts use although DNS
# names for hosts should not.
_HOST_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_MAX_HOST_LENGTH = 253
# Characters a URL may carry as they are; everything else (spaces, non-ASCII,
# quotes, angle brackets) is percent-encoded. "%" is kept so existing escapes
# are neither decoded nor encoded twice.
_URL_SAFE = "!#$%&'()*+,-./:;=?@[]_~"
# What a link written by a source loses before it is read: browsers ignore them.
_LINK_CONTROLS = re.compile("[\x00-\x1f\x7f]")
# What makes a URL to fetch a mistake: C0 and C1 controls, DEL, lone surrogates.
_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_ABSOLUTE = ("http://", "https://")
_SHOWN_LENGTH = 100


# --------------------------------------------------------------------------- shared rules


def _ascii_host(host: str) -> str:
    """A host as a URL writes it (IPv6 in brackets) in its ASCII form; ValueError says why not.

    A name comes back lower-case and IDNA-encoded, a trailing dot kept; an
    IPv6 address compressed, in brackets. A zone ("%eth0") is refused: it
    names an interface of the machine that wrote the URL, not of ours.
    """
    if host.startswith("["):
        inner = host[1:-1] if host.endswith("]") else ""
        if "%" in inner:
            raise ValueError(f"bad IPv6 address {host!r}: zone identifiers are not allowed")
        try:
            return f"[{IPv6Address(inner).compressed}]"
        except ValueError:
            raise ValueError(f"bad IPv6 address {host!r}") from None
    if not host:
        raise ValueError("no host")
    name = host.lower()
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            raise ValueError(f"bad host name {host!r}: not a valid international name") from None
    bare = name.removesuffix(".")
    if len(bare) > _MAX_HOST_LENGTH:
        raise ValueError(f"bad host name: longer than {_MAX_HOST_LENGTH} characters")
    if not all(_HOST_LABEL.fullmatch(label) for label in bare.split(".")):
        raise ValueError(
            f"bad host name {host!r}: only letters, digits, '-' and '_' between dots"
        )
    return name


def _split_hostport(hostport: str) -> tuple[str, str | None]:
    """Host (IPv6 brackets kept) and port text; port None when what follows the host is junk."""
    if hostport.startswith("["):
        host, _, rest = hostport.partition("]")
        host += "]"
    else:
        host, colon, port = hostport.partition(":")
        rest = colon + port
    if not rest:
        return host, ""
    return (host, rest[1:]) if rest.startswith(":") else (host, None)


def _port(text: str | None) -> int | None:
    """The port written after the host (None when none is); ValueError when it is no port."""
    if text == "":
        return None
    if (
        text is None
        or not (text.isascii() and text.isdigit())
        or len(text.lstrip("0")) > len("65535")
        or not 0 < int(text) < 65536
    ):
        raise ValueError(f"bad port {text!r}: expected a number from 1 to 65535")
    return int(text)


def _escaped(text: str) -> str:
    return quote(text, safe=_URL_SAFE)


def is_http(url: str) -> bool:
    """Whether ``url`` is written as an absolute http(s) URL (checked or not)."""
    return url[:8].lower().startswith(_ABSOLUTE)


def join(base: str, reference: str) -> str:
    """``urljoin``, except that a malformed URL is left as written, not an exception."""
    try:
        return urljoin(base, reference)
    except ValueError:  # e.g. "http://[::1"; whoever reads it next drops it
        return reference


# --------------------------------------------------------------------------- URLs to fetch


@dataclass(frozen=True, slots=True)
class HttpUrl:
    """A URL ``http_url`` accepted, split into what a connection and a request need."""

    written: str
    """The URL as given, surrounding whitespace stripped: what the catalogue keeps."""
    url: str
    """What is requested, path and query percent-encoded where they must be, no fragment."""
    scheme: str
    host: str
    """ASCII, lower-case; an IPv6 address without brackets, as sockets and TLS take it."""
    port: int
    target: str
    """The request target: path, and ``?query`` when there is one."""

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


def http_url(url: object) -> HttpUrl:
    """The URL, checked: the one test of whether feedsvc will fetch it.

    Raises InvalidUrlError (a ValueError) whose message names the URL and
    what is wrong with it. Spaces and non-ASCII letters in the path and
    query are fine: they are percent-encoded when the request is sent.
    """
    if not isinstance(url, str) or not url.strip():
        raise InvalidUrlError("expected a URL string")
    written = url.strip()
    shown = _shown(written)
    if len(written) > MAX_URL_LENGTH:
        raise InvalidUrlError(f"bad URL {shown}: longer than {MAX_URL_LENGTH} characters")
    if found := _FORBIDDEN.search(written):
        code = ord(found.group())
        kind = "a lone surrogate" if 0xD800 <= code <= 0xDFFF else "a control character"
        raise InvalidUrlError(f"bad URL {shown}: it holds U+{code:04X}, {kind}")
    try:
        parts = urlsplit(written)
    except ValueError as exc:  # unbalanced brackets, characters NFKC turns into delimiters
        raise InvalidUrlError(f"bad URL {shown}: {exc}") from None
    scheme = parts.scheme
    if scheme not in DEFAULT_PORTS:
        named = repr(scheme) if scheme else "(none)"
        raise InvalidUrlError(
            f"bad URL {shown}: refused scheme {named}, only http and https are fetched"
        )
    if "@" in parts.netloc:
        raise InvalidUrlError(
            f"bad URL {shown}: a user name or password in the URL is not supported"
        )
    host_text, port_text = _split_hostport(parts.netloc)
    try:
        if port_text is None:
            raise ValueError(f"bad IPv6 address in {parts.netloc!r}: text after the ']'")
        host = _ascii_host(host_text)
        port = _port(port_text) or DEFAULT_PORTS[scheme]
    except ValueError as exc:
        raise InvalidUrlError(f"bad URL {shown}: {exc}") from None
    path = _escaped(parts.path or "/")
    query = _escaped(parts.query)
    target = f"{path}?{query}" if query else path
    requested = f"{scheme}://{parts.netloc}{target}"
    if len(requested) > MAX_URL_LENGTH:
        raise InvalidUrlError(
            f"bad URL {shown}: longer than {MAX_URL_LENGTH} characters once percent-encoded"
        )
    return HttpUrl(
        written=written,
        url=requested,
        scheme=scheme,
        host=host[1:-1] if host.startswith("[") else host,
        port=port,
        target=target,
    )


def _shown(url: str) -> str:
    """The URL quoted for a message: escapes visible, a long one cut."""
    return repr(url if len(url) <= _SHOWN_LENGTH else url[: _SHOWN_LENGTH - 1] + "…")


# --------------------------------------------------------------------------- links sources wrote


def _is_tracker(pair: str) -> bool:
    name = unquote_plus(pair.split("=", 1)[0]).strip().lower()
    return name.startswith("utm_") or name in TRACKING_PARAMS


def _strip_trackers(query: str) -> str:
    return "&".join(p for p in query.split("&") if p and not _is_tracker(p))


def _absolute_http(url: str | None, base: str | None, *, canonical: bool) -> str | None:
    """The one link resolver: content links use it plainly, ``canonical_url`` strictly.

    Anything malformed is None rather than an exception, because feeds are
    written by strangers.
    """
    try:
        return _resolve(url, base, canonical=canonical)
    except (ValueError, UnicodeError):
        return None


def _resolve(url: str | None, base: str | None, *, canonical: bool) -> str | None:
    if url is None:
        return None
    url = _LINK_CONTROLS.sub("", url).strip()
    if not url or len(url) > MAX_URL_LENGTH:
        return None
    if base and not (is_http(url) and "/." not in url):
        # (an absolute http(s) URL without dot segments is what urljoin would return)
        base = resolved_base(base)
        if base is not None:
            url = urljoin(base, url)
    parts = urlsplit(url)
    scheme = parts.scheme
    if scheme not in DEFAULT_PORTS:
        return None
    # The raw host, userinfo dropped: someone else's link may carry it, ours may not.
    host_text, port_text = _split_hostport(parts.netloc.rpartition("@")[2])
    if not host_text.startswith("["):
        host_text = host_text.rstrip(".")
    host = _ascii_host(host_text)  # ValueError: no link
    port = _port(port_text)
    netloc = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = _escaped(parts.path) or "/"
    query = _escaped(parts.query)
    if canonical:
        query = _strip_trackers(query)
    result = f"{scheme}://{netloc}{path}"
    if query:
        result += f"?{query}"
    if not canonical and parts.fragment:
        result += "#" + _escaped(parts.fragment)
    return result if len(result) <= MAX_URL_LENGTH else None


@lru_cache(maxsize=512)
def resolved_base(base: str) -> str | None:
    """A base URL made absolute http(s); cached, since a feed's items share a few bases."""
    return _absolute_http(base, None, canonical=False)


def canonical_url(url: str | None, base: str | None = None) -> str | None:
    """The URL an item is known by, so one story reached two ways is stored once.

    Only absolute http(s) URLs survive, without fragment and trackers;
    anything else, or anything malformed, is None.
    """
    return _absolute_http(url, base, canonical=True)


def content_url(url: str | None, base: str | None) -> str | None:
    """A link inside content: absolute http(s), but the author's query and fragment kept."""
    return _absolute_http(url, base, canonical=False)


STORY_PAGES = "articles/"
"""Where a story's page lives under the public base URL."""


def story_page_url(base_url: str, article_id: str) -> str:
    """The absolute URL of a story's page on the service: ``<base>articles/<id>``."""
    base = base_url if base_url.endswith("/") else base_url + "/"
    return base + STORY_PAGES + quote(article_id, safe="")
