"""The hub's records: what waits in the database, and what one call to a callback needs.

Frozen values, like every record passed between feedsvc's stages; the store
writes and reads them by field name (``store.rows``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Mode(StrEnum):
    """What a verification request asks the callback (``hub.mode``)."""

    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"
    DENIED = "denied"


def subscription_id(topic: str, callback: str) -> str:
    """A subscription's key (§1: the pair topic URL, callback URL) as one short column."""
    return hashlib.sha256(f"{topic}\n{callback}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Intent:
    """A subscription request taken with 202, waiting for its verification (or denial).

    ``topic`` is the topic as the subscriber wrote it, which the verification
    request repeats (§5.3); ``feed_path`` is the published feed it names and
    ``self_url`` that feed's own URL on the base it was named on; both None
    when it names none of ours (then ``mode`` is DENIED and ``reason`` says
    why, or the request was an unsubscription, which is never refused).
    """

    subscription_id: str
    mode: Mode
    topic: str
    feed_path: str | None
    self_url: str | None
    callback: str
    callback_host: str
    secret: str | None
    lease_seconds: int | None
    reason: str | None
    requested_at: datetime
    id: int | None = None


@dataclass(frozen=True, slots=True)
class Subscription:
    """A verified subscription: the pair, its feed, its secret and its lease."""

    id: str
    topic: str
    callback: str
    feed_path: str
    callback_host: str
    secret: str | None
    lease_seconds: int
    expires_at: datetime
    verified_at: datetime

    @property
    def base(self) -> str:
        """The base URL the topic is on, which the delivered feed's links use."""
        return self.topic[: len(self.topic) - len(self.feed_path)]


@dataclass(frozen=True, slots=True)
class DeliveryJob:
    """One claimed content distribution: to whom, which version, the how-manyth try."""

    subscription: Subscription
    version: int
    attempts: int


@dataclass(frozen=True, slots=True)
class PingJob:
    """One claimed publish ping to the external hub."""

    path: str
    url: str
    version: int
    attempts: int


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why the hub will not take a request now: ``busy`` when waiting may help (too many
    requests pending), otherwise a ceiling that stays until subscriptions end."""

    reason: str
    busy: bool
