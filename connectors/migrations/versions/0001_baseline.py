"""baseline: the state store's four tables as ``create_all`` made them before Alembic

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Each table is created only when it is missing: a database made before Alembic by an
annoflow older than ``campaign_specs`` gets that table here, one made from nothing gets all.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _tables(meta: sa.MetaData) -> list[sa.Table]:
    # as they were: do not import them from connectors.state, which moves on
    return [
        sa.Table(
            "campaigns", meta,
            sa.Column("request_id", sa.String(200), primary_key=True),
            sa.Column("client", sa.String(200), nullable=False),
            sa.Column("project_key", sa.String(64), nullable=False),
            sa.Column("ls_project_id", sa.Integer, nullable=True),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        ),
        sa.Table(
            "experts", meta,
            sa.Column("expert_id", sa.String(200), primary_key=True),
            sa.Column("ls_user_id", sa.Integer, nullable=False, unique=True),
            sa.Column("login", sa.String(254), nullable=False, unique=True),
            sa.Column("handle", sa.String(100), nullable=False),
            sa.Column("password_enc", sa.Text, nullable=True),
            sa.Column("password_issued_at", sa.DateTime(timezone=True), nullable=True),
        ),
        sa.Table(
            "campaign_specs", meta,
            sa.Column("request_id", sa.String(200), primary_key=True),
            sa.Column("seq", sa.Integer, primary_key=True),
            sa.Column("spec_sha256", sa.String(64), nullable=False),
            sa.Column("spec_json", sa.Text, nullable=False),
            sa.Column("reason", sa.Text, nullable=False),
            sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        ),
        sa.Table(
            "rosters", meta,
            sa.Column("request_id", sa.String(200), primary_key=True),
            sa.Column("expert_id", sa.String(200), primary_key=True),
        ),
    ]


def upgrade() -> None:
    bind = op.get_bind()
    for table in _tables(sa.MetaData()):
        table.create(bind, checkfirst=True)


def downgrade() -> None:
    bind = op.get_bind()
    for table in reversed(_tables(sa.MetaData())):
        table.drop(bind, checkfirst=True)
