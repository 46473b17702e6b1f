"""pool feedback: what each campaign measured of each expert

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pool_campaign_quality",
        sa.Column("request_id", sa.String(200), primary_key=True),
        sa.Column("expert_id", sa.String(100), primary_key=True),
        sa.Column("domain", sa.String(60), nullable=False),
        sa.Column("gold_judged", sa.Integer, nullable=False),
        sa.Column("gold_right", sa.Integer, nullable=False),
        sa.Column("agreement_judged", sa.Integer, nullable=False),
        sa.Column("agreement_sum", sa.Float, nullable=False),
        sa.Column("reviews", sa.Integer, nullable=False),
        sa.Column("reviews_accepted", sa.Integer, nullable=False),
        sa.Column("judgments", sa.Integer, nullable=False),
        sa.Column("outcome", sa.String(40), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("pool_campaign_quality")
