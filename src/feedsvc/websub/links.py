"""Which hub feeds advertise, and the URLs and ``Link`` headers that name it.

One place for the hub's address: the built-in hub lives at ``<base>websub``
on whatever base a feed is served on, unless ``FEEDSVC_WEBSUB_HUB`` names an
external hub, which is then the same absolute URL everywhere. Rendering
(``atom:link rel="hub"``, JSON Feed ``hubs``), the web tier's ``Link``
headers, deliveries and pings all ask here, so they cannot disagree.

A *topic* (WebSub's word for what one subscribes to) is one published feed
in one format at one base: ``<base>feeds/desks/nym.atom``. The OPML list is
published too, but it is no feed, so it is no topic.
"""

from __future__ import annotations

from dataclasses import dataclass

from feedsvc.config import Settings, default_base
from feedsvc.urls import join

BUILTIN_HUB_PATH = "websub"
"""The built-in hub's path on every base (``/websub``)."""

TOPIC_PREFIX = "feeds/"
TOPIC_SUFFIXES = (".rss", ".atom", ".json")


@dataclass(frozen=True, slots=True)
class HubSetup:
    """The hub feeds advertise and who is told when a feed changes.

    ``external`` is ``FEEDSVC_WEBSUB_HUB`` (None: the built-in hub, told
    through the database). ``feed_base`` is the base on which an external
    hub is told of feeds (``hub.url``): the public base URL, else the address
    served.
    """

    external: str | None = None
    feed_base: str = "http://127.0.0.1:8000/"

    @classmethod
    def from_settings(cls, settings: Settings) -> HubSetup:
        return cls(external=settings.websub_hub, feed_base=default_base(settings))

    @property
    def reference(self) -> str:
        """The hub as a reference on a feed's base: a path for the built-in hub, else a URL."""
        return self.external or BUILTIN_HUB_PATH


def hub_url(external: str | None, base: str) -> str:
    """The absolute hub URL advertised by feeds served on ``base``."""
    return join(base, external or BUILTIN_HUB_PATH)


def is_topic_path(path: str) -> bool:
    """Whether a published path (``feeds/all.atom``) is a feed one may subscribe to."""
    return path.startswith(TOPIC_PREFIX) and path.endswith(TOPIC_SUFFIXES)


def link_headers(hub: str, self_url: str) -> tuple[tuple[str, str], tuple[str, str]]:
    """Discovery headers of a feed response (WebSub §4): one ``rel="hub"``, one ``rel="self"``."""
    return (("Link", f'<{hub}>; rel="hub"'), ("Link", f'<{self_url}>; rel="self"'))


def link_value(hub: str, self_url: str) -> str:
    """Both links in the single header a content distribution carries (WebSub §7)."""
    return f'<{hub}>; rel="hub", <{self_url}>; rel="self"'
