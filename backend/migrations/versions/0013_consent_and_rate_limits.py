"""consent and rate limits: who confirmed a proxy filing's consent, queue tickets' senders, sign-in throttling

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 18:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('cases') as batch:
        batch.add_column(sa.Column('consent_confirmed_by', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('consent_confirmed_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('queue_tickets') as batch:
        batch.add_column(sa.Column('sender_hash', sa.String(length=64), nullable=True))
        batch.create_index('ix_queue_tickets_service_day_sender_hash', ['service_day', 'sender_hash'], unique=False)
    op.create_table('sign_in_throttle',
    sa.Column('address', sa.String(length=45), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_failure_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('blocked_until', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('address', name=op.f('pk_sign_in_throttle'))
    )
    # A social worker's filing was confirmed by the resident's code or signature when it was filed. The bot recorded
    # "signature" after a mere yes: its cases not yet accepted wait for staff to confirm at the window.
    op.execute(
        "UPDATE cases SET consent_confirmed_by = proxy_staff, consent_confirmed_at = created_at "
        "WHERE consent IS NOT NULL AND proxy_staff IS NOT NULL"
    )
    op.execute(
        "UPDATE cases SET consent = 'pending' "
        "WHERE consent IS NOT NULL AND proxy_staff IS NULL AND channel = 'proxy' AND status = 'submitted'"
    )


def downgrade() -> None:
    op.drop_table('sign_in_throttle')
    with op.batch_alter_table('queue_tickets') as batch:
        batch.drop_index('ix_queue_tickets_service_day_sender_hash')
        batch.drop_column('sender_hash')
    with op.batch_alter_table('cases') as batch:
        batch.drop_column('consent_confirmed_at')
        batch.drop_column('consent_confirmed_by')
