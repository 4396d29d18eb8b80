"""Leases on rows: how several schedulers share queued work through the database.

A row of work (a source to fetch, a verification, a delivery, a ping) carries
``lease_owner`` and ``lease_until``. A claimer takes due rows nobody holds and
writes its name and an end time on them in one transaction; whoever finishes
gives the lease back, and a lease whose holder died simply runs out. The
sources, the hub's verifications and its delivery queue all claim this way,
so the rule is written here once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Column, ColumnElement, Connection, Row, Select, Table, or_, update


def unleased(table: Table, now: datetime) -> ColumnElement[bool]:
    """Rows nobody holds at ``now``: never leased, or the lease ran out."""
    return or_(table.c.lease_until.is_(None), table.c.lease_until < now)


def claim_rows(
    conn: Connection, query: Select[Any], key: Column[Any], owner: str, until: datetime
) -> Sequence[Row[Any]]:
    """Lease the rows ``query`` finds to ``owner`` until ``until``; the rows found.

    ``query`` picks the due, ``unleased`` rows (ordered and limited as the
    caller wants) and selects ``key``, the primary key of the table that
    holds the lease. PostgreSQL skips rows another claimer has locked
    (``FOR UPDATE SKIP LOCKED`` on that table), so concurrent claimers take
    disjoint rows; SQLite serialises claimers with its write lock.
    """
    table = key.table
    if conn.dialect.name != "sqlite":
        query = query.with_for_update(skip_locked=True, of=table)
    rows = conn.execute(query).all()
    if rows:
        conn.execute(
            update(table)
            .where(key.in_([row._mapping[key] for row in rows]))
            .values(lease_owner=owner, lease_until=until)
        )
    return rows
