"""api keys: several keys stored hashed, each job owned by the key that submitted it

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 02:20:00
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
        "nas_api_keys",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("admin", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nas_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_nas_api_keys_key_hash")),
    )
    with op.batch_alter_table("nas_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("nas_jobs", schema=None) as batch_op:
        batch_op.drop_column("owner")
    op.drop_table("nas_api_keys")
