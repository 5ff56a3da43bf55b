"""case notices: the 办件状态变更 WeChat notice, and a dedupe key on print jobs

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 14:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_KINDS = ('case_accepted', 'correction_needed', 'ready_for_pickup', 'queue_near')
NEW_KINDS = (*OLD_KINDS, 'case_status')


def _kinds(kinds: tuple[str, ...]) -> sa.Enum:
    return sa.Enum(*kinds, name='notification_kind', native_enum=False, create_constraint=True, length=24)


def upgrade() -> None:
    with op.batch_alter_table('notifications') as batch:
        batch.alter_column('kind', existing_type=_kinds(OLD_KINDS), type_=_kinds(NEW_KINDS), existing_nullable=False)
    with op.batch_alter_table('print_jobs') as batch:
        batch.add_column(sa.Column('dedupe_key', sa.String(length=64), nullable=True))
        batch.create_unique_constraint('uq_print_jobs_dedupe_key', ['dedupe_key'])


def downgrade() -> None:
    with op.batch_alter_table('print_jobs') as batch:
        batch.drop_constraint('uq_print_jobs_dedupe_key', type_='unique')
        batch.drop_column('dedupe_key')
    op.execute("DELETE FROM notifications WHERE kind = 'case_status'")
    with op.batch_alter_table('notifications') as batch:
        batch.alter_column('kind', existing_type=_kinds(NEW_KINDS), type_=_kinds(OLD_KINDS), existing_nullable=False)
