"""The hub's calls, one HTTP request each: verify or deny intent, distribute content, ping.

Each takes a claimed job, makes its one request through ``Fetcher.call``
(the fetcher's address policy, deadline and caps), and records the outcome
in the store with its counter. None raises for what a callback or a hub
does: a refused address, a timeout or a 500 is an outcome like a 2xx.

Verification (WebSub §5.3): a GET to the callback with ``hub.mode``,
``hub.topic``, a fresh single-use ``hub.challenge`` and, to subscribe,
``hub.lease_seconds``, appended to the callback's own query. Only a 2xx
whose body is exactly the challenge verifies; then the subscription is
created or renewed (its lease counted from this request) or removed.
Anything else changes nothing (§5.1). A denial (§5.2) is the same GET with
``hub.mode=denied`` and ``hub.reason``, its answer ignored.

Content distribution (§7): a POST of the feed's current bytes, with their
links on the topic's own base, its ``Content-Type``, one ``Link`` header
naming hub and self, and with a secret an ``X-Hub-Signature: sha256=…`` HMAC
of the body (§7.1). A 2xx is done, 410 ends the subscription, anything else
is retried on ``policy.retry_wait`` and finally dropped and logged.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from functools import partial
from urllib.parse import urlencode, urlsplit, urlunsplit

from feedsvc.errors import FetchError
from feedsvc.fetch import Fetcher
from feedsvc.publish import on_base
from feedsvc.store import Store
from feedsvc.telemetry import (
    WEBSUB_DELIVERIES,
    WEBSUB_PINGS,
    WEBSUB_VERIFICATIONS,
    Increment,
    count,
)
from feedsvc.text import one_line
from feedsvc.websub.links import hub_url, link_value
from feedsvc.websub.policy import MAX_CHALLENGE_ECHO, lease_for, retry_wait
from feedsvc.websub.records import DeliveryJob, Intent, Mode, PingJob, Subscription

log = logging.getLogger(__name__)

FORM = "application/x-www-form-urlencoded"


def new_challenge() -> str:
    """§8.2: "a random, single-use hub.challenge"."""
    return secrets.token_urlsafe(32)


def signature(secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature`` value (§7.1): the HMAC-SHA256 of the body, keyed by the secret."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def with_query(callback: str, params: Sequence[tuple[str, str]]) -> str:
    """The callback with ``params`` appended to its own query with ``&`` (§5.1.1)."""
    parts = urlsplit(callback)
    added = urlencode(params)
    query = f"{parts.query}&{added}" if parts.query else added
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


class HubCalls:
    """Makes one call per job and records what came of it."""

    def __init__(
        self,
        store: Store,
        client: Fetcher,
        clock: Callable[[], datetime],
        challenge: Callable[[], str] = new_challenge,
    ) -> None:
        self.store = store
        self.client = client
        self.clock = clock
        self.challenge = challenge

    # -- verification of intent, and denials ------------------------------------------

    def verify(self, intent: Intent) -> str:
        """Verify (or deny) one request; the outcome, as counted."""
        if intent.mode is Mode.DENIED:
            return self._deny(intent)
        challenge = self.challenge()
        params = [
            ("hub.mode", str(intent.mode)),
            ("hub.topic", intent.topic),
            ("hub.challenge", challenge),
        ]
        lease = lease_for(intent.lease_seconds)
        if intent.mode is Mode.SUBSCRIBE:
            params.append(("hub.lease_seconds", str(lease)))
        asked_at = self.clock()
        problem = self._echoes(with_query(intent.callback, params), challenge)
        outcome = "failed" if problem else "verified"
        if problem:
            log.info(
                "websub: %s of %s for %s not verified: %s",
                intent.mode, intent.topic, intent.callback, problem,
            )  # fmt: skip
            self.store.finish_intent(intent, None)
        elif intent.mode is Mode.UNSUBSCRIBE:
            self.store.unsubscribe(intent)
        else:
            made = _subscription(intent, lease, asked_at)
            refusal = self.store.finish_intent(intent, made)
            if made is None:
                refusal = "the request names no published feed"
            if refusal:
                outcome = "refused"
                log.warning("websub: verified subscription of %s not kept: %s",
                            intent.callback, refusal)  # fmt: skip
        self.store.add_metrics(count(WEBSUB_VERIFICATIONS, mode=intent.mode, outcome=outcome))
        return outcome

    def _echoes(self, url: str, challenge: str) -> str | None:
        """None when the callback answers 2xx with exactly the challenge; else what it did."""
        try:
            answer = self.client.call("GET", url, read=MAX_CHALLENGE_ECHO)
        except FetchError as exc:
            return str(exc)
        if not answer.ok:
            return f"HTTP {answer.status}"
        if answer.body != challenge.encode("ascii"):
            return "the answer is not the challenge"
        return None

    def _deny(self, intent: Intent) -> str:
        params = [("hub.mode", "denied"), ("hub.topic", intent.topic)]
        if intent.reason:
            params.append(("hub.reason", intent.reason))
        try:
            self.client.call("GET", with_query(intent.callback, params))
            outcome = "sent"
        except FetchError as exc:
            log.info("websub: denial to %s not sent: %s", intent.callback, exc)
            outcome = "failed"
        self.store.finish_intent(intent, None)
        self.store.add_metrics(count(WEBSUB_VERIFICATIONS, mode=intent.mode, outcome=outcome))
        return outcome

    # -- content distribution ---------------------------------------------------------

    def deliver(self, job: DeliveryJob) -> str:
        """Send the topic's current bytes to one subscriber; the outcome, as counted."""
        sub = job.subscription
        feed = self.store.published_feed(sub.feed_path)
        if feed is None:  # the feed left the catalogue since it changed
            self.store.finish_delivery(job, counted=_delivered("dropped"))
            log.warning("websub: %s is no longer published; delivery dropped", sub.topic)
            return "dropped"
        body = on_base(feed.body, sub.base)
        headers = {
            "Content-Type": feed.media_type,
            "Link": link_value(hub_url(None, sub.base), sub.topic),
        }
        if sub.secret is not None:
            headers["X-Hub-Signature"] = signature(sub.secret, body)
        status, error = self._post(sub.callback, body, headers)
        if status == 410:
            log.info("websub: %s answered 410 Gone; subscription to %s ended",
                     sub.callback, sub.topic)  # fmt: skip
            self.store.finish_delivery(job, gone=True, counted=_delivered("gone"))
            return "gone"
        finish = partial(self.store.finish_delivery, job)
        what = f"delivery of {sub.topic} to {sub.callback}"
        return self._finish(finish, _delivered, job.attempts, what, error)

    # -- pings to an external hub -----------------------------------------------------

    def ping(self, job: PingJob, hub: str) -> str:
        """Tell the external hub one feed changed (``hub.mode=publish``, ``hub.url``)."""
        form = urlencode([("hub.mode", "publish"), ("hub.url", job.url)]).encode("ascii")
        _, error = self._post(hub, form, {"Content-Type": FORM})
        finish = partial(self.store.finish_ping, job)
        return self._finish(finish, _pinged, job.attempts, f"ping of {job.url} to {hub}", error)

    # -- what deliveries and pings share ----------------------------------------------

    def _post(
        self, url: str, body: bytes, headers: Mapping[str, str]
    ) -> tuple[int | None, str | None]:
        """POST ``body``: (status, None) for a 2xx, else (status if one came, why not)."""
        try:
            answer = self.client.call("POST", url, body=body, headers=headers)
        except FetchError as exc:
            return None, str(exc)
        return answer.status, None if answer.ok else f"HTTP {answer.status}"

    def _finish(
        self,
        finish: Callable[..., None],
        counted: Callable[[str], list[Increment]],
        attempts: int,
        what: str,
        error: str | None,
    ) -> str:
        """Record a call's end through ``finish``: done when there was no ``error``; else
        tried again after ``policy.retry_wait`` until it gives up, then dropped and logged.
        The outcome, as counted."""
        if error is None:
            finish(counted=counted("ok"))
            return "ok"
        wait = retry_wait(attempts + 1)
        if wait is None:
            log.warning("websub: %s dropped after %d attempts: %s", what, attempts + 1, error)
            finish(counted=counted("dropped"))
            return "dropped"
        finish(retry_at=self.clock() + wait, error=one_line(error), counted=counted("error"))
        return "error"


def _subscription(intent: Intent, lease: int, asked_at: datetime) -> Subscription | None:
    """What a verified subscribe makes: its lease runs from the verification request (§5.3).

    None for a request that names no feed, which the web side never queues
    as a subscription (it is denied instead).
    """
    if intent.self_url is None or intent.feed_path is None:
        return None
    return Subscription(
        id=intent.subscription_id,
        topic=intent.self_url,
        callback=intent.callback,
        feed_path=intent.feed_path,
        callback_host=intent.callback_host,
        secret=intent.secret,
        lease_seconds=lease,
        expires_at=asked_at + timedelta(seconds=lease),
        verified_at=asked_at,
    )


def _delivered(outcome: str) -> list[Increment]:
    return count(WEBSUB_DELIVERIES, outcome=outcome)


def _pinged(outcome: str) -> list[Increment]:
    return count(WEBSUB_PINGS, hub="external", outcome=outcome)
