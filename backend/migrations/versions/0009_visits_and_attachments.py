"""social workers' visits, filings waiting for the resident's consent, and photos of a case's materials

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('visits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('staff_username', sa.String(length=50), nullable=False),
    sa.Column('resident_name', sa.String(length=50), nullable=False),
    sa.Column('phone', sa.String(length=11), nullable=True),
    sa.Column('community', sa.String(length=100), nullable=True),
    sa.Column('address', sa.String(length=200), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('status', sa.Enum('planned', 'done', 'cancelled', name='visit_status', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('created_by', sa.String(length=50), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_visits'))
    )
    with op.batch_alter_table('visits') as batch:
        batch.create_index(batch.f('ix_visits_staff_username'), ['staff_username'], unique=False)
        batch.create_index(batch.f('ix_visits_day'), ['day'], unique=False)
    op.create_table('visit_filings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('visit_id', sa.Integer(), nullable=False),
    sa.Column('staff_username', sa.String(length=50), nullable=False),
    sa.Column('item_id', sa.String(length=64), nullable=False),
    sa.Column('request', sa.JSON(), nullable=False),
    sa.Column('staging_key', sa.String(length=32), nullable=True),
    sa.Column('consent', sa.String(length=24), nullable=False),
    sa.Column('phone', sa.String(length=11), nullable=True),
    sa.Column('code_hash', sa.String(length=128), nullable=True),
    sa.Column('code_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('code_sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('code_attempts', sa.Integer(), nullable=False),
    sa.Column('code_sends', sa.Integer(), nullable=False),
    sa.Column('verified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('case_number', sa.String(length=20), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['visit_id'], ['visits.id'], name=op.f('fk_visit_filings_visit_id_visits'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['case_number'], ['cases.case_number'], name=op.f('fk_visit_filings_case_number_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_visit_filings')),
    sa.UniqueConstraint('case_number', name=op.f('uq_visit_filings_case_number'))
    )
    with op.batch_alter_table('visit_filings') as batch:
        batch.create_index(batch.f('ix_visit_filings_visit_id'), ['visit_id'], unique=False)
    op.create_table('case_attachments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('material_id', sa.String(length=64), nullable=False),
    sa.Column('content_type', sa.String(length=24), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('stored_name', sa.String(length=64), nullable=False),
    sa.Column('uploaded_by', sa.String(length=50), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_attachments_case_id_cases'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_attachments'))
    )
    with op.batch_alter_table('case_attachments') as batch:
        batch.create_index(batch.f('ix_case_attachments_case_id'), ['case_id'], unique=False)


def downgrade() -> None:
    op.drop_table('case_attachments')
    op.drop_table('visit_filings')
    op.drop_table('visits')
