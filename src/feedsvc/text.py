"""Text hygiene that several stages need: one definition each, so they cannot drift apart.

Two kinds of text pass through feedsvc from outside: what a source publishes
(titles, bodies, wire files), which is kept and republished, and what a server
or a library says when something fails, which is stored as a source's error,
logged and shown on the admin pages. Both can hold anything: NUL (which
PostgreSQL refuses to store), line breaks (which forge log lines), lone
surrogates (which cannot be encoded), or a megabyte of junk.

The ceilings of every text stored from a source live here too, so one item,
however large, cannot make a stored article or a published feed grow past a
bound that can be computed from these numbers (README, "Text ceilings").
"""

from __future__ import annotations

import re

__all__ = [
    "AUTHOR_LIMIT",
    "CONTENT_LIMIT",
    "CORRECTION_LIMIT",
    "ERROR_LIMIT",
    "MAX_AUTHORS",
    "RAW_CONTENT_LIMIT",
    "RAW_TEXT_LIMIT",
    "SUMMARY_LIMIT",
    "TITLE_LIMIT",
    "error_line",
    "one_line",
    "os_reason",
    "person_name",
    "shortened",
    "stripped",
    "without_controls",
    "without_markup",
]

ERROR_LIMIT = 200
"""How long a reason stored and shown for a failure may be, in characters."""

# -- ceilings of stored article text (README, "Text ceilings") ----------------------------

TITLE_LIMIT = 300
"""Characters of a title; longer ones end in "…" (a wire file's longer first line is no title)."""
AUTHOR_LIMIT = 200
"""Characters of an author (all of an item's names together)."""
MAX_AUTHORS = 20
"""People of one item (or feed) read for its credit; the rest are ignored. The credit
fits ``AUTHOR_LIMIT`` anyway, but reading 10,000 names cost seconds."""
SUMMARY_LIMIT = 300
"""Characters of a summary: a teaser of whole blocks, or one block cut at a word."""
CORRECTION_LIMIT = 1000
"""Characters of a correction note."""
CONTENT_LIMIT = 512 * 1024
"""UTF-8 bytes of sanitised content HTML; longer content is cut between elements."""
RAW_TEXT_LIMIT = 64 * 1024
"""Characters of a short text's raw form (title, author, summary HTML, correction)
that are read at all: markup and entities are dropped after reading, so the raw
form may be longer than what is kept, but never megabytes longer."""
RAW_CONTENT_LIMIT = 2 * CONTENT_LIMIT
"""Characters of raw content HTML that are sanitised at all (its markup may shrink)."""

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


def stripped(value: object) -> str | None:
    """A string without its surrounding white space; None for a blank or absent one, and
    for anything that is not a string (what a parser hands over may be of any type)."""
    if not isinstance(value, str):
        return None
    return value.strip() or None


def without_controls(text: str) -> str:
    """Line endings unified to ``\\n``; other controls and lone surrogates removed.

    Tab and newline stay: they are layout, which later steps may still need.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROLS.sub("", text)


_EMAIL = re.compile(r"^\s*<?(?:mailto:)?[^@\s<>()]+@[^@\s<>()]+\.[^@\s<>()]+>?\s*$")
# The local part is taken up to the first "@" (``[^\s@]+``): with ``\S+@`` a name of
# many "@" was tried at every one of them, and 20 KB of "a@" took 2.5 s.
_EMAIL_THEN_NAME = re.compile(r"^\s*[^\s@]+@\S+\s*\((?P<name>[^()]*)\)\s*$")
_NAME_THEN_EMAIL = re.compile(
    r"^(?P<name>[^<>()]*?)\s*[<(]\s*(?:mailto:)?[^\s@]+@\S+\s*[>)]\s*$"
)


def person_name(text: str | None) -> str | None:
    """A person's name from an author field, without an e-mail address.

    RSS's <author> is an address ("jane@example.org (Jane Doe)"); addresses
    are not bylines, and republishing them hands them to harvesters, so an
    address with no name is no author at all.
    """
    text = " ".join((text or "")[:RAW_TEXT_LIMIT].split())
    for pattern in (_EMAIL_THEN_NAME, _NAME_THEN_EMAIL):
        if found := pattern.match(text):
            text = found["name"].strip()
            break
    if not text or _EMAIL.match(text):
        return None
    return text


def shortened(text: str, limit: int) -> str:
    """``text`` cut at a word boundary so that it, ellipsis included, fits in ``limit``."""
    if len(text) <= limit:
        return text
    if limit <= 1:
        return "…"[:limit]
    window = text[: limit - 1]
    if not text[limit - 1].isspace() and " " in window:
        window = window.rsplit(" ", 1)[0]
    return window.rstrip(" ,;:-–—") + "…"


# What an HTML parser would take for markup: a tag (``<b>``, ``</b>``, ``<img …``), a
# comment, a declaration or a processing instruction, closed or running to the end.
_MARKUP = re.compile(r"<(?:[A-Za-z/!?])[^<>]*(?:>|$)")


def without_markup(text: str) -> str:
    """Plain text with every tag-like sequence removed, for titles.

    A title is plain text, but feed readers that render RSS titles as HTML
    would run ``<img src=x onerror=…>`` written as text, and validators warn
    about it. Removal repeats until nothing tag-like is left, so pieces cannot
    join into a tag (``<scr<b>ipt>``); a ``<`` followed by a space or a digit
    ("a < b", "<3") is not markup to any parser and stays.
    """
    previous = None
    while previous != text:
        previous, text = text, _MARKUP.sub("", text)
    return text
