"""qualification: the campaign's qualification project, each expert's qualification result

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("qualification_project_id", sa.Integer, nullable=True))
    with op.batch_alter_table("pool_campaign_quality") as batch:
        batch.add_column(sa.Column("qualified", sa.Boolean, nullable=True))
        batch.add_column(sa.Column("qualification_score", sa.Float, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pool_campaign_quality") as batch:
        batch.drop_column("qualification_score")
        batch.drop_column("qualified")
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("qualification_project_id")
