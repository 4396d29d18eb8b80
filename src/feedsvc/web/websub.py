"""``/websub``: the built-in WebSub hub's door for subscribers (WebSub §5.1).

A web worker only reads the request, answers it, and leaves what follows
in the database: a request it can judge at once gets its 4xx and a plain-text
reason; any other gets ``202 Accepted`` and waits there for a scheduler to
verify intent at the callback (or deny it, for a topic that is not one of our
feeds). No web thread ever calls a callback. With ``FEEDSVC_WEBSUB_HUB``
set, the built-in hub sends subscribers on to that hub (307, §5.1.2).
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Flask, Response, request
from werkzeug.exceptions import RequestEntityTooLarge

from feedsvc.config import Settings
from feedsvc.fetch import AddressPolicy
from feedsvc.store import Store
from feedsvc.web.cache import FeedCache
from feedsvc.web.feeds import PLAIN_HEADERS
from feedsvc.web.hosts import HostPolicy
from feedsvc.websub.intake import NOT_OURS, BadRequest, find_topic, read_request
from feedsvc.websub.links import BUILTIN_HUB_PATH
from feedsvc.websub.policy import MAX_REQUEST_BYTES
from feedsvc.websub.records import Intent, Mode, subscription_id

BUSY_RETRY_AFTER = "60"
USAGE = (
    "This is feedsvc's WebSub hub (https://www.w3.org/TR/websub/). Subscribe to a feed by a "
    "POST of application/x-www-form-urlencoded hub.mode=subscribe, hub.topic=<the feed's "
    "rel=self URL>, hub.callback=<your URL>, and optionally hub.lease_seconds and hub.secret.\n"
)


def init_app(app: Flask, hosts: HostPolicy) -> None:
    settings: Settings = app.config["SETTINGS"]
    store: Store = app.extensions["feedsvc.store"]
    cache: FeedCache = app.extensions["feedsvc.cache"]
    policy = AddressPolicy(settings.allow_networks)

    def hub() -> Response:
        if settings.websub_hub is not None:
            return Response(
                f"this service's hub is {settings.websub_hub}\n",
                status=307,
                mimetype="text/plain",
                headers={"Location": settings.websub_hub, **PLAIN_HEADERS},
            )
        if request.method != "POST":
            return _plain(405, USAGE, Allow="POST")
        request.max_content_length = MAX_REQUEST_BYTES
        try:
            body = request.get_data(cache=False)
        except RequestEntityTooLarge:
            return _plain(413, f"a subscription request is at most {MAX_REQUEST_BYTES} bytes\n")
        try:
            asked = read_request(body, request.headers.get("Content-Type"), policy)
        except BadRequest as exc:
            return _plain(exc.status, f"{exc}\n")
        found = find_topic(asked.topic, hosts.bases, _Published(cache))
        self_url, feed_path = found if found else (None, None)
        mode = asked.mode
        if found is None and mode is Mode.SUBSCRIBE:
            mode = Mode.DENIED  # taken, then denied through the callback (§5.2)
        intent = Intent(
            subscription_id=subscription_id(self_url or asked.topic, asked.callback),
            mode=mode,
            topic=asked.topic,
            feed_path=feed_path,
            self_url=self_url,
            callback=asked.callback,
            callback_host=asked.callback_host,
            secret=asked.secret,
            lease_seconds=asked.lease_seconds,
            reason=NOT_OURS if mode is Mode.DENIED else None,
            requested_at=datetime.now(UTC),
        )
        refusal = store.queue_intent(intent)
        if refusal is not None:
            if refusal.busy:
                return _plain(429, f"{refusal.reason}; try again later\n",
                              **{"Retry-After": BUSY_RETRY_AFTER})  # fmt: skip
            return _plain(403, f"{refusal.reason}\n")
        return _plain(202, f"accepted: the hub will now verify this {asked.mode} request "
                           "at the callback\n")  # fmt: skip

    app.add_url_rule(
        "/" + BUILTIN_HUB_PATH, "websub.hub", hub, methods=["GET", "HEAD", "POST"]
    )


class _Published:
    """The published feeds as a container, asked of the worker's feed cache."""

    def __init__(self, cache: FeedCache) -> None:
        self.cache = cache

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and self.cache.has(path)


def _plain(status: int, text: str, **headers: str) -> Response:
    return Response(
        text,
        status=status,
        mimetype="text/plain",
        headers={**PLAIN_HEADERS, "Cache-Control": "no-store", **headers},
    )
