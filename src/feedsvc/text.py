"""Text hygiene that several stages need: one definition each, so they cannot drift apart.

Two kinds of text pass through feedsvc from outside: what a source publishes
(titles, bodies, wire files), which is kept and republished, and what a server
or a library says when something fails, which is stored as a source's error,
logged and shown on the admin pages. Both can hold anything: NUL (which
PostgreSQL refuses to store), line breaks (which forge log lines), lone
surrogates (which cannot be encoded), or a megabyte of junk.
"""

from __future__ import annotations

import re

__all__ = [
    "ERROR_LIMIT",
    "error_line",
    "one_line",
    "os_reason",
    "person_name",
    "without_controls",
]

ERROR_LIMIT = 200
"""How long a reason stored and shown for a failure may be, in characters."""

# How much of a text ``one_line`` looks at: its result is at most ``limit``
# characters, so a text many times longer only costs time to scan.
_SCAN_FACTOR = 8

# C0 and C1 controls except tab and newline, DEL, and lone surrogates (which
# no encoder accepts, and which cannot even cross into Rust libraries).
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def one_line(text: str, limit: int = ERROR_LIMIT) -> str:
    """``text`` as one short printable line, for an error that is stored, logged and shown.

    Everything that is not printable (controls, line breaks, odd spaces)
    becomes a space, runs of spaces become one, and a text longer than
    ``limit`` ends in "…" at ``limit`` characters.
    """
    head = text[: limit * _SCAN_FACTOR]
    line = " ".join("".join(ch if ch.isprintable() else " " for ch in head).split())
    if len(line) > limit or (len(head) < len(text) and line):
        return line[: limit - 1] + "…"
    return line


def error_line(exc: BaseException, limit: int = ERROR_LIMIT) -> str:
    """An exception's message as ``one_line``; its type's name when it says nothing.

    The message of an exception raised by a library may quote the bytes it
    choked on, which a stranger chose.
    """
    return one_line(str(exc), limit) or type(exc).__name__


def os_reason(exc: OSError) -> str:
    """An OSError in a few words ("Connection refused"), without errno or file name."""
    return one_line(exc.strerror or str(exc)) or type(exc).__name__


def without_controls(text: str) -> str:
    """Line endings unified to ``\\n``; other controls and lone surrogates removed.

    Tab and newline stay: they are layout, which later steps may still need.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROLS.sub("", text)


_EMAIL = re.compile(r"^\s*<?(?:mailto:)?[^@\s<>()]+@[^@\s<>()]+\.[^@\s<>()]+>?\s*$")
_EMAIL_THEN_NAME = re.compile(r"^\s*\S+@\S+\s*\((?P<name>[^()]*)\)\s*$")
_NAME_THEN_EMAIL = re.compile(r"^(?P<name>[^<>()]*?)\s*[<(]\s*(?:mailto:)?\S+@\S+\s*[>)]\s*$")


def person_name(text: str | None) -> str | None:
    """A person's name from an author field, without an e-mail address.

    RSS's <author> is an address ("jane@example.org (Jane Doe)"); addresses
    are not bylines, and republishing them hands them to harvesters, so an
    address with no name is no author at all.
    """
    text = " ".join((text or "").split())
    for pattern in (_EMAIL_THEN_NAME, _NAME_THEN_EMAIL):
        if found := pattern.match(text):
            text = found["name"].strip()
            break
    if not text or _EMAIL.match(text):
        return None
    return text
