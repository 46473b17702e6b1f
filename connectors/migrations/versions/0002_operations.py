"""operations: campaign stage and result, roster status and booked hours, the audit log

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("stage", sa.String(20), nullable=False, server_default="scoped"))
        batch.add_column(sa.Column("stage_reason", sa.Text, nullable=True))
        batch.add_column(sa.Column("stage_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("result_json", sa.Text, nullable=True))
    with op.batch_alter_table("rosters") as batch:
        batch.add_column(sa.Column("status", sa.String(20), nullable=False, server_default="active"))
        batch.add_column(sa.Column("reason", sa.Text, nullable=True))
        batch.add_column(sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("booked_hours", sa.Float, nullable=False, server_default="0"))
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("action", sa.String(50), nullable=False),
        sa.Column("expert_id", sa.String(200), nullable=True),
        sa.Column("detail_json", sa.Text, nullable=False),
    )
    op.create_index("ix_audit_log_request_id", "audit_log", ["request_id"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_request_id", table_name="audit_log")
    op.drop_table("audit_log")
    with op.batch_alter_table("rosters") as batch:
        for name in ("booked_hours", "changed_at", "reason", "status"):
            batch.drop_column(name)
    with op.batch_alter_table("campaigns") as batch:
        for name in ("result_json", "stage_at", "stage_reason", "stage"):
            batch.drop_column(name)
