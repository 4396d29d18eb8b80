"""Shared Prometheus counters: rows every process adds to, so a scrape sees all of them."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, select
from sqlalchemy.exc import SQLAlchemyError

from feedsvc.errors import StoreError
from feedsvc.store.engine import Database, upsert
from feedsvc.store.schema import metrics
from feedsvc.telemetry import Increment

log = logging.getLogger(__name__)


class Metrics(Database):
    def add_metrics(self, increments: Iterable[Increment]) -> None:
        """Add to shared counters in one short transaction: (name, labels, amount).

        Best effort: a metric that cannot be written is logged, never raised
        into the work it measures (a publish that succeeded stays a success).
        """
        batch = list(increments)
        if not batch:
            return
        try:
            self.transact(lambda conn: bump_metrics(conn, batch))
        except (StoreError, SQLAlchemyError):
            log.warning("metrics not recorded: %s", [name for name, _, _ in batch], exc_info=True)

    def metric_values(self) -> list[tuple[str, str, float]]:
        """Every shared counter row as (name, labels, value), sorted."""
        query = select(metrics.c.name, metrics.c.labels, metrics.c.value).order_by(
            metrics.c.name, metrics.c.labels
        )
        with self.engine.connect() as conn:
            return [(row.name, row.labels, float(row.value)) for row in conn.execute(query)]


def bump_metrics(conn: Connection, batch: Sequence[Increment]) -> None:
    """Add to counter rows inside the caller's transaction, in a fixed order so writers
    never deadlock."""
    summed: dict[tuple[str, str], float] = {}
    for name, labels, amount in batch:
        summed[(name, labels)] = summed.get((name, labels), 0.0) + amount
    if not summed:
        return
    statement = upsert(conn, metrics)
    conn.execute(  # one executemany: a fetch bumps about ten counters
        statement.on_conflict_do_update(
            index_elements=[metrics.c.name, metrics.c.labels],
            set_={"value": metrics.c.value + statement.excluded.value},
        ),
        [
            {"name": name, "labels": labels, "value": amount}
            for (name, labels), amount in sorted(summed.items())
        ],
    )
