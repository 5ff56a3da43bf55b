"""chat channel: cases and queue tickets from typed chat over Rasa's REST channel get a channel of their own

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 22:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_CHANNELS = ('wechat', 'counter', 'proxy')
NEW_CHANNELS = ('wechat', 'chat', 'counter', 'proxy')
TABLES = ('cases', 'queue_tickets')


def _channels(channels: tuple[str, ...]) -> sa.Enum:
    return sa.Enum(*channels, name='channel', native_enum=False, create_constraint=True, length=24)


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                'channel', existing_type=_channels(OLD_CHANNELS), type_=_channels(NEW_CHANNELS), existing_nullable=False
            )


def downgrade() -> None:
    # Before this revision typed chat was recorded as 'wechat'.
    for table in TABLES:
        op.execute(f"UPDATE {table} SET channel = 'wechat' WHERE channel = 'chat'")
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                'channel', existing_type=_channels(NEW_CHANNELS), type_=_channels(OLD_CHANNELS), existing_nullable=False
            )
