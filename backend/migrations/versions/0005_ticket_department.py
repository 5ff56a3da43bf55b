"""queue tickets: the department of the business

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 13:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('queue_tickets') as batch:
        batch.add_column(sa.Column('department', sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('queue_tickets') as batch:
        batch.drop_column('department')
