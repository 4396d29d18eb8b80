"""wire files: what is known of each file of a folder source, so unchanged ones are not re-read

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "wire_files",
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("name", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mtime_ns", sa.BigInteger(), nullable=False),
        sa.Column("rules", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["source"],
            ["sources.id"],
            name=op.f("fk_wire_files_source_sources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("source", "name", name=op.f("pk_wire_files")),
    )


def downgrade() -> None:
    op.drop_table("wire_files")
