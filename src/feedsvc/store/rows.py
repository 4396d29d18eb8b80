"""Row ↔ record: the columns of a table carry the field names of its record.

So a record is read from a row, and written to one, by name, in one place,
instead of field by field wherever a query needs it; a field added to a record
and its table cannot be forgotten in one of those places.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import fields
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Row

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

R = TypeVar("R", bound="DataclassInstance")


def from_row(record: type[R], row: Row[Any], **given: Any) -> R:
    """``record`` from the row's columns of the same names; ``given`` fields are not columns."""
    mapping = row._mapping
    values = {f.name: mapping[f.name] for f in fields(record) if f.name not in given}
    return record(**values, **given)


def to_row(record: DataclassInstance, omit: Collection[str] = ()) -> dict[str, Any]:
    """The record's fields as column values, leaving out those that are not columns."""
    return {f.name: getattr(record, f.name) for f in fields(record) if f.name not in omit}
