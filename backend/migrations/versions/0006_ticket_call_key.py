"""queue tickets: the idempotency key of the call that called them

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 13:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('queue_tickets') as batch:
        batch.add_column(sa.Column('call_key', sa.String(length=64), nullable=True))
        batch.create_unique_constraint('uq_queue_tickets_call_key', ['call_key'])


def downgrade() -> None:
    with op.batch_alter_table('queue_tickets') as batch:
        batch.drop_constraint('uq_queue_tickets_call_key', type_='unique')
        batch.drop_column('call_key')
