"""A source's guid as the store keeps it: exact, storable, and what earlier releases kept.

A guid identifies an item within its source (issue 10), so two guids that
differ in any way are two items: ``"a  b"`` and ``"a b"``, ``"x&amp;y"`` and
``"x&y"``, ``"a\\x01"`` and ``"a"``. The guid is therefore kept exactly as the
parser handed it over, character for character, except for what cannot be
stored or shown safely: lone surrogates (no UTF-8 encoder accepts them; a
wire file name that is not UTF-8 holds them), NUL (PostgreSQL's ``text``
refuses it) and the other control characters (C0, DEL, C1: a guid is printed
by ``feedsvc articles --json``, and a C1 CSI would drive the operator's
terminal). Each of those becomes ``ESCAPE`` and its four hex digits, and so
does ``ESCAPE`` itself, so the escaping is reversible and injective:
distinct guids stay distinct, and a stored guid is printable. ``ESCAPE`` is
U+241B (the printable symbol for escape), which no real guid holds, and
releases before this one dropped every control character, so a guid they
stored is its own exact form unless it was one of the changed ones.

A guid with nothing visible in it (only spaces or controls) is no guid: the
item is identified by its link, else its words, as before. A guid longer
than ``MAX_GUID_BYTES`` is kept as its hash (it is a database key, and
PostgreSQL refuses index entries over about 2.7 KB).

Before this policy, guids were read as plain text (controls dropped, entities
decoded, spaces collapsed); ``legacy_guid`` is that reading, kept so that a
copy stored under it is adopted by its item's exact guid instead of being
duplicated (``store.plan``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

from feedsvc.text import without_controls

__all__ = [
    "ESCAPE",
    "HASHED_PREFIX",
    "MAX_GUID_BYTES",
    "exact_guid",
    "guid_aliases",
    "legacy_guid",
    "storable",
]

MAX_GUID_BYTES = 1024
"""UTF-8 bytes of a guid kept as written; a longer one is kept as its SHA-256."""
ESCAPE = "\u241b"
HASHED_PREFIX = "sha256-guid:"

_UNSTORABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\u241b]")
_WHITESPACE = re.compile(r"\s+")


def _escaped(match: re.Match[str]) -> str:
    return f"{ESCAPE}{ord(match.group(0)):04x}"


def storable(text: str) -> str:
    """``text`` with controls, lone surrogates and ``ESCAPE`` written as ``ESCAPE`` + 4 hex."""
    return _UNSTORABLE.sub(_escaped, text)


def _bounded(guid: str) -> str:
    data = guid.encode("utf-8")
    if len(data) > MAX_GUID_BYTES:
        return HASHED_PREFIX + hashlib.sha256(data).hexdigest()
    return guid


def legacy_guid(raw: str | None) -> str | None:
    """The guid as releases before exact guids stored it (plain text, hashed when long)."""
    if not raw:
        return None
    text = _WHITESPACE.sub(" ", without_controls(raw)).strip()
    return _bounded(text) if text else None


def exact_guid(raw: str | None) -> str | None:
    """The guid as stored: exact but storable (see the module); None when it shows nothing."""
    if not raw or legacy_guid(raw) is None:
        return None
    return _bounded(storable(raw))


def guid_aliases(raws: Iterable[str | tuple[str | None, str | None] | None]) -> dict[str, str]:
    """Exact guid -> legacy guid, for each raw guid whose two forms differ.

    What the planner needs to adopt copies stored by earlier releases. A raw
    guid may be a pair (guid, the form an earlier release was handed instead).
    """
    aliases: dict[str, str] = {}
    for entry in raws:
        raw, given = entry if isinstance(entry, tuple) else (entry, entry)
        exact = exact_guid(raw)
        legacy = legacy_guid(given if given is not None else raw)
        if exact is not None and legacy is not None and exact != legacy:
            aliases.setdefault(exact, legacy)
    return aliases
