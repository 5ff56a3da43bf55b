"""The audit log: every change records who did it, when, and what changed (personal data masked)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import AuditEntry


def record(session: AsyncSession, actor: str, action: str, entity: str, entity_id: object, **detail: Any) -> None:
    """Add an audit entry to the session; it commits (or rolls back) with the change it describes."""
    session.add(AuditEntry(actor=actor, action=action, entity=entity, entity_id=str(entity_id), detail=detail))
