"""admins' edits of the catalog's material lists (with history), the weekly opening hours and closure days

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('catalog_edits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('actor', sa.String(length=50), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('before', sa.JSON(), nullable=False),
    sa.Column('after', sa.JSON(), nullable=False),
    sa.Column('restored_from', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_catalog_edits')),
    sa.UniqueConstraint('item_id', 'version', name=op.f('uq_catalog_edits_item_id'))
    )
    with op.batch_alter_table('catalog_edits') as batch:
        batch.create_index(batch.f('ix_catalog_edits_item_id'), ['item_id'], unique=False)
    op.create_table('opening_hours',
    sa.Column('weekday', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('is_open', sa.Boolean(), nullable=False),
    sa.Column('morning_start', sa.Time(), nullable=True),
    sa.Column('morning_end', sa.Time(), nullable=True),
    sa.Column('afternoon_start', sa.Time(), nullable=True),
    sa.Column('afternoon_end', sa.Time(), nullable=True),
    sa.Column('updated_by', sa.String(length=50), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('weekday', name=op.f('pk_opening_hours'))
    )
    op.create_table('closure_days',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('note', sa.String(length=100), nullable=False),
    sa.Column('created_by', sa.String(length=50), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('day', name=op.f('pk_closure_days'))
    )


def downgrade() -> None:
    op.drop_table('closure_days')
    op.drop_table('opening_hours')
    op.drop_table('catalog_edits')
