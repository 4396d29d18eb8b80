"""websub: the built-in hub's subscriptions, verifications and deliveries; external pings

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from feedsvc.store.schema import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _lease_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("lease_owner", sa.String(length=100), nullable=True),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
    ]


def upgrade() -> None:
    op.create_table(
        "websub_subscriptions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("callback", sa.Text(), nullable=False),
        sa.Column("feed_path", sa.String(length=200), nullable=False),
        sa.Column("callback_host", sa.String(length=255), nullable=False),
        sa.Column("secret", sa.Text(), nullable=True),
        sa.Column("lease_seconds", sa.Integer(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("verified_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_websub_subscriptions")),
    )
    for column in ("feed_path", "callback_host", "expires_at"):
        op.create_index(
            op.f(f"ix_websub_subscriptions_{column}"), "websub_subscriptions", [column]
        )

    op.create_table(
        "websub_intents",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subscription_id", sa.String(length=64), nullable=False),
        sa.Column("mode", sa.String(length=12), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("feed_path", sa.String(length=200), nullable=True),
        sa.Column("self_url", sa.Text(), nullable=True),
        sa.Column("callback", sa.Text(), nullable=False),
        sa.Column("callback_host", sa.String(length=255), nullable=False),
        sa.Column("secret", sa.Text(), nullable=True),
        sa.Column("lease_seconds", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("requested_at", UTCDateTime(), nullable=False),
        *_lease_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_websub_intents")),
    )
    for column in ("subscription_id", "callback_host"):
        op.create_index(op.f(f"ix_websub_intents_{column}"), "websub_intents", [column])

    op.create_table(
        "websub_deliveries",
        sa.Column("subscription_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        *_lease_columns(),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["websub_subscriptions.id"],
            name=op.f("fk_websub_deliveries_subscription_id_websub_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("subscription_id", name=op.f("pk_websub_deliveries")),
    )
    op.create_index(op.f("ix_websub_deliveries_due_at"), "websub_deliveries", ["due_at"])

    op.create_table(
        "websub_pings",
        sa.Column("path", sa.String(length=200), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        *_lease_columns(),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("path", name=op.f("pk_websub_pings")),
    )
    op.create_index(op.f("ix_websub_pings_due_at"), "websub_pings", ["due_at"])


def downgrade() -> None:
    op.drop_table("websub_pings")
    op.drop_table("websub_deliveries")
    op.drop_table("websub_intents")
    op.drop_table("websub_subscriptions")
