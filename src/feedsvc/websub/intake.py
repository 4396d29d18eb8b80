"""A subscription request as the built-in hub takes it (WebSub §5.1): read, checked, judged.

Pure: bytes and a few facts in (the bases feeds are served on, the feeds
published, the address policy), a ``HubRequest`` or a ``BadRequest`` out.
What can be told at once is answered at once with a 4xx and a plain-text
reason (§5.1.2): a malformed body, a missing or unknown ``hub.mode``, a
callback feedsvc would never call. Whether the topic is one of ours is not
an error of the request: such a subscription is taken (202) and denied
through the callback (§5.2), as the Recommendation asks.
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterable
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from feedsvc.errors import InvalidUrlError
from feedsvc.fetch.policy import AddressPolicy, parse_address
from feedsvc.urls import MAX_URL_LENGTH, http_url
from feedsvc.websub.links import is_topic_path
from feedsvc.websub.policy import MAX_LEASE, MAX_PARAMETERS, MAX_SECRET_BYTES
from feedsvc.websub.records import Mode

FORM = "application/x-www-form-urlencoded"
MODES = {"subscribe": Mode.SUBSCRIBE, "unsubscribe": Mode.UNSUBSCRIBE}
NOT_OURS = (
    "hub.topic is not a feed published here; subscribe to the rel=\"self\" URL of one "
    "of its feeds (e.g. …/feeds/all.atom)"
)
_CONTROL = re.compile("[\x00-\x1f\x7f]")
_UNRESERVED_ESCAPE = re.compile(r"%(2[dDeE]|3[0-9]|[46][1-9a-fA-F]|[57][0-9aA]|5[fF]|7[eE])")


class BadRequest(ValueError):
    """A request the hub answers with ``status`` (400 unless said) and this message."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class HubRequest:
    """A well-formed subscription or unsubscription request, as the subscriber wrote it."""

    mode: Mode
    topic: str
    callback: str
    """The callback as it will be called: checked, escaped where it must be, no fragment."""
    callback_host: str
    lease_seconds: int | None
    secret: str | None


def read_request(body: bytes, content_type: str | None, policy: AddressPolicy) -> HubRequest:
    """The request in a form-encoded body; BadRequest says what is wrong with it."""
    media_type, _, params = (content_type or "").partition(";")
    if media_type.strip().lower() != FORM:
        raise BadRequest(f"the request must be {FORM} (WebSub §5.1)")
    charset = dict(_param(p) for p in params.split(";") if "=" in p).get("charset", "utf-8")
    if charset.lower() not in ("utf-8", "utf8"):
        raise BadRequest(f"the request must be UTF-8, not {charset!r}")
    form = _form(body)
    mode_text = _one(form, "hub.mode")
    if mode_text == "publish":
        raise BadRequest(
            "hub.mode=publish: this hub learns of changes from feedsvc itself, "
            "not from pings"
        )
    mode = MODES.get(mode_text)
    if mode is None:
        raise BadRequest(f"hub.mode must be subscribe or unsubscribe, got {mode_text!r}")
    topic = _printable("hub.topic", _one(form, "hub.topic"))
    if len(topic) > MAX_URL_LENGTH:
        raise BadRequest(f"hub.topic is longer than {MAX_URL_LENGTH} characters")
    try:
        checked = http_url(_one(form, "hub.callback"))
    except InvalidUrlError as exc:
        raise BadRequest(f"hub.callback: {exc}") from None
    refusal = _literal_refusal(checked.host, policy)
    if refusal is not None:
        raise BadRequest(
            f"hub.callback: refused address {checked.host} ({refusal}); "
            "the hub calls public addresses only"
        )
    lease = None
    secret = None
    if mode is Mode.SUBSCRIBE:  # both are ignored in an unsubscription (§5.1)
        lease = _lease(form.get("hub.lease_seconds"))
        secret = _secret(form.get("hub.secret"))
    return HubRequest(mode, topic, checked.url, checked.host, lease, secret)


def find_topic(
    topic: str, bases: Iterable[str], published: Container[str]
) -> tuple[str, str] | None:
    """The feed ``topic`` names on one of ``bases``: (its self URL, its published path);
    None when it names none of ours.

    Scheme and host are compared in any case and escapes of unreserved
    characters are decoded (§5.1.1: hubs MUST decode them); a query or a
    fragment makes it another resource.
    """
    try:
        parts = urlsplit(_UNRESERVED_ESCAPE.sub(lambda m: chr(int(m[1], 16)), topic.strip()))
    except ValueError:
        return None
    if parts.query or parts.fragment or "%" in parts.path:
        return None
    written = f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path}"
    for base in bases:
        head = urlsplit(base)
        prefix = f"{head.scheme.lower()}://{head.netloc.lower()}{head.path}"
        if written.startswith(prefix):
            path = written[len(prefix) :]
            if is_topic_path(path) and path in published:
                return base + path, path
    return None


def _form(body: bytes) -> dict[str, list[str]]:
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(
            text,
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_PARAMETERS,
        )
    except UnicodeDecodeError:
        raise BadRequest("the request body is not form-encoded UTF-8") from None
    except ValueError:
        raise BadRequest(f"more than {MAX_PARAMETERS} parameters") from None
    form: dict[str, list[str]] = {}
    for name, value in pairs:
        form.setdefault(name, []).append(value)
    return form


def _one(form: dict[str, list[str]], name: str) -> str:
    values = form.get(name)
    if not values or not values[0].strip():
        raise BadRequest(f"{name} is required")
    if len(values) > 1:
        raise BadRequest(f"{name} is given {len(values)} times")
    return values[0].strip()


MAX_LEASE_SECONDS = int(MAX_LEASE.total_seconds())


def _lease(values: list[str] | None) -> int | None:
    """§5.1: "a positive decimal integer"; absent means the hub's default."""
    if values is None:
        return None
    if len(values) > 1:
        raise BadRequest(f"hub.lease_seconds is given {len(values)} times")
    text = values[0].strip()
    digits = text.lstrip("0")
    if not (text.isascii() and text.isdigit() and digits):
        raise BadRequest(f"hub.lease_seconds must be a positive whole number, got {text!r}")
    # Past the hub's maximum it is granted the maximum anyway (§5.1: the hub decides);
    # bounded here, so what is stored fits every database's integer column.
    return MAX_LEASE_SECONDS if len(digits) > 12 else min(int(digits), MAX_LEASE_SECONDS)


def _secret(values: list[str] | None) -> str | None:
    if values is None:
        return None
    if len(values) > 1:
        raise BadRequest(f"hub.secret is given {len(values)} times")
    secret = _printable("hub.secret", values[0])
    if not secret:
        raise BadRequest("hub.secret is empty; leave it out for unsigned deliveries")
    if len(secret.encode("utf-8")) > MAX_SECRET_BYTES:
        raise BadRequest(f"hub.secret must be less than {MAX_SECRET_BYTES + 1} bytes (§5.1)")
    return secret


def _printable(name: str, value: str) -> str:
    """Control characters are no part of a URL or a secret, and a database refuses NUL."""
    if _CONTROL.search(value):
        raise BadRequest(f"{name} holds a control character")
    return value


def _literal_refusal(host: str, policy: AddressPolicy) -> str | None:
    """Why a callback written as an IP address may not be called; None for names.

    A name is resolved, and each address checked, when the scheduler calls
    it, never on a web thread.
    """
    try:
        address = parse_address(host)
    except ValueError:
        return None
    return policy.refusal(address)


def _param(text: str) -> tuple[str, str]:
    name, _, value = text.partition("=")
    return name.strip().lower(), value.strip().strip('"')
