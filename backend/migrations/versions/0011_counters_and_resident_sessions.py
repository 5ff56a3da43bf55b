"""counters and resident sessions: voice counters as devices with a credential, and each resident's session at one

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 18:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('counter_devices',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('generation', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_counter_devices'))
    )
    op.create_table('counter_resident_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('counter', sa.String(length=40), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('end_reason', sa.String(length=16), nullable=False),
    sa.Column('turns', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_counter_resident_sessions'))
    )
    with op.batch_alter_table('counter_resident_sessions') as batch:
        batch.create_index(batch.f('ix_counter_resident_sessions_counter'), ['counter'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('counter_resident_sessions') as batch:
        batch.drop_index(batch.f('ix_counter_resident_sessions_counter'))
    op.drop_table('counter_resident_sessions')
    op.drop_table('counter_devices')
