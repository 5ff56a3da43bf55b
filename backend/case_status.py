"""The case status machine: which status may follow which, and the Chinese label of each.

    待受理 ─► 已受理 ─► 办理中 ─► 办结 ─► 已出件 | 已送达
      │         │  ▲       │
      │         ▼  │       ▼
      ├────────► 待补正 ◄───┘        (一次性告知: everything missing in one notice)
      │
      └► 不予受理 (with a reason)      撤销 from any status before 办结

A resident supplying the missing materials brings a 待补正 case back to 已受理 (or straight to 办理中).
"""

from __future__ import annotations

import enum


class CaseStatus(enum.StrEnum):
    """Status codes stored and exchanged over the API; ``label`` is what people read."""

    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    NEEDS_CORRECTION = "needs_correction"
    PROCESSING = "processing"
    COMPLETED = "completed"
    HANDED_OUT = "handed_out"
    DELIVERED = "delivered"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"

    @property
    def label(self) -> str:
        """The Chinese name of the status."""
        return LABELS[self]

    @property
    def terminal(self) -> bool:
        """True when no further transition is possible."""
        return not TRANSITIONS[self]


LABELS: dict[CaseStatus, str] = {
    CaseStatus.SUBMITTED: "待受理",
    CaseStatus.ACCEPTED: "已受理",
    CaseStatus.NEEDS_CORRECTION: "待补正",
    CaseStatus.PROCESSING: "办理中",
    CaseStatus.COMPLETED: "办结",
    CaseStatus.HANDED_OUT: "已出件",
    CaseStatus.DELIVERED: "已送达",
    CaseStatus.REJECTED: "不予受理",
    CaseStatus.WITHDRAWN: "撤销",
}

_S = CaseStatus
TRANSITIONS: dict[CaseStatus, frozenset[CaseStatus]] = {
    _S.SUBMITTED: frozenset({_S.ACCEPTED, _S.NEEDS_CORRECTION, _S.REJECTED, _S.WITHDRAWN}),
    _S.ACCEPTED: frozenset({_S.NEEDS_CORRECTION, _S.PROCESSING, _S.WITHDRAWN}),
    _S.NEEDS_CORRECTION: frozenset({_S.ACCEPTED, _S.PROCESSING, _S.REJECTED, _S.WITHDRAWN}),
    _S.PROCESSING: frozenset({_S.NEEDS_CORRECTION, _S.COMPLETED, _S.WITHDRAWN}),
    _S.COMPLETED: frozenset({_S.HANDED_OUT, _S.DELIVERED}),
    _S.HANDED_OUT: frozenset(),
    _S.DELIVERED: frozenset(),
    _S.REJECTED: frozenset(),
    _S.WITHDRAWN: frozenset(),
}

REASON_REQUIRED = frozenset({CaseStatus.REJECTED, CaseStatus.WITHDRAWN})
"""A rejection or withdrawal must say why (the resident is told the reason)."""


class IllegalTransition(ValueError):
    """The requested status cannot follow the current one."""

    def __init__(self, current: CaseStatus, target: CaseStatus) -> None:
        super().__init__(f"{current.value} -> {target.value}")
        self.current = current
        self.target = target


def can_transition(current: CaseStatus, target: CaseStatus) -> bool:
    """True when ``target`` may follow ``current``."""
    return target in TRANSITIONS[current]


def check_transition(current: CaseStatus, target: CaseStatus) -> None:
    """Raise IllegalTransition unless ``target`` may follow ``current``."""
    if not can_transition(current, target):
        raise IllegalTransition(current, target)
