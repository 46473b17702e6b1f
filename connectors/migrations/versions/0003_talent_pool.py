"""talent pool: the expert registry (profiles, domains with vetting, languages, client
exclusions) and each expert's quality history per domain

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pool_experts",
        sa.Column("expert_id", sa.String(100), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("email", sa.String(254), nullable=False, unique=True),
        sa.Column("languages", sa.Text, nullable=False),
        sa.Column("excluded_clients", sa.Text, nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("skills_json", sa.Text, nullable=False),
        sa.Column("hourly_rate_usd", sa.Float, nullable=False),
        sa.Column("weekly_hours", sa.Float, nullable=False),
        sa.Column("banned", sa.Boolean, nullable=False),
        sa.Column("ban_reason", sa.Text, nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "pool_domains",
        sa.Column("domain", sa.String(60), primary_key=True),
        sa.Column("expert_id", sa.String(100), primary_key=True),
        sa.Column("subspecialties", sa.Text, nullable=False),
        sa.Column("vetting_score", sa.Float, nullable=True),
        sa.Column("vetted_at", sa.Date, nullable=True),
        sa.Column("languages", sa.Text, nullable=False),
        sa.Column("excluded_clients", sa.Text, nullable=False),
        sa.Column("banned", sa.Boolean, nullable=False),
        sa.Column("hourly_rate_usd", sa.Float, nullable=False),
        sa.Column("weekly_hours", sa.Float, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_pool_domains_expert_id", "pool_domains", ["expert_id"])
    op.create_table(
        "pool_quality",
        sa.Column("expert_id", sa.String(100), primary_key=True),
        sa.Column("domain", sa.String(60), primary_key=True),
        sa.Column("gold_judged", sa.Integer, nullable=False, server_default="0"),
        sa.Column("gold_right", sa.Integer, nullable=False, server_default="0"),
        sa.Column("agreement_judged", sa.Integer, nullable=False, server_default="0"),
        sa.Column("agreement_sum", sa.Float, nullable=False, server_default="0"),
        sa.Column("reviews", sa.Integer, nullable=False, server_default="0"),
        sa.Column("reviews_accepted", sa.Integer, nullable=False, server_default="0"),
        sa.Column("judgments", sa.Integer, nullable=False, server_default="0"),
        sa.Column("campaigns", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_active", sa.DateTime(timezone=True), nullable=True),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("pool_quality")
    op.drop_index("ix_pool_domains_expert_id", table_name="pool_domains")
    op.drop_table("pool_domains")
    op.drop_table("pool_experts")
