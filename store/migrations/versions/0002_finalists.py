"""finalists: candidates trained from scratch after a search

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04 02:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "nas_finalists",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("arch_id", sa.String(length=16), nullable=False),
        sa.Column("metric", sa.String(length=64), nullable=False),
        sa.Column("cheap", sa.Float(), nullable=False),
        sa.Column("accuracy", sa.Float(), nullable=True),
        sa.Column("epochs", sa.Integer(), nullable=False),
        sa.Column("stopped_early", sa.Boolean(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("weights", sa.String(length=500), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["nas_jobs.id"], name=op.f("fk_nas_finalists_job_id_nas_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nas_finalists")),
        sa.UniqueConstraint("job_id", "seq", name=op.f("uq_nas_finalists_job_id_seq")),
    )
    with op.batch_alter_table("nas_finalists", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_nas_finalists_job_id"), ["job_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("nas_finalists", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_nas_finalists_job_id"))
    op.drop_table("nas_finalists")
