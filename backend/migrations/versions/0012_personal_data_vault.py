"""personal data vault: the numbers residents typed or said, kept for the actions while Rasa's tracker holds them masked

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 18:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('personal_data_vault',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('conversation_hash', sa.String(length=64), nullable=False),
    sa.Column('masked', sa.String(length=40), nullable=False),
    sa.Column('value', sa.String(length=40), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_personal_data_vault')),
    sa.UniqueConstraint('conversation_hash', 'masked', name=op.f('uq_personal_data_vault_conversation_hash'))
    )
    with op.batch_alter_table('personal_data_vault') as batch:
        batch.create_index(batch.f('ix_personal_data_vault_expires_at'), ['expires_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('personal_data_vault') as batch:
        batch.drop_index(batch.f('ix_personal_data_vault_expires_at'))
    op.drop_table('personal_data_vault')
