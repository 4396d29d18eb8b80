"""Storing one source's batch: read what the planner needs, plan, apply, in the caller's
transaction. Also how a removed source's copies are withdrawn: a batch with nothing
in it and nothing listed, so removal and deletion of files are one rule."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

from sqlalchemy import Connection, bindparam, insert, update

from feedsvc.model import Article, StoreResult
from feedsvc.store.copies import copy_row, known_copies, rewritten_columns
from feedsvc.store.engine import chunked
from feedsvc.store.plan import Action, Plan, lookups_for, plan_batch
from feedsvc.store.schema import copies
from feedsvc.store.stories import read_stories, source_ranks, write_stories
from feedsvc.text import one_line


def store_batch(
    conn: Connection,
    source_id: str,
    batch: Sequence[Article],
    now: datetime,
    *,
    listing: Collection[str] | None = None,
    homes: Collection[str] = (),
    aliases: Mapping[str, str] | None = None,
) -> Plan:
    known = known_copies(conn, source_id)
    needs = lookups_for(batch, known, listing, homes, aliases)
    stories = read_stories(conn, needs.story_ids, needs.identities)
    plan = plan_batch(
        source_id,
        batch,
        known,
        stories,
        source_ranks(conn),
        now,
        listing=listing,
        homes=homes,
        aliases=aliases,
    )
    apply_plan(conn, plan, now)
    return plan


def apply_plan(conn: Connection, plan: Plan, now: datetime) -> None:
    """Write the plan: stories first (copies point at them), then copies, then memberships.

    Adopted copies take their exact guid first: nothing else in the plan
    writes either guid (an adopted legacy guid is not in the batch).
    """
    write_stories(conn, plan.stories, now)
    if plan.renamed:
        conn.execute(
            update(copies).where(copies.c.id == bindparam("b_id")),
            [{"b_id": copy_id, "guid": guid} for copy_id, guid in plan.renamed],
        )
    if plan.inserts:
        conn.execute(
            insert(copies),
            [
                {
                    **copy_row(w.article, w.story, w.identity),
                    "first_seen": now,
                    "withdrawn_at": None,
                }
                for w in plan.inserts
            ],
        )
    for keep_published in (False, True):
        rows = [
            {"b_id": w.article.id, **rewritten_columns(w.article, w.identity, keep_published)}
            for w in plan.rewrites
            if w.keep_published is keep_published
        ]
        if rows:
            conn.execute(update(copies).where(copies.c.id == bindparam("b_id")), rows)
    for chunk in chunked(list(plan.withdrawn)):
        conn.execute(update(copies).where(copies.c.id.in_(chunk)).values(withdrawn_at=now))
    for chunk in chunked(list(plan.revoked)):
        conn.execute(update(copies).where(copies.c.id.in_(chunk)).values(identity_url=None))


def result_of(plan: Plan) -> StoreResult:
    return StoreResult(
        new=plan.count(Action.NEW),
        updated=plan.count(Action.UPDATED),
        unchanged=plan.count(Action.UNCHANGED),
        merged=plan.count(Action.MERGED),
        skipped=plan.count(Action.SKIPPED),
        returned=plan.count(Action.RETURNED),
        withdrawn=plan.count(Action.WITHDRAWN),
        merged_into=plan.merged_into,
        changed_ids=plan.changed_ids,
        touched=plan.touched,
        merges=tuple(
            f"item {one_line(d.guid, 120)!r} merged into the story {d.story}"
            for d in plan.decisions
            if d.action is Action.MERGED
        ),
    )


def withdraw_source(conn: Connection, source_id: str, now: datetime) -> StoreResult:
    """Every present copy of a removed source goes; its stories re-elect or are withdrawn."""
    return result_of(store_batch(conn, source_id, (), now, listing=frozenset()))
