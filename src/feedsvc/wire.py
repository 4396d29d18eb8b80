"""Read one plain-text wire article (README.md, "Wire articles") into a RawItem.

Scope: bytes of one file in, one ``RawItem`` out, or a ``ParseError`` naming
why the file cannot be an article. Pure: no file system, no clock, no
timezone database. Times written without a zone stay naive so that the
normaliser can read them in the source's timezone; sanitising, summaries,
desks and topics are the normaliser's business, not this module's.

The layout read here, every part after the title optional::

    Title
    Title                         (the title repeated)
    NYM Desk                      (desk line)
    Published : 21:09, 23 June 2025
    Updated : 22:15, 23 June 2025
    Correction : An earlier version misnamed the summit's host.   (a note shown with the story)
    Paragraph text ...
    Heading line
    Paragraph directly under the heading ...
      • bullet
    Share:                        (page furniture, dropped)

Choices the golden corpus in ``tests/wire/`` pins down:

* A heading is the first line of a block of several lines that is short, has
  no terminal punctuation and does not end in a word like "of" or "the",
  and is followed by a bullet or by a line that could not be the rest of a
  hard-wrapped sentence (it starts in upper case and its first word would
  have fitted on the short line). A short block of one line stays a
  paragraph: alone it is ambiguous.
* Consecutive bullets form one list, also when only blank lines separate
  them; an indented line after a bullet continues that bullet.
* Every piece of text is HTML-escaped, so the markup out is exactly the
  markup made here (``h2``, ``p``, ``ul``, ``li``).
* A date line that cannot be read is a problem of the file (``RawItem.problems``),
  not a reason to refuse it: the article keeps its place, dated when first seen.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from feedsvc.dates import parse_wire_date
from feedsvc.errors import ParseError
from feedsvc.model import RawItem
from feedsvc.text import TITLE_LIMIT, one_line, without_controls

__all__ = ["decode_wire", "parse_wire_date", "read_wire"]

_UTF8_BOM = b"\xef\xbb\xbf"
# Above this share of control characters the bytes are not text whatever
# they decode to; ordinary text has none besides line ends and tabs.
_MAX_CONTROL_SHARE = 0.1
_MAX_SHORT_LINE = 80
_MAX_HEADING_WORDS = 12

_BULLET = re.compile(r"[•*–-]\s+(?=\S)")
_DATE_LINE = re.compile(r"(published|updated)(?:\s+on)?\s*:\s*(.*)", re.IGNORECASE)
_CORRECTION_LINE = re.compile(r"correction\s*:\s*(.*)", re.IGNORECASE)
_SHOWN_DATE = 60  # characters of an unreadable date quoted in the problem
_SHARE_LINE = re.compile(
    r"share(?:\s+this(?:\s+(?:article|story|page|post))?)?\s*(?::.*)?", re.IGNORECASE
)
_SHARE_FURNITURE = frozenset(
    {
        "facebook",
        "twitter",
        "x",
        "linkedin",
        "whatsapp",
        "telegram",
        "reddit",
        "bluesky",
        "email",
        "e-mail",
        "mail",
        "print",
        "copy",
        "link",
        "messenger",
    }
)
_TERMINAL = frozenset(".,;:!?…-–—")
_CLOSERS = "\"'”’»)]"
# A line ending in one of these words runs on into the next: it is no heading.
_DANGLING = frozenset(
    {
        "a",
        "an",
        "and",
        "as",
        "at",
        "by",
        "for",
        "from",
        "in",
        "into",
        "of",
        "on",
        "or",
        "the",
        "to",
        "with",
    }
)

@dataclass(frozen=True, slots=True)
class _Line:
    """One non-blank line: indentation matters only for bullet continuations."""

    indent: int
    text: str  # whitespace collapsed
    raw: str  # stripped only, as the file wrote it


@dataclass(frozen=True, slots=True)
class _Node:
    kind: Literal["h2", "p", "ul"]
    texts: tuple[str, ...]


def read_wire(name: str, content: bytes, bylines: Collection[str] = ()) -> RawItem:
    """Read one wire file; ``name`` (its path in the folder) is its stable guid.

    ``bylines`` are the desk lines of the catalogue's desks: a line right
    after the title that matches one is the desk line even without a date
    line after it to give it away.
    """
    text = decode_wire(content)
    lines = _split_lines(text)
    if not any(line is not None for line in lines):
        raise ParseError("empty file (only whitespace)")
    at, title = _title(lines)
    header = _read_header(lines, at, title, bylines)
    return RawItem(
        guid=name,
        url=None,
        title=title,
        title_html=False,
        summary_html=None,
        content_html=_render_body(_drop_share(lines[header.body_at :])),
        byline=header.byline,
        published=header.published,
        updated=header.updated,
        correction=header.correction,
        problems=header.problems,
    )


def decode_wire(content: bytes) -> str:
    """Bytes to text: UTF-8 (BOM or not), else Windows-1252, never a decode crash.

    Raises ParseError for an empty file and for bytes that are plainly not
    text, so that a stray image in the inbox gets a clear reason rather than
    an article of mojibake.
    """
    if not content:
        raise ParseError("empty file")
    if b"\x00" in content:
        raise ParseError("binary file, not text (NUL bytes)")
    body = content.removeprefix(_UTF8_BOM)
    try:
        text = body.decode("utf-8")
        replaced = 0
    except UnicodeDecodeError:
        # Five cp1252 bytes are undefined; they become U+FFFD and count as noise.
        text = body.decode("cp1252", errors="replace")
        replaced = text.count("\ufffd")
    if not text:
        raise ParseError("empty file")
    noise = replaced + sum(1 for char in text if _is_stray_control(char))
    if noise / len(text) > _MAX_CONTROL_SHARE:
        raise ParseError("binary file, not text (control characters)")
    return text


def _is_stray_control(char: str) -> bool:
    return char not in "\n\r\t\f\v" and unicodedata.category(char) == "Cc"


def _split_lines(text: str) -> list[_Line | None]:
    """Lines with controls removed; None marks a blank line (a block boundary)."""
    return [_clean_line(line) for line in text.splitlines()]


def _clean_line(line: str) -> _Line | None:
    kept = without_controls(line).replace("\ufeff", "")
    raw = kept.strip()
    if not raw:
        return None
    indent = len(kept) - len(kept.lstrip())
    return _Line(indent=indent, text=" ".join(raw.split()), raw=raw)


def _title(lines: Sequence[_Line | None]) -> tuple[int, str]:
    """The first non-blank line and the index after it, if it can be a title."""
    at = _next_line(lines, 0)
    first = _line_at(lines, at)
    if first is None:
        raise ParseError("empty file (only whitespace)")
    text = first.text
    if _DATE_LINE.fullmatch(text):
        raise ParseError("no title line (the file starts with a date line)")
    if _SHARE_LINE.fullmatch(text):
        raise ParseError("no title line (the file starts with 'Share')")
    if _BULLET.match(text):
        raise ParseError("no title line (the file starts with a bullet)")
    if not any(char.isalnum() for char in text):
        raise ParseError("no title line (the first line has no letters or digits)")
    if len(text) > TITLE_LIMIT:
        raise ParseError(f"no title line (the first line has {len(text)} characters)")
    return at + 1, text


def _next_line(lines: Sequence[_Line | None], start: int) -> int:
    """Index of the first non-blank line at or after ``start``, else len(lines)."""
    for index in range(start, len(lines)):
        if lines[index] is not None:
            return index
    return len(lines)


@dataclass(frozen=True, slots=True)
class _Header:
    body_at: int
    byline: str | None = None
    published: datetime | None = None
    updated: datetime | None = None
    correction: str | None = None
    problems: tuple[str, ...] = ()


def _read_header(
    lines: Sequence[_Line | None], at: int, title: str, bylines: Collection[str]
) -> _Header:
    """Consume the repeated title, desk line, date lines and correction after the title."""
    at = _next_line(lines, at)
    line = _line_at(lines, at)
    if line is not None and line.text.casefold() == title.casefold():
        at = _next_line(lines, at + 1)
        line = _line_at(lines, at)
    byline = None
    if line is not None and _is_desk_line(
        line, _line_at(lines, _next_line(lines, at + 1)), bylines
    ):
        byline = line.raw
        at = _next_line(lines, at + 1)
        line = _line_at(lines, at)
    dates: dict[str, datetime] = {}
    problems: list[str] = []
    while line is not None and (match := _DATE_LINE.fullmatch(line.text)):
        name = match.group(1).capitalize()
        moment = parse_wire_date(match.group(2))
        if moment is None:
            written = one_line(match.group(2), _SHOWN_DATE)
            fallback = "dated when first seen" if name == "Published" else "ignored"
            problems.append(f"date of the {name} line not understood ({written!r}): {fallback}")
        else:
            dates.setdefault(name, moment)
        at = _next_line(lines, at + 1)
        line = _line_at(lines, at)
    correction = None
    if line is not None and (match := _CORRECTION_LINE.fullmatch(line.text)):
        correction = match.group(1) or None
        at = _next_line(lines, at + 1)
    return _Header(
        body_at=at,
        byline=byline,
        published=dates.get("Published"),
        updated=dates.get("Updated"),
        correction=correction,
        problems=tuple(problems),
    )


def _line_at(lines: Sequence[_Line | None], index: int) -> _Line | None:
    return lines[index] if index < len(lines) else None


def _is_desk_line(line: _Line, after: _Line | None, bylines: Collection[str]) -> bool:
    """Known byline, or a short line that a date line follows (position gives it away)."""
    if len(line.text) > _MAX_SHORT_LINE or _DATE_LINE.fullmatch(line.text):
        return False
    known = {" ".join(byline.split()).casefold() for byline in bylines}
    if line.text.casefold() in known:
        return True
    return after is not None and _DATE_LINE.fullmatch(after.text) is not None


def _drop_share(lines: Sequence[_Line | None]) -> Sequence[_Line | None]:
    """Cut a trailing 'Share:' line and the share-button words after it.

    Only at the end: a 'Share' followed by real text is text, and share-button
    words without a 'Share' line before them are left alone.
    """
    for index in range(len(lines) - 1, -1, -1):
        line = lines[index]
        if line is None or _is_share_furniture(line.text):
            continue
        return lines[:index] if _SHARE_LINE.fullmatch(line.text) else lines
    return lines


def _is_share_furniture(text: str) -> bool:
    words = [word for word in re.split(r"[\s|,·•/]+", text.casefold()) if word]
    return bool(words) and all(word in _SHARE_FURNITURE for word in words)


def _render_body(lines: Iterable[_Line | None]) -> str:
    """Body lines to simple HTML: one block element per line of output."""
    nodes = _merge_lists(node for block in _blocks(lines) for node in _block_nodes(block))
    return "\n".join(_render(node) for node in nodes)


def _blocks(lines: Iterable[_Line | None]) -> Iterator[list[_Line]]:
    block: list[_Line] = []
    for line in lines:
        if line is None:
            if block:
                yield block
            block = []
        else:
            block.append(line)
    if block:
        yield block


def _block_nodes(block: Sequence[_Line]) -> list[_Node]:
    """One block of lines to nodes, in order: maybe a heading, then text and lists."""
    nodes: list[_Node] = []
    if _is_heading(block):
        nodes.append(_Node("h2", (block[0].text,)))
        block = block[1:]
    paragraph: list[str] = []
    items: list[str] = []
    for line in block:
        bullet = _BULLET.match(line.text)
        if bullet:
            _flush(nodes, "p", paragraph)
            items.append(line.text[bullet.end() :])
        elif items and line.indent > 0:
            items[-1] = f"{items[-1]} {line.text}"
        else:
            _flush(nodes, "ul", items)
            paragraph.append(line.text)
    _flush(nodes, "p", paragraph)
    _flush(nodes, "ul", items)
    return nodes


def _flush(nodes: list[_Node], kind: Literal["p", "ul"], texts: list[str]) -> None:
    if texts:
        nodes.append(_Node(kind, (" ".join(texts),) if kind == "p" else tuple(texts)))
        texts.clear()


def _is_heading(block: Sequence[_Line]) -> bool:
    """A short first line standing alone on purpose, not the start of a wrapped paragraph."""
    if len(block) < 2:
        return False
    text, following = block[0].text, block[1].text
    words = text.split()
    return (
        not _BULLET.match(text)
        and len(text) <= _MAX_SHORT_LINE
        and len(words) <= _MAX_HEADING_WORDS
        and not text[0].islower()
        and text.rstrip(_CLOSERS)[-1:] not in _TERMINAL
        and words[-1].casefold() not in _DANGLING
        and (_BULLET.match(following) is not None or _broken_on_purpose(block))
    )


def _broken_on_purpose(block: Sequence[_Line]) -> bool:
    """Whether the next line's first word would have fitted on the first line.

    A hard-wrapping writer breaks a line only when the next word does not fit
    within the block's width (at least its longest line); a break before a
    word that fits, or before a lower-case word, continues a sentence.
    """
    first, following = block[0].text, block[1].text
    width = max(len(line.text) for line in block)
    return not following[0].islower() and len(first) + 1 + len(following.split()[0]) <= width


def _merge_lists(nodes: Iterable[_Node]) -> list[_Node]:
    """Join lists that only blank lines kept apart: loosely spaced bullets are one list."""
    merged: list[_Node] = []
    for node in nodes:
        if node.kind == "ul" and merged and merged[-1].kind == "ul":
            merged[-1] = _Node("ul", merged[-1].texts + node.texts)
        else:
            merged.append(node)
    return merged


def _render(node: _Node) -> str:
    if node.kind == "ul":
        items = "".join(f"<li>{_escape(text)}</li>" for text in node.texts)
        return f"<ul>{items}</ul>"
    return f"<{node.kind}>{_escape(node.texts[0])}</{node.kind}>"


def _escape(text: str) -> str:
    return html.escape(text, quote=False)
