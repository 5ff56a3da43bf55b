"""print documents: every print job holds its complete document; the payload the printer completed becomes it

A job's ``payload`` carried a few fields, and the printer worker fetched the rest of the case and built the URLs;
``document`` holds everything printed (`printing.documents`). Each job is converted here from its payload and its
case as the backend would have spooled it, the URLs built under FOLLOW_URL with the follow secret, so jobs queued
before the upgrade still print. A job whose document cannot be made (a ticket spooled by hand without a number, a
case gone) keeps what it had; an unfinished one is cancelled with the reason, for staff to see.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 22:30:00.000000
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

logger = logging.getLogger('alembic.runtime.migration')

UNFINISHED = ('queued', 'printing')
NOT_CONVERTED = '升级时无法生成完整的打印内容，已取消，请重新打印。'
JOBS = sa.table(
    'print_jobs',
    sa.column('id', sa.Integer),
    sa.column('kind', sa.String),
    sa.column('status', sa.String),
    sa.column('document', sa.JSON),
    sa.column('case_number', sa.String),
    sa.column('created_at', sa.DateTime(timezone=True)),
    sa.column('last_error', sa.Text),
)
CASE = sa.text(
    'SELECT c.id, c.item_id, c.status_reason, c.immediate, c.working_days, c.deadline, c.deadline_provisional, '
    'c.accepted_at, r.name, r.id_number FROM cases c JOIN residents r ON r.id = c.resident_id '
    'WHERE c.case_number = :number'
)
MATERIALS = sa.text('SELECT name, status FROM case_materials WHERE case_id = :case ORDER BY position')


def _utc(moment: Any) -> dt.datetime:
    if isinstance(moment, str):
        moment = dt.datetime.fromisoformat(moment)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


class _Converter:
    """Makes the document of an old job, with what the backend's settings say (read only when a job needs them)."""

    def __init__(self, connection: sa.Connection) -> None:
        self.connection = connection
        self._links: Any = None
        self._names: dict[str, str] | None = None

    @property
    def links(self) -> Any:
        if self._links is None:
            from backend.config import VAR_DIR, Settings
            from backend.pages.follow import follow_secret
            from backend.services.documents import FollowLinks

            settings = Settings.from_env()
            self._links = FollowLinks(settings.follow_url, follow_secret(settings.follow_secret, VAR_DIR))
        return self._links

    def item_name(self, item_id: str) -> str:
        if self._names is None:
            from backend.catalog.loader import default_catalog

            self._names = {item.id: item.name for item in default_catalog().items}
        return self._names.get(item_id, item_id)

    def document(self, kind: str, payload: dict[str, Any], case_number: str | None, created: Any) -> dict[str, Any]:
        from printing.documents import PAGE_QR, WECHAT_QR, QueueTicket, document_json

        issued_at = _utc(created)
        if kind == 'ticket':
            day = dt.date.fromisoformat(str(payload.get('service_day') or issued_at.date().isoformat()))
            number = str(payload['number'])
            code = payload.get('follow_qr')
            ticket = QueueTicket(
                issued_at=issued_at,
                number=number,
                category=str(payload.get('category', 'A')),
                ahead=int(payload.get('ahead', 0)),
                service_day=day,
                qr=code or self.links.ticket_page(day, number),
                qr_kind=WECHAT_QR if code and payload.get('follow_qr_kind') == WECHAT_QR else PAGE_QR,
            )
            return document_json(ticket)
        return document_json(self._case_document(kind, payload, case_number, issued_at))

    def _case_document(self, kind: str, payload: dict[str, Any], case_number: str | None, issued_at: dt.datetime):
        from backend.catalog.checklist import Need
        from backend.services.case_access import receipt_code
        from printing.documents import (
            AcceptanceReceipt,
            CorrectionNotice,
            PickupNotice,
            RejectionNotice,
            WithdrawalNotice,
        )
        from vocabulary.masking import mask_id_number

        case = self.connection.execute(CASE, {'number': case_number}).mappings().first()
        if case is None:
            raise LookupError(f'no case {case_number!r}')
        materials = self.connection.execute(MATERIALS, {'case': case['id']}).mappings().all()
        by_status = {need: tuple(m['name'] for m in materials if m['status'] == need.value) for need in Need}
        missing = tuple(payload.get('missing', by_status[Need.MISSING]))
        reason = payload.get('status_reason', case['status_reason'])
        common = {'issued_at': issued_at, 'case_number': case_number, 'item_name': self.item_name(case['item_id'])}
        resident = {'resident_name': case['name'], 'resident_id_number': mask_id_number(case['id_number']) or ''}
        deadline = case['deadline']
        if kind == 'receipt':
            accepted = payload.get('accepted_at') or case['accepted_at']
            return AcceptanceReceipt(
                **common,
                **resident,
                accepted_at=_utc(accepted) if accepted else issued_at,
                received=by_status[Need.RECEIVED],
                looked_up=by_status[Need.LOOKED_UP],
                missing=missing,
                immediate=bool(case['immediate']),
                deadline=dt.date.fromisoformat(deadline) if isinstance(deadline, str) else deadline,
                deadline_provisional=bool(case['deadline_provisional']),
                working_days=int(case['working_days'] or 0),
                follow_url=self.links.case_page(case_number),
                receipt_code=receipt_code(self.links.secret, case_number),
            )
        if kind == 'correction_notice':
            return CorrectionNotice(**common, missing=missing)
        if kind == 'pickup_notice':
            return PickupNotice(**common)
        if kind == 'rejection_notice':
            return RejectionNotice(**common, **resident, reason=reason)
        if kind == 'withdrawal_notice':
            return WithdrawalNotice(**common, **resident, reason=reason)
        raise LookupError(f'no document kind {kind!r}')


def upgrade() -> None:
    with op.batch_alter_table('print_jobs') as batch:
        batch.alter_column('payload', new_column_name='document', existing_type=sa.JSON(), existing_nullable=False)
    connection = op.get_bind()
    converter = _Converter(connection)
    jobs = connection.execute(sa.select(JOBS)).mappings().all()
    for job in jobs:
        payload = dict(job['document'] or {})
        try:
            document = converter.document(job['kind'], payload, job['case_number'], job['created_at'])
        except (LookupError, ValueError, TypeError) as exc:  # pydantic's ValidationError is a ValueError
            logger.warning('print job %d (%s): no complete document (%s)', job['id'], job['kind'], type(exc).__name__)
            if job['status'] in UNFINISHED:
                cancelled = {'status': 'cancelled', 'last_error': NOT_CONVERTED}
                connection.execute(sa.update(JOBS).where(JOBS.c.id == job['id']).values(**cancelled))
            continue
        connection.execute(sa.update(JOBS).where(JOBS.c.id == job['id']).values(document=document))


def downgrade() -> None:
    # The older worker reads a ticket's number, category, ahead and service_day and a receipt's missing and
    # accepted_at from the payload, all in the document under the same names; it fetches the rest from the case.
    with op.batch_alter_table('print_jobs') as batch:
        batch.alter_column('document', new_column_name='payload', existing_type=sa.JSON(), existing_nullable=False)
