"""What the last fetch that read a source's content said about its items.

Skipped items (and why) and items merged into another story are kept per
source, replaced by each fetch that parses the source's content (a 304 or an
unchanged body says nothing new, so the notes stay), for the source's admin
page and the API's health. A count and a length ceiling keep a hostile feed
from filling the table: ``MAX_NOTES`` lines of at most ``MAX_NOTE_LENGTH``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, insert, select

from feedsvc.store.engine import Database
from feedsvc.store.schema import source_notes
from feedsvc.text import one_line

MAX_NOTES = 50
MAX_NOTE_LENGTH = 300
SKIPPED = "skipped"
MERGED = "merged"
MORE = "more"


@dataclass(frozen=True, slots=True)
class SourceNotes:
    """The last content fetch's notes: when, items skipped and merges, each as one line."""

    at: datetime | None = None
    skipped: tuple[str, ...] = ()
    merged: tuple[str, ...] = ()


class Notes(Database):
    def save_notes(
        self, source_id: str, skipped: Sequence[str], merged: Sequence[str], now: datetime
    ) -> None:
        """Replace the source's notes; past ``MAX_NOTES`` lines, one line says how many more."""
        lines = [(SKIPPED, line) for line in skipped] + [(MERGED, line) for line in merged]
        kept = lines[:MAX_NOTES]
        if len(lines) > MAX_NOTES:
            kept.append((MORE, f"{len(lines) - MAX_NOTES} more not kept"))
        rows = [
            {
                "source": source_id,
                "position": n,
                "kind": kind,
                "line": one_line(line, MAX_NOTE_LENGTH),
                "at": now,
            }
            for n, (kind, line) in enumerate(kept)
        ]

        def work(conn: Connection) -> None:
            conn.execute(delete(source_notes).where(source_notes.c.source == source_id))
            if rows:
                conn.execute(insert(source_notes), rows)

        self.transact(work)

    def source_notes(self, source_id: str) -> SourceNotes:
        query = (
            select(source_notes.c.kind, source_notes.c.line, source_notes.c.at)
            .where(source_notes.c.source == source_id)
            .order_by(source_notes.c.position)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        if not rows:
            return SourceNotes()
        more = [row.line for row in rows if row.kind == MORE]
        return SourceNotes(
            at=rows[0].at,
            skipped=tuple(row.line for row in rows if row.kind == SKIPPED) + tuple(more),
            merged=tuple(row.line for row in rows if row.kind == MERGED),
        )
