"""What is known of a folder source's wire files, so that an unchanged file is not read again.

Each row says: this file, with this size and mtime, was read and its batch
stored, under these rules (``extract.rules_digest``). The refresh reads the
rows of the current rules before a folder is read and saves what the read
says after the batch is committed, never before, so a crash in between costs
a re-read and never a file. Rows of other rules are as good as absent (the
catalogue changed, so every file is read again) and go at the next save. The
table lives in the database, not in a process, so the knowledge survives a
restart and serves whichever scheduler holds the source's lease; rows go with
their source (``ON DELETE CASCADE``).

File names are stored as their bytes (``os.fsencode``): a name need not be
UTF-8, and the database must still hold it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from sqlalchemy import Connection, delete, select

from feedsvc.model import FileStat
from feedsvc.store.engine import Database, chunked, upsert
from feedsvc.store.schema import sources, wire_files


class WireFiles(Database):
    def wire_files(self, source_id: str, rules: str) -> dict[str, FileStat]:
        """Each file of the source read under ``rules``, by name, as it was when read."""
        query = select(wire_files.c.name, wire_files.c.size, wire_files.c.mtime_ns).where(
            wire_files.c.source == source_id, wire_files.c.rules == rules
        )
        with self.engine.connect() as conn:
            return {
                os.fsdecode(row.name): FileStat(row.size, row.mtime_ns)
                for row in conn.execute(query)
            }

    def save_wire_files(
        self,
        source_id: str,
        rules: str,
        before: Mapping[str, FileStat],
        after: Mapping[str, FileStat],
    ) -> None:
        """Make the source's rows say ``after``, given they said ``before`` (both under ``rules``).

        Only the difference is written, so a read that changed three files of
        a hundred thousand writes three rows; rows of other rules are dropped.
        A source no longer registered (removed meanwhile) has nothing to remember.
        """
        changed = [
            {
                "source": source_id,
                "name": os.fsencode(name),
                "size": seen.size,
                "mtime_ns": seen.mtime_ns,
                "rules": rules,
            }
            for name, seen in after.items()
            if before.get(name) != seen
        ]
        gone = [os.fsencode(name) for name in before if name not in after]

        def work(conn: Connection) -> None:
            registered = select(sources.c.id).where(sources.c.id == source_id)
            if conn.execute(registered).first() is None:
                return
            if changed:
                statement = upsert(conn, wire_files)
                conn.execute(
                    statement.on_conflict_do_update(
                        index_elements=["source", "name"],
                        set_={
                            "size": statement.excluded.size,
                            "mtime_ns": statement.excluded.mtime_ns,
                            "rules": statement.excluded.rules,
                        },
                    ),
                    changed,
                )
            for names in chunked(gone):
                conn.execute(
                    delete(wire_files).where(
                        wire_files.c.source == source_id, wire_files.c.name.in_(names)
                    )
                )
            conn.execute(
                delete(wire_files).where(
                    wire_files.c.source == source_id, wire_files.c.rules != rules
                )
            )

        self.transact(work)
