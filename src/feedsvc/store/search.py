"""Full-text search over what stories show: the database's own index, never a scan.

What is searched is the title and summary of every copy; a story is found
through the copy it shows. PostgreSQL indexes ``SEARCH_VECTOR`` (a GIN
expression index, ``ix_copies_search``) and reads the reader's text with
``websearch_to_tsquery``, which takes any text without a syntax error. SQLite
keeps ``copies_fts``, an FTS5 table over ``copies`` (external content, by
rowid) that triggers keep in step; the reader's words are each quoted
(``cursor.search_terms``) so no FTS5 operator reaches it. Both use the
``simple`` configuration: words as written, lower-cased, no stemming, because
the stories come in many languages and stemming one would mangle the others.

Both back-ends are created by migration 0010 (which fills them from the rows
already stored) and are not in ``schema.metadata``: ``FTS_OBJECTS`` names them,
so schema comparisons can leave them aside.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, false, literal_column, select, text

from feedsvc.cursor import search_terms, search_text

SEARCH_VECTOR = "to_tsvector('simple'::regconfig, copies.title || ' ' || copies.summary)"
"""The indexed expression (PostgreSQL); a query must spell it exactly so for the index."""
FTS_TABLE = "copies_fts"
FTS_OBJECTS = frozenset({FTS_TABLE, "ix_copies_search"})

SQLITE_SETUP = (
    f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5("
    "title, summary, content='copies', content_rowid='rowid', tokenize='unicode61')",
    f"CREATE TRIGGER {FTS_TABLE}_ai AFTER INSERT ON copies BEGIN "
    f"INSERT INTO {FTS_TABLE}(rowid, title, summary) VALUES (new.rowid, new.title, new.summary); "
    "END",
    f"CREATE TRIGGER {FTS_TABLE}_ad AFTER DELETE ON copies BEGIN "
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, title, summary) "
    "VALUES ('delete', old.rowid, old.title, old.summary); END",
    f"CREATE TRIGGER {FTS_TABLE}_au AFTER UPDATE OF title, summary ON copies BEGIN "
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, title, summary) "
    "VALUES ('delete', old.rowid, old.title, old.summary); "
    f"INSERT INTO {FTS_TABLE}(rowid, title, summary) VALUES (new.rowid, new.title, new.summary); "
    "END",
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')",
)
SQLITE_TEARDOWN = (
    f"DROP TRIGGER IF EXISTS {FTS_TABLE}_au",
    f"DROP TRIGGER IF EXISTS {FTS_TABLE}_ad",
    f"DROP TRIGGER IF EXISTS {FTS_TABLE}_ai",
    f"DROP TABLE IF EXISTS {FTS_TABLE}",
)
POSTGRES_SETUP = (
    f"CREATE INDEX IF NOT EXISTS ix_copies_search ON copies USING gin ({SEARCH_VECTOR})",
)
POSTGRES_TEARDOWN = ("DROP INDEX IF EXISTS ix_copies_search",)


def unmodelled(diff: list[Any]) -> list[Any]:
    """A schema comparison's differences without the search objects (not in the metadata)."""

    def name(item: Any) -> str:
        found = item[1] if isinstance(item, tuple) and len(item) > 1 else None
        return str(getattr(found, "name", ""))

    return [item for item in diff if not name(item).startswith(tuple(FTS_OBJECTS))]


REBUILD_SQLITE = f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')"
"""After a full VACUUM, which may renumber the rowids the FTS5 table refers to."""


def matching(dialect: str, raw: str) -> Any:
    """A condition on ``copies`` (on ``dialect``'s index): the copy's title or summary
    holds every word of ``raw``.

    Text with no word in it matches nothing (a false condition, not an error).
    """
    wanted = search_text(raw)
    if dialect == "postgresql":
        if not wanted:
            return false()
        return literal_column(SEARCH_VECTOR).op("@@")(
            text("websearch_to_tsquery('simple'::regconfig, :search_q)").bindparams(
                bindparam("search_q", wanted)
            )
        )
    terms = search_terms(wanted)
    if not terms:
        return false()
    quoted = " ".join('"' + term.replace('"', '""') + '"' for term in terms)
    found: Any = (
        select(literal_column("rowid"))
        .select_from(text(FTS_TABLE))
        .where(text(f"{FTS_TABLE} MATCH :search_q").bindparams(bindparam("search_q", quoted)))
    )
    return literal_column("copies.rowid").in_(found)
