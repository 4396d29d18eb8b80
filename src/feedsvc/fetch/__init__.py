"""Source -> bytes and headers: the only place feedsvc touches the network or an inbox.

A ``feed`` source is fetched over HTTP(S) by this package and nobody else (the
parser is handed bytes, never a URL), because every byte from outside must pass
the same guards:

* the URL check every part of feedsvc makes (``feedsvc.urls.http_url``);
* an address policy (``policy``): the host is resolved once, every address it
  resolves to must be public (or inside an operator's allow list), and the
  connection goes to the checked address itself, so DNS rebinding cannot slip
  past the check; every redirect hop is checked again;
* one total deadline across DNS, connect, headers, body and redirects
  (``deadline``), enforced on every socket read, so a server that drips a byte
  at a time cannot hold a worker;
* a size cap counted after decompression (``body``), so a gzip bomb never
  inflates;
* a conditional GET from the stored validators (``headers``), so an unchanged
  feed costs a 304.

``client`` holds the ``Fetcher`` that puts these together; its ``call`` makes
the WebSub hub's requests to callbacks and to an external hub under the same
guards. A ``files`` source
is a folder of wire articles, read by ``folder.read_folder``.
"""

from __future__ import annotations

from feedsvc.fetch.client import ACCEPT, DEFAULT_USER_AGENT, Answer, Fetcher, Limits, check_url
from feedsvc.fetch.folder import read_folder
from feedsvc.fetch.policy import AddressPolicy, parse_address

__all__ = [
    "ACCEPT",
    "DEFAULT_USER_AGENT",
    "AddressPolicy",
    "Answer",
    "Fetcher",
    "Limits",
    "check_url",
    "parse_address",
    "read_folder",
]
