"""Which addresses a fetch may reach: the check made at connect time, on every hop.

Whether a URL is one feedsvc fetches at all is decided earlier, by
``feedsvc.urls.http_url``; this module decides where the connection for it
may go, once the host has been resolved.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from ipaddress import (
    IPv4Address,
    IPv4Network,
    IPv6Address,
    IPv6Network,
    ip_address,
    ip_network,
)

__all__ = ["AddressPolicy", "IPAddress", "IPNetwork", "parse_address"]

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network

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

