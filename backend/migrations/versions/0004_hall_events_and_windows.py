"""hall events, window states, transferred tickets

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('queue_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('service_day', sa.Date(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('number', sa.String(length=8), nullable=True),
    sa.Column('window', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_queue_events_service_day'), 'queue_events', ['service_day'], unique=False)
    op.create_table('service_windows',
    sa.Column('number', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('paused', sa.Boolean(), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('number')
    )
    with op.batch_alter_table('queue_tickets') as batch:
        batch.add_column(sa.Column('assigned_window', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('queue_tickets') as batch:
        batch.drop_column('assigned_window')
    op.drop_table('service_windows')
    op.drop_index(op.f('ix_queue_events_service_day'), table_name='queue_events')
    op.drop_table('queue_events')
